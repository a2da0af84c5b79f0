/* encode.c - pick the coded body for a cache hit; make coded copies on the pool. */
#include "proxy/encode.h"

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
#include "rt/task.h"

/* Input per pool step: big enough that a step costs far more than the
 * ~25 us hand-off, small enough that the first bytes leave early. */
#define STEP_IN (64 * 1024)
/* A step that waits longer than this for the pool gives up the copy. */
#define STEP_DEADLINE_NS (30 * RT_SEC)

struct enc_args {
	struct worker *w;
	struct cobj *o;	    /* reference */
	struct cbody *out;  /* reference; also installed in o->enc[slot] */
	enum coding slot;   /* the coding of OUT */
	enum coding coding; /* the codec's: SLOT, or o->body's coding when decoding */
	bool decode;	    /* OUT is o's body decoded */
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

static bool no_transform(const struct cobj *o)
{
	size_t l;
	const char *v;
	struct cache_control cc;
	cc_init(&cc);
	for (unsigned i = 0; (v = hdrs_find(o->hdrs, o->hdrs_len, "cache-control", i, &l)); i++)
		cc_parse(&cc, v, l);
	return cc.flags & CC_NO_TRANSFORM;
}

/* The coding of O's body: IDENTITY, one of ours, or -1 for anything else
 * (deflate, a list of codings): such a body is sent as it is. */
static int stored_coding(const struct cobj *o)
{
	size_t l;
	const char *v = hdrs_find(o->hdrs, o->hdrs_len, "content-encoding", 0, &l);
	if (!v)
		return CODING_IDENTITY;
	if (hdrs_find(o->hdrs, o->hdrs_len, "content-encoding", 1, &l))
		return -1;
	int c = coding_parse(v, l);
	return c < 0 ? -1 : c;
}

static bool compressible(const struct config *cfg, const struct cobj *o)
{
	size_t l;
	const char *ct = hdrs_find(o->hdrs, o->hdrs_len, "content-type", 0, &l);
	if (!ct || !accept_type_matches(ct, l, (const char *const *)cfg->compression.types,
					cfg->compression.n_types))
		return false;
	/* The final size is unknown while the body streams without a
	 * Content-Length: compress (it is likely worth it). */
	return o->clen < 0 || (uint64_t)o->clen >= cfg->compression.min_size;
}

/* The client's choice among OFFER (a bitmask of codings) in the
 * configured order; -1 when nothing, identity included, is acceptable. */
static int client_choice(const struct config *cfg, const struct hmsg *req, unsigned offer)
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
	return accept_encoding_choose(v, n, offer, cfg->compression.prefer,
				      cfg->compression.n_prefer);
}

static bool body_broken(struct cbody *b)
{
	pthread_mutex_lock(&b->lock);
	bool broken = b->state == BODY_FAILED;
	pthread_mutex_unlock(&b->lock);
	return broken;
}

static int enc_start(struct worker *w, struct cobj *o, enum coding c, bool decode,
		     struct cbody **outp);

void encode_plan(struct worker *w, const struct hmsg *req, struct cobj *o, bool head,
		 struct encode_plan *p)
{
	const struct config *cfg = w->px->cfg;
	*p = (struct encode_plan){.send = CODING_IDENTITY, .stored = CODING_IDENTITY};
	int stored = o->status == 200 ? stored_coding(o) : -1;
	if (!w->px->cpool || stored < 0 || no_transform(o))
		goto as_stored;
	p->stored = (enum coding)stored;
	int want;
	bool decode = false;
	if (stored == CODING_IDENTITY) {
		if (!compressible(cfg, o))
			goto as_stored;
		p->vary = true;
		unsigned offer = 0;
		for (size_t i = 0; i < cfg->compression.n_prefer; i++)
			offer |= 1u << cfg->compression.prefer[i];
		want = client_choice(cfg, req, offer);
		if (want <= CODING_IDENTITY)
			goto as_stored; /* identity, or nothing acceptable: send identity */
	} else {
		/* Encoded by the origin: decode only for a client that cannot
		 * take it but takes identity. */
		p->vary = true;
		int ch = client_choice(cfg, req, 1u << stored);
		if (ch != CODING_IDENTITY)
			goto as_stored;
		want = CODING_IDENTITY;
		decode = true;
	}
	struct cbody *copy = cobj_enc_get(o, (enum coding)want);
	if (copy && body_broken(copy))
		cbody_release(&copy);
	if (!copy && head) {
		/* A HEAD gets the head a GET would, without making the copy. */
		p->send = (enum coding)want;
		p->transformed = true;
		p->pending = true;
		goto as_stored_body;
	}
	if (!copy) {
		if (enc_start(w, o, (enum coding)want, decode, &copy) < 0)
			goto as_stored;
	}
	p->body = copy;
	p->send = (enum coding)want;
	p->transformed = true;
	return;
as_stored:
	p->send = p->stored;
	p->transformed = false;
as_stored_body:
	p->body = o->body;
	atomic_fetch_add(&p->body->refs, 1);
}

void encode_plan_release(struct encode_plan *p)
{
	cbody_release(&p->body);
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

void encode_put_headers(struct hbuf *b, const struct cobj *o, const struct encode_plan *p,
			const char *const *want, size_t nwant)
{
	bool vary_done = !p->vary || !wanted("vary", 4, want, nwant);
	bool recode = p->send != p->stored;
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
		if (!wanted(s, nl, want, nwant)) {
			s = next;
			continue;
		}
		if (recode && nl == 16 && strncasecmp(s, "content-encoding", 16) == 0) {
			s = next;
			continue;
		}
		if (p->transformed && nl == 4 && strncasecmp(s, "etag", 4) == 0 && vl &&
		    *v == '"') {
			hbuf_puts(b, "ETag: W/");
			hbuf_put(b, v, vl);
			hbuf_put(b, "\r\n", 2);
			s = next;
			continue;
		}
		if (!vary_done && nl == 4 && strncasecmp(s, "vary", 4) == 0) {
			vary_done = true;
			hbuf_put(b, s, (size_t)(ve - s));
			if (!token_in_list(v, vl, "accept-encoding") && !token_in_list(v, vl, "*"))
				hbuf_puts(b, ", Accept-Encoding");
			hbuf_put(b, "\r\n", 2);
			s = next;
			continue;
		}
		hbuf_put(b, s, (size_t)(next - s));
		s = next;
	}
	if (!vary_done)
		hbuf_puts(b, "Vary: Accept-Encoding\r\n");
	if (recode && p->send != CODING_IDENTITY && !want) {
		hbuf_puts(b, "Content-Encoding: ");
		hbuf_puts(b, coding_name(p->send));
		hbuf_put(b, "\r\n", 2);
	}
}

/* ---- the encode task --------------------------------------------------------- */

/* Run one step and append what it made to the copy. */
static int enc_step(struct enc_args *a, struct cjob *j)
{
	struct store *st = a->w->px->store;
	int r = cpool_run(a->w->px->cpool, j, rt_deadline_in(STEP_DEADLINE_NS));
	if (r == 0 && j->out_len)
		r = cbody_append(a->out, j->out, j->out_len, 0);
	free(j->out);
	j->out = NULL;
	if (r < 0)
		return r;
	if (j->res < 0)
		return j->res;
	pthread_mutex_lock(&a->out->lock);
	uint64_t len = a->out->len;
	pthread_mutex_unlock(&a->out->lock);
	if (len > a->w->px->cfg->cache.max_object_size)
		return -EFBIG;
	if (j->out_len)
		store_account(st, a->o, cobj_alloc(a->o));
	return 0;
}

static void enc_main(void *arg)
{
	struct enc_args *a = arg;
	struct worker *w = a->w;
	struct fetch_node node = {.task = rt_task_self(), .next = w->fetches};
	if (w->fetches)
		w->fetches->prev = &node;
	w->fetches = &node;

	uint64_t between = w->px->backends[0].cfg->between_bytes_timeout_ns;
	struct cjob j = {.decode = a->decode,
			 .coding = a->coding,
			 .level = w->px->cfg->compression.level[a->coding]};
	struct body_reader r;
	body_reader_init(&r, a->o->body);
	bool ok = false, unflushed = false;
	int err = 0;
	for (;;) {
		const char *p;
		ssize_t n = body_peek(&r, &p);
		if (n == -EAGAIN) {
			/* The source has nothing more for now: let the readers
			 * have what was fed so far. */
			if (unflushed && !a->decode) {
				j.in = NULL;
				j.in_len = 0;
				j.op = CODEC_FLUSH;
				if ((err = enc_step(a, &j)) < 0)
					break;
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
		j.in = p;
		j.in_len = n > STEP_IN ? STEP_IN : (size_t)n;
		j.op = n == 0 ? CODEC_FINISH : CODEC_CONTINUE;
		j.free_after = n == 0;
		if ((err = enc_step(a, &j)) < 0)
			break;
		body_advance(&r, j.in_used);
		if (n == 0 && !j.more) {
			ok = true;
			break;
		}
		unflushed = n > 0 || j.more;
	}
	codec_free(&j.k); /* left over only when the stream broke */
	cbody_finish(a->out, ok);
	if (!ok) {
		cobj_enc_drop(a->o, a->slot, a->out);
		atomic_fetch_add_explicit(&cpool_stats(w->px->cpool)->errors, 1,
					  memory_order_relaxed);
		if (err != -EIO && err != -ECANCELED)
			log_warn("%s copy of a stored response failed: %s",
				 a->decode ? "decoded" : coding_name(a->coding), strerror(-err));
	}
	cbody_release(&a->out);
	cobj_release(&a->o);
	free(a);
	cpool_stream_end(w->px->cpool);
	if (node.prev)
		node.prev->next = node.next;
	else
		w->fetches = node.next;
	if (node.next)
		node.next->prev = node.prev;
}

static int enc_start(struct worker *w, struct cobj *o, enum coding c, bool decode,
		     struct cbody **outp)
{
	struct enc_args *a = calloc(1, sizeof(*a));
	struct cbody *b = cbody_new();
	if (!a || !b) {
		free(a);
		cbody_release(&b);
		return -ENOMEM;
	}
	if (!cpool_stream_begin(w->px->cpool, decode)) {
		free(a);
		cbody_release(&b);
		atomic_fetch_add_explicit(&cpool_stats(w->px->cpool)->fallbacks, 1,
					  memory_order_relaxed);
		return -EBUSY;
	}
	/* Another request may have installed a copy since we looked. */
	struct cbody *have = cobj_enc_put(o, c, b);
	if (have) {
		cpool_stream_end(w->px->cpool);
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
	a->coding = decode ? (enum coding)stored_coding(o) : c;
	atomic_fetch_add(&b->refs, 1); /* the caller's */
	*outp = b;
	METRIC_INC(w, encode_copies);
	if (rt_task_spawn_detached(enc_main, a, "encode") < 0) {
		cpool_stream_end(w->px->cpool);
		cbody_finish(b, false);
		cobj_enc_drop(o, c, b);
		cbody_release(&a->out);
		cobj_release(&a->o);
		free(a);
	}
	return 0; /* on a failed spawn the caller streams a broken body and closes */
}
