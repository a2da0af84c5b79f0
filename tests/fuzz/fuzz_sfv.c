/*
 * fuzz_sfv.c - libFuzzer harness for src/http/sfv.c (RFC 8941 Dictionary
 * parsing) and its use for CDN-Cache-Control in src/cache/cc.c
 * (cc_parse_sf).
 *
 * The input is one field value. Checks: parsing with and without a
 * callback agrees; every span lies inside the input; events come in a
 * legal order (inner items only inside an inner list); keys, tokens,
 * numbers, strings and byte sequences obey RFC 8941's grammar; a valid
 * dictionary serialized canonically (RFC 8941 4.1) parses again to the
 * same serialization; cc_parse_sf accepts only valid dictionaries and
 * leaves its output untouched otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"

#include "cache/cc.h"
#include "http/sfv.h"

struct st {
	const char *in, *end;
	char *out;
	size_t len, cap;
	unsigned members, items;
	bool in_list, after_member; /* a PARAM may follow */
};

static bool inside(const struct st *s, const char *p, size_t n)
{
	return p >= s->in && p + n <= s->end;
}

static void put(struct st *s, const char *p, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2 + 64;
		s->out = realloc(s->out, s->cap);
		FZ_CHECK(s->out);
	}
	memcpy(s->out + s->len, p, n);
	s->len += n;
}

static void check_key(const struct st *s, const char *k, size_t n)
{
	FZ_CHECK(n > 0 && inside(s, k, n));
	FZ_CHECK((k[0] >= 'a' && k[0] <= 'z') || k[0] == '*');
	for (size_t i = 0; i < n; i++)
		FZ_CHECK((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') ||
			 strchr("_-.*", k[i]));
}

static void item(struct st *s, const struct sfv_item *v)
{
	char num[48];
	int n;
	switch (v->type) {
	case SFV_INTEGER:
		FZ_CHECK(v->num >= -999999999999999LL && v->num <= 999999999999999LL);
		n = snprintf(num, sizeof(num), "%" PRId64, v->num);
		put(s, num, (size_t)n);
		break;
	case SFV_DECIMAL: {
		FZ_CHECK(v->num >= -999999999999999LL && v->num <= 999999999999999LL);
		int64_t a = v->num < 0 ? -v->num : v->num;
		n = snprintf(num, sizeof(num), "%s%" PRId64 ".%03" PRId64, v->num < 0 ? "-" : "",
			     a / 1000, a % 1000);
		while (num[n - 1] == '0' && num[n - 2] != '.')
			n--;
		put(s, num, (size_t)n);
		break;
	}
	case SFV_STRING:
		FZ_CHECK(inside(s, v->str, v->len));
		for (size_t i = 0; i < v->len; i++)
			FZ_CHECK(v->str[i] >= 0x20 && v->str[i] < 0x7f);
		put(s, "\"", 1);
		put(s, v->str, v->len);
		put(s, "\"", 1);
		break;
	case SFV_TOKEN:
		FZ_CHECK(v->len > 0 && inside(s, v->str, v->len));
		put(s, v->str, v->len);
		break;
	case SFV_BYTES:
		FZ_CHECK(inside(s, v->str, v->len) && memchr(v->str, ':', v->len) == NULL);
		put(s, ":", 1);
		put(s, v->str, v->len);
		put(s, ":", 1);
		break;
	case SFV_BOOLEAN:
		FZ_CHECK(v->num == 0 || v->num == 1);
		put(s, v->num ? "?1" : "?0", 2);
		break;
	case SFV_INNER_LIST:
		FZ_CHECK(0);
	}
}

static int cb(void *arg, const struct sfv_event *e)
{
	struct st *s = arg;
	switch (e->kind) {
	case SFV_MEMBER:
		FZ_CHECK(!s->in_list);
		check_key(s, e->key, e->key_len);
		if (s->members++)
			put(s, ", ", 2);
		put(s, e->key, e->key_len);
		if (e->value.type == SFV_INNER_LIST) {
			put(s, "=(", 2);
			s->in_list = true;
			s->items = 0;
			s->after_member = false;
		} else {
			FZ_CHECK(inside(s, e->raw, e->raw_len) && e->raw == e->key);
			if (!(e->value.type == SFV_BOOLEAN && e->value.num == 1)) {
				put(s, "=", 1);
				item(s, &e->value);
			}
			s->after_member = true;
		}
		break;
	case SFV_INNER_ITEM:
		FZ_CHECK(s->in_list);
		if (s->items++)
			put(s, " ", 1);
		item(s, &e->value);
		s->after_member = true;
		break;
	case SFV_INNER_END:
		FZ_CHECK(s->in_list);
		s->in_list = false;
		put(s, ")", 1);
		s->after_member = true;
		break;
	case SFV_PARAM:
		FZ_CHECK(s->after_member);
		check_key(s, e->key, e->key_len);
		FZ_CHECK(e->value.type != SFV_INNER_LIST);
		put(s, ";", 1);
		put(s, e->key, e->key_len);
		if (!(e->value.type == SFV_BOOLEAN && e->value.num == 1)) {
			put(s, "=", 1);
			item(s, &e->value);
		}
		break;
	}
	return 0;
}

static int parse(const char *p, size_t n, struct st *s)
{
	memset(s, 0, sizeof(*s));
	s->in = p;
	s->end = p + n;
	int rc = sfv_parse_dict(p, n, cb, s);
	FZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc == 0)
		FZ_CHECK(!s->in_list);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;
	const char *in = (const char *)data;
	struct st a, b;
	int rc = parse(in, size, &a);
	FZ_CHECK(sfv_parse_dict(in, size, NULL, NULL) == rc);
	if (rc == 0) {
		/* The canonical form parses to itself. */
		FZ_CHECK(parse(a.out ? a.out : "", a.len, &b) == 0);
		FZ_CHECK(a.len == b.len && (a.len == 0 || memcmp(a.out, b.out, a.len) == 0));
		free(b.out);
	}
	free(a.out);

	struct cache_control cc;
	cc_init(&cc);
	cc.flags = CC_IMMUTABLE;
	bool ok = cc_parse_sf(&cc, in, size);
	if (rc != 0)
		FZ_CHECK(!ok && cc.flags == CC_IMMUTABLE && !cc.present);
	if (ok) {
		FZ_CHECK(cc.present && cc.invalid == 0);
		for (int i = 0; i < CC_N_DELTA; i++)
			FZ_CHECK(cc.delta[i] == CC_UNSET ||
				 (cc.delta[i] >= 0 && cc.delta[i] <= 2147483648LL));
	}

	/* Joined with itself as a second field line. */
	char *j = malloc(2 * size + 2);
	size_t jl = 0;
	FZ_CHECK(j);
	FZ_CHECK(sfv_join(j, 2 * size + 2, &jl, in, size));
	FZ_CHECK(sfv_join(j, 2 * size + 2, &jl, in, size));
	FZ_CHECK(jl == (size ? 2 * size + 2 : 0));
	(void)sfv_parse_dict(j, jl, NULL, NULL);
	free(j);
	return 0;
}
