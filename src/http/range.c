/* range.c - Range and Content-Range (RFC 9110 14.1-14.4). */
#include "http/range.h"

#include <stdlib.h>
#include <strings.h>

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 1*DIGIT at *P: the value, saturated at UINT64_MAX (*SAT set), or false
 * when there is no digit. */
static bool read_num(const char **p, const char *end, uint64_t *out, bool *sat)
{
	const char *s = *p;
	uint64_t v = 0;
	*sat = false;
	while (s < end && is_digit(*s)) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			*sat = true;
		v = *sat ? UINT64_MAX : v * 10 + d;
		s++;
	}
	if (s == *p)
		return false;
	*p = s;
	*out = v;
	return true;
}

static int cmp_first(const void *a, const void *b)
{
	const struct byte_range *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

enum range_result range_resolve(const char *v, size_t n, uint64_t len, struct range_set *out)
{
	const char *p = v, *end = v + n;
	while (p < end && is_ows(*p))
		p++;
	while (end > p && is_ows(end[-1]))
		end--;
	if (end - p < 6 || strncasecmp(p, "bytes=", 6) != 0)
		return RANGE_IGNORE; /* another unit (or none): not ours to serve */
	p += 6;
	struct byte_range got[RANGE_SPECS_MAX];
	unsigned specs = 0, ngot = 0;
	for (;;) {
		/* #range-spec: empty elements and OWS around commas. */
		while (p < end && (is_ows(*p) || *p == ','))
			p++;
		if (p == end)
			break;
		if (++specs > RANGE_SPECS_MAX)
			return RANGE_IGNORE;
		uint64_t a, b;
		bool sat;
		if (*p == '-') { /* suffix-range */
			p++;
			if (!read_num(&p, end, &b, &sat))
				return RANGE_IGNORE;
			if (b > 0 && len > 0)
				got[ngot++] = (struct byte_range){b >= len ? 0 : len - b, len - 1};
		} else {
			if (!read_num(&p, end, &a, &sat) || sat || p == end || *p != '-')
				return RANGE_IGNORE;
			p++;
			b = UINT64_MAX;
			if (p < end && is_digit(*p)) {
				read_num(&p, end, &b, &sat);
				if (b < a)
					return RANGE_IGNORE; /* RFC 9110 14.1.1: invalid */
			}
			if (a < len)
				got[ngot++] = (struct byte_range){a, b >= len ? len - 1 : b};
		}
		while (p < end && is_ows(*p))
			p++;
		if (p < end && *p != ',')
			return RANGE_IGNORE;
	}
	if (specs == 0)
		return RANGE_IGNORE; /* "bytes=" alone: 1#range-spec needs one */
	if (ngot == 0)
		return RANGE_UNSATISFIABLE;
	qsort(got, ngot, sizeof(got[0]), cmp_first);
	unsigned k = 0;
	for (unsigned i = 1; i < ngot; i++) {
		/* Overlapping or adjacent: one range (last + 1 cannot wrap, last < len). */
		if (got[i].first <= got[k].last + 1) {
			if (got[i].last > got[k].last)
				got[k].last = got[i].last;
		} else {
			got[++k] = got[i];
		}
	}
	if (k + 1 > RANGE_MAX)
		return RANGE_IGNORE;
	out->n = k + 1;
	for (unsigned i = 0; i < out->n; i++)
		out->r[i] = got[i];
	return RANGE_PARTS;
}

bool content_range_parse(const char *v, size_t n, struct byte_range *r, uint64_t *complete)
{
	const char *p = v, *end = v + n;
	while (p < end && is_ows(*p))
		p++;
	while (end > p && is_ows(end[-1]))
		end--;
	if (end - p < 6 || strncasecmp(p, "bytes ", 6) != 0)
		return false;
	p += 6;
	uint64_t a, b, l;
	bool sat;
	if (!read_num(&p, end, &a, &sat) || sat || p == end || *p++ != '-')
		return false;
	if (!read_num(&p, end, &b, &sat) || sat || p == end || *p++ != '/')
		return false;
	if (!read_num(&p, end, &l, &sat) || sat || p != end)
		return false;
	if (a > b || b >= l)
		return false; /* RFC 9110 14.4: invalid */
	r->first = a;
	r->last = b;
	*complete = l;
	return true;
}
