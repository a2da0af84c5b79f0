/* match.c - which route a request takes (match.h). */
#include "route/match.h"

#define PCRE2_CODE_UNIT_WIDTH 8
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

static bool host_matches(const char *pat, const char *h, size_t hl)
{
	/* Patterns are checked at load; Hosts are compared lower-cased. */
	if (pat[0] == '*') {
		size_t sl = strlen(pat + 1); /* ".example.com" */
		if (hl <= sl)
			return false;
		for (size_t i = 0; i < sl; i++) {
			char c = pat[1 + i];
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			if (h[hl - sl + i] != c)
				return false;
		}
		return true;
	}
	size_t pl = strlen(pat);
	if (pl != hl)
		return false;
	for (size_t i = 0; i < pl; i++) {
		char c = pat[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (h[i] != c)
			return false;
	}
	return true;
}

/* Every line of NAME in M joined with ", " into the scratch; its length,
 * -1 when the field is absent, -2 when the joined value does not fit. */
static long joined_field(const struct hmsg *m, const char *name, struct route_scratch *s)
{
	size_t o = 0;
	bool any = false;
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
static bool query_param(const char *q, size_t ql, const char *name, const char **v, size_t *vl)
{
	size_t nl = strlen(name);
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
		return strlen(t->equals) == vl && !memcmp(t->equals, v, vl);
	if (t->regex.re)
		return route_regex_run(&t->regex, v, vl, s, NULL) > 0;
	return true;
}

static bool header_tests(const struct config_field_tests *ts, const struct hmsg *m,
			 struct route_scratch *s)
{
	for (size_t i = 0; i < ts->n; i++) {
		const struct config_field_test *t = &ts->v[i];
		long l = joined_field(m, t->name, s);
		if (l == -2)
			return false; /* too long to test: the route is not taken */
		if (!value_test(t, l >= 0 ? s->field : NULL, l >= 0 ? (size_t)l : 0, s))
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
		if (!query_param(q->query, q->query_len, ts->v[i].name, &v, &vl))
			v = NULL;
		if (!value_test(&ts->v[i], v, vl, s))
			return false;
	}
	return true;
}

/* Cheap tests first, regexes last. */
static bool route_matches(const struct config_route *r, const struct route_req *q,
			  struct route_scratch *s, struct route_match *out)
{
	const struct config_match *mt = &r->match;
	if (mt->methods && !(mt->methods & (1ull << (q->method & 63))))
		return false;
	if (mt->host && !host_matches(mt->host, q->host, q->host_len))
		return false;
	if (mt->path && (strlen(mt->path) != q->path_len || memcmp(mt->path, q->path, q->path_len)))
		return false;
	if (mt->path_prefix) {
		size_t pl = strlen(mt->path_prefix);
		if (q->path_len < pl || memcmp(q->path, mt->path_prefix, pl))
			return false;
	}
	if (mt->clients.n && !(q->client && config_cidrs_match(&mt->clients, q->client)))
		return false;
	if (!header_tests(&mt->headers, q->m, s) || !query_tests(&mt->queries, q, s))
		return false;
	out->n_caps = 0;
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
	for (size_t i = 0; i < cfg->n_routes; i++) {
		if (route_matches(&cfg->routes[i], q, s, out))
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
