/*
 * sfv.c - RFC 8941 Dictionary parsing, following the algorithms of RFC 8941
 * 4.2 step by step (the section numbers below are that RFC's).
 */
#include "http/sfv.h"

#include <errno.h>
#include <string.h>

struct cur {
	const char *p, *end;
	sfv_cb cb;
	void *arg;
};

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool is_lcalpha(int c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_alpha(int c)
{
	return is_lcalpha(c) || (c >= 'A' && c <= 'Z');
}

/* tchar (RFC 9110 5.6.2) */
static bool is_tchar(int c)
{
	return is_alpha(c) || is_digit(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int peek(const struct cur *c)
{
	return c->p < c->end ? (unsigned char)*c->p : -1;
}

static void skip_sp(struct cur *c)
{
	while (c->p < c->end && *c->p == ' ')
		c->p++;
}

static void skip_ows(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

static int emit(struct cur *c, const struct sfv_event *e)
{
	return c->cb ? c->cb(c->arg, e) : 0;
}

/* 4.2.3.3 Parsing a Key */
static int parse_key(struct cur *c, const char **key, size_t *len)
{
	int ch = peek(c);
	if (!is_lcalpha(ch) && ch != '*')
		return -EINVAL;
	const char *start = c->p;
	while (c->p < c->end) {
		ch = (unsigned char)*c->p;
		if (!is_lcalpha(ch) && !is_digit(ch) && ch != '_' && ch != '-' && ch != '.' &&
		    ch != '*')
			break;
		c->p++;
	}
	*key = start;
	*len = (size_t)(c->p - start);
	return 0;
}

/* 4.2.4 Parsing an Integer or Decimal */
static int parse_number(struct cur *c, struct sfv_item *it)
{
	int64_t sign = 1, ip = 0, frac = 0;
	size_t digits = 0, frac_digits = 0;
	bool decimal = false;
	if (peek(c) == '-') {
		c->p++;
		sign = -1;
	}
	if (!is_digit(peek(c)))
		return -EINVAL;
	while (c->p < c->end) {
		int ch = (unsigned char)*c->p;
		if (is_digit(ch)) {
			if (decimal) {
				if (++frac_digits > 3)
					return -EINVAL;
				frac = frac * 10 + (ch - '0');
			} else {
				if (++digits > 15)
					return -EINVAL;
				ip = ip * 10 + (ch - '0');
			}
		} else if (!decimal && ch == '.') {
			if (digits > 12)
				return -EINVAL;
			decimal = true;
		} else {
			break;
		}
		c->p++;
	}
	if (decimal) {
		if (frac_digits == 0)
			return -EINVAL;
		for (size_t i = frac_digits; i < 3; i++)
			frac *= 10;
		it->type = SFV_DECIMAL;
		it->num = sign * (ip * 1000 + frac);
	} else {
		it->type = SFV_INTEGER;
		it->num = sign * ip;
	}
	return 0;
}

/* 4.2.5 Parsing a String */
static int parse_string(struct cur *c, struct sfv_item *it)
{
	c->p++; /* DQUOTE */
	const char *start = c->p;
	while (c->p < c->end) {
		unsigned char ch = (unsigned char)*c->p++;
		if (ch == '\\') {
			if (c->p == c->end || (*c->p != '"' && *c->p != '\\'))
				return -EINVAL;
			c->p++;
		} else if (ch == '"') {
			it->type = SFV_STRING;
			it->str = start;
			it->len = (size_t)(c->p - 1 - start);
			return 0;
		} else if (ch < 0x20 || ch >= 0x7f) {
			return -EINVAL;
		}
	}
	return -EINVAL;
}

/* 4.2.6 Parsing a Token */
static int parse_token(struct cur *c, struct sfv_item *it)
{
	const char *start = c->p++; /* ALPHA or "*", checked by the caller */
	while (c->p < c->end && (is_tchar((unsigned char)*c->p) || *c->p == ':' || *c->p == '/'))
		c->p++;
	it->type = SFV_TOKEN;
	it->str = start;
	it->len = (size_t)(c->p - start);
	return 0;
}

/* 4.2.7 Parsing a Byte Sequence: base64 (RFC 4648 4) between colons.
 * Padding is optional here (the RFC lets a parser accept it missing), but
 * "=" may only end the content. */
static int parse_bytes(struct cur *c, struct sfv_item *it)
{
	c->p++; /* ":" */
	const char *start = c->p;
	const char *close = memchr(c->p, ':', (size_t)(c->end - c->p));
	if (!close)
		return -EINVAL;
	size_t pad = 0;
	for (const char *q = start; q < close; q++) {
		int ch = (unsigned char)*q;
		if (ch == '=') {
			pad++;
		} else if (pad || !(is_alpha(ch) || is_digit(ch) || ch == '+' || ch == '/')) {
			return -EINVAL;
		}
	}
	size_t n = (size_t)(close - start);
	if (pad > 2 || (pad && n % 4 != 0) || n % 4 == 1)
		return -EINVAL;
	it->type = SFV_BYTES;
	it->str = start;
	it->len = n;
	c->p = close + 1;
	return 0;
}

/* 4.2.8 Parsing a Boolean */
static int parse_boolean(struct cur *c, struct sfv_item *it)
{
	c->p++; /* "?" */
	int ch = peek(c);
	if (ch != '0' && ch != '1')
		return -EINVAL;
	c->p++;
	it->type = SFV_BOOLEAN;
	it->num = ch == '1';
	return 0;
}

/* 4.2.3.1 Parsing a Bare Item */
static int parse_bare(struct cur *c, struct sfv_item *it)
{
	memset(it, 0, sizeof(*it));
	int ch = peek(c);
	if (ch == '-' || is_digit(ch))
		return parse_number(c, it);
	if (ch == '"')
		return parse_string(c, it);
	if (ch == '*' || is_alpha(ch))
		return parse_token(c, it);
	if (ch == ':')
		return parse_bytes(c, it);
	if (ch == '?')
		return parse_boolean(c, it);
	return -EINVAL;
}

/* 4.2.3.2 Parsing Parameters */
static int parse_params(struct cur *c)
{
	while (peek(c) == ';') {
		c->p++;
		skip_sp(c);
		struct sfv_event e = {.kind = SFV_PARAM};
		int rc = parse_key(c, &e.key, &e.key_len);
		if (rc < 0)
			return rc;
		e.value = (struct sfv_item){.type = SFV_BOOLEAN, .num = 1};
		if (peek(c) == '=') {
			c->p++;
			rc = parse_bare(c, &e.value);
			if (rc < 0)
				return rc;
		}
		rc = emit(c, &e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* 4.2.1.2 Parsing an Inner List */
static int parse_inner_list(struct cur *c)
{
	c->p++; /* "(" */
	while (c->p < c->end) {
		skip_sp(c);
		if (peek(c) == ')') {
			c->p++;
			struct sfv_event e = {.kind = SFV_INNER_END};
			int rc = emit(c, &e);
			return rc < 0 ? rc : parse_params(c);
		}
		struct sfv_event e = {.kind = SFV_INNER_ITEM};
		int rc = parse_bare(c, &e.value);
		if (rc == 0)
			rc = emit(c, &e);
		if (rc == 0)
			rc = parse_params(c);
		if (rc < 0)
			return rc;
		if (peek(c) != ' ' && peek(c) != ')')
			return -EINVAL;
	}
	return -EINVAL;
}

/* 4.2.2 Parsing a Dictionary, within 4.2's top level (leading and trailing
 * SP discarded, nothing else may remain). */
int sfv_parse_dict(const char *s, size_t len, sfv_cb cb, void *arg)
{
	struct cur c = {.p = s, .end = s + len, .cb = cb, .arg = arg};
	skip_sp(&c);
	while (c.p < c.end) {
		struct sfv_event e = {.kind = SFV_MEMBER};
		const char *start = c.p;
		int rc = parse_key(&c, &e.key, &e.key_len);
		if (rc < 0)
			return rc;
		if (peek(&c) == '=') {
			c.p++;
			if (peek(&c) == '(') {
				e.value.type = SFV_INNER_LIST;
				rc = emit(&c, &e);
				if (rc == 0)
					rc = parse_inner_list(&c);
			} else {
				rc = parse_bare(&c, &e.value);
				e.raw = start;
				e.raw_len = (size_t)(c.p - start);
				if (rc == 0)
					rc = emit(&c, &e);
				if (rc == 0)
					rc = parse_params(&c);
			}
		} else {
			e.value = (struct sfv_item){.type = SFV_BOOLEAN, .num = 1};
			e.raw = start;
			e.raw_len = (size_t)(c.p - start);
			rc = emit(&c, &e);
			if (rc == 0)
				rc = parse_params(&c);
		}
		if (rc < 0)
			return rc;
		skip_ows(&c);
		if (c.p == c.end)
			return 0;
		if (*c.p != ',')
			return -EINVAL;
		c.p++;
		skip_ows(&c);
		if (c.p == c.end)
			return -EINVAL; /* trailing comma */
	}
	return 0;
}

size_t sfv_string_decode(const char *s, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len)
			i++;
		out[n++] = s[i];
	}
	return n;
}

bool sfv_join(char *buf, size_t cap, size_t *len, const char *v, size_t vlen)
{
	if (vlen == 0)
		return true; /* an empty line adds no member (and no ", ") */
	size_t sep = *len ? 2 : 0;
	if (vlen > cap || *len + sep > cap - vlen)
		return false;
	if (sep)
		memcpy(buf + *len, ", ", 2);
	memcpy(buf + *len + sep, v, vlen);
	*len += sep + vlen;
	return true;
}
