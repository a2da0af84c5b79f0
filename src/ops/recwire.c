/* recwire.c - records as length-prefixed binary frames, and back. */
#include "ops/recwire.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "recwire writes integers in host order: little-endian targets only");

#define STR(f)                                                                                     \
	{                                                                                          \
		offsetof(struct rlog_rec, f), sizeof(((struct rlog_rec *)0)->f)                    \
	}
static const struct {
	size_t off, room;
} strs[] = {
    STR(verdict),      STR(client),  STR(method), STR(host),  STR(target),
    STR(cache_status), STR(backend), STR(server), STR(route), STR(reason),
};
#define NSTR	  (sizeof(strs) / sizeof(strs[0]))
#define ROOM16(f) _Static_assert(sizeof(((struct rlog_rec *)0)->f) % 16 == 0, #f "'s room: 16s")
ROOM16(verdict);
ROOM16(client);
ROOM16(method);
ROOM16(host);
ROOM16(target);
ROOM16(cache_status);
ROOM16(backend);
ROOM16(server);
ROOM16(route);
ROOM16(reason);
_Static_assert(NSTR == RLOG_NSTR, "one entry per enum rlog_str, in its order");

#define FIXED_LEN (9 * 8 + 2 + 1 + 1 + 1 + 2 + 2)

/* The nine numbers copied as one block, in the wire's order. */
_Static_assert(offsetof(struct rlog_rec, time_us) == offsetof(struct rlog_rec, id) + 8 &&
		   offsetof(struct rlog_rec, ttfb_ns) == offsetof(struct rlog_rec, id) + 16 &&
		   offsetof(struct rlog_rec, duration_ns) == offsetof(struct rlog_rec, id) + 24 &&
		   offsetof(struct rlog_rec, bytes_in) == offsetof(struct rlog_rec, id) + 32 &&
		   offsetof(struct rlog_rec, bytes_out) == offsetof(struct rlog_rec, id) + 40 &&
		   offsetof(struct rlog_rec, be_total_ns) == offsetof(struct rlog_rec, id) + 48 &&
		   offsetof(struct rlog_rec, be_connect_ns) == offsetof(struct rlog_rec, id) + 56 &&
		   offsetof(struct rlog_rec, be_ttfb_ns) == offsetof(struct rlog_rec, id) + 64,
	       "struct rlog_rec's numbers as the wire has them");

/* The largest record: every string and value at its room. */
_Static_assert(4 + FIXED_LEN + 1 + 10 * 2 + 16 + 48 + 16 + 128 + 512 + 128 + 48 + 64 + 48 + 48 +
		       RLOG_HDRS * (2 + RLOG_HDR_VAL) <=
		   RECWIRE_MAX,
	       "RECWIRE_MAX too small");

#define PUT(p, v)                                                                                  \
	do {                                                                                       \
		__typeof__(v) v_ = (v);                                                            \
		memcpy(p, &v_, sizeof(v_));                                                        \
		p += sizeof(v_);                                                                   \
	} while (0)

static char *put_str(char *p, const char *s, size_t n)
{
	uint16_t l = (uint16_t)n;
	PUT(p, l);
	memcpy(p, s, n);
	return p + n;
}

size_t recwire_record(const struct rlog_rec *restrict r, const char *const *values, unsigned n,
		      char *restrict buf)
{
	assert(n <= RLOG_HDRS);
	char *p = buf + 4;
	/* The nine 64-bit numbers lie together, in the wire's order. */
	memcpy(p, &r->id, 72);
	p += 72;
	PUT(p, r->be_attempts);
	PUT(p, r->be_reused);
	PUT(p, r->http_major);
	PUT(p, r->http_minor);
	PUT(p, r->status);
	PUT(p, r->loop);
	const bool lens = r->lens;
	/* A writer's lengths, checked against their rooms (a record read
	 * where it lies may change under us: its bytes are whatever they
	 * were, which rlog_peek_done sorts out). Copied 16 bytes at a time:
	 * every room is a multiple of 16, and a frame has room for every
	 * string at its full room, so the few bytes past a string's end stay
	 * inside both; the next field overwrites them. */
	for (size_t i = 0; i < NSTR; i++) {
		const char *f = (const char *)r + strs[i].off;
		uint16_t l =
		    (uint16_t)(lens && r->len[i] < strs[i].room ? r->len[i]
								: strnlen(f, strs[i].room - 1));
		PUT(p, l);
		for (size_t k = 0; k < l; k += 16)
			memcpy(p + k, f + k, 16);
		p += l;
	}
	*p++ = (char)n;
	for (unsigned i = 0; i < n; i++)
		p = put_str(p, values[i] ? values[i] : "",
			    values[i] ? strnlen(values[i], RLOG_HDR_VAL - 1) : 0);
	size_t len = (size_t)(p - buf);
	uint16_t pl = (uint16_t)(len - 4);
	buf[0] = RECWIRE_RECORD;
	buf[1] = 0;
	memcpy(buf + 2, &pl, 2);
	return len;
}

size_t recwire_lost(uint64_t n, uint64_t total, char *buf)
{
	char *p = buf;
	*p++ = RECWIRE_LOST;
	*p++ = 0;
	PUT(p, (uint16_t)16);
	PUT(p, n);
	PUT(p, total);
	return (size_t)(p - buf);
}

/* A reading cursor over one frame's payload: every take checks the end. */
struct in {
	const char *p, *end;
	bool bad;
};

static void take(struct in *in, void *out, size_t n)
{
	if (in->bad || (size_t)(in->end - in->p) < n) {
		in->bad = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, in->p, n);
	in->p += n;
}

#define TAKE(in, v) take(in, &(v), sizeof(v))

static void take_str(struct in *in, char *dst, size_t room)
{
	uint16_t n = 0;
	TAKE(in, n);
	if (n >= room)
		in->bad = true;
	if (in->bad) {
		dst[0] = '\0';
		return;
	}
	take(in, dst, n);
	dst[in->bad ? 0 : n] = '\0';
}

int recwire_next(const char *buf, size_t len, size_t *used, struct rlog_rec *r, unsigned *nhdr,
		 uint64_t *lost_n, uint64_t *lost_total)
{
	if (len < 4)
		return 0;
	uint16_t pl;
	memcpy(&pl, buf + 2, 2);
	unsigned kind = (unsigned char)buf[0];
	if ((kind != RECWIRE_RECORD && kind != RECWIRE_LOST) || buf[1] != 0 ||
	    4 + (size_t)pl > RECWIRE_MAX)
		return -1;
	if (len < 4 + (size_t)pl)
		return 0;
	struct in in = {buf + 4, buf + 4 + pl, false};
	if (kind == RECWIRE_LOST) {
		TAKE(&in, *lost_n);
		TAKE(&in, *lost_total);
	} else {
		memset(r, 0, offsetof(struct rlog_rec, verdict));
		TAKE(&in, r->id);
		TAKE(&in, r->time_us);
		TAKE(&in, r->ttfb_ns);
		TAKE(&in, r->duration_ns);
		TAKE(&in, r->bytes_in);
		TAKE(&in, r->bytes_out);
		TAKE(&in, r->be_total_ns);
		TAKE(&in, r->be_connect_ns);
		TAKE(&in, r->be_ttfb_ns);
		TAKE(&in, r->be_attempts);
		TAKE(&in, r->be_reused);
		TAKE(&in, r->http_major);
		TAKE(&in, r->http_minor);
		TAKE(&in, r->status);
		TAKE(&in, r->loop);
		for (size_t i = 0; i < NSTR; i++)
			take_str(&in, (char *)r + strs[i].off, strs[i].room);
		uint8_t n = 0;
		TAKE(&in, n);
		if (n > RLOG_HDRS)
			in.bad = true;
		for (unsigned i = 0; !in.bad && i < n; i++)
			take_str(&in, r->hdr[i], RLOG_HDR_VAL);
		for (unsigned i = in.bad ? 0 : n; i < RLOG_HDRS; i++)
			r->hdr[i][0] = '\0';
		*nhdr = in.bad ? 0 : n;
	}
	if (in.bad || in.p != in.end)
		return -1;
	*used = 4 + pl;
	return (int)kind;
}
