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

/* printf-style append (defined in hbuf.c). */
void hbuf_printf(struct hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
