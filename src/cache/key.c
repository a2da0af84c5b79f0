/* key.c - the primary cache key of a request. */
#include "cache/key.h"

#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "http/path.h"

struct qparam {
	const char *p;
	size_t n;
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

size_t cache_key_host_len(const char *h, size_t n)
{
	if (n && h[0] == '[') {
		const char *e = memchr(h, ']', n);
		return e ? (size_t)(e - h + 1) : n;
	}
	const char *colon = memchr(h, ':', n);
	return colon ? (size_t)(colon - h) : n;
}

int cache_key_build(unsigned opts, const char *host, size_t hlen, const char *target, size_t tlen,
		    char *out, size_t cap, uint32_t *host_len)
{
	const char *q = memchr(target, '?', tlen);
	size_t plen = q ? (size_t)(q - target) : tlen;
	size_t n = 0;
	if (opts & KEY_HOST) {
		if (hlen + 1 > cap)
			return -1;
		for (size_t i = 0; i < hlen; i++)
			out[n++] = (char)tolower((unsigned char)host[i]);
	}
	*host_len = (uint32_t)n;
	if (n + 1 + tlen > cap)
		return -1;
	out[n++] = '\0';
	if (opts & KEY_NORMALIZE_PATH) {
		/* Never longer than the path: the check above still holds. */
		long l = path_key_form(target, plen, out + n, plen);
		assert(l >= 0);
		n += (size_t)l;
	} else {
		memcpy(out + n, target, plen);
		n += plen;
	}
	if (!q || !(opts & KEY_QUERY))
		return (int)n;
	const char *qs = q + 1;
	size_t qlen = tlen - plen - 1;
	if (!(opts & KEY_SORT_QUERY)) {
		out[n++] = '?';
		memcpy(out + n, qs, qlen);
		return (int)(n + qlen);
	}
	/* Sorted parameters: ?b=2&a=1 and ?a=1&b=2 name one object. Every
	 * parameter is kept: a key that left some out would give two
	 * requests one object. Up to 64 are sorted on the stack. */
	size_t count = 1;
	for (size_t i = 0; i < qlen; i++)
		count += qs[i] == '&';
	struct qparam stack[64], *ps = stack;
	if (count > 64 && !(ps = malloc(count * sizeof(*ps))))
		return -1;
	size_t np = 0;
	for (const char *p = qs, *end = qs + qlen; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if (e > p)
			ps[np++] = (struct qparam){p, (size_t)(e - p)};
		p = e + 1;
	}
	qsort(ps, np, sizeof(ps[0]), qparam_cmp);
	out[n++] = '?';
	for (size_t i = 0; i < np; i++) {
		if (i)
			out[n++] = '&';
		memcpy(out + n, ps[i].p, ps[i].n);
		n += ps[i].n;
	}
	if (ps != stack)
		free(ps);
	return (int)n;
}
