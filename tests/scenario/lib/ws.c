/*
 * ws.c - the scenario tests' WebSocket client (see ws.h).
 *
 * Self-contained on purpose: the SHA-1 and base64 here are a few dozen
 * lines of their own, so a test checks the origin's accept key (computed
 * with nettle) against an independent computation, and the scenario
 * binaries need no crypto library.
 */
#include "ws.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- SHA-1 (FIPS 180-4) and base64 (RFC 4648) --------------------------------- */

static uint32_t rol(uint32_t x, int k)
{
	return x << k | x >> (32 - k);
}

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

static void sha1(const uint8_t *p, size_t len, uint8_t out[20])
{
	uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
	size_t full = len / 64 * 64;
	for (size_t i = 0; i < full; i += 64)
		sha1_block(h, p + i);
	/* The tail, 0x80, zeros, and the bit length: one or two blocks. */
	uint8_t tail[128] = {0};
	size_t rest = len - full;
	memcpy(tail, p + full, rest);
	tail[rest] = 0x80;
	size_t tlen = rest + 9 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
	for (size_t i = 0; i < tlen; i += 64)
		sha1_block(h, tail + i);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

/* OUT gets 4 * ceil(LEN / 3) characters and a NUL. */
static void base64(const uint8_t *p, size_t len, char *out)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = i + 1 < len ? abc[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? abc[v & 63] : '=';
	}
	out[o] = '\0';
}

static void random_bytes(void *p, size_t n)
{
	cr_assert_eq(getrandom(p, n, 0), (ssize_t)n, "getrandom: %s", strerror(errno));
}

/* ---- the opening handshake ------------------------------------------------ */

void ws_make_key(char key[WS_KEY_LEN + 1])
{
	uint8_t raw[16];
	random_bytes(raw, sizeof(raw));
	base64(raw, sizeof(raw), key);
}

void ws_accept_for(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	char in[256];
	int n = snprintf(in, sizeof(in), "%s%s", key, WS_GUID);
	cr_assert(n > 0 && (size_t)n < sizeof(in), "key too long");
	uint8_t digest[20];
	sha1((const uint8_t *)in, (size_t)n, digest);
	base64(digest, sizeof(digest), out);
}

int ws_send_upgrade(struct conn *c, const char *path, const char *key, const char *extra)
{
	return conn_sendf(c,
			  "GET %s HTTP/1.1\r\nHost: test.local\r\nConnection: Upgrade\r\n"
			  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
			  "Sec-WebSocket-Key: %s\r\n%s\r\n",
			  path, key, extra ? extra : "");
}

const char *ws_check_101(const struct response *r, const char *key)
{
	static char why[512];
	char want[WS_ACCEPT_LEN + 1];
	const char *accept = resp_header(r, "Sec-WebSocket-Accept");
	ws_accept_for(key, want);
	if (r->result != READ_OK)
		snprintf(why, sizeof(why), "no response: %s", r->error);
	else if (r->status != 101)
		snprintf(why, sizeof(why), "status %d, not 101: %s", r->status, r->raw_head);
	else if (!resp_header_has_token(r, "Upgrade", "websocket"))
		snprintf(why, sizeof(why), "no Upgrade: websocket in %s", r->raw_head);
	else if (!resp_header_has_token(r, "Connection", "upgrade"))
		snprintf(why, sizeof(why), "no Connection: upgrade in %s", r->raw_head);
	else if (resp_header_count(r, "Sec-WebSocket-Accept") != 1)
		snprintf(why, sizeof(why), "%zu Sec-WebSocket-Accept fields in %s",
			 resp_header_count(r, "Sec-WebSocket-Accept"), r->raw_head);
	else if (strcmp(accept, want))
		snprintf(why, sizeof(why), "Sec-WebSocket-Accept %s, want %s for key %s", accept,
			 want, key);
	else
		return NULL;
	return why;
}

void ws_handshake(struct conn *c, const char *path, const char *extra, struct response *r)
{
	char key[WS_KEY_LEN + 1];
	struct response resp;
	ws_make_key(key);
	int rc = ws_send_upgrade(c, path, key, extra);
	cr_assert_eq(rc, 0, "sending the upgrade for %s: %s", path, strerror(-rc));
	read_response(c, &resp, 0);
	const char *why = ws_check_101(&resp, key);
	cr_assert_null(why, "upgrade %s on port %d: %s", path, c->port, why);
	if (r)
		*r = resp;
	else
		response_free(&resp);
}

void ws_open(struct conn *c, int port, const char *path)
{
	conn_open(c, port);
	ws_handshake(c, path, NULL, NULL);
}

/* ---- sending ------------------------------------------------------------------- */

int ws_send_raw(struct conn *c, unsigned b0, int masked, const void *p, size_t len)
{
	uint8_t *f = malloc(14 + len);
	cr_assert_not_null(f);
	size_t hl = 2;
	f[0] = (uint8_t)b0;
	f[1] = masked ? 0x80 : 0;
	if (len < 126) {
		f[1] |= (uint8_t)len;
	} else if (len <= 0xffff) {
		f[1] |= 126;
		f[2] = (uint8_t)(len >> 8);
		f[3] = (uint8_t)len;
		hl = 4;
	} else {
		f[1] |= 127;
		for (int i = 0; i < 8; i++)
			f[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		hl = 10;
	}
	uint8_t mask[4] = {0};
	if (masked) {
		random_bytes(mask, sizeof(mask));
		for (int i = 0; i < 4; i++)
			if (mask[i] == 0)
				mask[i] = 0x5a;
		memcpy(f + hl, mask, 4);
		hl += 4;
	}
	const uint8_t *src = p;
	for (size_t i = 0; i < len; i++)
		f[hl + i] = src[i] ^ mask[i & 3];
	int rc = conn_send(c, f, hl + len);
	free(f);
	return rc;
}

int ws_send_frame(struct conn *c, int opcode, const void *p, size_t len)
{
	return ws_send_raw(c, WS_FIN | (unsigned)opcode, 1, p, len);
}

int ws_send_text(struct conn *c, const char *s)
{
	return ws_send_frame(c, WS_TEXT, s, strlen(s));
}

int ws_send_fragmented(struct conn *c, int opcode, const void *p, size_t len, size_t nfrag)
{
	cr_assert(nfrag >= 1);
	const char *s = p;
	size_t off = 0;
	for (size_t i = 0; i < nfrag; i++) {
		size_t n = len / nfrag + (i < len % nfrag);
		unsigned b0 = (i == 0 ? (unsigned)opcode : WS_CONT) | (i + 1 == nfrag ? WS_FIN : 0);
		int rc = ws_send_raw(c, b0, 1, s + off, n);
		if (rc < 0)
			return rc;
		off += n;
	}
	return 0;
}

int ws_send_close(struct conn *c, int code, const char *reason)
{
	if (code < 0)
		return ws_send_frame(c, WS_CLOSE, NULL, 0);
	char p[125];
	size_t rl = reason ? strlen(reason) : 0;
	cr_assert(rl <= sizeof(p) - 2, "a close reason has at most 123 bytes");
	p[0] = (char)(code >> 8);
	p[1] = (char)code;
	if (rl)
		memcpy(p + 2, reason, rl);
	return ws_send_frame(c, WS_CLOSE, p, 2 + rl);
}

/* ---- receiving ------------------------------------------------------------------ */

/* Wait until N unread bytes are buffered, at most until DEADLINE (now_s). */
static int need(struct conn *c, struct ws_frame *f, size_t n, double deadline)
{
	while (c->len - c->off < n) {
		int left = (int)((deadline - now_s()) * 1000);
		int k = left > 0 ? conn_fill(c, left) : -ETIMEDOUT;
		if (k == 0) {
			int mid = c->len > c->off;
			snprintf(f->error, sizeof(f->error), "peer closed (%s) %s",
				 c->reset ? "reset" : "eof",
				 mid ? "in the middle of a frame" : "before a frame");
			return f->result = mid ? WS_READ_CLOSED_MID : WS_READ_CLOSED;
		}
		if (k < 0) {
			snprintf(f->error, sizeof(f->error),
				 "waiting for %zu frame bytes (have %zu): %s", n, c->len - c->off,
				 strerror(-k));
			return f->result = k == -ETIMEDOUT ? WS_READ_TIMEOUT : WS_READ_BAD;
		}
	}
	return 0;
}

int ws_read_frame(struct conn *c, struct ws_frame *f, int timeout_ms)
{
	memset(f, 0, sizeof(*f));
	double deadline = now_s() + (timeout_ms < 0 ? c->timeout_ms : timeout_ms) / 1000.0;
	/* Nothing is consumed until the whole frame is here: after a timeout
	 * the next read starts at the same frame. */
	int rc = need(c, f, 2, deadline);
	if (rc < 0)
		return rc;
	const uint8_t *h = (const uint8_t *)c->buf + c->off;
	unsigned len7 = h[1] & 0x7f;
	int masked = h[1] >> 7;
	size_t hl = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
	if ((rc = need(c, f, hl, deadline)) < 0)
		return rc;
	h = (const uint8_t *)c->buf + c->off;
	uint64_t len = len7;
	if (len7 >= 126) {
		len = 0;
		for (size_t i = 2; i < (len7 == 126 ? 4u : 10u); i++)
			len = len << 8 | h[i];
	}
	if (len > WS_MAX_PAYLOAD) {
		snprintf(f->error, sizeof(f->error), "frame length %llu", (unsigned long long)len);
		return f->result = WS_READ_BAD;
	}
	if ((rc = need(c, f, hl + (size_t)len, deadline)) < 0)
		return rc;
	h = (const uint8_t *)c->buf + c->off;
	f->fin = h[0] >> 7;
	f->rsv = h[0] & 0x70;
	f->opcode = h[0] & 0x0f;
	f->masked = masked;
	f->len = (size_t)len;
	f->payload = malloc(f->len + 1);
	cr_assert_not_null(f->payload);
	uint8_t mask[4] = {0};
	if (masked)
		memcpy(mask, h + hl - 4, 4);
	for (size_t i = 0; i < f->len; i++)
		f->payload[i] = (char)(h[hl + i] ^ mask[i & 3]);
	f->payload[f->len] = '\0';
	c->off += hl + f->len;
	return f->result = WS_READ_OK;
}

void ws_frame_free(struct ws_frame *f)
{
	free(f->payload);
	memset(f, 0, sizeof(*f));
}

int ws_close_code(const struct ws_frame *f)
{
	if (f->opcode != WS_CLOSE || f->len < 2)
		return -1;
	return (uint8_t)f->payload[0] << 8 | (uint8_t)f->payload[1];
}

const char *ws_opcode_name(int opcode)
{
	static char other[16];
	switch (opcode) {
	case WS_CONT:
		return "continuation";
	case WS_TEXT:
		return "text";
	case WS_BINARY:
		return "binary";
	case WS_CLOSE:
		return "close";
	case WS_PING:
		return "ping";
	case WS_PONG:
		return "pong";
	}
	snprintf(other, sizeof(other), "opcode 0x%x", opcode);
	return other;
}

/* ---- checks that fail the test ---------------------------------------------- */

void ws_expect_frame(struct conn *c, int opcode, const void *p, size_t len)
{
	struct ws_frame f;
	int rc = ws_read_frame(c, &f, -1);
	cr_assert_eq(rc, WS_READ_OK, "waiting for a %s frame of %zu bytes: %s",
		     ws_opcode_name(opcode), len, f.error);
	cr_assert_eq(f.opcode, opcode, "a %s frame (%zu bytes: %s), want %s",
		     ws_opcode_name(f.opcode), f.len, excerpt(f.payload, f.len),
		     ws_opcode_name(opcode));
	cr_assert(f.fin, "a %s frame without FIN", ws_opcode_name(opcode));
	cr_assert_not(f.masked, "a masked frame from the server");
	cr_assert_eq(f.rsv, 0, "RSV bits 0x%x", f.rsv);
	cr_assert_eq(f.len, len, "a %s frame of %zu bytes, want %zu", ws_opcode_name(opcode), f.len,
		     len);
	if (len) {
		const char *want = p;
		size_t i = 0;
		while (i < len && f.payload[i] == want[i])
			i++;
		cr_assert_eq(i, len, "%s payload differs at byte %zu: %s", ws_opcode_name(opcode),
			     i, excerpt(f.payload + i, len - i < 32 ? len - i : 32));
	}
	ws_frame_free(&f);
}

void ws_expect_echo(struct conn *c, int opcode, const void *p, size_t len, size_t nfrag)
{
	int rc = ws_send_fragmented(c, opcode, p, len, nfrag);
	cr_assert_eq(rc, 0, "sending a %s message of %zu bytes: %s", ws_opcode_name(opcode), len,
		     strerror(-rc));
	ws_expect_frame(c, opcode, p, len);
}

void ws_expect_close(struct conn *c, int code)
{
	struct ws_frame f;
	int rc = ws_read_frame(c, &f, -1);
	cr_assert_eq(rc, WS_READ_OK, "waiting for a close %d: %s", code, f.error);
	cr_assert_eq(f.opcode, WS_CLOSE, "a %s frame (%s), want a close %d",
		     ws_opcode_name(f.opcode), excerpt(f.payload, f.len), code);
	cr_assert_eq(ws_close_code(&f), code, "close code %d (reason %s), want %d",
		     ws_close_code(&f), f.len > 2 ? excerpt(f.payload + 2, f.len - 2) : "none",
		     code);
	ws_frame_free(&f);
}

void ws_close_handshake(struct conn *c, int code, const char *reason)
{
	int rc = ws_send_close(c, code, reason);
	cr_assert_eq(rc, 0, "sending a close: %s", strerror(-rc));
	struct ws_frame f;
	rc = ws_read_frame(c, &f, -1);
	cr_assert_eq(rc, WS_READ_OK, "waiting for the close echo: %s", f.error);
	cr_assert_eq(f.opcode, WS_CLOSE, "a %s frame, want the close echo",
		     ws_opcode_name(f.opcode));
	cr_assert_eq(ws_close_code(&f), code, "close echo code %d, want %d", ws_close_code(&f),
		     code);
	size_t rl = reason ? strlen(reason) : 0;
	if (code >= 0)
		cr_assert(f.len == 2 + rl && !memcmp(f.payload + 2, reason ? reason : "", rl),
			  "close echo reason %s, want %s", excerpt(f.payload + 2, f.len - 2),
			  reason ? reason : "");
	ws_frame_free(&f);
	cr_assert(conn_wait_closed(c, 3000), "the peer kept the connection after the close");
}
