/* redisurl.c - a Redis server's URL (redisurl.h). */
#include "config/redisurl.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/values.h"

/* N bytes at P into OUT (CAP), NUL-terminated: false when too long or
 * empty and !EMPTY_OK. */
static bool copy(char *out, size_t cap, const char *p, size_t n, bool empty_ok)
{
	if (n >= cap || (!n && !empty_ok))
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* Decimal digits, the whole of [P, E), at most MAX. */
static bool number(const char *p, const char *e, uint64_t max, unsigned *out)
{
	uint64_t v;
	const char *end = p < e ? value_digits(p, &v) : NULL;
	if (!end || end != e || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

static bool parse_unix(const char *s, struct redis_url *u, const char **why)
{
	const char *p = s + strlen("unix:");
	while (p[0] == '/' && p[1] == '/')
		p++; /* unix:///run/redis.sock as well as unix:/run/redis.sock */
	const char *q = strchr(p, '?');
	const char *e = q ? q : p + strlen(p);
	if (*p != '/') {
		*why = "a Unix socket's path must be absolute: unix:/run/redis/redis.sock";
		return false;
	}
	if (!copy(u->path, sizeof(u->path), p, (size_t)(e - p), false)) {
		*why = "the socket path is longer than 107 bytes";
		return false;
	}
	if (q && (strncmp(q, "?db=", 4) || !number(q + 4, q + strlen(q), 1u << 20, &u->db))) {
		*why = "after the path only ?db=NUMBER may follow";
		return false;
	}
	return true;
}

bool redis_url_parse(const char *s, struct redis_url *out, const char **why)
{
	struct redis_url u = {.port = 6379};
	if (!strncmp(s, "unix:", 5)) {
		if (!parse_unix(s, &u, why))
			return false;
		*out = u;
		return true;
	}
	if (strncmp(s, "redis://", 8)) {
		*why = "expected redis://[:PASSWORD@]HOST[:PORT][/DB] or unix:/PATH";
		return false;
	}
	const char *p = s + 8;
	const char *end = p + strlen(p);
	const char *at = strrchr(p, '@');
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (!colon) {
			*why = "the part before '@' is [USER]:PASSWORD";
			return false;
		}
		if (!copy(u.user, sizeof(u.user), p, (size_t)(colon - p), true) ||
		    !copy(u.password, sizeof(u.password), colon + 1, (size_t)(at - colon - 1),
			  false)) {
			*why = "the password is empty or longer than 255 bytes";
			return false;
		}
		p = at + 1;
	}
	const char *slash = strchr(p, '/');
	const char *hend = slash ? slash : end;
	const char *portp = NULL;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(hend - p));
		if (!rb || !copy(u.host, sizeof(u.host), p + 1, (size_t)(rb - p - 1), false)) {
			*why = "an IPv6 address is written [ADDRESS]";
			return false;
		}
		if (rb + 1 < hend && rb[1] != ':') {
			*why = "after ']' only :PORT may follow";
			return false;
		}
		portp = rb + 1 < hend ? rb + 2 : NULL;
	} else {
		const char *colon = memchr(p, ':', (size_t)(hend - p));
		const char *he = colon ? colon : hend;
		if (!copy(u.host, sizeof(u.host), p, (size_t)(he - p), false)) {
			*why = "no host, or a host longer than 255 bytes";
			return false;
		}
		if (!value_host_name_ok(u.host)) {
			*why = "the host is not a host name or an address";
			return false;
		}
		portp = colon ? colon + 1 : NULL;
	}
	if (portp && (!number(portp, hend, 65535, &u.port) || !u.port)) {
		*why = "the port must be a number from 1 to 65535";
		return false;
	}
	if (slash && slash + 1 < end && !number(slash + 1, end, 1u << 20, &u.db)) {
		*why = "after the host only /DB (a number) may follow";
		return false;
	}
	*out = u;
	return true;
}
