/* vary.c - Vary field names and normalised secondary keys. */
#include "cache/vary.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache/hdrs.h"
#include "cache/lang.h"

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

int vary_names(const struct hmsg *m, char *out, size_t cap)
{
	size_t n = 0;
	for (unsigned i = 0;; i++) {
		const struct hfield *f = hmsg_field(m, "vary", i);
		if (!f)
			break;
		const char *p = hmsg_ptr(m, f->value), *end = p + f->value.len;
		while (p < end) {
			while (p < end && (is_ows(*p) || *p == ','))
				p++;
			const char *s = p;
			while (p < end && *p != ',' && !is_ows(*p))
				p++;
			if (p == s)
				continue;
			size_t len = (size_t)(p - s);
			if (n + len + 2 > cap)
				return -1;
			if (n)
				out[n++] = ',';
			for (size_t j = 0; j < len; j++)
				out[n++] = (char)tolower((unsigned char)s[j]);
		}
	}
	if (n < cap)
		out[n] = '\0';
	return (int)n;
}

static const char *const known_codings[] = {"br", "deflate", "gzip", "identity", "zstd"};

int vary_accept_encoding(const struct hmsg *req, char *out, size_t cap)
{
	bool have[5] = {false};
	for (unsigned i = 0;; i++) {
		const struct hfield *f = hmsg_field(req, "accept-encoding", i);
		if (!f)
			break;
		const char *p = hmsg_ptr(req, f->value), *end = p + f->value.len;
		while (p < end) {
			while (p < end && (is_ows(*p) || *p == ','))
				p++;
			const char *s = p;
			while (p < end && *p != ',' && *p != ';' && !is_ows(*p))
				p++;
			size_t len = (size_t)(p - s);
			/* parameters: only q matters, and only whether it is zero */
			bool zero = false;
			while (p < end && *p != ',') {
				if ((*p == 'q' || *p == 'Q') && p + 1 < end && p[1] == '=') {
					/* qvalue (RFC 9110 12.4.2), read within the
					 * field: zero is "0" then only "." and "0". */
					const char *v = p + 2, *e = v;
					while (e < end && *e != ',' && *e != ';' && *e != ' ' &&
					       *e != '\t')
						e++;
					zero = e > v && *v == '0';
					for (const char *c = v + 1; zero && c < e; c++)
						zero = *c == '0' || *c == '.';
					p = e;
					continue;
				}
				p++;
			}
			for (size_t k = 0; k < 5; k++) {
				if (len == strlen(known_codings[k]) &&
				    strncasecmp(s, known_codings[k], len) == 0)
					have[k] = have[k] || !zero;
			}
		}
	}
	size_t n = 0;
	for (size_t k = 0; k < 5; k++) {
		if (!have[k])
			continue;
		size_t len = strlen(known_codings[k]);
		if (n + len + 2 > cap)
			return -1;
		if (n)
			out[n++] = ',';
		memcpy(out + n, known_codings[k], len);
		n += len;
	}
	return (int)n;
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Every field line of NAME combined into one list without whitespace
 * (whitespace around list items never changes their meaning). For
 * Accept-Language the items are also lower-cased and sorted: language
 * tags are case-insensitive and clients list the same set in any order.
 */
static int list_normalise(const struct hmsg *req, const char *name, bool as_set, char *out,
			  size_t cap)
{
	char tmp[1024];
	size_t t = 0;
	for (unsigned i = 0;; i++) {
		const struct hfield *f = hmsg_field(req, name, i);
		if (!f)
			break;
		const char *v = hmsg_ptr(req, f->value);
		uint32_t vl = f->value.len;
		if (t && t < sizeof(tmp))
			tmp[t++] = ',';
		for (uint32_t j = 0; j < vl && t < sizeof(tmp); j++) {
			/* Drop whitespace next to a comma or at either end only:
			 * inside an item it can be meaningful. */
			if (is_ows(v[j])) {
				uint32_t k = j;
				while (k < vl && is_ows(v[k]))
					k++;
				bool edge = j == 0 || k == vl || v[j - 1] == ',' || v[k] == ',';
				if (edge) {
					j = k - 1;
					continue;
				}
			}
			tmp[t++] = as_set ? (char)tolower((unsigned char)v[j]) : v[j];
		}
	}
	if (t >= sizeof(tmp))
		return -1;
	tmp[t] = '\0';
	if (!as_set) {
		if (t > cap)
			return -1;
		memcpy(out, tmp, t);
		return (int)t;
	}
	char *items[64];
	size_t ni = 0;
	for (char *save = NULL, *it = strtok_r(tmp, ",", &save); it && ni < 64;
	     it = strtok_r(NULL, ",", &save))
		items[ni++] = it;
	qsort(items, ni, sizeof(items[0]), item_cmp);
	size_t n = 0;
	for (size_t i = 0; i < ni; i++) {
		size_t l = strlen(items[i]);
		if (n + l + 1 > cap)
			return -1;
		if (i)
			out[n++] = ',';
		memcpy(out + n, items[i], l);
		n += l;
	}
	return (int)n;
}

int vary_key(const char *names, size_t nlen, const struct hmsg *req, char *out, size_t cap)
{
	size_t n = 0;
	const char *p = names, *end = names + nlen;
	while (p < end) {
		const char *s = p;
		while (p < end && *p != ',')
			p++;
		size_t len = (size_t)(p - s);
		if (p < end)
			p++;
		char name[64];
		if (len == 0 || len >= sizeof(name))
			return -1;
		memcpy(name, s, len);
		name[len] = '\0';
		if (n + len + 2 > cap)
			return -1;
		memcpy(out + n, name, len);
		n += len;
		/* An absent field matches only an absent field (RFC 9111 4.1),
		 * so it is keyed without '=' and never equals an empty one. */
		if (!hmsg_field(req, name, 0)) {
			out[n++] = '\n';
			continue;
		}
		out[n++] = '=';
		if (strcmp(name, "accept-encoding") == 0) {
			int l = vary_accept_encoding(req, out + n, cap - n);
			if (l < 0)
				return -1;
			n += (size_t)l;
		} else {
			int l = list_normalise(req, name, strcmp(name, "accept-language") == 0,
					       out + n, cap - n);
			if (l < 0)
				return -1;
			n += (size_t)l;
		}
		if (n + 1 > cap)
			return -1;
		out[n++] = '\n';
	}
	return (int)n;
}

/* Is key segment S[0..N) ("name=value" or "name") Accept-Language's? */
static bool lang_segment(const char *s, size_t n)
{
	static const char name[] = "accept-language";
	size_t l = sizeof(name) - 1;
	return n >= l && memcmp(s, name, l) == 0 && (n == l || s[l] == '=');
}

enum vary_match vary_match(const char *names, size_t nlen, const char *vkey, size_t vlen,
			   const char *hdrs, size_t hlen, const struct hmsg *req)
{
	char key[1024]; /* as large as the key fetch.c stores */
	int n = vary_key(names, nlen, req, key, sizeof(key));
	if (n < 0)
		return VARY_NO;
	if ((size_t)n == vlen && (n == 0 || memcmp(key, vkey, (size_t)n) == 0))
		return VARY_EXACT;
	/* Both keys list the same names in the same order, one "\n"-ended
	 * segment each (values hold no LF: the parser refuses one). Every
	 * field but Accept-Language must be equal, and the request must send
	 * Accept-Language. Cheap, so it goes first: most variants fail here. */
	bool lang = false;
	const char *a = key, *ae = key + n, *b = vkey, *be = vkey + vlen;
	while (a < ae && b < be) {
		const char *an = memchr(a, '\n', (size_t)(ae - a));
		const char *bn = memchr(b, '\n', (size_t)(be - b));
		if (!an || !bn)
			return VARY_NO;
		size_t al = (size_t)(an - a), bl = (size_t)(bn - b);
		if (lang_segment(a, al) && lang_segment(b, bl)) {
			if (al == strlen("accept-language"))
				return VARY_NO; /* absent from the request: no weights */
			lang = true;
		} else if (al != bl || memcmp(a, b, al) != 0) {
			return VARY_NO;
		}
		a = an + 1;
		b = bn + 1;
	}
	if (!lang || a != ae || b != be)
		return VARY_NO;
	/* One Content-Language naming one language: a variant for several
	 * audiences, or without one, is only matched exactly. */
	size_t cl_len, other;
	const char *cl = hdrs_find(hdrs, hlen, "content-language", 0, &cl_len);
	if (!cl || hdrs_find(hdrs, hlen, "content-language", 1, &other) ||
	    !lang_tag_valid(cl, cl_len))
		return VARY_NO;
	struct lang_prefs p;
	lang_prefs_init(&p);
	for (unsigned i = 0;; i++) {
		const struct hfield *f = hmsg_field(req, "accept-language", i);
		if (!f)
			break;
		if (lang_prefs_add(&p, hmsg_ptr(req, f->value), f->value.len) < 0)
			return VARY_NO;
	}
	return lang_is_best(&p, cl, cl_len) ? VARY_SELECTED : VARY_NO;
}
