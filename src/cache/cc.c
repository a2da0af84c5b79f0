/*
 * cc.c - Cache-Control / CDN-Cache-Control / Pragma / Age parsing.
 *
 * One pass over the field value with a small list tokenizer (RFC 9110
 * 5.6.1-5.6.4): elements are token [ "=" ( token / quoted-string ) ], split
 * on commas outside quoted strings. No allocation, no locale: this runs on
 * every request and response.
 */
#include "cache/cc.h"

#include <errno.h>
#include <string.h>

#include "http/sfv.h"

/* RFC 9111 1.2.2: larger delta-seconds are taken as 2^31. */
#define DELTA_MAX 2147483648LL

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return true;
	switch (c) {
	case '!':
	case '#':
	case '$':
	case '%':
	case '&':
	case '\'':
	case '*':
	case '+':
	case '-':
	case '.':
	case '^':
	case '_':
	case '`':
	case '|':
	case '~':
		return true;
	default:
		return false;
	}
}

/* qdtext minus '"' and '\' (RFC 9110 5.6.4): HTAB, SP, VCHAR, obs-text. */
static bool is_qdtext(char c)
{
	unsigned char u = (unsigned char)c;
	return u == '\t' || (u >= 0x20 && u != 0x7f);
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive equality (strncasecmp follows the locale). */
static bool ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		if (lower(a[i]) != lower(b[i]))
			return false;
	}
	return true;
}

enum vkind { V_NONE, V_TOKEN, V_QUOTED };

struct elem {
	const char *name;
	size_t name_len;
	const char *val; /* quoted: the text between the quotes, escapes kept */
	size_t val_len;
	enum vkind kind;
	bool bad; /* not token [ "=" ( token / quoted-string ) ] */
};

/* Past the element starting at P: up to the next comma outside a quoted
 * string, so a malformed element cannot swallow or forge its neighbours. */
static size_t skip_elem(const char *s, size_t len, size_t p)
{
	bool quoted = false;
	for (; p < len; p++) {
		if (quoted) {
			if (s[p] == '\\')
				p++;
			else if (s[p] == '"')
				quoted = false;
		} else if (s[p] == '"') {
			quoted = true;
		} else if (s[p] == ',') {
			return p;
		}
	}
	return len;
}

/* Next list element of S[*POS..LEN); false at the end. Empty elements and
 * OWS around commas are skipped (RFC 9110 5.6.1). */
static bool next_elem(const char *s, size_t len, size_t *pos, struct elem *e)
{
	size_t p = *pos;
	while (p < len && (is_ows(s[p]) || s[p] == ','))
		p++;
	if (p >= len) {
		*pos = p;
		return false;
	}
	size_t start = p;
	*e = (struct elem){.name = s + p};
	while (p < len && is_tchar(s[p]))
		p++;
	e->name_len = p - start;
	if (e->name_len == 0)
		goto bad;
	/* No OWS around "=" (RFC 9111 5.2 grammar): "max-age = 5" is malformed. */
	if (p < len && s[p] == '=') {
		p++;
		size_t vs = p;
		if (p < len && s[p] == '"') {
			vs = ++p;
			for (;;) {
				if (p >= len)
					goto bad; /* unterminated */
				if (s[p] == '"')
					break;
				if (s[p] == '\\')
					p++;
				if (p >= len || !is_qdtext(s[p]))
					goto bad;
				p++;
			}
			e->kind = V_QUOTED;
			e->val = s + vs;
			e->val_len = p++ - vs;
		} else {
			while (p < len && is_tchar(s[p]))
				p++;
			if (p == vs)
				goto bad;
			e->kind = V_TOKEN;
			e->val = s + vs;
			e->val_len = p - vs;
		}
	}
	while (p < len && is_ows(s[p]))
		p++;
	if (p < len && s[p] != ',')
		goto bad;
	*pos = p;
	return true;
bad:
	e->bad = true;
	e->kind = V_NONE;
	*pos = skip_elem(s, len, start);
	return true;
}

/* 1*DIGIT, clamped to 2^31. */
static bool parse_delta(const char *s, size_t n, int64_t *out)
{
	if (n == 0)
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		if (v <= DELTA_MAX) /* stays far below INT64_MAX */
			v = v * 10 + (s[i] - '0');
	}
	*out = v > DELTA_MAX ? DELTA_MAX : v;
	return true;
}

enum dkind { D_FLAG, D_DELTA, D_FIELDS };

struct directive {
	const char *name;
	unsigned char len;
	unsigned char kind; /* enum dkind */
	/* Flags that only restrict reuse are honoured even when malformed
	 * ("no-store=x", "no-store junk"): misreading them is the safe side.
	 * Permissive ones (public, immutable...) must be well-formed. */
	bool restrictive;
	uint32_t flag;	    /* D_FLAG, D_FIELDS (the unqualified flag) */
	enum cc_delta slot; /* D_DELTA */
};

#define NAME(s) .name = s, .len = sizeof(s) - 1

static const struct directive directives[] = {
    {NAME("max-age"), .kind = D_DELTA, .slot = CC_MAX_AGE},
    {NAME("no-cache"), .kind = D_FIELDS, .restrictive = true, .flag = CC_NO_CACHE},
    {NAME("no-store"), .kind = D_FLAG, .restrictive = true, .flag = CC_NO_STORE},
    {NAME("private"), .kind = D_FIELDS, .restrictive = true, .flag = CC_PRIVATE},
    {NAME("public"), .kind = D_FLAG, .flag = CC_PUBLIC},
    {NAME("s-maxage"), .kind = D_DELTA, .slot = CC_S_MAXAGE},
    {NAME("must-revalidate"), .kind = D_FLAG, .restrictive = true, .flag = CC_MUST_REVALIDATE},
    {NAME("proxy-revalidate"), .kind = D_FLAG, .restrictive = true, .flag = CC_PROXY_REVALIDATE},
    {NAME("no-transform"), .kind = D_FLAG, .restrictive = true, .flag = CC_NO_TRANSFORM},
    {NAME("immutable"), .kind = D_FLAG, .flag = CC_IMMUTABLE},
    {NAME("stale-while-revalidate"), .kind = D_DELTA, .slot = CC_STALE_WHILE_REVALIDATE},
    {NAME("stale-if-error"), .kind = D_DELTA, .slot = CC_STALE_IF_ERROR},
    {NAME("only-if-cached"), .kind = D_FLAG, .flag = CC_ONLY_IF_CACHED},
    {NAME("max-stale"), .kind = D_DELTA, .slot = CC_MAX_STALE},
    {NAME("min-fresh"), .kind = D_DELTA, .slot = CC_MIN_FRESH},
    {NAME("must-understand"), .kind = D_FLAG, .flag = CC_MUST_UNDERSTAND},
};

static const struct directive *lookup(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++) {
		if (ieq(name, len, directives[i].name, directives[i].len))
			return &directives[i];
	}
	return NULL;
}

static bool names_add(struct cc_names *l, const char *name, size_t len)
{
	if (cc_names_has(l, name, len))
		return true;
	if (l->n >= CC_FIELDS_MAX || len >= sizeof(l->name[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		l->name[l->n][i] = lower(name[i]);
	l->name[l->n][len] = '\0';
	l->n++;
	return true;
}

/* Field-name list of no-cache / private: a token, or a quoted
 * #field-name. False when it cannot be recorded in full (empty, malformed,
 * too many or too long names); the caller then falls back to the
 * unqualified directive, which is the stricter reading. */
static bool parse_fields(struct cc_names *l, const struct elem *e)
{
	if (e->kind == V_TOKEN)
		return names_add(l, e->val, e->val_len);
	size_t p = 0, n = e->val_len;
	const char *s = e->val;
	bool any = false;
	while (p < n) {
		while (p < n && (is_ows(s[p]) || s[p] == ','))
			p++;
		size_t st = p;
		while (p < n && is_tchar(s[p]))
			p++;
		if (p > st) {
			if (!names_add(l, s + st, p - st))
				return false;
			any = true;
		}
		while (p < n && is_ows(s[p]))
			p++;
		if (p < n && s[p] != ',')
			return false;
	}
	return any;
}

static void set_delta(struct cache_control *cc, enum cc_delta slot, bool ok, int64_t v)
{
	uint32_t bit = 1u << slot;
	if (cc->invalid & bit)
		return;
	/* Conflicting repeats: RFC 9111 4.2.1 allows "first wins" or "stale";
	 * we take the stricter one, for every delta directive. */
	if (!ok || (cc->delta[slot] != CC_UNSET && cc->delta[slot] != v)) {
		cc->invalid |= bit;
		cc->delta[slot] = CC_UNSET;
		return;
	}
	cc->delta[slot] = v;
}

void cc_init(struct cache_control *cc)
{
	memset(cc, 0, sizeof(*cc));
	for (int i = 0; i < CC_N_DELTA; i++)
		cc->delta[i] = CC_UNSET;
}

void cc_parse(struct cache_control *cc, const char *value, size_t len)
{
	cc->present = true;
	size_t pos = 0;
	struct elem e;
	while (next_elem(value, len, &pos, &e)) {
		const struct directive *d = lookup(e.name, e.name_len);
		if (!d)
			continue; /* extensions are ignored (RFC 9111 5.2.3) */
		switch (d->kind) {
		case D_FLAG:
			if (d->restrictive || (!e.bad && e.kind == V_NONE))
				cc->flags |= d->flag;
			break;
		case D_FIELDS: {
			bool priv = d->flag == CC_PRIVATE;
			struct cc_names *l = priv ? &cc->private_fields : &cc->no_cache_fields;
			if (!e.bad && e.kind != V_NONE && parse_fields(l, &e))
				cc->flags |= priv ? CC_PRIVATE_FIELDS : CC_NO_CACHE_FIELDS;
			else
				cc->flags |= d->flag;
			break;
		}
		case D_DELTA: {
			if (d->slot == CC_MAX_STALE && !e.bad && e.kind == V_NONE) {
				cc->flags |= CC_MAX_STALE_ANY;
				break;
			}
			int64_t v = 0;
			bool ok = !e.bad && e.kind != V_NONE && parse_delta(e.val, e.val_len, &v);
			set_delta(cc, d->slot, ok, v);
			break;
		}
		}
	}
}

bool cc_names_has(const struct cc_names *l, const char *name, size_t len)
{
	for (unsigned i = 0; i < l->n; i++) {
		if (ieq(l->name[i], strlen(l->name[i]), name, len))
			return true;
	}
	return false;
}

bool cc_pragma_no_cache(const char *value, size_t len)
{
	size_t pos = 0;
	struct elem e;
	while (next_elem(value, len, &pos, &e)) {
		/* Any value or malformation still names no-cache: the safe side. */
		if (ieq(e.name, e.name_len, "no-cache", 8))
			return true;
	}
	return false;
}

int cc_parse_age(const char *v, size_t len, int64_t *out)
{
	size_t p = 0;
	while (p < len && (is_ows(v[p]) || v[p] == ','))
		p++; /* empty list elements do not count (RFC 9110 5.6.1) */
	if (p >= len)
		return 0;
	size_t st = p;
	while (p < len && v[p] != ',')
		p++;
	size_t end = p;
	while (end > st && is_ows(v[end - 1]))
		end--;
	int64_t n;
	if (!parse_delta(v + st, end - st, &n))
		return -EINVAL;
	*out = n; /* the rest of the list is discarded (RFC 9111 5.1) */
	return 1;
}

/* One dictionary member of a CDN-Cache-Control field. Unknown keys and all
 * parameters are ignored (RFC 9213 2.1); a known directive with a value of
 * the wrong type makes the field invalid. */
static int sf_member(void *arg, const struct sfv_event *e)
{
	struct cache_control *cc = arg;
	if (e->kind != SFV_MEMBER)
		return 0;
	const struct directive *d = lookup(e->key, e->key_len);
	if (!d)
		return 0;
	const struct sfv_item *v = &e->value;
	switch (d->kind) {
	case D_DELTA:
		if (v->type != SFV_INTEGER || v->num < 0)
			return -EINVAL;
		cc->delta[d->slot] = v->num > 2147483648LL ? 2147483648LL : v->num;
		cc->invalid &= ~(1u << d->slot);
		return 0;
	case D_FIELDS:
		if (v->type == SFV_STRING) {
			/* private="X-A, X-B": the same text Cache-Control has. */
			cc_parse(cc, e->raw, e->raw_len);
			return 0;
		}
		break;
	case D_FLAG:
		break;
	}
	if (v->type != SFV_BOOLEAN)
		return -EINVAL;
	if (v->num)
		cc->flags |= d->flag;
	else
		cc->flags &= ~d->flag;
	return 0;
}

bool cc_parse_sf(struct cache_control *cc, const char *value, size_t len)
{
	struct cache_control scratch;
	cc_init(&scratch);
	if (sfv_parse_dict(value, len, sf_member, &scratch) < 0)
		return false;
	scratch.present = true;
	*cc = scratch;
	return true;
}
