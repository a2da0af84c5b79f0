/*
 * fuzz_cache_control.c - libFuzzer harness for src/cache/cc.c
 * (Cache-Control, CDN-Cache-Control, Pragma, Age) and the RFC 9111
 * decisions in src/cache/policy.c that consume them, with a fixed clock;
 * also src/cache/hdrs.c lookups.
 *
 * The input is a header block, one "Name: value" per line, e.g.
 *   Cache-Control: max-age=60, stale-while-revalidate=30
 *   Age: 10
 *   req Cache-Control: max-stale
 *   status: 203
 * Every value, whatever its name, goes through cc_parse, cc_parse_age and
 * cc_pragma_no_cache as raw bytes. Then a response head (lines without
 * prefix, status from "status:") and a request head ("req " lines) are
 * built from the same lines, parsed with hmsg and handed to policy_*; the
 * raw block itself is searched with hdrs_find.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"

#include "cache/cc.h"
#include "cache/hdrs.h"
#include "cache/policy.h"

#define NOW_S	  1735689600LL /* 2025-01-01T00:00:00Z */
#define DELTA_MAX 2147483648LL
#define MAX_LINES 64

static void check_names(const struct cc_names *l)
{
	FZ_CHECK(l->n <= CC_FIELDS_MAX);
	for (unsigned i = 0; i < l->n; i++) {
		size_t len = strnlen(l->name[i], sizeof(l->name[i]));
		FZ_CHECK(len > 0 && len < sizeof(l->name[i]));
		char up[32];
		for (size_t j = 0; j <= len; j++) {
			char ch = l->name[i][j];
			FZ_CHECK(!(ch >= 'A' && ch <= 'Z'));
			up[j] = ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
		}
		FZ_CHECK(cc_names_has(l, l->name[i], len));
		FZ_CHECK(cc_names_has(l, up, len));
	}
}

/* What cc.h promises about any parse result. */
static void check_cc(const struct cache_control *cc)
{
	for (int i = 0; i < CC_N_DELTA; i++) {
		FZ_CHECK(cc->delta[i] == CC_UNSET ||
			 (cc->delta[i] >= 0 && cc->delta[i] <= DELTA_MAX));
		if (cc->invalid & (1u << i))
			FZ_CHECK(cc->delta[i] == CC_UNSET);
	}
	FZ_CHECK((cc->invalid >> CC_N_DELTA) == 0);
	FZ_CHECK((cc->flags & ~((CC_MAX_STALE_ANY << 1) - 1)) == 0);
	if (cc->flags & CC_NO_CACHE_FIELDS)
		FZ_CHECK(cc->no_cache_fields.n > 0);
	if (cc->flags & CC_PRIVATE_FIELDS)
		FZ_CHECK(cc->private_fields.n > 0);
	check_names(&cc->no_cache_fields);
	check_names(&cc->private_fields);
}

static bool cc_equal(const struct cache_control *a, const struct cache_control *b)
{
	if (a->flags != b->flags || a->invalid != b->invalid || a->present != b->present ||
	    memcmp(a->delta, b->delta, sizeof(a->delta)) != 0 ||
	    a->no_cache_fields.n != b->no_cache_fields.n ||
	    a->private_fields.n != b->private_fields.n)
		return false;
	for (unsigned i = 0; i < a->no_cache_fields.n; i++) {
		if (strcmp(a->no_cache_fields.name[i], b->no_cache_fields.name[i]) != 0)
			return false;
	}
	for (unsigned i = 0; i < a->private_fields.n; i++) {
		if (strcmp(a->private_fields.name[i], b->private_fields.name[i]) != 0)
			return false;
	}
	return true;
}

/* The raw value as one field line: the parse must be well-formed, and
 * empty list elements and OWS around it must not change it (RFC 9110
 * 5.6.1). */
static void raw_value(const char *v, size_t len)
{
	struct cache_control a, b;
	cc_init(&a);
	cc_parse(&a, v, len);
	check_cc(&a);

	char *padded = malloc(len + 6);
	FZ_CHECK(padded);
	memcpy(padded, ", \t", 3);
	memcpy(padded + 3, v, len);
	memcpy(padded + 3 + len, " ,\t", 3);
	cc_init(&b);
	cc_parse(&b, padded, len + 6);
	FZ_CHECK(cc_equal(&a, &b));
	free(padded);

	int64_t age = -1;
	int r = cc_parse_age(v, len, &age);
	FZ_CHECK(r == 1 || r == 0 || r == -EINVAL);
	if (r == 1)
		FZ_CHECK(age >= 0 && age <= DELTA_MAX);
	else
		FZ_CHECK(age == -1);
	/* Only the first member counts: a member added after it changes
	 * nothing (RFC 9111 5.1). */
	char *more = malloc(len + 4);
	FZ_CHECK(more);
	memcpy(more, v, len);
	memcpy(more + len, ",999", 4);
	int64_t age2 = -1;
	int r2 = cc_parse_age(more, len + 4, &age2);
	if (r != 0)
		FZ_CHECK(r2 == r && age2 == age);
	free(more);
	(void)cc_pragma_no_cache(v, len);
}

/* One "Name: value" line of the input: a field of the response or, with
 * "req " before the name, of the request. */
struct line {
	const char *name, *value;
	size_t name_len, value_len;
	bool req;
};

static size_t split_lines(const char *s, size_t n, struct line *out, int *status)
{
	size_t count = 0;
	const char *p = s, *end = s + n;
	while (p < end && count < MAX_LINES) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (colon) {
			struct line l = {.name = p, .name_len = (size_t)(colon - p)};
			if (l.name_len > 4 && memcmp(p, "req ", 4) == 0) {
				l.req = true;
				l.name += 4;
				l.name_len -= 4;
			}
			l.value = colon + 1;
			l.value_len = (size_t)(eol - l.value);
			while (l.value_len && (*l.value == ' ' || *l.value == '\t')) {
				l.value++;
				l.value_len--;
			}
			if (l.name_len == 6 && memcmp(l.name, "status", 6) == 0 &&
			    l.value_len == 3 && l.value[0] >= '1' && l.value[0] <= '9' &&
			    l.value[1] >= '0' && l.value[1] <= '9' && l.value[2] >= '0' &&
			    l.value[2] <= '9')
				*status = (l.value[0] - '0') * 100 + (l.value[1] - '0') * 10 +
					  (l.value[2] - '0');
			out[count++] = l;
		}
		p = eol + 1;
	}
	return count;
}

/* Append a field line to a head under construction, with bytes llhttp
 * would refuse in a name or value replaced, so that the policy code sees
 * the fuzzer's values rather than a parse error. */
static void put_field(char *h, size_t *len, const struct line *l)
{
	for (size_t i = 0; i < l->name_len; i++) {
		char c = l->name[i];
		bool tchar = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
		h[(*len)++] = tchar && c ? c : 'x';
	}
	if (l->name_len == 0)
		h[(*len)++] = 'x';
	h[(*len)++] = ':';
	h[(*len)++] = ' ';
	for (size_t i = 0; i < l->value_len; i++) {
		unsigned char c = (unsigned char)l->value[i];
		h[(*len)++] = (char)(c == '\t' || (c >= 0x20 && c != 0x7f) ? c : ' ');
	}
	memcpy(h + *len, "\r\n", 2);
	*len += 2;
}

static bool parse_head(struct hmsg *m, enum hmsg_kind kind, char *h, size_t len,
		       struct hfield *fields)
{
	hmsg_init(m, kind, fields, MAX_LINES + 2, 1u << 20);
	hmsg_next(m, h, 0);
	long n = hmsg_feed(m, 0, (uint32_t)len);
	return n >= 0 && m->headers_done;
}

static void policy(const struct line *lines, size_t count, int status)
{
	size_t cap = 64;
	for (size_t i = 0; i < count; i++)
		cap += lines[i].name_len + lines[i].value_len + 8;
	char *resp = malloc(cap), *req = malloc(cap);
	FZ_CHECK(resp && req);
	size_t rl = (size_t)snprintf(resp, cap, "HTTP/1.1 %d X\r\n", status);
	size_t ql = (size_t)snprintf(req, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (size_t i = 0; i < count; i++) {
		if (lines[i].req)
			put_field(req, &ql, &lines[i]);
		else if (!(lines[i].name_len == 6 && memcmp(lines[i].name, "status", 6) == 0))
			put_field(resp, &rl, &lines[i]);
	}
	memcpy(resp + rl, "\r\n", 2);
	memcpy(req + ql, "\r\n", 2);
	rl += 2;
	ql += 2;
	FZ_CHECK(rl <= cap && ql <= cap);

	struct hfield rf[MAX_LINES + 2], qf[MAX_LINES + 2];
	struct hmsg rm_msg, rq_msg;
	/* Refused heads (e.g. two Content-Length fields) never reach policy. */
	if (parse_head(&rm_msg, HMSG_RESPONSE, resp, rl, rf) &&
	    parse_head(&rq_msg, HMSG_REQUEST, req, ql, qf)) {
		struct req_meta rq;
		struct resp_meta rm;
		policy_req_meta(&rq_msg, &rq);
		policy_meta_from_response(&rm_msg, NOW_S * 1000 - 1500, NOW_S * 1000, &rm);
		check_cc(&rq.cc);
		check_cc(&rm.cc);
		FZ_CHECK(rm.status == status);
		FZ_CHECK(rm.age >= 0 && rm.age <= DELTA_MAX);
		FZ_CHECK(rm.response_delay_ms == 1500);

		struct policy_knobs k = {.ttl_override = POLICY_NONE,
					 .default_ttl = 0,
					 .heuristic_percent = 10,
					 .heuristic_max = 86400,
					 .grace = 30};
		enum storable s = policy_storable(&rq, &rm, &k);
		FZ_CHECK(policy_storable_name(s) != NULL);
		if (s == STORE_OK)
			FZ_CHECK(!(rq.cc.flags & CC_NO_STORE) && !(rm.cc.flags & CC_PRIVATE));
		int64_t life = policy_lifetime(&rm, &k);
		FZ_CHECK(life >= 0);
		struct policy_knobs k2 = k;
		k2.ttl_override = 3600;
		k2.default_ttl = 60;
		FZ_CHECK(policy_lifetime(&rm, &k2) == 3600);
		(void)policy_storable(&rq, &rm, &k2);

		/* Fresh is a prefix of time: once stale, never fresh again. */
		static const int64_t later[] = {0, 1, 59, 3600, 86400, 86400 * 365, 1LL << 33};
		bool was_fresh = true;
		int64_t prev_age = -1;
		for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
			int64_t now = NOW_S + later[i];
			int64_t age = policy_age(&rm, now);
			FZ_CHECK(age >= 0 && age >= prev_age);
			prev_age = age;
			enum usable u = policy_usable(&rq, &rm, life, false, now);
			FZ_CHECK(u == USE_FRESH || u == USE_STALE_OK || u == USE_STALE_REVALIDATE ||
				 u == USE_REVALIDATE);
			if (u == USE_FRESH) {
				FZ_CHECK(was_fresh);
				FZ_CHECK(life > age);
				FZ_CHECK(!(rm.cc.flags & CC_NO_CACHE) &&
					 !(rq.cc.flags & CC_NO_CACHE));
				FZ_CHECK(!rq.pragma_no_cache);
			}
			was_fresh = u == USE_FRESH;
			/* A soft purge makes it stale, never fresher. */
			enum usable soft = policy_usable(&rq, &rm, life, true, now);
			FZ_CHECK(soft != USE_FRESH);
			bool soe = policy_stale_on_error(&rq, &rm, life, k.grace, true, now);
			if (rm.cc.flags & CC_NO_CACHE)
				FZ_CHECK(!soe);
			/* An answering origin allows no more stale than a gone one. */
			bool soe5 = policy_stale_on_error(&rq, &rm, life, k.grace, false, now);
			FZ_CHECK(!soe5 || soe);
		}

		/* The stored block and lookups in it. */
		char stored[65536];
		struct hbuf b;
		hbuf_init(&b, stored, sizeof(stored));
		hdrs_from_response(&b, &rm_msg, &rm.cc);
		size_t vl;
		if (!b.overflow && (rm.cc.flags & CC_PRIVATE_FIELDS)) {
			for (unsigned i = 0; i < rm.cc.private_fields.n; i++)
				FZ_CHECK(!hdrs_find(stored, b.len, rm.cc.private_fields.name[i], 0,
						    &vl));
		}
		FZ_CHECK(!hdrs_find(stored, b.len, "age", 0, &vl));
	}
	free(resp);
	free(req);
}

/* hdrs_find over the raw input as a stored header block. */
static void find_all(const char *s, size_t n, const struct line *lines, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		char name[64];
		if (lines[i].req || lines[i].name_len >= sizeof(name) ||
		    memchr(lines[i].name, '\0', lines[i].name_len))
			continue;
		memcpy(name, lines[i].name, lines[i].name_len);
		name[lines[i].name_len] = '\0';
		size_t vl;
		for (unsigned nth = 0; nth < 4; nth++) {
			const char *v = hdrs_find(s, n, name, nth, &vl);
			if (!v)
				break;
			FZ_CHECK(v >= s && v + vl <= s + n);
			FZ_CHECK(vl == 0 || (v[0] != ' ' && v[0] != '\t' && v[vl - 1] != ' ' &&
					     v[vl - 1] != '\t'));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	const char *s = (const char *)data;
	struct line lines[MAX_LINES];
	int status = 200;
	size_t count = split_lines(s, size, lines, &status);

	/* All values as consecutive lines of one field, then each alone. */
	struct cache_control all;
	cc_init(&all);
	for (size_t i = 0; i < count; i++) {
		cc_parse(&all, lines[i].value, lines[i].value_len);
		raw_value(lines[i].value, lines[i].value_len);
	}
	check_cc(&all);
	raw_value(s, size);

	find_all(s, size, lines, count);
	policy(lines, count, status);
	return 0;
}
