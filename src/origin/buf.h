/*
 * buf.h - a growable byte buffer with a hard size cap, for request fields,
 * echo bodies and response heads. Caps keep a misbehaving client from
 * growing one connection's memory without bound.
 */
#ifndef RINGCACHE_ORIGIN_BUF_H
#define RINGCACHE_ORIGIN_BUF_H

#include <stddef.h>

struct buf {
	char *p;
	size_t len, cap;
};

/* Append LEN bytes unless the result would exceed MAX: 0, -E2BIG or -ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t len, size_t max);
/* printf-append (no cap beyond memory). 0 or -ENOMEM. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empty the buffer; release its memory if it grew beyond KEEP bytes, so an
 * idle keep-alive connection does not pin a large allocation. */
void buf_reset(struct buf *b, size_t keep);
void buf_free(struct buf *b);

#endif
