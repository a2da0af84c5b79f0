/*
 * hbuf.h - fixed-capacity append buffer for building message heads.
 *
 * Appends past the capacity set a sticky overflow flag instead of growing:
 * a head that does not fit is an error for the caller to answer, not a
 * reason to allocate on every request.
 */
#ifndef RINGCACHE_HTTP_HBUF_H
#define RINGCACHE_HTTP_HBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct hbuf {
	char *p;
	size_t len, cap;
	bool overflow;
};

static inline void hbuf_init(struct hbuf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->len = 0;
	b->cap = cap;
	b->overflow = false;
}

static inline void hbuf_put(struct hbuf *b, const void *s, size_t n)
{
	if (b->overflow || n > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static inline void hbuf_puts(struct hbuf *b, const char *s)
{
	hbuf_put(b, s, strlen(s));
}

/* Decimal append without printf: the hit path writes a few numbers per
 * response and vsnprintf's setup costs more than the digits. */
static inline void hbuf_put_u64(struct hbuf *b, uint64_t v)
{
	char d[20];
	size_t n = sizeof(d);
	do {
		d[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	hbuf_put(b, d + n, sizeof(d) - n);
}

static inline void hbuf_put_i64(struct hbuf *b, int64_t v)
{
	if (v < 0) {
		hbuf_put(b, "-", 1);
		hbuf_put_u64(b, 0 - (uint64_t)v);
	} else {
		hbuf_put_u64(b, (uint64_t)v);
	}
}

/* NUL-terminate within the capacity (for strings built in a char array);
 * an overflowed buffer keeps what fitted. */
static inline const char *hbuf_cstr(struct hbuf *b)
{
	size_t at = b->len < b->cap ? b->len : b->cap - 1;
	b->p[at] = '\0';
	return b->p;
}

/* printf-style append (defined in hbuf.c). */
void hbuf_printf(struct hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct hmsg;
struct hfield;
/* "Name: value\r\n" for field F of M, as received (value OWS trimmed). */
void hbuf_put_field(struct hbuf *b, const struct hmsg *m, const struct hfield *f);
/* "Name: v1, v2, ..., EXTRA\r\n": every NAME field of M merged, then EXTRA. */
void hbuf_put_merged(struct hbuf *b, const struct hmsg *m, const char *name, const char *extra);

#endif
