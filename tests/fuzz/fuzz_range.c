/*
 * fuzz_range.c - libFuzzer harness for src/http/range.c: the Range
 * range-set resolved against a length, and Content-Range.
 *
 * The input is a length byte L, then a field value: the value is resolved
 * against a representation of L * 37 bytes (0 to about 9 KiB, so that
 * small numbers in the value hit both sides of it), and against 2^64 - 1.
 * Checked: at most RANGE_MAX ranges, each inside the representation,
 * ascending with a gap between neighbours (coalesced), their bytes adding
 * up to at most the length; the unit's case and OWS around the value change
 * nothing; the ranges written back as a range-set resolve to themselves; a
 * Content-Range that parses is one range inside its complete length and
 * parses back from its canonical form.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"

#include "http/range.h"

static void check_set(const struct range_set *s, uint64_t len)
{
	FZ_CHECK(s->n >= 1 && s->n <= RANGE_MAX);
	uint64_t sum = 0;
	for (unsigned i = 0; i < s->n; i++) {
		FZ_CHECK(s->r[i].first <= s->r[i].last && s->r[i].last < len);
		if (i)
			FZ_CHECK(s->r[i].first > s->r[i - 1].last + 1);
		sum += byte_range_len(&s->r[i]);
	}
	FZ_CHECK(sum <= len);
}

static void resolve_checked(const char *v, size_t n, uint64_t len)
{
	struct range_set s, s2;
	enum range_result r = range_resolve(v, n, len, &s);
	if (r == RANGE_PARTS)
		check_set(&s, len);

	/* OWS around the value and the unit's case change nothing. */
	char *w = malloc(n + 4);
	FZ_CHECK(w);
	w[0] = ' ';
	w[1] = '\t';
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		w[i + 2] = i < 8 && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
	}
	w[n + 2] = '\t';
	w[n + 3] = ' ';
	FZ_CHECK(range_resolve(w, n + 4, len, &s2) == r);
	if (r == RANGE_PARTS)
		FZ_CHECK(s2.n == s.n && memcmp(s.r, s2.r, s.n * sizeof(s.r[0])) == 0);
	free(w);

	/* The answer written back as a request asks for itself. */
	if (r == RANGE_PARTS) {
		char buf[RANGE_MAX * 44 + 8];
		size_t l = (size_t)snprintf(buf, sizeof(buf), "bytes=");
		for (unsigned i = 0; i < s.n; i++)
			l += (size_t)snprintf(buf + l, sizeof(buf) - l, "%s%" PRIu64 "-%" PRIu64,
					      i ? ", " : "", s.r[i].first, s.r[i].last);
		FZ_CHECK(range_resolve(buf, l, len, &s2) == RANGE_PARTS);
		FZ_CHECK(s2.n == s.n && memcmp(s.r, s2.r, s.n * sizeof(s.r[0])) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	uint64_t len = (uint64_t)data[0] * 37;
	const char *v = (const char *)data + 1;
	size_t n = size - 1;
	resolve_checked(v, n, len);
	resolve_checked(v, n, UINT64_MAX);

	struct byte_range r;
	uint64_t complete;
	if (content_range_parse(v, n, &r, &complete)) {
		FZ_CHECK(r.first <= r.last && r.last < complete);
		char buf[80];
		int l = snprintf(buf, sizeof(buf), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
				 r.first, r.last, complete);
		struct byte_range r2;
		uint64_t c2;
		FZ_CHECK(content_range_parse(buf, (size_t)l, &r2, &c2));
		FZ_CHECK(r2.first == r.first && r2.last == r.last && c2 == complete);
	}
	return 0;
}
