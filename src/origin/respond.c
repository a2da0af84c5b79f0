/*
 * respond.c - responses of ringcache-origin, chosen by the request.
 *
 * Every behaviour a test may want from an origin (status, size, validators,
 * delays, chunking, dribbling, truncation, close-delimited bodies) is picked
 * through query parameters, so tests need no origin configuration. Bodies of
 * any size are written from one static pattern buffer through iovecs: the
 * origin never holds more than a few KiB per response, however large
 * (except encode=, which compresses the body in memory first). A request
 * that asks for WebSocket gets the handshake's answer instead (ws.h).
 */
#include "origin/respond.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>

#include <llhttp.h>

#include "compress/codec.h"
#include "http/range.h"
#include "origin/origin.h"
#include "origin/stats.h"
#include "rt/clock.h"
#include "rt/io.h"
#include "rt/task.h"

/* Budget of one batch of writes: a stalled client is dropped after this. */
#define SEND_TIMEOUT   (30 * RT_SEC)
#define MAX_EXTRA_HDRS 32
#define DEFAULT_CHUNK  16384u
/* Upper bounds keep a typo from tying up a connection for days. */
#define MAX_DELAY_MS (3600u * 1000u)

static const char hello[] = "hello from ringcache-origin\n";

#define PAT_TEXT  "0123456789abcdefghijklmnopqrstuvwxyz\n"
#define PAT_LEN	  37u
#define PIECE_MAX 65536u
/* The pattern repeated far enough that PIECE_MAX bytes starting at any
 * phase (offset % 37) are contiguous. */
static char pattern[PIECE_MAX + 2 * PAT_LEN];

void respond_init(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = PAT_TEXT[i % PAT_LEN];
}

/* --- batched output --------------------------------------------------------- */

#define OUT_IOV 64

/* Pieces queued for one writev. Chunk-size lines live in LINES; every line
 * has its own iovec, so a free iovec slot implies a free line slot. */
struct out {
	int fd;
	int n, nlines;
	struct iovec iov[OUT_IOV];
	char lines[OUT_IOV][20];
};

static int out_flush(struct out *o)
{
	int n = o->n;
	o->n = 0;
	o->nlines = 0;
	if (n == 0)
		return 0;
	ssize_t r = rt_writev_all(o->fd, o->iov, n, rt_deadline_in(SEND_TIMEOUT));
	return r < 0 ? (int)r : 0;
}

static int out_add(struct out *o, const void *p, size_t len)
{
	if (len == 0)
		return 0;
	if (o->n == OUT_IOV) {
		int r = out_flush(o);
		if (r < 0)
			return r;
	}
	o->iov[o->n].iov_base = (void *)p;
	o->iov[o->n].iov_len = len;
	o->n++;
	return 0;
}

static int out_chunk_line(struct out *o, uint64_t size)
{
	if (o->n == OUT_IOV) {
		int r = out_flush(o);
		if (r < 0)
			return r;
	}
	char *line = o->lines[o->nlines++];
	int len = snprintf(line, sizeof(o->lines[0]), "%" PRIx64 "\r\n", size);
	return out_add(o, line, (size_t)len);
}

/* Queue body bytes [OFF, OFF+LEN): from FIXED if set (the default body),
 * else from the pattern. */
static int out_body(struct out *o, const char *fixed, uint64_t off, uint64_t len)
{
	if (fixed)
		return out_add(o, fixed + off, (size_t)len);
	while (len) {
		size_t seg = len > PIECE_MAX ? PIECE_MAX : (size_t)len;
		int r = out_add(o, pattern + off % PAT_LEN, seg);
		if (r < 0)
			return r;
		off += seg;
		len -= seg;
	}
	return 0;
}

/* --- query parameters ------------------------------------------------------- */

struct params {
	int status;
	bool has_size, has_lm, has_close_after;
	bool chunked, nolength, close;
	uint64_t size, lm, close_after;
	uint64_t delay_ms, drip_ms, chunk;
	const char *cc, *etag;
	bool force101;	   /* answer 101 and speak WebSocket, asked or not */
	bool ws_ignore;	   /* answer an upgrade request as if nothing was asked */
	struct ws_opts ws; /* ws_close_after, ws_silent */
	int encode;	   /* a coding: the body is sent compressed in it (-1: not) */
	bool words;	   /* body of pseudo-random words instead of the pattern */
	bool ranges;	   /* answer a single Range with 206 (If-Range: the ETag) */
	bool ranges_no_if; /* ... and take no notice of If-Range (a broken origin) */
	bool etag_seq;	   /* the ETag is "sN", N the request's number: new every time */
	char etag_buf[32];
	int nhdr;
	struct {
		const char *name;
		size_t name_len;
		const char *value;
	} hdr[MAX_EXTRA_HDRS];
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode SRC into DST (room for LEN+1); '+' becomes a space when
 * PLUS, as in form encoding. A malformed escape is kept literally. */
static size_t url_decode(const char *src, size_t len, char *dst, bool plus)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (src[i] == '%' && i + 2 < len && (hi = hexval(src[i + 1])) >= 0 &&
		    (lo = hexval(src[i + 2])) >= 0) {
			dst[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (plus && src[i] == '+') {
			dst[n++] = ' ';
		} else {
			dst[n++] = src[i];
		}
	}
	dst[n] = '\0';
	return n;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* A header value may hold visible characters, spaces and tabs only:
 * anything else could split the response. */
static bool field_value_ok(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Parse the query Q (without '?') into P; ARENA has room for the decoded
 * values (2 * QLEN + 2 bytes). Returns 0, or -EINVAL with the offending
 * parameter's name in *BAD. */
static int parse_params(const char *q, size_t qlen, char *arena, struct params *p, const char **bad)
{
	memset(p, 0, sizeof(*p));
	p->status = 200;
	p->chunk = DEFAULT_CHUNK;
	p->encode = -1;
	const char *end = q + qlen;
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(pe - q));
		const char *ne = eq ? eq : pe;
		char *name = arena;
		arena += url_decode(q, (size_t)(ne - q), name, true) + 1;
		char *val = arena;
		if (eq)
			arena += url_decode(eq + 1, (size_t)(pe - eq - 1), val, true) + 1;
		else
			*arena++ = '\0';
		q = amp ? amp + 1 : end;

		uint64_t v = 0;
		bool ok = true;
		*bad = name;
		if (!strcmp(name, "status")) {
			ok = parse_u64(val, 999, &v) && v >= 100;
			p->status = (int)v;
		} else if (!strcmp(name, "size")) {
			ok = parse_u64(val, UINT64_MAX / 2, &p->size);
			p->has_size = true;
		} else if (!strcmp(name, "cc")) {
			ok = field_value_ok(val);
			p->cc = val;
		} else if (!strcmp(name, "etag")) {
			ok = field_value_ok(val) && !strchr(val, '"');
			p->etag = val;
		} else if (!strcmp(name, "lm")) {
			ok = parse_u64(val, (uint64_t)INT32_MAX * 64, &p->lm);
			p->has_lm = true;
		} else if (!strcmp(name, "delay")) {
			ok = parse_u64(val, MAX_DELAY_MS, &p->delay_ms);
		} else if (!strcmp(name, "drip")) {
			ok = parse_u64(val, MAX_DELAY_MS, &p->drip_ms);
		} else if (!strcmp(name, "chunked")) {
			ok = parse_u64(val, 1, &v);
			p->chunked = v;
		} else if (!strcmp(name, "chunk")) {
			ok = parse_u64(val, 1u << 30, &p->chunk) && p->chunk > 0;
		} else if (!strcmp(name, "close_after")) {
			ok = parse_u64(val, UINT64_MAX / 2, &p->close_after);
			p->has_close_after = true;
		} else if (!strcmp(name, "ranges")) {
			ok = parse_u64(val, 2, &v);
			p->ranges = v > 0;
			p->ranges_no_if = v == 2;
		} else if (!strcmp(name, "etag_seq")) {
			ok = parse_u64(val, 1, &v);
			p->etag_seq = v;
		} else if (!strcmp(name, "words")) {
			ok = parse_u64(val, 1, &v);
			p->words = v;
		} else if (!strcmp(name, "encode")) {
			p->encode = coding_parse(val, strlen(val));
			ok = p->encode > CODING_IDENTITY;
		} else if (!strcmp(name, "nolength")) {
			ok = parse_u64(val, 1, &v);
			p->nolength = v;
		} else if (!strcmp(name, "close")) {
			ok = parse_u64(val, 1, &v);
			p->close = v;
		} else if (!strcmp(name, "force101")) {
			ok = parse_u64(val, 1, &v);
			p->force101 = v;
		} else if (!strcmp(name, "ws_ignore")) {
			ok = parse_u64(val, 1, &v);
			p->ws_ignore = v;
		} else if (!strcmp(name, "ws_silent")) {
			ok = parse_u64(val, 1, &v);
			p->ws.silent = v;
		} else if (!strcmp(name, "ws_close_after")) {
			ok = parse_u64(val, UINT32_MAX, &p->ws.close_after);
			p->ws.has_close_after = true;
		} else if (!strcmp(name, "hdr")) {
			char *colon = strchr(val, ':');
			ok = colon && colon > val && p->nhdr < MAX_EXTRA_HDRS;
			for (const char *c = val; ok && c < colon; c++)
				ok = is_tchar(*c);
			if (ok) {
				const char *hv = colon + 1;
				while (*hv == ' ' || *hv == '\t')
					hv++;
				ok = field_value_ok(hv);
				p->hdr[p->nhdr].name = val;
				p->hdr[p->nhdr].name_len = (size_t)(colon - val);
				p->hdr[p->nhdr].value = hv;
				p->nhdr++;
			}
		}
		/* Other parameters are ignored: tests add them to vary the URL. */
		if (!ok)
			return -EINVAL;
	}
	return 0;
}

static bool overridden(const struct params *p, const char *name)
{
	for (int i = 0; i < p->nhdr; i++)
		if (strlen(name) == p->hdr[i].name_len &&
		    !strncasecmp(p->hdr[i].name, name, p->hdr[i].name_len))
			return true;
	return false;
}

/* Does the If-None-Match list INM name "ETAG"? Weak comparison (RFC 9110
 * 13.1.2): a W/ prefix is ignored, "*" matches anything. */
static bool inm_matches(const char *inm, size_t len, const char *etag)
{
	size_t elen = strlen(etag);
	const char *s = inm, *end = inm + len;
	while (s < end) {
		while (s < end && (*s == ' ' || *s == '\t' || *s == ','))
			s++;
		const char *tok = s;
		while (s < end && *s != ',')
			s++;
		const char *te = s;
		while (te > tok && (te[-1] == ' ' || te[-1] == '\t'))
			te--;
		if (te - tok == 1 && *tok == '*')
			return true;
		if (te - tok >= 2 && tok[0] == 'W' && tok[1] == '/')
			tok += 2;
		if ((size_t)(te - tok) == elen + 2 && tok[0] == '"' && te[-1] == '"' &&
		    !memcmp(tok + 1, etag, elen))
			return true;
	}
	return false;
}

/* The value of the request's first field NAME (OWS trimmed), or NULL. */
static const char *req_field(const struct origin_req *rq, const char *name, unsigned nth,
			     size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = rq->hdrs, *end = rq->hdrs + rq->hdrs_len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl) &&
		    nth-- == 0) {
			const char *v = p + nl + 1, *ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol + 1;
	}
	return NULL;
}

/* --- heads ------------------------------------------------------------------- */

static const struct {
	int status;
	const char *text;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {410, "Gone"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {416, "Range Not Satisfiable"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

static const char *reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].text;
	return "Status"; /* any text will do: clients go by the code */
}

static void http_date(char *out, size_t size, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	/* No setlocale() anywhere: %a and %b are the C locale's English names. */
	strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Status line plus Date and Server, unless P (may be NULL) overrides them. */
static int head_start(struct buf *b, int status, const struct params *p)
{
	buf_reset(b, 16384);
	int r = buf_printf(b, "HTTP/1.1 %d %s\r\n", status, reason(status));
	if (!p || !overridden(p, "Date")) {
		char date[64];
		http_date(date, sizeof(date), time(NULL));
		r = r ? r : buf_printf(b, "Date: %s\r\n", date);
	}
	if (!p || !overridden(p, "Server"))
		r = r ? r : buf_printf(b, "Server: ringcache-origin\r\n");
	return r;
}

/* X-Origin-*, Connection and the blank line. */
static int head_end(struct buf *b, const struct origin_req *rq, uint64_t reqno, bool close)
{
	int r = buf_printf(b, "X-Origin-Port: %u\r\nX-Origin-Request: %" PRIu64 "\r\n", origin_port,
			   reqno);
	if (close)
		r = r ? r : buf_printf(b, "Connection: close\r\n");
	else if (rq && rq->http_major == 1 && rq->http_minor == 0)
		r = r ? r : buf_printf(b, "Connection: keep-alive\r\n");
	return r ? r : buf_printf(b, "\r\n");
}

/* A small complete response from memory: special paths and errors. BODY
 * is parts[0..nparts) so /echo can send the request back without a copy.
 * EXTRA (NULL for none) is more header lines, each ending in CRLF. */
static int send_simple_hdrs(int fd, const struct origin_req *rq, int status, const char *ctype,
			    const char *extra, const struct iovec *parts, int nparts,
			    uint64_t reqno, bool close, struct buf *scratch)
{
	size_t blen = 0;
	for (int i = 0; i < nparts; i++)
		blen += parts[i].iov_len;
	int r = head_start(scratch, status, NULL);
	/* no-store: a proxy in front must not answer these from its cache. */
	r = r ? r
	      : buf_printf(scratch,
			   "Content-Type: %s\r\nCache-Control: no-store\r\n"
			   "Content-Length: %zu\r\n%s",
			   ctype, blen, extra ? extra : "");
	r = r ? r : head_end(scratch, rq, reqno, close);
	if (r < 0)
		return r;
	struct iovec iov[8];
	int n = 0;
	iov[n++] = (struct iovec){scratch->p, scratch->len};
	if (!rq || rq->method != HTTP_HEAD)
		for (int i = 0; i < nparts && n < 8; i++)
			iov[n++] = parts[i];
	ssize_t w = rt_writev_all(fd, iov, n, rt_deadline_in(SEND_TIMEOUT));
	return w < 0 ? (int)w : 0;
}

static int send_simple(int fd, const struct origin_req *rq, int status, const char *ctype,
		       const struct iovec *parts, int nparts, uint64_t reqno, bool close,
		       struct buf *scratch)
{
	return send_simple_hdrs(fd, rq, status, ctype, NULL, parts, nparts, reqno, close, scratch);
}

int respond_error(int fd, int status, struct buf *scratch)
{
	char body[64];
	int len = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
	struct iovec part = {body, (size_t)len};
	return send_simple(fd, NULL, status, "text/plain", &part, 1, stats_total(), true, scratch);
}

/* --- special paths ------------------------------------------------------------ */

static bool path_is(const char *path, size_t plen, const char *want)
{
	return plen == strlen(want) && !memcmp(path, want, plen);
}

/* The request-target in origin form: an absolute-form target
 * (http://host/p?q) is counted under its path and query. */
static void origin_form(const char *t, size_t len, const char **out, size_t *olen)
{
	*out = t;
	*olen = len;
	if (len == 0 || t[0] == '/' || t[0] == '*')
		return;
	const char *sep = memmem(t, len, "://", 3);
	if (!sep)
		return;
	const char *auth = sep + 3, *end = t + len;
	const char *slash = memchr(auth, '/', (size_t)(end - auth));
	if (slash) {
		*out = slash;
		*olen = (size_t)(end - slash);
	} else {
		*out = "/";
		*olen = 1;
	}
}

bool respond_is_echo(const char *target, size_t len)
{
	const char *t;
	size_t tlen;
	origin_form(target, len, &t, &tlen);
	const char *q = memchr(t, '?', tlen);
	return path_is(t, q ? (size_t)(q - t) : tlen, "/echo");
}

static int send_echo(int fd, const struct origin_req *rq, bool close, struct buf *scratch)
{
	char line[128];
	const char *method = llhttp_method_name((llhttp_method_t)rq->method);
	int llen = snprintf(line, sizeof(line), "%s ", method);
	char ver[32];
	int vlen = snprintf(ver, sizeof(ver), " HTTP/%u.%u\r\n", rq->http_major, rq->http_minor);
	struct iovec parts[] = {
	    {line, (size_t)llen}, {(void *)rq->target, rq->target_len},
	    {ver, (size_t)vlen},  {(void *)rq->hdrs, rq->hdrs_len},
	    {"\r\n", 2},	  {(void *)rq->body, rq->body_len},
	};
	return send_simple(fd, rq, 200, "text/plain", parts, 6, stats_total(), close, scratch);
}

/* /__stats[?key=TARGET]: KEY is everything after "key=", so an unencoded
 * target with its own '?' and '&' works; a percent-encoded one is tried
 * decoded when the raw text was never seen. */
static int send_stats(int fd, const struct origin_req *rq, const char *q, size_t qlen, bool close,
		      struct buf *scratch)
{
	uint64_t n;
	const char *key = NULL;
	if (qlen >= 8 && !memcmp(q, "upgrades", 8) && (qlen == 8 || q[8] == '=')) {
		char body[64];
		int len =
		    snprintf(body, sizeof(body), "{\"upgrades\": %" PRIu64 "}", stats_upgrades());
		struct iovec part = {body, (size_t)len};
		return send_simple(fd, rq, 200, "application/json", &part, 1, stats_total(), close,
				   scratch);
	}
	if (qlen >= 4 && !memcmp(q, "key=", 4))
		key = q + 4;
	else if (q) {
		const char *k = memmem(q, qlen, "&key=", 5);
		if (k)
			key = k + 5;
	}
	if (key) {
		size_t klen = (size_t)(q + qlen - key);
		n = stats_get(key, klen);
		if (n == 0 && memchr(key, '%', klen)) {
			char *dec = malloc(klen + 1);
			if (!dec)
				return -ENOMEM;
			size_t dlen = url_decode(key, klen, dec, false);
			n = stats_get(dec, dlen);
			free(dec);
		}
	} else {
		n = stats_total();
	}
	char body[64];
	int len = snprintf(body, sizeof(body), "{\"requests\": %" PRIu64 "}", n);
	struct iovec part = {body, (size_t)len};
	return send_simple(fd, rq, 200, "application/json", &part, 1, stats_total(), close,
			   scratch);
}

/* --- the parameterised response ------------------------------------------------ */

static int send_bad_param(int fd, const struct origin_req *rq, const char *name, uint64_t reqno,
			  bool close, struct buf *scratch)
{
	char body[160];
	int len = snprintf(body, sizeof(body), "bad query parameter: %.100s\n", name);
	struct iovec part = {body, (size_t)len};
	return send_simple(fd, rq, 400, "text/plain", &part, 1, reqno, close, scratch);
}

enum framing { FRAME_NONE, FRAME_LENGTH, FRAME_CHUNKED, FRAME_EOF };

#define WORDS_MAX (8u << 20)
static pthread_once_t words_once = PTHREAD_ONCE_INIT;
static char *words_text;

/* WORDS_MAX bytes of words drawn from a small vocabulary by a fixed-seed
 * generator: the same text in every run. */
static void words_make(void)
{
	static const char *const vocab[] = {
	    "the",    "cache",	  "proxy",  "request", "response", "header",  "body",	 "stale",
	    "fresh",  "origin",	  "client", "server",  "loop",	   "task",    "ring",	 "queue",
	    "worker", "thread",	  "memory", "buffer",  "socket",   "object",  "variant", "key",
	    "hit",    "miss",	  "purge",  "ban",     "grace",	   "age",     "date",	 "etag",
	    "vary",   "encoding", "gzip",   "brotli",  "zstd",	   "content", "length",	 "chunked",
	    "status", "method",	  "get",    "head",    "post",	   "and",     "of",	 "to",
	    "in",     "a",	  "is",	    "for",     "with",	   "on",      "at",	 "by",
	    "from",   "as",	  "it",	    "not",     "or",	   "be",      "this",	 "that"};
	char *t = malloc(WORDS_MAX);
	if (!t)
		return;
	uint64_t x = 0x9E3779B97F4A7C15ull;
	size_t n = 0;
	while (n < WORDS_MAX) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		const char *w = vocab[x % (sizeof(vocab) / sizeof(vocab[0]))];
		size_t l = strlen(w);
		for (size_t i = 0; i < l && n < WORDS_MAX; i++)
			t[n++] = w[i];
		if (n < WORDS_MAX)
			t[n++] = (x >> 32) % 12 == 0 ? '\n' : ' ';
	}
	words_text = t;
}

/* The response for the parsed parameters P (ARENA holds their strings and
 * is freed here once the head holds copies); body FIXED, or the pattern. */
static int send_generated(int fd, const struct origin_req *rq, struct buf *scratch,
			  bool *close_conn, struct params *p, char *arena, uint64_t reqno,
			  const char *fixed, uint64_t blen)
{
	bool head_only = rq->method == HTTP_HEAD;
	int status = p->status;
	if (p->etag && status / 100 == 2 && rq->inm &&
	    (rq->method == HTTP_GET || rq->method == HTTP_HEAD) &&
	    inm_matches(rq->inm, rq->inm_len, p->etag))
		status = 304;

	/* ranges=1: one range of the body (RFC 9110 14), If-Range compared
	 * strongly with the ETag; several ranges get the whole body. What the
	 * request asked is echoed, so tests see what a cache sent. */
	uint64_t off0 = 0;
	char crange[96] = "";
	size_t rl = 0, irl = 0;
	const char *rv = p->ranges ? req_field(rq, "range", 0, &rl) : NULL;
	const char *irv = p->ranges ? req_field(rq, "if-range", 0, &irl) : NULL;
	if (rv && status == 200 && rq->method == HTTP_GET) {
		bool ir_ok = !irv || p->ranges_no_if ||
			     (p->etag && irl == strlen(p->etag) + 2 && irv[0] == '"' &&
			      !memcmp(irv + 1, p->etag, irl - 2));
		struct range_set rs;
		enum range_result rr = ir_ok ? range_resolve(rv, rl, blen, &rs) : RANGE_IGNORE;
		if (rr == RANGE_UNSATISFIABLE) {
			status = 416;
			snprintf(crange, sizeof(crange), "bytes */%" PRIu64, blen);
		} else if (rr == RANGE_PARTS && rs.n == 1) {
			status = 206;
			snprintf(crange, sizeof(crange), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
				 rs.r[0].first, rs.r[0].last, blen);
			off0 = rs.r[0].first;
			blen = byte_range_len(&rs.r[0]);
		}
	}

	enum framing fr;
	if (status == 416)
		fr = FRAME_NONE, blen = 0;
	else if (status < 200 || status == 204 || status == 304)
		fr = FRAME_NONE;
	else if (p->nolength)
		fr = FRAME_EOF;
	else if (p->chunked)
		/* HTTP/1.0 has no chunked coding: fall back to closing. */
		fr = (rq->http_major == 1 && rq->http_minor == 0) ? FRAME_EOF : FRAME_CHUNKED;
	else
		fr = FRAME_LENGTH;
	if (p->close || p->has_close_after || fr == FRAME_EOF)
		*close_conn = true;

	int r = head_start(scratch, status, p);
	if (fr != FRAME_NONE && !overridden(p, "Content-Type"))
		r = r ? r : buf_printf(scratch, "Content-Type: text/plain\r\n");
	if (p->cc)
		r = r ? r : buf_printf(scratch, "Cache-Control: %s\r\n", p->cc);
	if (p->etag)
		r = r ? r : buf_printf(scratch, "ETag: \"%s\"\r\n", p->etag);
	if (p->encode > 0)
		r = r ? r
		      : buf_printf(scratch, "Content-Encoding: %s\r\n",
				   coding_name((enum coding)p->encode));
	if (p->ranges)
		r = r ? r
		      : buf_printf(scratch, "X-Origin-Range: %.*s\r\nX-Origin-If-Range: %.*s\r\n",
				   rv ? (int)rl : 4, rv ? rv : "none", irv ? (int)irl : 4,
				   irv ? irv : "none");
	if (crange[0])
		r = r ? r : buf_printf(scratch, "Content-Range: %s\r\n", crange);
	if (status == 416)
		r = r ? r : buf_printf(scratch, "Content-Length: 0\r\n");
	if (p->has_lm) {
		char date[64];
		http_date(date, sizeof(date), (time_t)p->lm);
		r = r ? r : buf_printf(scratch, "Last-Modified: %s\r\n", date);
	}
	for (int i = 0; i < p->nhdr; i++)
		r = r ? r
		      : buf_printf(scratch, "%.*s: %s\r\n", (int)p->hdr[i].name_len, p->hdr[i].name,
				   p->hdr[i].value);
	if (fr == FRAME_LENGTH)
		r = r ? r : buf_printf(scratch, "Content-Length: %" PRIu64 "\r\n", blen);
	else if (fr == FRAME_CHUNKED)
		r = r ? r : buf_printf(scratch, "Transfer-Encoding: chunked\r\n");
	r = r ? r : head_end(scratch, rq, reqno, *close_conn);
	free(arena); /* the head holds copies of everything taken from it */
	if (r < 0)
		return r;

	if (p->delay_ms) {
		r = rt_sleep_until(rt_clock_now() + p->delay_ms * RT_MS);
		if (r < 0)
			return r;
	}

	struct out o = {.fd = fd};
	r = out_add(&o, scratch->p, scratch->len);
	if (r < 0 || fr == FRAME_NONE || head_only)
		return r < 0 ? r : out_flush(&o);

	/* close_after: the head promised BLEN bytes, only LIMIT are sent. */
	uint64_t limit = blen;
	bool truncated = false;
	if (p->has_close_after && p->close_after < blen) {
		limit = p->close_after;
		truncated = true;
	}
	/* Pieces are chunks when chunked, and the units between drips. */
	uint64_t piece = (fr == FRAME_CHUNKED || p->drip_ms) ? p->chunk : UINT64_MAX;
	uint64_t off = 0;
	while (off < blen && off < limit) {
		uint64_t clen = blen - off < piece ? blen - off : piece;
		if (p->drip_ms && off > 0) {
			if ((r = out_flush(&o)) < 0)
				return r;
			if ((r = rt_sleep_until(rt_clock_now() + p->drip_ms * RT_MS)) < 0)
				return r;
		}
		if (fr == FRAME_CHUNKED && (r = out_chunk_line(&o, clen)) < 0)
			return r;
		uint64_t send = limit - off < clen ? limit - off : clen;
		if ((r = out_body(&o, fixed, off0 + off, send)) < 0)
			return r;
		if (send < clen)
			break;
		if (fr == FRAME_CHUNKED && (r = out_add(&o, "\r\n", 2)) < 0)
			return r;
		off += clen;
	}
	if (fr == FRAME_CHUNKED && !truncated && (r = out_add(&o, "0\r\n\r\n", 5)) < 0)
		return r;
	return out_flush(&o);
}

/* --- WebSocket ------------------------------------------------------------------ */

/* The answer to an upgrade request (or to force101): a 101, or the
 * handshake's refusal (400, 426), after which the connection closes. */
static int send_upgrade(int fd, const struct origin_req *rq, const struct params *p,
			const struct ws_request *wr, uint64_t reqno, bool *close_conn,
			struct buf *scratch)
{
	int status = 101;
	const char *why = p->force101 ? NULL
				      : ws_handshake_check(wr, rq->method, rq->http_major,
							   rq->http_minor, &status);
	if (why) {
		char body[160];
		int len = snprintf(body, sizeof(body), "bad WebSocket handshake: %s\n", why);
		struct iovec part = {body, (size_t)len};
		*close_conn = true;
		if (status != 426)
			return send_simple_hdrs(fd, rq, status, "text/plain", NULL, &part, 1, reqno,
						true, scratch);
		/* A 426 names the protocol, and Upgrade is hop-by-hop (RFC 9110
		 * 7.8); the check refused HTTP/1.0, so no keep-alive is added. */
		return send_simple_hdrs(fd, rq, status, "text/plain",
					"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
					"Connection: upgrade, close\r\n",
					&part, 1, reqno, false, scratch);
	}

	int r = head_start(scratch, 101, p);
	r = r ? r : buf_printf(scratch, "Upgrade: websocket\r\nConnection: Upgrade\r\n");
	if (wr->key) {
		char accept[WS_ACCEPT_LEN + 1];
		ws_accept(wr->key, wr->key_len, accept);
		r = r ? r : buf_printf(scratch, "Sec-WebSocket-Accept: %s\r\n", accept);
	}
	for (int i = 0; i < p->nhdr; i++)
		r = r ? r
		      : buf_printf(scratch, "%.*s: %s\r\n", (int)p->hdr[i].name_len, p->hdr[i].name,
				   p->hdr[i].value);
	/* No Connection: keep-alive for an HTTP/1.0 force101: the head says Upgrade. */
	r = r ? r : head_end(scratch, NULL, reqno, false);
	if (r < 0)
		return r;
	if (p->delay_ms && (r = rt_sleep_until(rt_clock_now() + p->delay_ms * RT_MS)) < 0)
		return r;
	ssize_t w = rt_send_all(fd, scratch->p, scratch->len, rt_deadline_in(SEND_TIMEOUT));
	if (w < 0)
		return (int)w;
	stats_count_upgrade();
	return RESPOND_UPGRADED;
}

/* BLEN bytes of FIXED (or of the pattern) compressed in C; malloc'd. */
static char *encode_body(const char *fixed, uint64_t blen, enum coding c, size_t *outlen)
{
	char *in = malloc(blen + 1);
	struct codec *k = codec_encoder_new(c, -1);
	size_t cap = blen + 1024, used = 0, len = 0;
	char *out = malloc(cap);
	if (!in || !k || !out)
		goto fail;
	for (uint64_t i = 0; i < blen; i++)
		in[i] = fixed ? fixed[i] : pattern[i % PAT_LEN];
	for (;;) {
		size_t u = 0, n = 0;
		int r = codec_run(k, in + used, blen - used, &u, out + len, cap - len, &n,
				  CODEC_FINISH);
		used += u;
		len += n;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		char *bigger = realloc(out, cap *= 2);
		if (!bigger)
			goto fail;
		out = bigger;
	}
	free(in);
	codec_free(&k);
	*outlen = len;
	return out;
fail:
	free(in);
	free(out);
	codec_free(&k);
	return NULL;
}

int respond(int fd, const struct origin_req *rq, struct buf *scratch, bool *close_conn,
	    struct ws_opts *ws)
{
	const char *t;
	size_t tlen;
	origin_form(rq->target, rq->target_len, &t, &tlen);
	const char *qm = memchr(t, '?', tlen);
	size_t plen = qm ? (size_t)(qm - t) : tlen;
	const char *q = qm ? qm + 1 : NULL;
	size_t qlen = qm ? tlen - plen - 1 : 0;
	*close_conn = !rq->keep_alive;

	if (path_is(t, plen, "/echo"))
		return send_echo(fd, rq, *close_conn, scratch);
	if (path_is(t, plen, "/__stats"))
		return send_stats(fd, rq, q, qlen, *close_conn, scratch);
	if (path_is(t, plen, "/__reset")) {
		stats_reset();
		struct iovec part = {"{\"requests\": 0}", 15};
		return send_simple(fd, rq, 200, "application/json", &part, 1, 0, *close_conn,
				   scratch);
	}

	uint64_t reqno = stats_count(t, tlen);
	struct params p;
	const char *bad = NULL;
	char *arena = malloc(2 * qlen + 2);
	if (!arena)
		return -ENOMEM;
	if (parse_params(q, qlen, arena, &p, &bad) < 0) {
		int r = send_bad_param(fd, rq, bad, reqno, *close_conn, scratch);
		free(arena);
		return r;
	}
	struct ws_request wr;
	ws_request_parse(rq->hdrs, rq->hdrs_len, &wr);
	if (p.force101 || (ws_request_asked(&wr) && !p.ws_ignore)) {
		int r = send_upgrade(fd, rq, &p, &wr, reqno, close_conn, scratch);
		*ws = p.ws;
		free(arena);
		return r;
	}

	const char *fixed = p.has_size ? NULL : hello;
	uint64_t blen = p.has_size ? p.size : sizeof(hello) - 1;
	if (p.words) {
		/* Text that compresses like prose (about 3:1), for benchmarks:
		 * the pattern compresses to almost nothing, at no cost. */
		pthread_once(&words_once, words_make);
		if (!words_text || blen > WORDS_MAX) {
			free(arena);
			return send_bad_param(fd, rq, "words", reqno, *close_conn, scratch);
		}
		fixed = words_text;
	}
	char *encoded = NULL;
	if (p.encode > 0) {
		size_t elen;
		if ((encoded = encode_body(fixed, blen, (enum coding)p.encode, &elen)) == NULL) {
			free(arena);
			return -ENOMEM;
		}
		fixed = encoded;
		blen = elen;
	}
	if (p.etag_seq) {
		snprintf(p.etag_buf, sizeof(p.etag_buf), "s%" PRIu64, reqno);
		p.etag = p.etag_buf;
	}
	int r = send_generated(fd, rq, scratch, close_conn, &p, arena, reqno, fixed, blen);
	free(encoded);
	return r;
}
