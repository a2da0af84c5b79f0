/* path.c - the normalised form of a request path (path.h). */
#include "http/path.h"

#include <stdbool.h>

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Is OUT[seg..len) "." or ".."? */
static bool dot_segment(const char *out, size_t seg, size_t len)
{
	size_t n = len - seg;
	return (n == 1 && out[seg] == '.') || (n == 2 && out[seg] == '.' && out[seg + 1] == '.');
}

/*
 * One percent-encoding at PATH[*I] ('%' there) into OUT[*O]: an unreserved
 * character decoded, any other with upper-case hex (RFC 3986 6.2.2.1-2).
 * Returns 0, -1 when it is malformed (nothing written), -2 when OUT is
 * full. Shared by both forms, so routes and keys fold spellings alike.
 */
static int pct_fold(const char *path, size_t n, size_t *i, char *out, size_t *o, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	int hi = *i + 2 < n ? hexval((unsigned char)path[*i + 1]) : -1;
	int lo = *i + 2 < n ? hexval((unsigned char)path[*i + 2]) : -1;
	if (hi < 0 || lo < 0)
		return -1;
	unsigned char d = (unsigned char)(hi << 4 | lo);
	if (unreserved(d)) {
		if (*o == cap)
			return -2;
		out[(*o)++] = (char)d;
	} else {
		if (cap - *o < 3)
			return -2;
		out[(*o)++] = '%';
		out[(*o)++] = hex[hi];
		out[(*o)++] = hex[lo];
	}
	*i += 2;
	return 0;
}

long path_normalize(const char *path, size_t n, char *out, size_t cap)
{
	if (n == 0 || path[0] != '/')
		return -1;
	size_t o = 0, seg = 0; /* seg: where the current segment starts in OUT */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];
		if (c == '/') {
			if (o && dot_segment(out, seg, o))
				return -1;
			if (o && out[o - 1] == '/')
				continue; /* merge slashes */
			if (o == cap)
				return -2;
			out[o++] = '/';
			seg = o;
			continue;
		}
		if (c == '%') {
			int r = pct_fold(path, n, &i, out, &o, cap);
			if (r < 0)
				return r;
			continue;
		}
		if (o == cap)
			return -2;
		out[o++] = (char)c;
	}
	if (dot_segment(out, seg, o))
		return -1;
	return (long)o;
}

long path_key_form(const char *path, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (path[i] == '%') {
			int r = pct_fold(path, n, &i, out, &o, cap);
			if (r == -2)
				return -2;
			if (r == 0)
				continue;
		}
		if (o == cap)
			return -2;
		out[o++] = path[i];
	}
	return (long)o;
}
