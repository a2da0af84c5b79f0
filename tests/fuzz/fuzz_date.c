/*
 * fuzz_date.c - libFuzzer harness for src/http/date.c: HTTP-date parsing
 * (IMF-fixdate, RFC 850, asctime) and IMF-fixdate formatting.
 *
 * The input is a date string, parsed with a fixed `now`; when it is at
 * least 8 bytes long, its first 8 bytes are also taken as a `now` (for the
 * RFC 850 century rule) for parsing the rest, and as a time to format.
 * Checked: a parsed time formats and parses back to itself (times beyond
 * year 9999 or before year 0 format clamped, as date.h documents), the
 * formatted text is 29 bytes and stable, names match in any case, and
 * OWS around the value is ignored.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"

#include "http/date.h"

#define NOW_S 1735689600LL /* 2025-01-01T00:00:00Z */
/* What http_date_format can print: 0000-01-01 .. 9999-12-31T23:59:59Z. */
#define T_MIN (-62167219200LL)
#define T_MAX 253402300799LL

static void round_trip(int64_t t, int64_t now)
{
	char a[32], b[32];
	size_t n = http_date_format(t, a);
	FZ_CHECK(n == 29 && strlen(a) == 29);
	int64_t back;
	FZ_CHECK(http_date_parse(a, n, now, &back));
	int64_t want = t < T_MIN ? T_MIN : t > T_MAX ? T_MAX : t;
	FZ_CHECK(back == want);
	FZ_CHECK(http_date_format(back, b) == 29 && memcmp(a, b, 30) == 0);
}

static void parse_checked(const char *s, size_t len, int64_t now)
{
	int64_t t;
	bool ok = http_date_parse(s, len, now, &t);
	if (ok)
		round_trip(t, now);

	/* Any case, and OWS around the value, give the same answer. */
	char *v = malloc(len + 4);
	FZ_CHECK(v);
	v[0] = ' ';
	v[1] = '\t';
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		v[i + 2] = c >= 'a' && c <= 'z'	  ? (char)(c - 'a' + 'A')
			   : c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a')
						  : c;
	}
	v[len + 2] = '\t';
	v[len + 3] = ' ';
	int64_t t2;
	bool ok2 = http_date_parse(v, len + 4, now, &t2);
	FZ_CHECK(ok == ok2);
	if (ok)
		FZ_CHECK(t == t2);
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	parse_checked((const char *)data, size, NOW_S);
	if (size >= 8) {
		int64_t now;
		memcpy(&now, data, sizeof(now));
		parse_checked((const char *)data + 8, size - 8, now);
		round_trip(now, NOW_S);
	}
	return 0;
}
