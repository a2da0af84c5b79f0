/* lang.c - Accept-Language ranges and weights, basic filtering (lang.h). */
#include "cache/lang.h"

#include <errno.h>
#include <strings.h>

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* ASCII only, whatever the locale (RFC 5234 ALPHA and DIGIT). */
static bool is_alpha(unsigned char c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool is_alnum(unsigned char c)
{
	return is_alpha(c) || (c >= '0' && c <= '9');
}

/* 1*8ALPHA *("-" 1*8alphanum): a language tag's or a basic range's syntax. */
bool lang_tag_valid(const char *v, size_t n)
{
	size_t sub = 0; /* length of the current subtag */
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '-') {
			if (sub == 0)
				return false;
			sub = 0;
			first = false;
			continue;
		}
		if (!(first ? is_alpha(c) : is_alnum(c)) || ++sub > 8)
			return false;
	}
	return sub > 0;
}

/* qvalue (RFC 9110 12.4.2) V[0..N) in thousandths, or -1. */
static int qvalue(const char *v, size_t n)
{
	if (n == 0 || (v[0] != '0' && v[0] != '1'))
		return -1;
	if (n > 1 && (v[1] != '.' || n > 5))
		return -1;
	int q = v[0] == '1' ? 1000 : 0, scale = 100;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (v[i] < '0' || v[i] > '9' || (v[0] == '1' && v[i] != '0'))
			return -1;
		q += (v[i] - '0') * scale;
	}
	return q;
}

int lang_prefs_add(struct lang_prefs *p, const char *v, size_t n)
{
	const char *s = v, *end = v + n;
	while (s < end) {
		const char *comma = s;
		while (comma < end && *comma != ',')
			comma++;
		const char *a = s, *b = comma;
		s = comma < end ? comma + 1 : end;
		while (a < b && is_ows(*a))
			a++;
		while (b > a && is_ows(b[-1]))
			b--;
		if (a == b)
			continue; /* an empty list member (RFC 9110 5.6.1) */
		const char *r = a;
		while (r < b && *r != ';' && !is_ows(*r))
			r++;
		size_t rlen = (size_t)(r - a);
		if (!(rlen == 1 && *a == '*') && !lang_tag_valid(a, rlen))
			return -EINVAL;
		int q = 1000;
		while (r < b && is_ows(*r))
			r++;
		if (r < b) {
			/* weight = OWS ";" OWS "q=" qvalue, and nothing after it */
			if (*r++ != ';')
				return -EINVAL;
			while (r < b && is_ows(*r))
				r++;
			if (b - r < 2 || (r[0] != 'q' && r[0] != 'Q') || r[1] != '=')
				return -EINVAL;
			q = qvalue(r + 2, (size_t)(b - r - 2));
			if (q < 0)
				return -EINVAL;
		}
		bool dup = false;
		for (unsigned i = 0; i < p->n; i++) {
			if (p->r[i].len == rlen && strncasecmp(p->r[i].p, a, rlen) == 0) {
				if (p->r[i].q != q)
					return -EINVAL;
				dup = true;
			}
		}
		if (dup)
			continue;
		if (p->n == LANG_RANGES_MAX)
			return -EINVAL;
		p->r[p->n++] = (struct lang_range){a, (uint16_t)rlen, (uint16_t)q};
		if (q > p->qmax)
			p->qmax = (uint16_t)q;
	}
	return 0;
}

unsigned lang_weight(const struct lang_prefs *p, const char *tag, size_t n)
{
	int best_len = -1;
	unsigned q = 0;
	for (unsigned i = 0; i < p->n; i++) {
		const struct lang_range *r = &p->r[i];
		int len;
		if (r->len == 1 && r->p[0] == '*')
			len = 0;
		else if (r->len <= n && strncasecmp(r->p, tag, r->len) == 0 &&
			 (r->len == n || tag[r->len] == '-'))
			len = r->len;
		else
			continue;
		if (len > best_len) {
			best_len = len;
			q = r->q;
		}
	}
	return q;
}

bool lang_is_best(const struct lang_prefs *p, const char *tag, size_t n)
{
	unsigned q = lang_weight(p, tag, n);
	return q > 0 && q == p->qmax;
}
