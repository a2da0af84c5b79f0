/*
 * range.h - the Range request field and the Content-Range response field
 * (RFC 9110 14.1-14.4).
 *
 * range_resolve() reads a Range value ("bytes=" range-set) against the
 * selected representation's complete length and says what to send:
 *
 *  - RANGE_IGNORE: the field is invalid, names another range unit, or asks
 *    for more than the limits below allow. Ignoring a Range field is always
 *    a valid answer (RFC 9110 14.2): send the whole representation (200).
 *  - RANGE_UNSATISFIABLE: valid, but no range-spec overlaps the
 *    representation (every first-pos >= length, or a zero suffix-length, or
 *    an empty representation): 416 with "Content-Range: bytes * /LEN"
 *    (RFC 9110 15.5.17).
 *  - RANGE_PARTS: out->n ranges, inclusive [first, last], each inside
 *    0..len-1, ascending, none overlapping or adjacent: overlapping and
 *    adjacent ranges are coalesced (RFC 9110 14.3 lets a server do so
 *    whatever their order), and unsatisfiable specs among satisfiable ones
 *    are dropped. One range is a single-part 206; more are multipart.
 *
 * Grammar (RFC 9110 14.1.1, 5.6.1): the unit is case-insensitive; the set
 * is a list, so empty elements and OWS around commas are allowed, but at
 * least one range-spec is required. int-range "first-[last]" with last <
 * first, a spec that is neither int-range nor suffix-range "-N", digits
 * that do not fit 64 bits in a first-pos... each makes the whole field
 * invalid. A last-pos or suffix-length beyond the representation is cut to
 * it (RFC 9110 14.1.2); digits beyond 64 bits there saturate.
 *
 * Limits, so that a request can never make the answer many times larger
 * than the representation or cost much to work out (RFC 9110 14.2 warns of
 * many small or overlapping ranges): more than RANGE_SPECS_MAX range-specs,
 * or more than RANGE_MAX ranges left after coalescing, is RANGE_IGNORE.
 * Since coalesced ranges never overlap, their bytes add up to at most the
 * representation.
 */
#ifndef RINGCACHE_HTTP_RANGE_H
#define RINGCACHE_HTTP_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RANGE_MAX	16 /* ranges in one answer, after coalescing */
#define RANGE_SPECS_MAX 64 /* range-specs read from one field */

struct byte_range {
	uint64_t first, last; /* inclusive */
};

struct range_set {
	unsigned n;
	struct byte_range r[RANGE_MAX];
};

enum range_result { RANGE_IGNORE, RANGE_UNSATISFIABLE, RANGE_PARTS };

/* Resolve the Range value V[0..N) against a representation of LEN bytes.
 * OUT is written only for RANGE_PARTS. */
enum range_result range_resolve(const char *v, size_t n, uint64_t len, struct range_set *out);

/* Bytes in R. */
static inline uint64_t byte_range_len(const struct byte_range *r)
{
	return r->last - r->first + 1;
}

/* Parse a 206's Content-Range value "bytes FIRST-LAST/COMPLETE" (RFC 9110
 * 14.4): true with the fields set when it is one satisfied range of a
 * representation of known length (first <= last < complete). An unknown
 * length ("/ *"), an unsatisfied-range ("* /LEN"), another unit or any
 * other text is false. */
bool content_range_parse(const char *v, size_t n, struct byte_range *r, uint64_t *complete);

#endif
