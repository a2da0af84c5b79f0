/* hbuf.c - formatted append for struct hbuf. */
#include "http/hbuf.h"

#include "http/msg.h"

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

void hbuf_put_field(struct hbuf *b, const struct hmsg *m, const struct hfield *f)
{
	hbuf_put(b, hmsg_ptr(m, f->name), f->name.len);
	hbuf_put(b, ": ", 2);
	hbuf_put(b, hmsg_ptr(m, f->value), f->value.len);
	hbuf_put(b, "\r\n", 2);
}

void hbuf_put_merged(struct hbuf *b, const struct hmsg *m, const char *name, const char *extra)
{
	hbuf_puts(b, name);
	hbuf_put(b, ": ", 2);
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (!hspan_ieq(m, f->name, name) || f->value.len == 0)
			continue;
		hbuf_put(b, hmsg_ptr(m, f->value), f->value.len);
		hbuf_put(b, ", ", 2);
	}
	hbuf_puts(b, extra);
	hbuf_put(b, "\r\n", 2);
}
