/*
 * cc.h - Cache-Control (RFC 9111 5.2), CDN-Cache-Control (RFC 9213),
 * Pragma (RFC 9111 5.4) and Age (RFC 9111 5.1) parsing.
 *
 * cc_parse() is called once per field line of one header (a header may be
 * split over several lines) and accumulates into one struct. Directive
 * names are case-insensitive; values may be tokens or quoted-strings.
 * Unknown directives are ignored (RFC 9111 5.2.3), and a quoted value is
 * opaque: 'ext="max-age=5"' sets nothing.
 *
 * CDN-Cache-Control is a Dictionary Structured Field (RFC 9213 2.1, RFC
 * 8941) and is parsed by cc_parse_sf() with http/sfv.h: keys are lower
 * case, parameters are ignored, flags are Booleans (a bare key is true,
 * "?0" is absent), delta directives are Integers, no-cache and private
 * may also be a String of field names. Anything that is not a valid
 * Dictionary, or a known directive with a value of another type, makes
 * the whole field invalid.
 *
 * Validity rules (what http-cache-tests' cc-parse tests and RFC 9111 4.2.1
 * expect):
 *  - an element is token [ "=" ( token / quoted-string ) ] with no OWS
 *    around "="; "max-age =5", "max-age= 5", "max-age=5;x" are malformed.
 *  - delta-seconds must be 1*DIGIT (no sign, no decimals, no spaces inside;
 *    leading zeros are fine); a quoted value ("max-age=\"60\"") is accepted
 *    (RFC 9111 5.2: a sender SHOULD NOT quote, a recipient may accept);
 *    single quotes are not quotes. Values above 2^31 are taken as 2^31
 *    (RFC 9111 1.2.2).
 *  - a delta directive that is malformed, has an invalid value, or has no
 *    value (except max-stale) is INVALID: it is recorded in cc->invalid (bit
 *    per directive) and its value stays CC_UNSET, whatever other occurrences
 *    say; for max-age and s-maxage the caller then treats the response as
 *    stale (RFC 9111 4.2.1: "a cache SHOULD consider the response stale").
 *  - a delta directive that appears twice with different values is likewise
 *    INVALID (the stricter of the two choices RFC 9111 4.2.1 allows; this
 *    applies to all six delta directives); the same value twice is fine.
 *    For flags, appearing twice is the same as once.
 *  - flags that only restrict reuse (no-store, no-cache, private,
 *    must-revalidate, proxy-revalidate, no-transform) are honoured even with
 *    a value or malformed; public, immutable, only-if-cached and
 *    must-understand count only when well-formed and without a value.
 *  - no-cache and private with a field-name list ("no-cache=\"Set-Cookie,
 *    X-A\"", or the token form no-cache=X-A) set CC_NO_CACHE_FIELDS /
 *    CC_PRIVATE_FIELDS instead of the unqualified flag, and the lists are
 *    kept (cc_names_has tests them). An empty or malformed list, or one that
 *    does not fit (more than CC_FIELDS_MAX names, a name of 32+ bytes),
 *    sets the unqualified flag instead. When both forms occur the
 *    unqualified flag is set too and wins.
 *  - max-stale without a value means "any staleness" (CC_MAX_STALE_ANY).
 */
#ifndef RINGCACHE_CACHE_CC_H
#define RINGCACHE_CACHE_CC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cc_flag {
	CC_NO_STORE = 1u << 0,
	CC_NO_CACHE = 1u << 1,	      /* unqualified */
	CC_NO_CACHE_FIELDS = 1u << 2, /* no-cache="a, b" */
	CC_PRIVATE = 1u << 3,	      /* unqualified */
	CC_PRIVATE_FIELDS = 1u << 4,  /* private="a, b" */
	CC_PUBLIC = 1u << 5,
	CC_MUST_REVALIDATE = 1u << 6,
	CC_PROXY_REVALIDATE = 1u << 7,
	CC_NO_TRANSFORM = 1u << 8,
	CC_ONLY_IF_CACHED = 1u << 9,
	CC_MUST_UNDERSTAND = 1u << 10,
	CC_IMMUTABLE = 1u << 11,
	CC_MAX_STALE_ANY = 1u << 12,
};

/* Directives with a delta-seconds value; also the bit index in ->invalid. */
enum cc_delta {
	CC_MAX_AGE,
	CC_S_MAXAGE,
	CC_STALE_WHILE_REVALIDATE,
	CC_STALE_IF_ERROR,
	CC_MAX_STALE,
	CC_MIN_FRESH,
	CC_N_DELTA
};

#define CC_FIELDS_MAX 16
#define CC_UNSET      (-1)

struct cc_names {
	/* Field names, lower-cased, NUL-terminated, copied (the header buffer
	 * does not outlive the parse). */
	char name[CC_FIELDS_MAX][32];
	unsigned n;
};

struct cache_control {
	uint32_t flags;		   /* enum cc_flag */
	int64_t delta[CC_N_DELTA]; /* seconds, CC_UNSET when absent or invalid */
	uint32_t invalid;	   /* bit (1 << enum cc_delta): seen but invalid */
	bool present;		   /* at least one field line was parsed */
	struct cc_names no_cache_fields;
	struct cc_names private_fields;
};

void cc_init(struct cache_control *cc);

/* Parse one field line's value VALUE[0..LEN) into CC (accumulating). */
void cc_parse(struct cache_control *cc, const char *value, size_t len);

/* Parse a CDN-Cache-Control field value (all field lines joined with ", ")
 * into CC (replacing it). Returns false, leaving CC untouched, when the
 * field is not a valid Structured Field Dictionary or a known directive
 * has a value of the wrong type (RFC 9213 2.1: then the field is ignored). */
bool cc_parse_sf(struct cache_control *cc, const char *value, size_t len);

/* True if NAME (any case) is in the list. */
bool cc_names_has(const struct cc_names *l, const char *name, size_t len);

/* The first member of one Age field line's value V[0..LEN) (RFC 9111 5.1:
 * a list-based Age uses the first member, the rest is discarded) as
 * delta-seconds into *OUT, saturated at 2^31 (RFC 9111 1.2.2). Returns 1
 * with *OUT set; 0 when the line has no member (empty, OWS or commas only),
 * so the caller looks at the next field line; -EINVAL when the first member
 * is not a non-negative integer ("abc", "-5", "1.5", "10abc"), which the
 * caller ignores (RFC 9111 5.1: a cache SHOULD ignore an invalid Age). */
int cc_parse_age(const char *v, size_t len, int64_t *out);

/* Pragma: no-cache (RFC 9111 5.4, only meaningful in requests without
 * Cache-Control). Returns true if VALUE contains the no-cache token. */
bool cc_pragma_no_cache(const char *value, size_t len);

#endif
