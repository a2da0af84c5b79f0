/*
 * fuzz_http.h - what fuzz_request.c and fuzz_response.c share: a check
 * macro, a digest, the input layout and a simulated connection that hands
 * the input to hmsg in recv()-sized pieces, the way src/proxy/client.c,
 * upstream.c and fetch.c drive the parser.
 *
 * Input layout (both harnesses):
 *   byte 0     field limit: < 0x40 gives 1 + b % 16 fields, else 100
 *   byte 1     head limit: < 0x40 gives 64 << (b % 8) bytes, else 16 KiB
 *   bytes 2-3  split point: the first recv() returns (b2 << 8 | b3) % (n + 1)
 *              bytes of the payload (0 is read as "all of it")
 *   byte 4     flags: bits 4-7 = size of every later recv() (0: the rest),
 *              bits 0-3 harness-specific
 *   bytes 5..  the payload: the bytes a peer sends on one connection
 * The prefix "@@\0\0\0" gives the daemon's default limits (100 fields,
 * 16 KiB), one recv() for everything and no flags.
 *
 * Every payload is parsed twice, in one recv() and split as above, and the
 * two runs must agree: the same complete messages (heads, decoded bodies,
 * what the proxy derives from them), then the same ending (an error, or
 * the peer stopping mid-message or between messages). How the bytes
 * arrive may only change when an error in message N is seen (with its
 * head, or later in its body), never what message N and those before it
 * are.
 */
#ifndef RINGCACHE_FUZZ_HTTP_H
#define RINGCACHE_FUZZ_HTTP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/msg.h"

/* Asserts of the harness itself: on in every build, and a crash libFuzzer
 * reports with the failing condition. */
#define FZ_CHECK(c)                                                                                \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * Bugs in src/ the harnesses have found and step around until they are
 * fixed (marked KNOWN BUG), so that fuzzing can go on past them and CI
 * stays usable. Each has a reproducer in tests/fuzz/<harness>/regressions/
 * and an entry in tests/fuzz/README.md. Build with -DFZ_KNOWN_BUGS=0 to
 * check them too (their reproducers then fail); remove a workaround once
 * its bug is fixed.
 */
#ifndef FZ_KNOWN_BUGS
#define FZ_KNOWN_BUGS 0 /* none open: the workarounds below are kept off */
#endif

/* -DFZ_TRACE: print every feed, to see why two runs disagree. */
#ifdef FZ_TRACE
#define FZ_T(...) fprintf(stderr, __VA_ARGS__)
#else
#define FZ_T(...) ((void)0)
#endif

#define FZ_PREFIX 5

/* FNV-1a, fed one byte at a time so that how a body is split into
 * regions does not change the result. */
#define FZ_DIGEST_INIT 0xcbf29ce484222325ull

static inline void fz_mix(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		*h ^= s[i];
		*h *= 0x100000001b3ull;
	}
}

static inline void fz_mix_u64(uint64_t *h, uint64_t v)
{
	FZ_T("  mix %llx\n", (unsigned long long)v);
	fz_mix(h, &v, sizeof(v));
}

struct fz_params {
	uint32_t max_fields, max_head;
	uint32_t split, step; /* first recv, then each later one (0: the rest) */
	unsigned flags;	      /* low 4 bits of byte 4 */
};

static inline void fz_params(const uint8_t *d, uint32_t payload_len, struct fz_params *p)
{
	p->max_fields = d[0] < 0x40 ? 1u + d[0] % 16u : 100u;
	p->max_head = d[1] < 0x40 ? 64u << (d[1] % 8u) : 16384u;
	p->split = ((uint32_t)d[2] << 8 | d[3]) % (payload_len + 1);
	p->step = d[4] >> 4;
	p->flags = d[4] & 0x0fu;
}

/*
 * One connection: IN is what the peer sends, handed over in pieces by
 * fz_recv(). Received bytes live in BUF[0..len); pos is how far the
 * parser has consumed them. The buffer is exactly as large as the input
 * (every byte that arrives fits, since consumed bytes are dropped before
 * each message), so AddressSanitizer sees reads past it.
 */
struct fz_conn {
	const uint8_t *in;
	uint32_t in_len, in_pos;
	uint32_t split, step;
	unsigned recvs;
	char *buf;
	uint32_t len, pos;
	struct hmsg m;
	struct hfield *fields;
	uint32_t max_fields;
	uint64_t digest; /* complete messages and how the connection ended */
	uint64_t msg;	 /* the message being parsed, added to digest when complete */
	bool too_large;	 /* a size limit was hit: the limits depend on the split */
	bool head_chunked, head_length; /* the framing the head announced */
	bool flags_ok;			/* ... and it can be trusted (see fz_check_head) */
};

static inline void fz_conn_init(struct fz_conn *c, enum hmsg_kind kind, const uint8_t *in,
				uint32_t n, const struct fz_params *p, bool split)
{
	memset(c, 0, sizeof(*c));
	c->in = in;
	c->in_len = n;
	c->split = split && p->split ? p->split : n;
	c->step = split ? p->step : 0;
	c->buf = malloc(n ? n : 1);
	c->fields = malloc(p->max_fields * sizeof(*c->fields));
	c->max_fields = p->max_fields;
	FZ_CHECK(c->buf && c->fields);
	hmsg_init(&c->m, kind, c->fields, p->max_fields, p->max_head);
	c->digest = c->msg = FZ_DIGEST_INIT;
}

static inline void fz_conn_free(struct fz_conn *c)
{
	free(c->buf);
	free(c->fields);
}

/* The next recv(): false when the peer has nothing more to send. */
static inline bool fz_recv(struct fz_conn *c)
{
	uint32_t n = c->in_len - c->in_pos;
	if (n == 0)
		return false;
	uint32_t want = c->recvs++ == 0 ? c->split : c->step;
	if (want && want < n)
		n = want;
	FZ_CHECK(c->len + n <= c->in_len);
	memcpy(c->buf + c->len, c->in + c->in_pos, n);
	c->len += n;
	c->in_pos += n;
	return true;
}

/* Drop consumed bytes so the next message starts at offset 0 (client.c
 * read_head does this so the head has the most room). */
static inline void fz_compact(struct fz_conn *c)
{
	memmove(c->buf, c->buf + c->pos, c->len - c->pos);
	c->len -= c->pos;
	c->pos = 0;
}

static inline void fz_error(struct fz_conn *c, long err)
{
	FZ_CHECK(err == HMSG_MALFORMED || err == HMSG_TOO_LARGE);
	FZ_CHECK((err == HMSG_TOO_LARGE) == c->m.too_large);
	if (err == HMSG_TOO_LARGE)
		c->too_large = true;
	fz_mix_u64(&c->digest, 0xe000 + (uint64_t)-err);
}

/*
 * Feed until the head of the current message is parsed (hmsg_next or
 * hmsg_restart already called). Returns 1 with the head ready, 0 when the
 * peer stopped sending first, -1 on a parse error.
 */
static inline int fz_read_head(struct fz_conn *c)
{
	struct hmsg *m = &c->m;
	for (;;) {
		if (c->pos < c->len) {
			long n = hmsg_feed(m, c->pos, c->len - c->pos);
			FZ_T("head feed [%u, %u) -> %ld headers_done %d msg_done %d error %s\n",
			     c->pos, c->len, n, m->headers_done, m->msg_done,
			     m->error ? m->error : "-");
			if (n < 0) {
				fz_error(c, n);
				return -1;
			}
#if FZ_KNOWN_BUGS
			/* KNOWN BUG (msg.c): a message llhttp ends as an upgrade
			 * (Connection: upgrade + Upgrade, or CONNECT) first
			 * pauses in on_message_complete; llhttp's own upgrade
			 * pause then comes at the start of the next hmsg_feed,
			 * which consumes nothing and reports msg_done for a
			 * message whose head has not started (hmsg_next's reset
			 * on m->upgraded comes too late). msg_done then stays set
			 * through the real head, so its body is never read.
			 * Clear it, as if msg.c went on parsing. */
			if (n == 0 && m->msg_done && !m->headers_done) {
				m->msg_done = false;
				continue;
			}
#endif
			FZ_CHECK((uint32_t)n <= c->len - c->pos);
			c->pos += (uint32_t)n;
			if (m->headers_done)
				return 1;
			/* Short only at the end of a message. */
			FZ_CHECK(c->pos == c->len);
		}
		if (!fz_recv(c)) {
			/* Like a peer closing mid-head: never a message. */
			FZ_CHECK(hmsg_eof(m) == HMSG_MALFORMED);
			fz_mix_u64(&c->digest, 0xc105ed);
			return 0;
		}
	}
}

static inline bool fz_span_ok(const struct fz_conn *c, struct hspan s)
{
	return (uint64_t)s.off + s.len <= c->pos;
}

static inline bool fz_has_byte(const char *p, uint32_t n, char a, char b, char d)
{
	for (uint32_t i = 0; i < n; i++) {
		if (p[i] == a || p[i] == b || p[i] == d)
			return true;
	}
	return false;
}

/*
 * Checks every parsed head must pass, whatever the bytes were: spans inside
 * the consumed input, no CR, LF or NUL in a field (they would split the
 * head the proxy writes: header injection), no obs-fold line left in, at
 * most one Content-Length and never both framings. Also digests the head.
 */
static inline void fz_check_head(struct fz_conn *c)
{
	struct hmsg *m = &c->m;
	FZ_CHECK(m->headers_done);
	FZ_CHECK(m->n_fields <= c->max_fields);
	FZ_CHECK(m->head_start <= m->head_end && m->head_end <= c->pos);
	FZ_CHECK(!m->obs_fold);
	for (uint32_t i = m->head_start; i + 1 < m->head_end; i++)
		FZ_CHECK(!(c->buf[i] == '\n' && (c->buf[i + 1] == ' ' || c->buf[i + 1] == '\t')));
	FZ_CHECK(fz_span_ok(c, m->target) && fz_span_ok(c, m->reason));
	FZ_CHECK(!fz_has_byte(hmsg_ptr(m, m->target), m->target.len, '\r', '\n', '\0'));
	/* reason-phrase = *( HTAB / SP / VCHAR / obs-text ) */
	for (uint32_t i = 0; i < m->reason.len; i++) {
		unsigned char ch = (unsigned char)hmsg_ptr(m, m->reason)[i];
		FZ_CHECK((ch >= 0x20 || ch == '\t') && ch != 0x7f);
	}
	fz_mix_u64(&c->msg, m->kind == HMSG_REQUEST ? hmsg_method(m) : (uint64_t)hmsg_status(m));
	fz_mix_u64(&c->msg, (uint64_t)m->p.http_major << 8 | m->p.http_minor);
	fz_mix(&c->msg, hmsg_ptr(m, m->target), m->target.len);
	fz_mix(&c->msg, hmsg_ptr(m, m->reason), m->reason.len);
	fz_mix_u64(&c->msg, m->n_fields);

	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		FZ_CHECK(fz_span_ok(c, f->name) && fz_span_ok(c, f->value));
		FZ_CHECK(f->name.len > 0);
		const char *n = hmsg_ptr(m, f->name), *v = hmsg_ptr(m, f->value);
		FZ_CHECK(!fz_has_byte(n, f->name.len, '\r', '\n', '\0'));
		FZ_CHECK(!fz_has_byte(n, f->name.len, ':', ' ', '\t'));
		FZ_CHECK(!fz_has_byte(v, f->value.len, '\r', '\n', '\0'));
		fz_mix(&c->msg, n, f->name.len);
		fz_mix(&c->msg, v, f->value.len);

		/* The lookups find every field by its own name, in any case. */
		char name[64];
		if (f->name.len < sizeof(name)) {
			memcpy(name, n, f->name.len);
			name[f->name.len] = '\0';
			for (char *s = name; *s; s++) {
				if (*s >= 'a' && *s <= 'z')
					*s = (char)(*s - 'a' + 'A');
			}
			unsigned cnt = hmsg_field_count(m, name);
			FZ_CHECK(cnt >= 1);
			const struct hfield *first = hmsg_field(m, name, 0);
			FZ_CHECK(first && first <= f);
			FZ_CHECK(hmsg_field(m, name, cnt - 1) != NULL);
			FZ_CHECK(hmsg_field(m, name, cnt) == NULL);
			FZ_CHECK(hspan_ieq(m, f->name, name));
		}
	}
	c->head_chunked = hmsg_chunked(m);
	c->head_length = hmsg_has_length(m);
	c->flags_ok = true;
#if FZ_KNOWN_BUGS
	/* KNOWN BUG (msg.c): llhttp applies a chunked message's trailer
	 * fields to its flags. When the trailers arrive in the same read as
	 * the head, hmsg_has_length() is already true after a trailer
	 * Content-Length (fetch.c then records clen 0 for a chunked object
	 * with a body), hmsg_keep_alive() false after a trailer "Connection:
	 * close", and for a response hmsg_chunked() false after a trailer
	 * "Transfer-Encoding: gzip"; with another split they are not. Check
	 * and compare the flags only of messages that cannot have trailers:
	 * those without Transfer-Encoding. */
	c->flags_ok = hmsg_field_count(m, "transfer-encoding") == 0;
	if (!c->flags_ok)
		return;
#endif
	fz_mix_u64(&c->msg, hmsg_chunked(m));
	FZ_CHECK(hmsg_field_count(m, "content-length") <= 1);
	FZ_CHECK(!(hmsg_chunked(m) && hmsg_has_length(m)));
	if (hmsg_has_length(m))
		FZ_CHECK(hmsg_field_count(m, "content-length") == 1);
	if (hmsg_chunked(m))
		FZ_CHECK(hmsg_field_count(m, "transfer-encoding") >= 1);
	fz_mix_u64(&c->msg, (uint64_t)hmsg_keep_alive(m) << 1 | hmsg_has_length(m));
	if (hmsg_has_length(m))
		fz_mix_u64(&c->msg, hmsg_content_length(m));
}

/* The decoded body bytes waiting in the buffer: inside what was consumed
 * (decoding compacts in place and never overtakes the input), then
 * released the way the proxy does after forwarding them. */
static inline void fz_take_body(struct fz_conn *c)
{
	struct hmsg *m = &c->m;
	if (m->body_len) {
		FZ_CHECK((uint64_t)m->body_off + m->body_len <= c->pos);
		fz_mix(&c->msg, c->buf + m->body_off, m->body_len);
	}
	hmsg_body_consumed(m, 0);
}

/* Body bytes accounted for once the message is complete; BODYLESS: a
 * response that has none whatever its fields say (HEAD, 1xx, 204, 304). */
static inline void fz_check_done(struct fz_conn *c, bool bodyless)
{
	struct hmsg *m = &c->m;
	FZ_CHECK(m->msg_done);
	/* The framing the head announced: trailers may change the flags. */
	if (bodyless)
		FZ_CHECK(m->body_total == 0);
	else if (c->flags_ok && c->head_length && !c->head_chunked)
		FZ_CHECK(m->body_total == hmsg_content_length(m));
	fz_mix_u64(&c->msg, 0xd0e + m->body_total);
	fz_mix_u64(&c->digest, c->msg);
	c->msg = FZ_DIGEST_INIT;
}

#endif
