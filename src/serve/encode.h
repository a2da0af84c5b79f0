/*
 * encode.h - content codings of responses from the cache.
 *
 * For a request answered from a stored object, encode_plan() picks the body
 * to send: the stored one, or a copy in the coding the client prefers
 * (Accept-Encoding, q-values honoured): compressed from an identity body,
 * or decoded from a body the origin sent encoded when the client cannot
 * take that coding. Copies live with the object (cobj enc[], at most one
 * per coding), so each is made once: later requests, on any loop, read it
 * from memory, and requests that come while it is being made stream it as
 * it fills, the way clients share a fetch.
 *
 * A copy is made by an encode task on the loop of the request that first
 * needed it; the task feeds the source body through the compression pool
 * in steps and flushes whenever the source has nothing more for now, so
 * the first bytes leave before the whole body is compressed. When the
 * pool's queue is full no copy is started: the response goes out as
 * stored (counted as a fallback). A copy that breaks (the source broke,
 * corrupt encoded input, larger than max_object_size) is dropped from the
 * object; its readers see a broken body and close their connections.
 *
 * Responses that are not stored are compressed by the same rules, never
 * kept: a private pipe object of a fetch (no-store, too big...) through an
 * encode task that reads its pipe and fills a pipe of its own, in the same
 * bounded window; a passed response (serve/pass.c) by its own client task,
 * one pool step per piece from the backend (encode_pass_*), flushed
 * whenever the backend has nothing more for now. Neither decodes what the
 * origin encoded, and HEAD gets the origin's head.
 *
 * Compressed: status 200, a Content-Type in compression.types, no
 * Content-Encoding, no Content-Range, no "Cache-Control: no-transform", at
 * least compression.min_size bytes (when the length is known). Every
 * response about such an object carries "Vary: Accept-Encoding", identity
 * included.
 */
#ifndef RINGCACHE_SERVE_ENCODE_H
#define RINGCACHE_SERVE_ENCODE_H

#include <stdbool.h>
#include <sys/types.h>

#include "cache/store.h"
#include "compress/codec.h"
#include "compress/pool.h"
#include "http/hbuf.h"
#include "http/msg.h"
#include "serve/worker.h"

/* A codec step that waits longer than this for the pool gives up its copy
 * (which fails the copy's body for its readers). */
#define ENCODE_STEP_DEADLINE_NS (30 * RT_SEC)

struct encode_plan {
	struct cbody *body; /* what to send: O's body (borrowed) or a copy (owned) */
	bool owned;	    /* BODY is a reference the plan holds */
	enum coding send;   /* the coding of BODY */
	enum coding stored; /* the coding of O's own body */
	bool vary;	    /* the answer depends on Accept-Encoding */
	bool transformed;   /* BODY is a copy made here: weak ETag, new Content-Encoding */
	bool pending;	    /* HEAD of a coding with no copy yet: length unknown */
};

/*
 * Decide for REQ and the stored object O, starting an encode task on the
 * current loop (task context) if a copy is needed and none exists. HEAD
 * starts nothing. ROUTE_ON is the request's route's compression (1 on,
 * 0 off, -1: compression.enabled decides). Always fills P; release it
 * with encode_plan_release.
 */
struct gen;
void encode_plan(struct worker *w, const struct gen *g, const struct hmsg *req, struct cobj *o,
		 bool head, int route_on, struct encode_plan *p);
void encode_plan_release(struct encode_plan *p);

/*
 * Append O's stored header lines to B as P says: Content-Encoding for what
 * is sent, a strong ETag made weak for a transformed body (RFC 9110 8.8.1),
 * Accept-Encoding added to Vary. WANT is NULL for every field, or a list of
 * lower-case names to copy (a 304 carries only some).
 */
void encode_put_headers(struct hbuf *b, const struct cobj *o, const struct encode_plan *p,
			const char *const *want, size_t nwant);

/* ---- passed responses ---------------------------------------------------- */

struct encode_pass {
	struct encode_plan plan; /* send, vary, transformed (no body) */
	bool active;		 /* compressing: a pool stream was admitted */
	bool vary_done;		 /* the head had a Vary field */
	struct cpool *pool;
	struct cjob j;
	char *buf; /* the last step's output */
	size_t cap;
};

/*
 * Decide for REQ and the passed response RESP (its final head): fills E,
 * which says whether the head needs editing (plan.vary) and the body
 * coding (active). ROUTE_ON as for encode_plan. Always end with
 * encode_pass_end.
 */
void encode_pass_plan(struct worker *w, const struct gen *g, const struct hmsg *req,
		      const struct hmsg *resp, bool head, int route_on, struct encode_pass *e);
/* Field F of RESP on its way out: true when this wrote its replacement
 * to B or dropped it, false when it goes out as it is. */
bool encode_pass_field(struct encode_pass *e, const struct hmsg *resp, const struct hfield *f,
		       struct hbuf *b);
/* After the fields: Vary if there was none, Content-Encoding. */
void encode_pass_head_end(struct encode_pass *e, struct hbuf *b);
/*
 * Code N bytes at IN with OP (CONTINUE, FLUSH when the backend has nothing
 * more for now, FINISH at the end) on the pool; the task parks meanwhile.
 * Returns the output's length with *OUT set (valid until the next call),
 * or a negative errno (-ETIMEDOUT, -ECANCELED, -ENOMEM, a codec error).
 */
ssize_t encode_pass_step(struct encode_pass *e, const char *in, size_t n, enum codec_op op,
			 const char **out);
void encode_pass_end(struct encode_pass *e);

#endif
