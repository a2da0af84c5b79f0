/*
 * fuzz_response.c - libFuzzer harness: the bytes a backend sends on one
 * connection, parsed by src/http/msg.c the way src/backend/exchange.c
 * relay_response and fetch.c drive it: interim (1xx) responses skipped in
 * the same buffer, 101 refused, bodies delimited by Content-Length, chunked
 * coding or the connection closing (hmsg_eof), HEAD responses without a
 * body, and further responses on a kept-alive connection.
 *
 * Each final head then goes through what the cache derives from it: the
 * freshness metadata and policy decisions (fixed clock), the stored header
 * block (hdrs_from_response, then looked up and merged with the same head
 * as a 304 would be), Vary names and hop-by-hop fields.
 *
 * Input layout: see fuzz_http.h. Flag bits: 0 the request was HEAD,
 * 1 the request carried Authorization, 2 soft-purged (policy_usable).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_http.h"

#include "cache/hdrs.h"
#include "cache/policy.h"
#include "cache/vary.h"
#include "http/hbuf.h"
#include "http/hop.h"

#define MAX_EXCHANGES 16
/* 2025-01-01T00:00:00Z; the response arrived 250 ms after the request. */
#define NOW_S 1735689600LL

static void check_stored(const char *h, size_t len)
{
	/* "Name: value\r\n" lines only. */
	for (size_t i = 0; i < len; i++) {
		if (h[i] == '\n')
			FZ_CHECK(i > 0 && h[i - 1] == '\r');
		if (h[i] == '\r')
			FZ_CHECK(i + 1 < len && h[i + 1] == '\n');
	}
	FZ_CHECK(len == 0 || (len >= 2 && h[len - 2] == '\r' && h[len - 1] == '\n'));
}

static void exercise(struct fz_conn *c, unsigned flags)
{
	struct hmsg *m = &c->m;

	struct resp_meta rm;
	policy_meta_from_response(m, NOW_S * 1000, NOW_S * 1000 + 250, &rm);
	FZ_CHECK(rm.status == hmsg_status(m));
	FZ_CHECK(rm.age >= 0 && rm.age <= 2147483648LL);
	for (int i = 0; i < CC_N_DELTA; i++)
		FZ_CHECK(rm.cc.delta[i] == CC_UNSET ||
			 (rm.cc.delta[i] >= 0 && rm.cc.delta[i] <= 2147483648LL));

	struct req_meta rq = {.method = HTTP_GET, .has_authorization = (flags & 2) != 0};
	cc_init(&rq.cc);
	struct policy_knobs k = {
	    .ttl_override = POLICY_NONE,
	    .default_ttl = 0,
	    .heuristic_percent = 10,
	    .heuristic_max = 86400,
	    .grace = 10,
	};
	enum storable s = policy_storable(&rq, &rm, &k);
	FZ_CHECK(policy_storable_name(s) != NULL);
	int64_t life = policy_lifetime(&rm, &k);
	FZ_CHECK(life >= 0);
	int64_t age = policy_age(&rm, NOW_S + 60);
	FZ_CHECK(age >= 0);
	enum usable u = policy_usable(&rq, &rm, life, (flags & 4) != 0, NOW_S + 60);
	bool soe = policy_stale_on_error(&rq, &rm, life, k.grace, true, NOW_S + 60);
	fz_mix_u64(&c->msg, (uint64_t)s << 8 | (uint64_t)u << 1 | soe);
	fz_mix_u64(&c->msg, (uint64_t)life);

	/* The stored header block. */
	static char stored[32768], merged[65536];
	struct hbuf b;
	hbuf_init(&b, stored, sizeof(stored));
	hdrs_from_response(&b, m, &rm.cc);
	if (!b.overflow) {
		check_stored(stored, b.len);
		size_t vl;
		for (uint32_t i = 0; i < m->n_fields; i++) {
			const struct hfield *f = &m->fields[i];
			char name[64];
			if (f->name.len >= sizeof(name))
				continue;
			memcpy(name, hmsg_ptr(m, f->name), f->name.len);
			name[f->name.len] = '\0';
			const char *v = hdrs_find(stored, b.len, name, 0, &vl);
			if (v)
				FZ_CHECK(v >= stored && v + vl <= stored + b.len);
		}
		const char *ct = hdrs_find(stored, b.len, "content-type", 0, &vl);
		if (ct)
			fz_mix(&c->msg, ct, vl);
		/* The same head again as a 304's fields. */
		struct hbuf mb;
		hbuf_init(&mb, merged, sizeof(merged));
		hdrs_merge_304(&mb, stored, b.len, m);
		if (!mb.overflow)
			fz_mix_u64(&c->msg, mb.len);
	}

	char names[1024];
	int nl = vary_names(m, names, sizeof(names));
	FZ_CHECK(nl >= -1 && nl < (int)sizeof(names));
	if (nl > 0) {
		FZ_CHECK(strlen(names) == (size_t)nl);
		fz_mix(&c->msg, names, (size_t)nl);
	}

	struct hop_set hs;
	hop_collect(m, &hs);
	FZ_CHECK(hs.n <= HOP_MAX_TOKENS);
	for (uint32_t i = 0; i < m->n_fields; i++)
		fz_mix_u64(&c->msg, hop_is_hop(m, &hs, &m->fields[i]));
}

/* Responses that have no body whatever their fields say (RFC 9112 6.3). */
static bool bodyless(const struct hmsg *m)
{
	int st = hmsg_status(m);
	return m->skip_body || st < 200 || st == 204 || st == 304;
}

/* Read the rest of the message. Returns true when it ended normally and
 * the connection could carry another one. */
static bool read_body(struct fz_conn *c)
{
	struct hmsg *m = &c->m;
	fz_take_body(c);
	while (!m->msg_done) {
		if (c->pos == c->len) {
			c->pos = c->len = 0; /* body forwarded: start over */
			if (!fz_recv(c)) {
				/* The backend closed: the end of a close-delimited
				 * body, or a truncated one. */
				bool needs_eof = hmsg_needs_eof(m);
				int r = hmsg_eof(m);
				FZ_CHECK(r == 0 || r == HMSG_MALFORMED);
				if (r == 0) {
					FZ_CHECK(m->msg_done && needs_eof);
					fz_check_done(c, bodyless(m));
				}
				fz_mix_u64(&c->digest, 0xe0f0 + (uint64_t)-r);
				return false;
			}
		}
		long used = hmsg_feed(m, c->pos, c->len - c->pos);
		if (used < 0) {
			fz_error(c, used);
			return false;
		}
		FZ_CHECK((uint32_t)used <= c->len - c->pos);
		c->pos += (uint32_t)used;
		fz_take_body(c);
		if (!m->msg_done)
			FZ_CHECK(c->pos == c->len);
	}
	fz_check_done(c, bodyless(m));
	return hmsg_keep_alive(m) && !hmsg_needs_eof(m);
}

static uint64_t run(const uint8_t *in, uint32_t n, const struct fz_params *p, bool split,
		    bool *no_compare)
{
	struct fz_conn c;
	bool head_req = p->flags & 1;
	fz_conn_init(&c, HMSG_RESPONSE, in, n, p, split);
	for (int i = 0; i < MAX_EXCHANGES; i++) {
		fz_compact(&c);
		hmsg_restart(&c.m, c.buf, 0);
		c.m.skip_body = head_req;
		int r;
		for (;;) {
			r = fz_read_head(&c);
			if (r <= 0)
				break;
			fz_check_head(&c);
			int st = hmsg_status(&c.m);
			FZ_CHECK(st >= 0 && st <= 999);
			if (st == 101 || st >= 200)
				break;
			/* Interim: complete with its head, the final response
			 * follows in the same buffer. */
			if (c.m.msg_done) {
				fz_take_body(&c);
				fz_check_done(&c, bodyless(&c.m));
			} else if (!read_body(&c) && !c.m.msg_done) {
				r = 0;
				break;
			}
			fz_compact(&c);
			hmsg_next(&c.m, c.buf, 0);
			c.m.skip_body = head_req;
		}
		if (r <= 0)
			break;
		if (hmsg_status(&c.m) == 101) {
			/* Refused like a malformed response (502). */
			fz_mix_u64(&c.digest, 0xe000 + (uint64_t)-HMSG_MALFORMED);
			break;
		}
		exercise(&c, p->flags);
		if (!read_body(&c))
			break;
	}
	*no_compare = c.too_large;
	uint64_t d = c.digest;
	fz_conn_free(&c);
	return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < FZ_PREFIX || size > (1u << 20))
		return 0;
	const uint8_t *in = data + FZ_PREFIX;
	uint32_t n = (uint32_t)(size - FZ_PREFIX);
	struct fz_params p;
	fz_params(data, n, &p);
	bool skip1, skip2;
	uint64_t whole = run(in, n, &p, false, &skip1);
	uint64_t pieces = run(in, n, &p, true, &skip2);
	if (!skip1 && !skip2)
		FZ_CHECK(whole == pieces);
	return 0;
}
