/* coding.c - content-coding names. */
#include "http/coding.h"

#include <string.h>
#include <strings.h>

static const char *const names[CODING__N] = {"identity", "gzip", "br", "zstd"};

const char *coding_name(enum coding c)
{
	return (unsigned)c < CODING__N ? names[c] : "?";
}

int coding_parse(const char *s, size_t n)
{
	if (n == 6 && strncasecmp(s, "x-gzip", 6) == 0)
		return CODING_GZIP;
	for (int c = 0; c < CODING__N; c++)
		if (strlen(names[c]) == n && strncasecmp(s, names[c], n) == 0)
			return c;
	return -1;
}
