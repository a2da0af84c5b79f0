/*
 * poststore.h - a POST response stored as the response to a GET of its URI.
 *
 * RFC 9110 9.3.3: a response to POST is cacheable when it has explicit
 * freshness and a Content-Location equal to the target URI; a cache may
 * then use it for later GETs (and HEADs) of that URI (RFC 9111 4). The
 * POST itself is always passed (pass.h): its body streams to the backend
 * and its response streams back; this module only keeps a copy of the
 * response, under the GET key of the URI, as it streams.
 *
 * The copy is filled unpublished (at most max_object_size bytes: a bigger
 * body is dropped, not stored) and published only once its body has
 * ended, so the POST's client, however slowly it reads, never holds up a
 * GET: until then a GET misses as it would without the POST.
 *
 * Order: the invalidation every successful unsafe request makes (RFC 9111
 * 4.4: target URI, Location, Content-Location) on the pass's response
 * head, then the store when the body ends, so the invalidation never
 * removes the copy of that same POST's response.
 *
 * What is known only before the request body is read (its fields share the
 * buffer the body streams through) is taken when the POST is armed: a copy
 * of the request head (for the Vary key), its cache key and policy facts.
 *
 * One struct poststore lives on the client task's stack for the pass;
 * rq->post points at it. Everything runs on that task: no locks but the
 * store's own, none held across an await.
 */
#ifndef RINGCACHE_SERVE_POSTSTORE_H
#define RINGCACHE_SERVE_POSTSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/policy.h"
#include "cache/store.h"
#include "serve/req.h"

#define POSTSTORE_MAGIC 0x50535452u

struct poststore {
	unsigned magic;
	struct req *rq;
	const char *host; /* the Host, NUL-terminated (the caller's copy) */
	size_t hlen;
	struct policy_knobs knobs;
	uint64_t max_object_size;
	/* Taken while the request head is intact (malloc'd, owned). */
	char *head;	       /* the request head copy (req_head_copy) */
	struct hfield *fields; /* its parse */
	struct hmsg req;
	struct req_meta meta; /* the POST's, for policy_storable_post */
	char *key;	      /* the GET key of the target */
	uint32_t key_len, key_host_len;
	char *fwd; /* the request's forwarding key and its route's part */
	uint32_t fwd_len, suffix_off;
	/* The copy being filled, once the response qualified: nobody's but
	 * ours until poststore_done publishes it. */
	struct cobj *obj;
	bool complete; /* the response body was read to its end */
};

/*
 * Before the pass of POST RQ on HOST (NUL-terminated, HLEN bytes), under
 * the key options of its rule and knobs K: take what a store needs later
 * and point rq->post at PS. Returns false (nothing to end) when the
 * request cannot be keyed or memory is short: then it is passed only.
 */
bool poststore_arm(struct poststore *ps, struct req *rq, const char *host, size_t hlen,
		   const struct config_rule *rule, const struct policy_knobs *k, uint64_t max_obj);

/* The pass has the final response head RESP (sent at REQUEST_MS, in at
 * RESPONSE_MS) and has made its invalidation: start a copy when it
 * qualifies. True when it did (Cache-Status says "stored"). */
bool poststore_head(struct poststore *ps, const struct hmsg *resp, int64_t request_ms,
		    int64_t response_ms);

/* Body bytes from the backend, given before they go to the client. */
void poststore_body(struct poststore *ps, const char *p, size_t n);
/* The body ended (called again, nothing more happens): publish the copy
 * under the GET key, claimed without waiting. A GET being fetched for the
 * key, or a fresh response a GET stored since the invalidation, wins. */
void poststore_done(struct poststore *ps);

/* After the pass: a copy whose body did not end is dropped, never
 * published; releases what PS holds and clears rq->post. */
void poststore_end(struct poststore *ps);

#endif
