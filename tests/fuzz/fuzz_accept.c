/*
 * fuzz_accept.c - libFuzzer harness for src/http/accept.c: Accept-Encoding
 * negotiation and the compressible-type test.
 *
 * Input: byte 0 is the offered codings (bits 1-3: gzip, br, zstd), byte 1
 * picks the server's preference order and its length, then the
 * Accept-Encoding value up to the first newline and a Content-Type value
 * after it. Checked: the choice is identity, -1 or an offered coding in
 * the preference list; an empty value means identity; the answer does
 * not depend on letter case, on empty list elements or on OWS around the
 * value; a type one pattern matches also matches its wildcards.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"

#include "http/accept.h"

static const enum coding orders[6][3] = {
    {CODING_BR, CODING_ZSTD, CODING_GZIP}, {CODING_BR, CODING_GZIP, CODING_ZSTD},
    {CODING_ZSTD, CODING_BR, CODING_GZIP}, {CODING_ZSTD, CODING_GZIP, CODING_BR},
    {CODING_GZIP, CODING_BR, CODING_ZSTD}, {CODING_GZIP, CODING_ZSTD, CODING_BR},
};

static void flip_case(char *d, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		d[i] = c >= 'a' && c <= 'z'   ? (char)(c - 'a' + 'A')
		       : c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a')
					      : c;
	}
}

static void choose(const char *v, size_t len, unsigned offer, const enum coding *pref, size_t npref)
{
	int c = accept_encoding_choose(len ? v : NULL, len, offer, pref, npref);
	if (len == 0)
		FZ_CHECK(c == CODING_IDENTITY);
	if (c != -1 && c != CODING_IDENTITY) {
		bool listed = false;
		for (size_t i = 0; i < npref; i++)
			listed = listed || (int)pref[i] == c;
		FZ_CHECK(listed && (offer & 1u << c));
	}

	char *w = malloc(len + 6);
	FZ_CHECK(w);
	flip_case(w, v, len);
	FZ_CHECK(accept_encoding_choose(len ? w : NULL, len, offer, pref, npref) == c);
	if (len) {
		memcpy(w, ", \t", 3);
		memcpy(w + 3, v, len);
		memcpy(w + 3 + len, " ,\t", 3);
		FZ_CHECK(accept_encoding_choose(w, len + 6, offer, pref, npref) == c);
	}
	free(w);
}

static void type_matches(const char *ct, size_t len)
{
	static const char *const exact[] = {"text/html", "application/json", "image/svg+xml"};
	static const char *const text_any[] = {"text/*"};
	static const char *const any[] = {"*/*"};
	bool e = accept_type_matches(ct, len, exact, 3);
	bool t = accept_type_matches(ct, len, text_any, 1);
	bool a = accept_type_matches(ct, len, any, 1);
	if (e || t)
		FZ_CHECK(a);
	if (e && len >= 4 && (ct[0] | 0x20) == 't')
		FZ_CHECK(t);
	char *w = malloc(len ? len : 1);
	FZ_CHECK(w);
	flip_case(w, ct, len);
	FZ_CHECK(accept_type_matches(w, len, exact, 3) == e);
	FZ_CHECK(accept_type_matches(w, len, any, 1) == a);
	free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 8192)
		return 0;
	unsigned offer = data[0] & 0x0eu;
	const enum coding *pref = orders[(data[1] & 0x7f) % 6];
	size_t npref = (size_t)(data[1] >> 7 ? 1 + (data[1] >> 5 & 1) : 3);
	const char *s = (const char *)data + 2, *end = (const char *)data + size;
	const char *nl = memchr(s, '\n', (size_t)(end - s));
	size_t alen = nl ? (size_t)(nl - s) : (size_t)(end - s);
	choose(s, alen, offer, pref, npref);
	if (nl)
		type_matches(nl + 1, (size_t)(end - nl - 1));
	return 0;
}
