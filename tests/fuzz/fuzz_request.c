/*
 * fuzz_request.c - libFuzzer harness: the bytes a client sends on one
 * connection, parsed by src/http/msg.c (llhttp, strict) the way
 * src/serve/conn.c read_head and backend/exchange.c's body relay drive it:
 * heads parsed in place, pipelined requests one after another while the
 * connection is kept alive, bodies (Content-Length or chunked) decoded in
 * place and released region by region.
 *
 * Each head then goes through what the proxy derives from it: hop-by-hop
 * fields, the backend request head (forward_head_build), the cache's request
 * metadata (policy_req_meta), Vary keys and Accept-Encoding negotiation;
 * then client.c's own checks (Host, CONNECT, transfer codings,
 * asterisk-form) decide whether the connection goes on, as in the proxy.
 *
 * Input layout: see fuzz_http.h. Flag bits: 0 strip conditionals and add
 * validators in the backend head, 1 fetch as GET (cache fetch).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_http.h"

#include "cache/policy.h"
#include "cache/vary.h"
#include "http/accept.h"
#include "http/forward.h"
#include "http/hbuf.h"
#include "http/hop.h"
#include "http/forward.h"

#define MAX_MESSAGES 32

/* No CR or LF may reach the backend except as line ends, and the head
 * ends at its first empty line: anything else is request smuggling. */
static void check_backend_head(const char *h, size_t len)
{
	FZ_CHECK(len >= 4 && memcmp(h + len - 4, "\r\n\r\n", 4) == 0);
	for (size_t i = 0; i < len; i++) {
		if (h[i] == '\n')
			FZ_CHECK(i > 0 && h[i - 1] == '\r');
		if (h[i] == '\r')
			FZ_CHECK(i + 1 < len && h[i + 1] == '\n');
		FZ_CHECK(h[i] != '\0');
	}
	const char *blank = memmem(h, len, "\r\n\r\n", 4);
	FZ_CHECK(blank == h + len - 4);
}

/* The checks of serve/req.c req_validate() (it needs a whole struct req and
 * the serve layer) that end the
 * connection whatever else the request says: a request that fails them is
 * answered with an error and the connection closed. (Host syntax,
 * absolute-form and dot-segments are checked there too.) */
static bool client_validate(const struct hmsg *m)
{
	unsigned hosts = hmsg_field_count(m, "host");
	const struct hfield *te = hmsg_field(m, "transfer-encoding", 0);
	const char *t = hmsg_ptr(m, m->target);
	bool star = m->target.len == 1 && t[0] == '*';
	return m->p.http_major == 1 && hosts <= 1 && (hosts == 1 || m->p.http_minor == 0) &&
	       hmsg_method(m) != HTTP_CONNECT &&
	       (!te || (m->p.http_minor > 0 && hmsg_field_count(m, "transfer-encoding") == 1 &&
			hspan_ieq(m, te->value, "chunked"))) &&
	       m->target.len > 0 && (!star || hmsg_method(m) == HTTP_OPTIONS);
}

/* The cache's secondary keys for a Vary on these fields. */
static void vary_keys(struct fz_conn *c)
{
	struct hmsg *m = &c->m;
	char key[2048];
	int kl = vary_accept_encoding(m, key, sizeof(key));
	FZ_CHECK(kl >= 0 && (size_t)kl < sizeof(key));
	static const char names[] = "accept-encoding,accept-language,cookie,user-agent";
	kl = vary_key(names, sizeof(names) - 1, m, key, sizeof(key));
	FZ_CHECK(kl >= -1 && kl <= (int)sizeof(key));
	if (kl > 0)
		fz_mix(&c->msg, key, (size_t)kl);
}

static void exercise(struct fz_conn *c, unsigned flags)
{
	struct hmsg *m = &c->m;

	struct hop_set hs;
	hop_collect(m, &hs);
	FZ_CHECK(hs.n <= HOP_MAX_TOKENS);
	for (unsigned i = 0; i < hs.n; i++)
		FZ_CHECK(fz_span_ok(c, hs.tokens[i]) && hs.tokens[i].len > 0);
	for (uint32_t i = 0; i < m->n_fields; i++)
		fz_mix_u64(&c->msg, hop_is_hop(m, &hs, &m->fields[i]));

	/* The head sent to the backend. */
	char out[32768];
	struct hbuf b;
	hbuf_init(&b, out, sizeof(out));
	static const char ims[] = "Sun, 06 Nov 1994 08:49:37 GMT";
	struct forward_head_opts o = {.peer_ip = "192.0.2.1"};
	if (flags & 1) {
		o.strip_conditionals = true;
		o.if_none_match = "\"v1\"";
		o.inm_len = 4;
		o.if_modified_since = ims;
		o.ims_len = sizeof(ims) - 1;
	}
	if (flags & 2)
		o.method = "GET";
	bool chunked = false;
	int st = forward_head_build(&b, m, &o, &chunked);
	FZ_CHECK(st == 0 || st == 400 || st == 431);
	FZ_CHECK(st != 400 || hs.overflow);
	FZ_CHECK((st == 431) == b.overflow);
	if (st == 0) {
		check_backend_head(out, b.len);
		FZ_CHECK(chunked == (hmsg_chunked(m) && !o.method)); /* a fetch has no body */
	}
	fz_mix_u64(&c->msg, (uint64_t)st);

	/* The cache's view of the request. */
	struct req_meta rq;
	policy_req_meta(m, &rq);
	FZ_CHECK(rq.method == hmsg_method(m));
	for (int i = 0; i < CC_N_DELTA; i++)
		FZ_CHECK(rq.cc.delta[i] == CC_UNSET ||
			 (rq.cc.delta[i] >= 0 && rq.cc.delta[i] <= 2147483648LL));
	fz_mix(&c->msg, &rq.cc.flags, sizeof(rq.cc.flags));

	vary_keys(c);

	/* The forwarding part of the key (a trusted proxy's request) and the
	 * kind of every field (what client.c removes from others). */
	char fk[512];
	int fl = forward_key(m, fk, sizeof(fk));
	FZ_CHECK(fl >= -1 && fl <= (int)sizeof(fk));
	if (fl > 0)
		fz_mix(&c->msg, fk, (size_t)fl);
	for (uint32_t i = 0; i < m->n_fields; i++) {
		enum forward_kind k = forward_kind_of(m, &m->fields[i]);
		FZ_CHECK(k == FORWARD_NONE || k == FORWARD_FORWARDING || k == FORWARD_OVERRIDE ||
			 k == FORWARD_ADDRESS);
		fz_mix_u64(&c->msg, (uint64_t)k);
		fz_mix_u64(&c->msg, hop_is_named(m, &hs, &m->fields[i]));
	}

	/* encode.c client_choice(): field lines joined, then negotiated. */
	char joined[1024];
	hbuf_init(&b, joined, sizeof(joined));
	const struct hfield *f;
	for (unsigned i = 0; (f = hmsg_field(m, "accept-encoding", i)); i++) {
		if (i)
			hbuf_put(&b, ", ", 2);
		hbuf_put(&b, hmsg_ptr(m, f->value), f->value.len);
	}
	if (!b.overflow) {
		static const enum coding pref[] = {CODING_BR, CODING_ZSTD, CODING_GZIP};
		unsigned offer = 1u << CODING_GZIP | 1u << CODING_BR | 1u << CODING_ZSTD;
		int ch = accept_encoding_choose(b.len ? joined : NULL, b.len, offer, pref, 3);
		FZ_CHECK(ch == -1 || ch == CODING_IDENTITY || ch == CODING_GZIP ||
			 ch == CODING_BR || ch == CODING_ZSTD);
		fz_mix_u64(&c->msg, (uint64_t)ch);
	}
}

/* The request body, as upstream.c relays it: what came with the head,
 * then the buffer reused from its start for every later read. */
static bool read_body(struct fz_conn *c)
{
	struct hmsg *m = &c->m;
	fz_take_body(c);
	while (!m->msg_done) {
		fz_compact(c);
		if (c->len == 0 && !fz_recv(c)) {
			fz_mix_u64(&c->digest, 0xc105ed);
			return false; /* client closed mid-body */
		}
		long used = hmsg_feed(m, 0, c->len);
		if (used < 0) {
			fz_error(c, used);
			return false;
		}
		FZ_CHECK((uint32_t)used <= c->len);
		c->pos = (uint32_t)used;
		fz_take_body(c);
	}
	fz_check_done(c, false);
	if (c->flags_ok && !c->head_length && !c->head_chunked)
		FZ_CHECK(m->body_total == 0); /* a request without framing has no body */
	return true;
}

static uint64_t run(const uint8_t *in, uint32_t n, const struct fz_params *p, bool split,
		    bool *no_compare)
{
	struct fz_conn c;
	fz_conn_init(&c, HMSG_REQUEST, in, n, p, split);
	for (int i = 0; i < MAX_MESSAGES; i++) {
		fz_compact(&c);
		hmsg_next(&c.m, c.buf, 0);
		if (fz_read_head(&c) <= 0)
			break;
		fz_check_head(&c);
		exercise(&c, p->flags);
		if (!client_validate(&c.m)) {
			/* Answered 400/405/501/505 and closed, like a parse error. */
			fz_mix_u64(&c.digest, 0xe000 + (uint64_t)-HMSG_MALFORMED);
			break;
		}
		if (!read_body(&c) || !hmsg_keep_alive(&c.m))
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
	/* The head size limit is counted per read before the head is
	 * complete, so only runs that stayed within it must agree. */
	if (!skip1 && !skip2)
		FZ_CHECK(whole == pieces);
	return 0;
}
