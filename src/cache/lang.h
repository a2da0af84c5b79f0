/*
 * lang.h - language negotiation for stored variants: a request's
 * Accept-Language (RFC 9110 12.5.4) as weighted language ranges, and
 * whether a variant in a given Content-Language (RFC 9110 8.5) is among the
 * best the request accepts.
 *
 * Ranges match tags by RFC 4647 3.3.1 basic filtering: a range matches a
 * tag equal to it or a prefix of it followed by "-" (case-insensitively),
 * and "*" matches every tag. A tag takes the weight of the longest range
 * that matches it ("*" the shortest), so "de;q=0, *" excludes de and de-CH
 * and accepts everything else.
 *
 * Parsing is strict: anything the grammar does not allow makes the whole
 * field unusable for selection, and the caller falls back to exact
 * matching (a miss at worst, never the wrong variant).
 */
#ifndef RINGCACHE_CACHE_LANG_H
#define RINGCACHE_CACHE_LANG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* More ranges than this is not a browser: no selection. */
#define LANG_RANGES_MAX 32

struct lang_range {
	const char *p; /* into the request's buffer, as sent */
	uint16_t len;
	uint16_t q; /* weight in thousandths: 0..1000 */
};

struct lang_prefs {
	unsigned n;
	uint16_t qmax; /* the highest weight of any range */
	struct lang_range r[LANG_RANGES_MAX];
};

static inline void lang_prefs_init(struct lang_prefs *p)
{
	p->n = 0;
	p->qmax = 0;
}

/*
 * Add the members of one Accept-Language field line V[0..N) to P (call once
 * per line: lines combine as a list). Empty list members are skipped.
 * Returns 0, or -EINVAL when a member is not `language-range [ weight ]`
 * (RFC 9110 12.4.2 qvalue: "0" ["." 0*3DIGIT] or "1" ["." 0*3"0"]; no other
 * parameter), when a range is repeated with another weight (which one the
 * origin would use is unknowable), or when there are more than
 * LANG_RANGES_MAX ranges. P keeps pointers into V.
 */
int lang_prefs_add(struct lang_prefs *p, const char *v, size_t n);

/* The weight P gives language tag TAG[0..N): that of the longest range
 * matching it, 0 when none does. */
unsigned lang_weight(const struct lang_prefs *p, const char *tag, size_t n);

/* Is a variant in TAG one of the request's best choices: not excluded
 * (weight > 0) and weighted as high as the request weights anything? A
 * request preferring "fr" is not answered with "de", even if it accepts
 * it: the origin may have fr. */
bool lang_is_best(const struct lang_prefs *p, const char *tag, size_t n);

/* Is V[0..N) one well-formed language tag (1*8ALPHA *("-" 1*8alphanum),
 * RFC 5646's syntax without its registry)? A list of several is not. */
bool lang_tag_valid(const char *v, size_t n);

#endif
