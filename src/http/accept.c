/* accept.c - Accept-Encoding negotiation and compressible media types. */
#include "http/accept.h"

#include <string.h>
#include <strings.h>

#define STAR (-2) /* the "*" element, beside enum coding and -1 (unknown) */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(char c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ows(const char *p, const char *end)
{
	while (p < end && is_ows(*p))
		p++;
	return p;
}

static const char *skip_token(const char *p, const char *end)
{
	while (p < end && is_tchar(*p))
		p++;
	return p;
}

/* P is at a '"': the end of the quoted-string, or NULL if unterminated. */
static const char *skip_quoted(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* Resynchronise after a malformed element: the next ',' that is not inside
 * a quoted string, so a comma in a quoted parameter cannot start an
 * element. */
static const char *skip_element(const char *p, const char *end)
{
	while (p < end && *p != ',') {
		if (*p == '"') {
			p = skip_quoted(p, end);
			if (!p)
				return end;
		} else {
			p++;
		}
	}
	return p;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in
 * thousandths; -1 when S[0..E) is not one. */
static int parse_qvalue(const char *s, const char *e)
{
	if (s == e || (*s != '0' && *s != '1'))
		return -1;
	int q = (*s++ - '0') * 1000;
	if (s == e)
		return q;
	if (*s++ != '.' || e - s > 3)
		return -1;
	for (int scale = 100; s < e; s++, scale /= 10) {
		if (*s < '0' || *s > '9')
			return -1;
		q += (*s - '0') * scale;
	}
	return q <= 1000 ? q : -1;
}

/*
 * Parse the element at P up to the next ',' or END, and return where it
 * stopped. *WHICH is its enum coding, STAR or -1 (unknown coding); *Q is
 * its weight in thousandths, or -1 when the element is to be ignored.
 */
static const char *parse_element(const char *p, const char *end, int *which, int *q)
{
	*q = -1;
	p = skip_ows(p, end);
	const char *t = p;
	p = skip_token(p, end);
	if (p == t)
		return skip_element(p, end); /* empty element, or no token */
	*which = p - t == 1 && *t == '*' ? STAR : coding_parse(t, (size_t)(p - t));

	int weight = 1000;
	bool have_q = false;
	p = skip_ows(p, end);
	while (p < end && *p == ';') {
		p = skip_ows(p + 1, end);
		if (p == end || *p == ';' || *p == ',')
			continue; /* empty parameter */
		const char *name = p;
		p = skip_token(p, end);
		size_t nlen = (size_t)(p - name);
		p = skip_ows(p, end);
		if (nlen == 0 || p == end || *p != '=')
			return skip_element(p, end);
		p = skip_ows(p + 1, end);
		const char *v = p;
		if (p < end && *p == '"') {
			p = skip_quoted(p, end);
			if (!p)
				return end;
		} else {
			p = skip_token(p, end);
		}
		if (p == v)
			return skip_element(p, end);
		if (nlen == 1 && (*name | 0x20) == 'q') {
			/* A quoted or repeated q is not a weight. */
			weight = have_q ? -1 : parse_qvalue(v, p);
			if (weight < 0)
				return skip_element(p, end);
			have_q = true;
		}
		p = skip_ows(p, end);
	}
	if (p < end && *p != ',')
		return skip_element(p, end);
	*q = weight;
	return p;
}

int accept_encoding_choose(const char *val, size_t len, unsigned offer_mask,
			   const enum coding *pref, size_t npref)
{
	/* Weight of each coding and of "*" in thousandths, -1 when not listed. */
	int q[CODING__N], star = -1;
	for (int c = 0; c < CODING__N; c++)
		q[c] = -1;
	if (len == 0)
		return CODING_IDENTITY; /* see accept.h on the missing field */
	const char *p = val, *end = val + len;
	while (p < end) {
		int which = -1, w;
		p = parse_element(p, end, &which, &w);
		if (w >= 0 && which != -1) {
			int *slot = which == STAR ? &star : &q[which];
			if (w > *slot)
				*slot = w;
		}
		if (p < end)
			p++; /* the ',' */
	}

	int best = -1, best_q = 0;
	for (size_t i = 0; i < npref; i++) {
		enum coding c = pref[i];
		if (c <= CODING_IDENTITY || c >= CODING__N || !(offer_mask & 1u << c))
			continue;
		int qc = q[c] >= 0 ? q[c] : star >= 0 ? star : 0;
		if (qc > best_q) {
			best = c;
			best_q = qc;
		}
	}
	if (q[CODING_IDENTITY] < 0 && star < 0)
		return best >= 0 ? best : CODING_IDENTITY; /* identity as the fallback */
	int id_q = q[CODING_IDENTITY] >= 0 ? q[CODING_IDENTITY] : star;
	if (id_q > best_q)
		return CODING_IDENTITY;
	return best; /* -1 when identity;q=0 (or *;q=0) and no coding is left */
}

bool accept_type_matches(const char *ct, size_t ctlen, const char *const *patterns, size_t n)
{
	if (ctlen == 0)
		return false;
	const char *end = ct + ctlen, *t = skip_ows(ct, end), *p = skip_token(t, end);
	size_t tlen = (size_t)(p - t);
	if (tlen == 0 || p == end || *p != '/')
		return false;
	const char *s = p + 1;
	p = skip_token(s, end);
	size_t slen = (size_t)(p - s);
	p = skip_ows(p, end);
	if (slen == 0 || (p < end && *p != ';'))
		return false;

	for (size_t i = 0; i < n; i++) {
		const char *pt = patterns[i], *ps = strchr(pt, '/');
		if (!ps)
			continue;
		size_t ptlen = (size_t)(ps - pt), pslen = strlen(++ps);
		bool any_sub = pslen == 1 && *ps == '*';
		bool any_type = ptlen == 1 && *pt == '*' && any_sub;
		if ((any_type || (ptlen == tlen && strncasecmp(pt, t, tlen) == 0)) &&
		    (any_sub || (pslen == slen && strncasecmp(ps, s, slen) == 0)))
			return true;
	}
	return false;
}
