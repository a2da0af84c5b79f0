/* match.c - which route a request takes (match.h). */
#include "route/match.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <assert.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

struct route_scratch {
	pcre2_match_data *md;
	size_t cap;
	char field[]; /* a joined field value */
};

struct route_scratch *route_scratch_new(size_t field_cap)
{
	struct route_scratch *s = malloc(sizeof(*s) + field_cap);
	if (!s)
		return NULL;
	if (!(s->md = pcre2_match_data_create(ROUTE_CAPS, NULL))) {
		free(s);
		return NULL;
	}
	s->cap = field_cap;
	return s;
}

void route_scratch_free(struct route_scratch *s)
{
	if (!s)
		return;
	pcre2_match_data_free(s->md);
	free(s);
}

unsigned route_regex_run(const struct config_regex *regex, const char *subject, size_t len,
			 struct route_scratch *s, struct tvalue caps[ROUTE_CAPS])
{
	int rc = pcre2_match(regex->re, (PCRE2_SPTR)subject, len, 0, 0, s->md, NULL);
	if (rc < 0)
		return 0; /* no match, or a match limit: never a route taken by error */
	unsigned n = rc == 0 ? ROUTE_CAPS : (unsigned)rc; /* 0: the ovector was too small */
	if (caps) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
		for (unsigned i = 0; i < n; i++) {
			if (ov[2 * i] == PCRE2_UNSET)
				caps[i] = (struct tvalue){NULL, 0};
			else
				caps[i] =
				    (struct tvalue){subject + ov[2 * i], ov[2 * i + 1] - ov[2 * i]};
		}
	}
	return n;
}

/* PAT (PL bytes, lower-cased at load) against the lower-cased Host. */
static bool host_matches(const char *pat, size_t pl, const char *h, size_t hl)
{
	if (pat[0] == '*') /* "*.example.com": a suffix, with a label before it */
		return hl > pl - 1 && !memcmp(h + hl - (pl - 1), pat + 1, pl - 1);
	return pl == hl && !memcmp(h, pat, pl);
}

/* Every line of NAME in M joined with ", " into the scratch; its length,
 * -1 when the field is absent, -2 when the joined value does not fit. */
static long joined_field(const struct hmsg *m, const char *name, struct route_scratch *s,
			 const char **out)
{
	size_t o = 0;
	bool any = false;
	const struct hfield *f0 = hmsg_field(m, name, 0);
	if (!f0)
		return -1;
	if (!hmsg_field(m, name, 1)) {
		/* One line, the usual case: its value as it is, no copy. */
		*out = hmsg_ptr(m, f0->value);
		return (long)f0->value.len;
	}
	*out = s->field;
	for (unsigned i = 0;; i++) {
		const struct hfield *f = hmsg_field(m, name, i);
		if (!f)
			break;
		size_t need = f->value.len + (any ? 2 : 0);
		if (need > s->cap - o)
			return -2;
		if (any) {
			memcpy(s->field + o, ", ", 2);
			o += 2;
		}
		memcpy(s->field + o, hmsg_ptr(m, f->value), f->value.len);
		o += f->value.len;
		any = true;
	}
	return any ? (long)o : -1;
}

/* Value of parameter NAME (first occurrence) in Q[0..QL): *V, *VL; false if absent. */
static bool query_param(const char *q, size_t ql, const char *name, size_t nl, const char **v,
			size_t *vl)
{
	const char *p = q, *end = q + ql;
	while (q && p <= end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(e - p));
		const char *ne = eq ? eq : e;
		if ((size_t)(ne - p) == nl && !memcmp(p, name, nl)) {
			*v = eq ? eq + 1 : e;
			*vl = (size_t)(e - *v);
			return true;
		}
		if (!amp)
			break;
		p = amp + 1;
	}
	return false;
}

/* One test on a value that is there (V, VL) or not (V NULL). */
static bool value_test(const struct config_field_test *t, const char *v, size_t vl,
		       struct route_scratch *s)
{
	if (t->absent)
		return v == NULL;
	if (!v)
		return false;
	if (t->equals)
		return t->equals_len == vl && !memcmp(t->equals, v, vl);
	if (t->regex.re)
		return route_regex_run(&t->regex, v, vl, s, NULL) > 0;
	return true;
}

static bool header_tests(const struct config_field_tests *ts, const struct hmsg *m,
			 struct route_scratch *s)
{
	for (size_t i = 0; i < ts->n; i++) {
		const struct config_field_test *t = &ts->v[i];
		const char *v = NULL;
		long l = joined_field(m, t->name, s, &v);
		if (l == -2)
			return false; /* too long to test: the route is not taken */
		if (!value_test(t, l >= 0 ? v : NULL, l >= 0 ? (size_t)l : 0, s))
			return false;
	}
	return true;
}

static bool query_tests(const struct config_field_tests *ts, const struct route_req *q,
			struct route_scratch *s)
{
	for (size_t i = 0; i < ts->n; i++) {
		const char *v = NULL;
		size_t vl = 0;
		if (!query_param(q->query, q->query_len, ts->v[i].name, ts->v[i].name_len, &v, &vl))
			v = NULL;
		if (!value_test(&ts->v[i], v, vl, s))
			return false;
	}
	return true;
}

/* The quick tests (config_route_quick): method, host, path, prefix. */
static bool quick_matches(const struct config_route_quick *k, const struct route_req *q)
{
	if (k->methods && !(k->methods & (1ull << (q->method & 63))))
		return false;
	if (k->host && !host_matches(k->host, k->host_len, q->host, q->host_len))
		return false;
	/* Paths start with "/": their second bytes tell most routes apart
	 * before a memcmp is called. */
	if (k->path &&
	    (k->path_len != q->path_len || (q->path_len > 1 && k->path[1] != q->path[1]) ||
	     memcmp(k->path, q->path, q->path_len)))
		return false;
	if (k->prefix &&
	    (q->path_len < k->prefix_len || (k->prefix_len > 1 && k->prefix[1] != q->path[1]) ||
	     memcmp(q->path, k->prefix, k->prefix_len)))
		return false;
	return true;
}

/* The rest, for a route whose quick tests held: cheap ones, regexes last. */
static bool more_matches(const struct config_match *mt, const struct route_req *q,
			 struct route_scratch *s, struct route_match *out)
{
	if (mt->clients.n && !(q->client && config_cidrs_match(&mt->clients, q->client)))
		return false;
	if (!header_tests(&mt->headers, q->m, s) || !query_tests(&mt->queries, q, s))
		return false;
	if (mt->host_regex.re &&
	    !(out->n_caps = route_regex_run(&mt->host_regex, q->host, q->host_len, s, out->caps)))
		return false;
	if (mt->path_regex.re &&
	    !(out->n_caps = route_regex_run(&mt->path_regex, q->path, q->path_len, s, out->caps)))
		return false;
	return true;
}

const struct config_route *route_find(const struct config *cfg, const struct route_req *q,
				      struct route_scratch *s, struct route_match *out)
{
	out->route = NULL;
	out->n_caps = 0;
	assert(!cfg->n_routes || cfg->route_quick);
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct config_route_quick *k = &cfg->route_quick[i];
		if (!quick_matches(k, q))
			continue;
		out->n_caps = 0;
		if (k->more && !more_matches(&cfg->routes[i].match, q, s, out))
			continue;
		return out->route = &cfg->routes[i];
	}
	out->n_caps = 0;
	return NULL;
}

const struct config_rule *route_cache_rule(const struct config *cfg, const struct config_route *r,
					   const char *host, size_t hlen, const char *path,
					   size_t plen)
{
	if (r && r->has_cache)
		return &r->cache;
	if (r && r->cache_rule >= 0)
		return &cfg->cache.rules[r->cache_rule];
	return config_rule_match(cfg, host, hlen, path, plen);
}
