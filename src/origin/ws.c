/*
 * ws.c - the opening handshake and the echo session of RFC 6455.
 *
 * The session is a loop on the connection's own task: read a frame head,
 * check it, read its payload, unmask it, and answer when a message is
 * whole. Every read has a deadline (IDLE_TIMEOUT while waiting for a frame,
 * READ_TIMEOUT once one has started), every write SEND_TIMEOUT.
 */
#include "origin/ws.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include <llhttp.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "origin/buf.h"
#include "rt/clock.h"
#include "rt/io.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* A message larger than this is refused with 1009 (Message Too Big). */
#define MAX_MESSAGE (64u * 1024u * 1024u)
/* Message buffers larger than this are released between messages. */
#define KEEP_MSG     (64u * 1024u)
#define IDLE_TIMEOUT (120 * RT_SEC)
#define READ_TIMEOUT (30 * RT_SEC)
#define SEND_TIMEOUT (30 * RT_SEC)

enum ws_op {
	OP_CONT = 0x0,
	OP_TEXT = 0x1,
	OP_BINARY = 0x2,
	OP_CLOSE = 0x8,
	OP_PING = 0x9,
	OP_PONG = 0xa,
};

enum ws_code {
	CLOSE_NORMAL = 1000,
	CLOSE_PROTOCOL = 1002,
	CLOSE_BAD_DATA = 1007, /* text that is not UTF-8 */
	CLOSE_TOO_BIG = 1009,
};

/* --- the handshake ----------------------------------------------------------- */

static bool ows(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
	while (*n && ows(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && ows((*s)[*n - 1]))
		(*n)--;
}

/* Does the comma-separated list V[0..N) hold TOKEN (case-insensitive)? */
static bool list_has(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token);
	const char *end = v + n;
	while (v < end) {
		const char *comma = memchr(v, ',', (size_t)(end - v));
		const char *e = comma ? comma : end;
		const char *s = v;
		size_t len = (size_t)(e - s);
		trim(&s, &len);
		if (len == tl && !strncasecmp(s, token, tl))
			return true;
		v = comma ? comma + 1 : end;
	}
	return false;
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return len == strlen(want) && !strncasecmp(name, want, len);
}

void ws_request_parse(const char *hdrs, size_t len, struct ws_request *wr)
{
	memset(wr, 0, sizeof(*wr));
	const char *end = hdrs + len;
	while (hdrs && hdrs < end) {
		const char *eol = memmem(hdrs, (size_t)(end - hdrs), "\r\n", 2);
		const char *le = eol ? eol : end;
		/* A field name never holds a colon: the first one ends it. */
		const char *colon = memchr(hdrs, ':', (size_t)(le - hdrs));
		if (colon) {
			size_t nlen = (size_t)(colon - hdrs);
			const char *v = colon + 1;
			size_t vlen = (size_t)(le - v);
			trim(&v, &vlen);
			if (name_is(hdrs, nlen, "Connection")) {
				wr->conn_upgrade |= list_has(v, vlen, "upgrade");
			} else if (name_is(hdrs, nlen, "Upgrade")) {
				wr->upgrade_ws |= list_has(v, vlen, "websocket");
			} else if (name_is(hdrs, nlen, "Sec-WebSocket-Key")) {
				wr->key = v;
				wr->key_len = vlen;
				wr->nkeys++;
			} else if (name_is(hdrs, nlen, "Sec-WebSocket-Version")) {
				wr->version = v;
				wr->version_len = vlen;
				wr->nversions++;
			}
		}
		hdrs = eol ? eol + 2 : end;
	}
}

bool ws_request_asked(const struct ws_request *wr)
{
	return wr->upgrade_ws || wr->nkeys > 0;
}

static bool is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* A key is 16 bytes in base64: 22 characters and "==". */
static bool key_ok(const char *k, size_t n)
{
	if (n != 24 || k[22] != '=' || k[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++)
		if (!is_b64(k[i]))
			return false;
	return true;
}

const char *ws_handshake_check(const struct ws_request *wr, int method, unsigned major,
			       unsigned minor, int *status)
{
	*status = 400;
	if (method != HTTP_GET)
		return "the method is not GET";
	if (major != 1 || minor < 1)
		return "HTTP/1.1 or later is required";
	if (!wr->upgrade_ws)
		return "no Upgrade: websocket";
	if (!wr->conn_upgrade)
		return "no Connection: upgrade";
	if (wr->nversions == 0)
		return "no Sec-WebSocket-Version";
	if (wr->nversions > 1 || wr->version_len != 2 || memcmp(wr->version, "13", 2)) {
		*status = 426;
		return "Sec-WebSocket-Version is not 13";
	}
	if (wr->nkeys == 0)
		return "no Sec-WebSocket-Key";
	if (wr->nkeys > 1)
		return "more than one Sec-WebSocket-Key";
	if (!key_ok(wr->key, wr->key_len))
		return "Sec-WebSocket-Key is not 16 bytes in base64";
	return NULL;
}

void ws_accept(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1])
{
	struct sha1_ctx ctx;
	uint8_t digest[SHA1_DIGEST_SIZE];
	sha1_init(&ctx);
	sha1_update(&ctx, key_len, (const uint8_t *)key);
	sha1_update(&ctx, sizeof(WS_GUID) - 1, (const uint8_t *)WS_GUID);
	sha1_digest(&ctx, sizeof(digest), digest);
	_Static_assert(BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) == WS_ACCEPT_LEN,
		       "an accept value is a base64 SHA-1 digest");
	base64_encode_raw(out, sizeof(digest), digest);
	out[WS_ACCEPT_LEN] = '\0';
}

/* --- frames -------------------------------------------------------------------- */

struct ws_sess {
	int fd;
	char *in; /* the connection's input buffer: [pos, len) not consumed */
	size_t cap, pos, len;
	struct buf msg; /* the data message being assembled */
	int msg_op;	/* its opcode; OP_CONT when none is in progress */
	uint64_t echoed;
};

/* Make N (<= cap) unread bytes available at in + pos. 0, or a negative
 * errno (-ECONNRESET when the peer closed). */
static int want(struct ws_sess *s, size_t n, rt_time_t deadline)
{
	while (s->len - s->pos < n) {
		if (s->cap - s->pos < n) {
			memmove(s->in, s->in + s->pos, s->len - s->pos);
			s->len -= s->pos;
			s->pos = 0;
		}
		ssize_t r = rt_recv(s->fd, s->in + s->len, s->cap - s->len, 0, deadline);
		if (r <= 0)
			return r == 0 ? -ECONNRESET : (int)r;
		s->len += (size_t)r;
	}
	return 0;
}

/* Read N payload bytes, unmasked with MASK, onto the end of DST. */
static int read_payload(struct ws_sess *s, uint64_t n, const uint8_t mask[4], struct buf *dst,
			rt_time_t deadline)
{
	uint64_t done = 0;
	while (done < n) {
		int r = want(s, 1, deadline);
		if (r < 0)
			return r;
		size_t take = s->len - s->pos;
		if (take > n - done)
			take = (size_t)(n - done);
		size_t at = dst->len;
		r = buf_append(dst, s->in + s->pos, take, MAX_MESSAGE);
		if (r < 0)
			return r;
		for (size_t i = 0; i < take; i++)
			dst->p[at + i] ^= (char)mask[(done + i) & 3];
		s->pos += take;
		done += take;
	}
	return 0;
}

/* One unmasked frame with FIN set: servers never mask (RFC 6455 5.1). */
static int send_frame(struct ws_sess *s, int op, const void *p, size_t len)
{
	uint8_t h[10];
	size_t hl = 2;
	h[0] = (uint8_t)(0x80 | op);
	if (len < 126) {
		h[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (uint8_t)(len >> 8);
		h[3] = (uint8_t)len;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		hl = 10;
	}
	struct iovec iov[2] = {{h, hl}, {(void *)p, len}};
	ssize_t r = rt_writev_all(s->fd, iov, len ? 2 : 1, rt_deadline_in(SEND_TIMEOUT));
	return r < 0 ? (int)r : 0;
}

static int send_close(struct ws_sess *s, int code, const char *reason)
{
	char p[125];
	size_t rl = strlen(reason);
	if (rl > sizeof(p) - 2)
		rl = sizeof(p) - 2;
	p[0] = (char)(code >> 8);
	p[1] = (char)code;
	memcpy(p + 2, reason, rl);
	return send_frame(s, OP_CLOSE, p, 2 + rl);
}

/* Whether P[0..N) is UTF-8: no overlong forms, surrogates or values past
 * U+10FFFF (RFC 3629). */
static bool utf8_ok(const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		size_t k;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

/* Close codes an endpoint may send (RFC 6455 7.4). */
static bool close_code_ok(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

/* Echo the whole message and count it. */
static int message_done(struct ws_sess *s)
{
	if (s->msg_op == OP_TEXT && !utf8_ok((const unsigned char *)s->msg.p, s->msg.len))
		return CLOSE_BAD_DATA;
	int r = send_frame(s, s->msg_op, s->msg.p, s->msg.len);
	if (r < 0)
		return r;
	s->msg_op = OP_CONT;
	buf_reset(&s->msg, KEEP_MSG);
	s->echoed++;
	return 0;
}

/*
 * Handle a control frame whose (unmasked) payload is CTL. Returns 0 to go
 * on, 1 once the close echo went out, a close code (>= 1000) to fail the
 * connection with, or a negative errno.
 */
static int control(struct ws_sess *s, int op, const struct buf *ctl)
{
	if (op == OP_PING)
		return send_frame(s, OP_PONG, ctl->p, ctl->len);
	if (op == OP_PONG)
		return 0; /* unsolicited: nothing to do */
	/* Close: a code (and a UTF-8 reason) or nothing; echoed as it came. */
	if (ctl->len == 1)
		return CLOSE_PROTOCOL;
	if (ctl->len >= 2) {
		unsigned code = (unsigned)(uint8_t)ctl->p[0] << 8 | (uint8_t)ctl->p[1];
		if (!close_code_ok(code))
			return CLOSE_PROTOCOL;
		if (!utf8_ok((const unsigned char *)ctl->p + 2, ctl->len - 2))
			return CLOSE_BAD_DATA;
	}
	int r = send_frame(s, OP_CLOSE, ctl->p, ctl->len);
	return r < 0 ? r : 1;
}

/*
 * Read and handle one frame. Returns 0 to go on, 1 when a close frame
 * went out, a close code (>= 1000) to fail the connection with (*WHY says
 * why), or a negative errno.
 */
static int frame(struct ws_sess *s, struct buf *ctl, const char **why)
{
	int r = want(s, 2, rt_deadline_in(IDLE_TIMEOUT));
	if (r < 0)
		return r;
	uint8_t b0 = (uint8_t)s->in[s->pos], b1 = (uint8_t)s->in[s->pos + 1];
	bool fin = b0 & 0x80, masked = b1 & 0x80;
	int op = b0 & 0x0f;
	unsigned len7 = b1 & 0x7f;
	size_t hl = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
	/* The rest of a frame begun must come within READ_TIMEOUT. */
	rt_time_t deadline = rt_deadline_in(READ_TIMEOUT);
	if ((r = want(s, hl, deadline)) < 0)
		return r;
	const uint8_t *h = (const uint8_t *)s->in + s->pos;
	uint64_t len = len7;
	if (len7 >= 126) {
		len = 0;
		for (size_t i = 2; i < (len7 == 126 ? 4u : 10u); i++)
			len = len << 8 | h[i];
	}
	uint8_t mask[4] = {0};
	if (masked)
		memcpy(mask, h + hl - 4, 4);
	s->pos += hl;

	bool is_control = op & 0x8;
	*why = NULL;
	if (b0 & 0x70)
		*why = "reserved bits set"; /* no extension was negotiated */
	else if (op != OP_CONT && op != OP_TEXT && op != OP_BINARY && op != OP_CLOSE &&
		 op != OP_PING && op != OP_PONG)
		*why = "unknown opcode";
	else if (!masked)
		*why = "unmasked client frame";
	else if (len7 == 127 && (len >> 63))
		*why = "64-bit length with the top bit set";
	else if (is_control && (!fin || len > 125))
		*why = "fragmented or long control frame";
	else if (op == OP_CONT && s->msg_op == OP_CONT)
		*why = "continuation without a message";
	else if (!is_control && op != OP_CONT && s->msg_op != OP_CONT)
		*why = "new message inside a fragmented one";
	if (*why)
		return CLOSE_PROTOCOL;

	if (is_control) {
		buf_reset(ctl, 256);
		if ((r = read_payload(s, len, mask, ctl, deadline)) < 0)
			return r;
		return control(s, op, ctl);
	}
	if (len > MAX_MESSAGE - s->msg.len) {
		*why = "message too big";
		return CLOSE_TOO_BIG;
	}
	if (op != OP_CONT)
		s->msg_op = op;
	if ((r = read_payload(s, len, mask, &s->msg, deadline)) < 0)
		return r;
	if (!fin)
		return 0;
	if ((r = message_done(s)) == CLOSE_BAD_DATA)
		*why = "text message is not UTF-8";
	return r;
}

bool ws_session(int fd, char *in, size_t cap, size_t pos, size_t len, const struct ws_opts *o)
{
	if (o->silent) {
		/* Accepted, and then nothing: for a tunnel's idle timeout. */
		while (rt_recv(fd, in, cap, 0, rt_deadline_in(IDLE_TIMEOUT)) > 0)
			;
		return false;
	}
	struct ws_sess s = {
	    .fd = fd, .in = in, .cap = cap, .pos = pos, .len = len, .msg_op = OP_CONT};
	struct buf ctl = {0};
	bool closed = false;
	for (;;) {
		if (o->has_close_after && s.echoed >= o->close_after) {
			closed = send_close(&s, CLOSE_NORMAL, "") == 0;
			break;
		}
		const char *why = NULL;
		int r = frame(&s, &ctl, &why);
		if (r == 0)
			continue;
		if (r == 1)
			closed = true;
		else if (r >= 1000)
			closed = send_close(&s, r, why ? why : "") == 0;
		break; /* a close went out, or the connection is gone */
	}
	buf_free(&s.msg);
	buf_free(&ctl);
	return closed;
}
