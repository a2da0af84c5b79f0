/* edits.c - header rules made concrete for one message (edits.h). */
#include "http/edits.h"

#include <string.h>

static bool name_eq(const char *a, size_t al, const char *b, size_t bl)
{
	if (al != bl)
		return false;
	for (size_t i = 0; i < al; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

void hedits_init(struct hedits *e)
{
	e->n_drop = e->n_add = 0;
	e->overflow = false;
}

bool hedits_drops(const struct hedits *e, const char *name, size_t nlen)
{
	for (unsigned i = 0; i < e->n_drop; i++) {
		if (name_eq(e->drop[i].name, e->drop[i].nlen, name, nlen))
			return true;
	}
	return false;
}

void hedits_remove(struct hedits *e, const char *name, size_t nlen)
{
	unsigned k = 0;
	for (unsigned i = 0; i < e->n_add; i++) {
		if (!name_eq(e->add[i].name, e->add[i].nlen, name, nlen))
			e->add[k++] = e->add[i];
	}
	e->n_add = (uint8_t)k;
	if (hedits_drops(e, name, nlen))
		return;
	if (e->n_drop == HEDIT_MAX) {
		e->overflow = true;
		return;
	}
	e->drop[e->n_drop++] = (struct hedit){.name = name, .nlen = (uint32_t)nlen};
}

void hedits_add(struct hedits *e, const char *name, size_t nlen, const char *value, size_t vlen)
{
	if (e->n_add == HEDIT_MAX) {
		e->overflow = true;
		return;
	}
	e->add[e->n_add++] = (struct hedit){name, value, (uint32_t)nlen, (uint32_t)vlen};
}

void hedits_set(struct hedits *e, const char *name, size_t nlen, const char *value, size_t vlen)
{
	hedits_remove(e, name, nlen);
	hedits_add(e, name, nlen, value, vlen);
}

void hedits_put_added(const struct hedits *e, struct hbuf *b)
{
	for (unsigned i = 0; i < e->n_add; i++) {
		hbuf_put(b, e->add[i].name, e->add[i].nlen);
		hbuf_put(b, ": ", 2);
		hbuf_put(b, e->add[i].value, e->add[i].vlen);
		hbuf_put(b, "\r\n", 2);
	}
}

void hedits_put_block(const struct hedits *e, struct hbuf *b, const char *block, size_t len)
{
	if (!e->n_drop) {
		hbuf_put(b, block, len);
	} else {
		const char *p = block, *end = block + len;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *next = nl ? nl + 1 : end;
			const char *colon = memchr(p, ':', (size_t)(next - p));
			if (!colon || !hedits_drops(e, p, (size_t)(colon - p)))
				hbuf_put(b, p, (size_t)(next - p));
			p = next;
		}
	}
	hedits_put_added(e, b);
}

void hedits_drop_lines(const struct hedits *e, char *p, size_t *len, size_t from)
{
	if (!e->n_drop)
		return;
	size_t r = from, w = from, end = *len;
	while (r < end) {
		const char *nl = memchr(p + r, '\n', end - r);
		size_t next = nl ? (size_t)(nl - p) + 1 : end;
		const char *colon = memchr(p + r, ':', next - r);
		if (!colon || !hedits_drops(e, p + r, (size_t)(colon - (p + r)))) {
			if (w != r)
				memmove(p + w, p + r, next - r);
			w += next - r;
		}
		r = next;
	}
	*len = w;
}

size_t hedits_size(const struct hedits *e)
{
	size_t n = 0;
	for (unsigned i = 0; i < e->n_drop; i++)
		n += e->drop[i].nlen;
	for (unsigned i = 0; i < e->n_add; i++)
		n += e->add[i].nlen + e->add[i].vlen;
	return n;
}

static const char *keep(char *buf, size_t *used, const char *p, size_t n)
{
	char *at = buf + *used;
	if (n)
		memcpy(at, p, n);
	*used += n;
	return at;
}

long hedits_copy(const struct hedits *e, struct hedits *dst, char *buf, size_t cap)
{
	size_t used = 0;
	if (hedits_size(e) > cap)
		return -1;
	*dst = *e;
	for (unsigned i = 0; i < e->n_drop; i++)
		dst->drop[i].name = keep(buf, &used, e->drop[i].name, e->drop[i].nlen);
	for (unsigned i = 0; i < e->n_add; i++) {
		dst->add[i].name = keep(buf, &used, e->add[i].name, e->add[i].nlen);
		dst->add[i].value = keep(buf, &used, e->add[i].value, e->add[i].vlen);
	}
	return (long)used;
}
