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

long path_normalize(const char *path, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
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
			int hi = i + 2 < n ? hexval((unsigned char)path[i + 1]) : -1;
			int lo = i + 2 < n ? hexval((unsigned char)path[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			unsigned char d = (unsigned char)(hi << 4 | lo);
			i += 2;
			if (unreserved(d)) {
				if (o == cap)
					return -2;
				out[o++] = (char)d;
			} else {
				if (cap - o < 3)
					return -2;
				out[o++] = '%';
				out[o++] = hex[hi];
				out[o++] = hex[lo];
			}
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
