/*
 * sfv.h - Structured Field Values (RFC 8941): the Dictionary parser.
 *
 * Strict, as RFC 8941 4.2 requires: any error anywhere makes the whole
 * field invalid. No allocation: the parser reports what it reads through
 * a callback, one event at a time, with spans into the input. Because an
 * error may come after events were reported, a caller accumulates into a
 * scratch result and keeps it only when sfv_parse_dict() returns 0.
 *
 * Several field lines are one field: the caller joins their values with
 * ", " before parsing (RFC 8941 4.2), e.g. with sfv_join().
 *
 * Events, in input order:
 *   SFV_MEMBER      a dictionary member: key and its Item value (a bare key
 *                   is Boolean true), or type SFV_INNER_LIST, after which
 *                   come SFV_INNER_ITEM events and one SFV_INNER_END.
 *   SFV_INNER_ITEM  one Item of the current Inner List.
 *   SFV_INNER_END   the Inner List is closed.
 *   SFV_PARAM       a parameter (key, bare item) of what was reported just
 *                   before: the member's Item, the last SFV_INNER_ITEM, or,
 *                   after SFV_INNER_END, the Inner List.
 * A key that appears twice is reported twice; RFC 8941 says the last
 * value wins (and keeps the first position).
 */
#ifndef RINGCACHE_HTTP_SFV_H
#define RINGCACHE_HTTP_SFV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sfv_type {
	SFV_INTEGER,	/* num */
	SFV_DECIMAL,	/* num, in thousandths (3 fractional digits at most) */
	SFV_STRING,	/* str/len: between the quotes, escapes ("\\", "\"") kept */
	SFV_TOKEN,	/* str/len */
	SFV_BYTES,	/* str/len: the base64 text between the colons */
	SFV_BOOLEAN,	/* num: 0 or 1 */
	SFV_INNER_LIST, /* only as a member's value */
};

struct sfv_item {
	enum sfv_type type;
	int64_t num;
	const char *str;
	size_t len;
};

enum sfv_event_kind { SFV_MEMBER, SFV_INNER_ITEM, SFV_INNER_END, SFV_PARAM };

struct sfv_event {
	enum sfv_event_kind kind;
	const char *key; /* SFV_MEMBER and SFV_PARAM */
	size_t key_len;
	struct sfv_item value; /* not for SFV_INNER_END */
	/* SFV_MEMBER with an Item value: the member's text, from the key to
	 * the end of the value (without parameters). */
	const char *raw;
	size_t raw_len;
};

/* Return 0 to go on, a negative errno to stop the parse with that value. */
typedef int (*sfv_cb)(void *arg, const struct sfv_event *e);

/* Parse S[0..LEN) as a Dictionary. Returns 0 when valid (an empty input is
 * the empty Dictionary), -EINVAL when not, or the callback's negative value.
 * CB may be NULL (validation only). */
int sfv_parse_dict(const char *s, size_t len, sfv_cb cb, void *arg);

/* Decode an SFV_STRING's span (escapes) into OUT, which has room for LEN
 * bytes; returns the decoded length. */
size_t sfv_string_decode(const char *s, size_t len, char *out);

/* Append a field line value to BUF (CAP bytes, *LEN used), with ", " before
 * it when *LEN > 0; an empty value appends nothing (so "a" and "" join as
 * "a", not the invalid "a, "). Returns false, leaving BUF as it was, when
 * it does not fit. */
bool sfv_join(char *buf, size_t cap, size_t *len, const char *v, size_t vlen);

#endif
