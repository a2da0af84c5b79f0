/* hbuf.c - formatted append for struct hbuf. */
#include "http/hbuf.h"

#include <stdarg.h>
#include <stdio.h>

void hbuf_printf(struct hbuf *b, const char *fmt, ...)
{
	if (b->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->overflow = true;
		return;
	}
	b->len += (size_t)n;
}
