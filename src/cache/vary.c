/* vary.c - Vary field names and normalised secondary keys. */
#include "cache/vary.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
					char *e;
					zero = strtod(p + 2, &e) <= 0.0;
					p = e > p + 2 ? e : p + 2;
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
		out[n++] = '=';
		if (strcmp(name, "accept-encoding") == 0) {
			int l = vary_accept_encoding(req, out + n, cap - n);
			if (l < 0)
				return -1;
			n += (size_t)l;
		} else {
			bool first = true;
			for (unsigned i = 0;; i++) {
				const struct hfield *f = hmsg_field(req, name, i);
				if (!f)
					break;
				const char *v = hmsg_ptr(req, f->value);
				size_t vl = f->value.len;
				while (vl && is_ows(*v)) {
					v++;
					vl--;
				}
				while (vl && is_ows(v[vl - 1]))
					vl--;
				if (n + vl + 3 > cap)
					return -1;
				if (!first) {
					out[n++] = ',';
					out[n++] = ' ';
				}
				memcpy(out + n, v, vl);
				n += vl;
				first = false;
			}
		}
		if (n + 1 > cap)
			return -1;
		out[n++] = '\n';
	}
	return (int)n;
}
