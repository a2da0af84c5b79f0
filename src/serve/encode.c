/* encode.c - pick the coded body for a cache hit; make coded copies on the pool. */
#include "serve/encode.h"
#include "rt/obj.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache/cc.h"
#include "cache/hdrs.h"
#include "compress/pool.h"
#include "http/accept.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "backend/gen.h"
#include "rt/task.h"

/* Input per pool step: big enough that a step costs far more than the
 * ~25 us hand-off, small enough that the first bytes leave early. */
#define STEP_IN (64 * 1024)
/* A step that waits longer than this for the pool gives up the copy. */
#define STEP_DEADLINE_NS ENCODE_STEP_DEADLINE_NS

#define ENC_ARGS_MAGIC 0x454e4341u

struct enc_args {
	unsigned magic;
	struct worker *w;
	struct cobj *o;	    /* reference */
	struct cbody *out;  /* reference; also installed in o->enc[slot] */
	enum coding slot;   /* the coding of OUT */
	enum coding coding; /* the codec's: SLOT, or o->body's coding when decoding */
	uint64_t out_len;   /* bytes in OUT so far */
	uint64_t limit;	    /* OUT may not grow past this */
	bool decode;	    /* OUT is o's body decoded */
	bool pipe;	    /* O is not stored: its body and OUT are pipes (one reader each) */
	uint64_t send_ns;   /* pipe: how long OUT's reader may leave its window full */
	/* From the config of the request that started it: copies, since the
	 * task may outlive that config (reload). */
	uint64_t between_ns; /* the backend's between_bytes_timeout */
	int level;
	bool on_loop; /* compression.bench_on_loop */
};

/* ---- the decision ---------------------------------------------------------- */

static bool token_in_list(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok);
	const char *p = v, *end = v + n;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *s = p;
		while (p < end && *p != ',')
			p++;
		const char *e = p;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - s) == tl && strncasecmp(s, tok, tl) == 0)
			return true;
	}
	return false;
}

/* A response head the rules read: a stored object's lines, or the parsed
 * head of a response that is passed (one set of rules for both). */
struct head_src {
	const struct cobj *o; /* or */
	const struct hmsg *m;
	int64_t clen; /* the announced length, -1 unknown */
};

/* Value I of field NAME (lower case), or NULL. */
static const char *head_field(const struct head_src *h, const char *name, unsigned i, size_t *len)
{
	if (h->o)
		return hdrs_find(h->o->hdrs, h->o->hdrs_len, name, i, len);
	const struct hfield *f = hmsg_field(h->m, name, i);
	if (!f)
		return NULL;
	*len = f->value.len;
	return hmsg_ptr(h->m, f->value);
}

static bool no_transform(const struct head_src *h)
{
	size_t l;
	const char *v;
	struct cache_control cc;
	cc_init(&cc);
	for (unsigned i = 0; (v = head_field(h, "cache-control", i, &l)); i++)
		cc_parse(&cc, v, l);
	return cc.flags & CC_NO_TRANSFORM;
}

/* The coding of the body: IDENTITY, one of ours, or -1 for anything else
 * (deflate, a list of codings): such a body is sent as it is. */
static int stored_coding(const struct head_src *h)
{
	size_t l;
	const char *v = head_field(h, "content-encoding", 0, &l);
	if (!v)
		return CODING_IDENTITY;
	if (head_field(h, "content-encoding", 1, &l))
		return -1;
	int c = coding_parse(v, l);
	return c < 0 ? -1 : c;
}

static bool compressible(const struct config *cfg, const struct head_src *h)
{
	size_t l;
	const char *ct = head_field(h, "content-type", 0, &l);
	if (!ct || !accept_type_matches(ct, l, (const char *const *)cfg->compression.types,
					cfg->compression.n_types))
		return false;
	/* The final size is unknown while the body streams without a
	 * Content-Length: compress (it is likely worth it). */
	return h->clen < 0 || (uint64_t)h->clen >= cfg->compression.min_size;
}

/* The client's choice among OFFER (a bitmask of codings) in the
 * configured order; -1 when nothing, identity included, is acceptable. */
static int client_choice(const struct config *cfg, const struct hmsg *req, unsigned offer,
			 const enum coding *pref, size_t npref)
{
	/* Several field lines are one list (RFC 9110 5.3): join them. */
	char joined[1024];
	const struct hfield *f = hmsg_field(req, "accept-encoding", 0);
	const char *v = "";
	size_t n = 0;
	if (f && !hmsg_field(req, "accept-encoding", 1)) {
		v = hmsg_ptr(req, f->value);
		n = f->value.len;
	} else if (f) {
		struct hbuf b;
		hbuf_init(&b, joined, sizeof(joined));
		for (unsigned i = 0; (f = hmsg_field(req, "accept-encoding", i)); i++) {
			if (i)
				hbuf_put(&b, ", ", 2);
			hbuf_put(&b, hmsg_ptr(req, f->value), f->value.len);
		}
		if (b.overflow)
			return CODING_IDENTITY; /* absurdly long: the safe answer */
		v = joined;
		n = b.len;
	}
	return accept_encoding_choose(v, n, offer, pref, npref);
}

static int enc_start(struct worker *w, const struct gen *g, struct cobj *o, enum coding c,
		     bool decode, struct cbody **outp);

/* cobj->enc_info: what the stored head says, worked out on the first hit
 * instead of on every one (header scans and a Cache-Control parse). */
#define INFO_KNOWN	  1u
#define INFO_ELIGIBLE	  2u /* a coding we know (or none), no no-transform */
#define INFO_COMPRESSIBLE 4u /* identity, type and size qualify */
#define INFO_CODING_SHIFT 3  /* 2 bits: the stored enum coding */

/* The rules, for a stored object and a passed response alike. A part of a
 * representation (Content-Range) is never recoded: its bytes are offsets
 * into the identity body. */
static uint8_t head_rules(const struct config *cfg, const struct head_src *h)
{
	uint8_t info = INFO_KNOWN;
	size_t l;
	int stored = stored_coding(h);
	if (stored >= 0 && !no_transform(h) && !head_field(h, "content-range", 0, &l)) {
		info |= INFO_ELIGIBLE | (uint8_t)(stored << INFO_CODING_SHIFT);
		if (stored == CODING_IDENTITY && compressible(cfg, h))
			info |= INFO_COMPRESSIBLE;
	}
	return info;
}

static uint8_t head_info(const struct config *cfg, struct cobj *o)
{
	uint8_t info = atomic_load_explicit(&o->enc_info, memory_order_relaxed);
	if (info)
		return info;
	struct head_src h = {.o = o, .clen = o->clen};
	info = head_rules(cfg, &h);
	atomic_store_explicit(&o->enc_info, info, memory_order_relaxed);
	return info;
}

static int enc_start_pipe(struct worker *w, const struct gen *g, struct cobj *o, enum coding c,
			  struct cbody **outp);

/* The codings compression.codings offers, as a bitmask. */
static unsigned offered(const struct config *cfg)
{
	unsigned offer = 0;
	for (size_t i = 0; i < cfg->compression.n_prefer; i++)
		offer |= 1u << cfg->compression.prefer[i];
	return offer;
}

void encode_plan(struct worker *w, const struct gen *g, const struct hmsg *req, struct cobj *o,
		 bool head, int route_on, struct encode_plan *p)
{
	const struct config *cfg = g->cfg;
	/* The object's own body, borrowed: the caller's reference to O keeps
	 * it alive, and a refcount on a hot object's body would bounce its
	 * cache line between the loops on every hit. */
	*p = (struct encode_plan){
	    .body = o->body, .send = CODING_IDENTITY, .stored = CODING_IDENTITY};
	/* The request's generation says whether to compress; the pool
	 * exists whenever a generation that enables it was posted. */
	bool on = route_on >= 0 ? route_on == 1 : cfg->compression.enabled;
	if (!on || !w->sh->cpool || o->status != 200)
		return;
	uint8_t info = head_info(cfg, o);
	int stored = (info >> INFO_CODING_SHIFT) & 3;
	p->send = p->stored = (enum coding)stored;
	if (!(info & INFO_ELIGIBLE))
		return;
	int want;
	bool decode = false;
	if (o->body->pipe) {
		/* Not stored (no-store, too big, private...): one reader, so
		 * the copy is a pipe of its own, made as the body arrives and
		 * never kept. An origin's coding is left as it is, as on a
		 * pass; a HEAD has no body to code. */
		if (stored != CODING_IDENTITY || !(info & INFO_COMPRESSIBLE) || head)
			return;
		p->vary = true;
		want = client_choice(cfg, req, offered(cfg), cfg->compression.prefer,
				     cfg->compression.n_prefer);
		struct cbody *copy = NULL;
		if (want <= CODING_IDENTITY ||
		    enc_start_pipe(w, g, o, (enum coding)want, &copy) < 0)
			return;
		p->body = copy;
		p->owned = true;
		p->send = (enum coding)want;
		p->transformed = true;
		return;
	}
	if (stored == CODING_IDENTITY) {
		if (!(info & INFO_COMPRESSIBLE))
			return;
		p->vary = true;
		want = client_choice(cfg, req, offered(cfg), cfg->compression.prefer,
				     cfg->compression.n_prefer);
		if (want <= CODING_IDENTITY)
			return; /* identity, or nothing acceptable: send identity */
	} else {
		/* Encoded by the origin: decode only for a client that cannot
		 * take that coding (whatever compression.codings offers) but
		 * takes identity. */
		p->vary = true;
		enum coding only = (enum coding)stored;
		if (client_choice(cfg, req, 1u << stored, &only, 1) != CODING_IDENTITY)
			return;
		want = CODING_IDENTITY;
		decode = true;
	}
	if (cobj_enc_refused(o, (enum coding)want))
		return; /* a copy failed for good: as stored */
	struct cbody *copy = cobj_enc_get(o, (enum coding)want);
	if (copy && cbody_state(copy) == BODY_FAILED)
		cbody_release(&copy);
	if (!copy && head) {
		/* A HEAD (or a request that will get a 304) gets the head a GET
		 * would, without making the copy. */
		p->send = (enum coding)want;
		p->transformed = true;
		p->pending = true;
		return;
	}
	if (!copy && enc_start(w, g, o, (enum coding)want, decode, &copy) < 0)
		return;
	p->body = copy;
	p->owned = true;
	p->send = (enum coding)want;
	p->transformed = true;
}

void encode_plan_release(struct encode_plan *p)
{
	/* A pipe copy has one reader, this request: once it is done (or
	 * gone), the encode task stops feeding it. */
	if (p->owned && p->body->pipe)
		body_reader_gone(p->body);
	if (p->owned)
		cbody_release(&p->body);
	p->body = NULL;
}

/* ---- the head ---------------------------------------------------------------- */

static bool wanted(const char *name, size_t nl, const char *const *want, size_t nwant)
{
	if (!want)
		return true;
	for (size_t i = 0; i < nwant; i++) {
		if (strlen(want[i]) == nl && strncasecmp(want[i], name, nl) == 0)
			return true;
	}
	return false;
}

/* Digests of the stored bytes, wrong for a transformed body. */
static bool digest_field(const char *name, size_t nl)
{
	static const char *const names[] = {"content-md5", "digest", "content-digest",
					    "repr-digest"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == nl && strncasecmp(names[i], name, nl) == 0)
			return true;
	}
	return false;
}

/*
 * Field NAME: V of a head about to go out with P's body: true when this
 * dropped it or wrote what replaces it, false when it goes out as it is.
 * *VARY_DONE: a Vary field was seen (Accept-Encoding is added to it).
 */
static bool edit_field(const struct encode_plan *p, const char *name, size_t nl, const char *v,
		       size_t vl, bool *vary_done, struct hbuf *b)
{
	bool recode = p->send != p->stored;
	if ((recode && nl == 16 && strncasecmp(name, "content-encoding", 16) == 0) ||
	    (p->transformed && digest_field(name, nl)))
		return true;
	if (p->transformed && nl == 4 && strncasecmp(name, "etag", 4) == 0 && vl && *v == '"') {
		hbuf_puts(b, "ETag: W/");
		hbuf_put(b, v, vl);
		hbuf_put(b, "\r\n", 2);
		return true;
	}
	if (!*vary_done && nl == 4 && strncasecmp(name, "vary", 4) == 0) {
		*vary_done = true;
		hbuf_put(b, name, nl);
		hbuf_put(b, ": ", 2);
		hbuf_put(b, v, vl);
		if (!token_in_list(v, vl, "accept-encoding") && !token_in_list(v, vl, "*"))
			hbuf_puts(b, ", Accept-Encoding");
		hbuf_put(b, "\r\n", 2);
		return true;
	}
	return false;
}

/* What follows the fields P edited: Vary if there was none, and the
 * Content-Encoding of a recoded body. */
static void put_added(const struct encode_plan *p, bool vary_done, struct hbuf *b)
{
	if (!vary_done)
		hbuf_puts(b, "Vary: Accept-Encoding\r\n");
	if (p->send != p->stored && p->send != CODING_IDENTITY) {
		hbuf_puts(b, "Content-Encoding: ");
		hbuf_puts(b, coding_name(p->send));
		hbuf_put(b, "\r\n", 2);
	}
}

void encode_put_headers(struct hbuf *b, const struct cobj *o, const struct encode_plan *p,
			const char *const *want, size_t nwant)
{
	bool vary_done = !p->vary || !wanted("vary", 4, want, nwant);
	const char *s = o->hdrs, *end = o->hdrs + o->hdrs_len;
	while (s < end) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		const char *next = eol ? eol + 1 : end;
		const char *colon = memchr(s, ':', (size_t)(next - s));
		if (!colon) {
			s = next;
			continue;
		}
		size_t nl = (size_t)(colon - s);
		const char *v = colon + 1;
		while (v < next && (*v == ' ' || *v == '\t'))
			v++;
		const char *ve = next;
		while (ve > v && (ve[-1] == '\n' || ve[-1] == '\r' || ve[-1] == ' '))
			ve--;
		size_t vl = (size_t)(ve - v);
		if (wanted(s, nl, want, nwant) && !edit_field(p, s, nl, v, vl, &vary_done, b))
			hbuf_put(b, s, (size_t)(next - s));
		s = next;
	}
	if (!want) {
		put_added(p, vary_done, b);
	} else if (!vary_done) {
		hbuf_puts(b, "Vary: Accept-Encoding\r\n");
	}
}

/* ---- the encode task --------------------------------------------------------- */

/* Run one step and append what it made to the copy. */
static int enc_step(struct enc_args *a, struct cjob *j)
{
	struct store *st = a->w->sh->store;
	/* A pipe's reader is a client: while it has a window's worth unread,
	 * the copy (and so the fetch behind it) waits. */
	if (a->pipe) {
		int ws = cbody_wait_space(a->out, rt_deadline_in(a->send_ns));
		if (ws < 0)
			return ws;
	}
	j->out_cap = cpool_out_cap(j, j->in_len);
	j->out = malloc(j->out_cap);
	if (!j->out)
		return -ENOMEM;
	int r = cpool_run(a->w->sh->cpool, j, rt_deadline_in(STEP_DEADLINE_NS));
	/* Chunks sized to what came out: a small object's copy must not
	 * cost a default-sized chunk of budget. */
	if (r == 0 && j->out_len)
		r = cbody_append(a->out, j->out, j->out_len, a->out_len + j->out_len);
	free(j->out);
	j->out = NULL;
	if (r < 0)
		return r;
	if (j->res < 0)
		return j->res;
	a->out_len += j->out_len;
	if (a->out_len > a->limit)
		return -EFBIG;
	if (j->out_len && !a->pipe)
		store_account(st, a->o, cobj_alloc(a->o));
	/* Inline steps (the benchmark's on-loop mode) yield between steps,
	 * as an event loop compressing per buffer would. */
	if (a->on_loop)
		rt_task_yield();
	return 0;
}

/* True when the source body is complete and ends N bytes after the cursor. */
static bool source_ends_at(struct body_reader *r, size_t n)
{
	pthread_mutex_lock(&r->b->lock);
	bool end = r->b->state == BODY_DONE && r->b->len == r->pos + n;
	pthread_mutex_unlock(&r->b->lock);
	return end;
}

static void enc_main(void *arg)
{
	struct enc_args *a = arg;
	CHECK_OBJ_NOTNULL(a, ENC_ARGS_MAGIC);
	struct worker *w = a->w;

	uint64_t between = a->between_ns;
	struct cjob j = {.decode = a->decode, .coding = a->coding, .level = a->level};
	struct body_reader r;
	body_reader_init(&r, a->o->body);
	bool ok = false, unflushed = false, pending = false;
	int err = 0;
	for (;;) {
		const char *p = NULL;
		ssize_t n = body_peek(&r, &p);
		if (n == -EAGAIN) {
			/* The source has nothing more for now: let the readers
			 * have what was fed so far, and what a step left
			 * pending. */
			if (pending || (unflushed && !a->decode)) {
				j.in = NULL;
				j.in_len = 0;
				j.op = a->decode ? CODEC_CONTINUE : CODEC_FLUSH;
				if ((err = enc_step(a, &j)) < 0)
					break;
				pending = j.more;
				unflushed = j.more;
				continue;
			}
			if ((err = body_wait(&r, rt_deadline_in(between))) < 0)
				break;
			continue;
		}
		if (n < 0) {
			err = (int)n;
			break;
		}
		if (n == 0 && r.pos == 0 && a->decode) {
			ok = true; /* an empty encoded body decodes to an empty one */
			break;
		}
		size_t take = n > STEP_IN ? STEP_IN : (size_t)n;
		/* The last span and the end in one step: a small object costs
		 * one trip to the pool, not two. */
		bool last = n == 0 || ((size_t)n == take && source_ends_at(&r, take));
		j.in = p;
		j.in_len = take;
		j.op = last ? CODEC_FINISH : CODEC_CONTINUE;
		j.free_after = last;
		if ((err = enc_step(a, &j)) < 0)
			break;
		body_advance(&r, j.in_used);
		if (a->pipe)
			body_consume(&r); /* the fetch may go on */
		if (last && j.in_used == take && !j.more) {
			ok = true;
			break;
		}
		pending = j.more;
		unflushed = true;
	}
	if (!ok && a->pipe) {
		/* The reader went away (-EPIPE), or the copy broke and its
		 * reader closes its connection: either way the fetch feeding
		 * the source has nobody left. */
		body_reader_gone(a->o->body);
		if (err != -EPIPE && err != -ECANCELED)
			atomic_fetch_add_explicit(&cpool_stats(w->sh->cpool)->errors, 1,
						  memory_order_relaxed);
	} else if (!ok) {
		/* Out of the slot before it reads as broken, so no request
		 * picks it up in between. A source that cannot be coded is not
		 * tried again; a cancel, a timeout or a broken source may be. */
		bool refuse = err != -EIO && err != -ECANCELED && err != -ETIMEDOUT;
		cobj_enc_drop(a->o, a->slot, a->out, refuse);
		atomic_fetch_add_explicit(&cpool_stats(w->sh->cpool)->errors, 1,
					  memory_order_relaxed);
		if (refuse)
			log_warn("%s copy of a stored response failed: %s; it is sent as stored",
				 a->decode ? "decoded" : coding_name(a->coding), strerror(-err));
	}
	cbody_finish(a->out, ok);
	cbody_release(&a->out);
	cobj_release(&a->o);
	free(a);
	cpool_stream_end(w->sh->cpool);
	/* Left over only when the stream broke (the normal end frees it in
	 * its last step); after the copy's readers and slot are released,
	 * since this may wait behind other steps. */
	cpool_free_codec(w->sh->cpool, &j.k);
}

static int enc_start(struct worker *w, const struct gen *g, struct cobj *o, enum coding c,
		     bool decode, struct cbody **outp)
{
	struct cpool *pool = w->sh->cpool;
	if (!cpool_stream_begin(pool, decode)) {
		atomic_fetch_add_explicit(&cpool_stats(pool)->fallbacks, 1, memory_order_relaxed);
		return -EBUSY;
	}
	struct enc_args *a = calloc(1, sizeof(*a));
	if (a)
		a->magic = ENC_ARGS_MAGIC;
	struct cbody *b = cbody_new();
	if (!a || !b) {
		cpool_stream_end(pool);
		free(a);
		cbody_release(&b);
		return -ENOMEM;
	}
	/* Another request may have installed a copy since we looked. */
	struct cbody *have = cobj_enc_put(o, c, b);
	if (have) {
		cpool_stream_end(pool);
		free(a);
		cbody_release(&b);
		*outp = have;
		return 0;
	}
	a->w = w;
	cobj_retain(o);
	a->o = o;
	a->out = b;
	a->slot = c;
	a->decode = decode;
	struct head_src h = {.o = o};
	a->coding = decode ? (enum coding)stored_coding(&h) : c;
	/* An encoder's output is about its input or less; a decoder's is
	 * bounded like any stored object. */
	uint64_t src = o->clen > 0 ? (uint64_t)o->clen : 0;
	a->between_ns = g->backends[0].cfg->between_bytes_timeout_ns;
	a->level = g->cfg->compression.level[a->coding];
	a->on_loop = g->cfg->compression.bench_on_loop;
	a->limit = g->cfg->cache.max_object_size;
	if (!decode && src + src / 8 + 4096 > a->limit)
		a->limit = src + src / 8 + 4096;
	if (rt_group_spawn(&a->w->tasks, enc_main, a, "encode") < 0) {
		cobj_enc_drop(o, c, b, false);
		cbody_finish(b, false);
		cbody_release(&a->out);
		cobj_release(&a->o);
		free(a);
		cpool_stream_end(pool);
		return -ENOMEM; /* the caller sends the stored body */
	}
	atomic_fetch_add(&b->refs, 1); /* the caller's */
	*outp = b;
	METRIC_INC(&w->metrics, encode_copies);
	return 0;
}

/* A pipe copy of O (not stored, one reader) in coding C: the encode task
 * reads O's pipe and fills *OUTP, a pipe of its own. -EBUSY when the pool
 * is full (the caller sends O's body as it is). */
static int enc_start_pipe(struct worker *w, const struct gen *g, struct cobj *o, enum coding c,
			  struct cbody **outp)
{
	struct cpool *pool = w->sh->cpool;
	if (!cpool_stream_begin(pool, false)) {
		atomic_fetch_add_explicit(&cpool_stats(pool)->fallbacks, 1, memory_order_relaxed);
		return -EBUSY;
	}
	struct enc_args *a = calloc(1, sizeof(*a));
	struct cbody *b = cbody_new();
	if (!a || !b) {
		cpool_stream_end(pool);
		free(a);
		cbody_release(&b);
		return -ENOMEM;
	}
	a->magic = ENC_ARGS_MAGIC;
	b->pipe = true;
	a->w = w;
	cobj_retain(o);
	a->o = o;
	a->out = b;
	a->slot = a->coding = c;
	a->pipe = true;
	a->between_ns = g->backends[0].cfg->between_bytes_timeout_ns;
	a->send_ns = g->cfg->timeouts.send_ns;
	a->level = g->cfg->compression.level[c];
	a->on_loop = g->cfg->compression.bench_on_loop;
	a->limit = UINT64_MAX; /* streamed in a bounded window, never kept */
	if (rt_group_spawn(&w->tasks, enc_main, a, "encode") < 0) {
		cbody_release(&a->out);
		cobj_release(&a->o);
		free(a);
		cpool_stream_end(pool);
		return -ENOMEM; /* the caller sends the body as it is */
	}
	atomic_fetch_add(&b->refs, 1); /* the caller's */
	*outp = b;
	return 0;
}

/* ---- passed responses ------------------------------------------------------- */

void encode_pass_plan(struct worker *w, const struct gen *g, const struct hmsg *req,
		      const struct hmsg *resp, bool head, int route_on, struct encode_pass *e)
{
	const struct config *cfg = g->cfg;
	memset(e, 0, sizeof(*e));
	e->plan.send = e->plan.stored = CODING_IDENTITY;
	bool on = route_on >= 0 ? route_on == 1 : cfg->compression.enabled;
	if (!on || !w->sh->cpool || head || hmsg_status(resp) != 200)
		return;
	struct head_src h = {
	    .m = resp, .clen = hmsg_has_length(resp) ? (int64_t)hmsg_content_length(resp) : -1};
	uint8_t info = head_rules(cfg, &h);
	if (!(info & INFO_COMPRESSIBLE))
		return; /* an origin's coding is passed as it is */
	e->plan.vary = true;
	int want = client_choice(cfg, req, offered(cfg), cfg->compression.prefer,
				 cfg->compression.n_prefer);
	if (want <= CODING_IDENTITY)
		return;
	if (!cpool_stream_begin(w->sh->cpool, false)) {
		atomic_fetch_add_explicit(&cpool_stats(w->sh->cpool)->fallbacks, 1,
					  memory_order_relaxed);
		return;
	}
	e->active = true;
	METRIC_INC(&w->metrics, encoded);
	e->pool = w->sh->cpool;
	e->plan.send = (enum coding)want;
	e->plan.transformed = true;
	e->j = (struct cjob){.coding = (enum coding)want, .level = cfg->compression.level[want]};
}

bool encode_pass_field(struct encode_pass *e, const struct hmsg *resp, const struct hfield *f,
		       struct hbuf *b)
{
	if (!e->plan.vary)
		return false;
	return edit_field(&e->plan, hmsg_ptr(resp, f->name), f->name.len, hmsg_ptr(resp, f->value),
			  f->value.len, &e->vary_done, b);
}

void encode_pass_head_end(struct encode_pass *e, struct hbuf *b)
{
	if (e->plan.vary)
		put_added(&e->plan, e->vary_done, b);
}

ssize_t encode_pass_step(struct encode_pass *e, const char *in, size_t n, enum codec_op op,
			 const char **out)
{
	assert(e->active);
	size_t used = 0, len = 0;
	/* Several steps only when one piece makes more than a step may
	 * (CPOOL_STEP_OUT_MAX): the rest comes out of the next. */
	do {
		struct cjob *j = &e->j;
		j->in = in ? in + used : NULL;
		j->in_len = n - used;
		j->op = op;
		j->free_after = op == CODEC_FINISH;
		size_t cap = cpool_out_cap(j, j->in_len);
		if (len + cap > e->cap) {
			char *nb = realloc(e->buf, len + cap);
			if (!nb)
				return -ENOMEM;
			e->buf = nb;
			e->cap = len + cap;
		}
		j->out = e->buf + len;
		j->out_cap = cap;
		int r = cpool_run(e->pool, j, rt_deadline_in(STEP_DEADLINE_NS));
		j->out = NULL;
		if (r < 0)
			return r;
		if (j->res < 0)
			return j->res;
		used += j->in_used;
		len += j->out_len;
	} while (used < n || e->j.more);
	*out = e->buf;
	return (ssize_t)len;
}

void encode_pass_end(struct encode_pass *e)
{
	if (e->active) {
		/* A stream that broke (or never finished) leaves its codec. */
		cpool_free_codec(e->pool, &e->j.k);
		cpool_stream_end(e->pool);
		e->active = false;
	}
	free(e->buf);
	e->buf = NULL;
	e->cap = 0;
}
