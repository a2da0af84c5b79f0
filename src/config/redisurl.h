/*
 * redisurl.h - where a Redis server is: the value of
 * cluster.invalidation.redis (serve/cstream.h connects to it).
 *
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]   TCP; PORT 6379, DB 0
 *   unix:/PATH[?db=DB]                           a Unix socket
 *
 * HOST is a name, an IPv4 address or "[IPv6]". USER is ignored beyond
 * its syntax (Redis 5's AUTH has none; ACL users need AUTH USER PASS,
 * which is sent when USER is given). A pure string function, as
 * values.h's are: no YAML, no error lines.
 */
#ifndef RINGCACHE_CONFIG_REDISURL_H
#define RINGCACHE_CONFIG_REDISURL_H

#include <stdbool.h>

#define REDIS_URL_HOST_MAX   256
#define REDIS_URL_PATH_MAX   108 /* sun_path */
#define REDIS_URL_SECRET_MAX 256

struct redis_url {
	char host[REDIS_URL_HOST_MAX]; /* "": a Unix socket (path) */
	unsigned port;
	char path[REDIS_URL_PATH_MAX];
	char user[REDIS_URL_SECRET_MAX];     /* "": none (AUTH PASSWORD) */
	char password[REDIS_URL_SECRET_MAX]; /* "": no AUTH */
	unsigned db;
};

/* Parse S into OUT: true, or false with *WHY set (a static string). */
bool redis_url_parse(const char *s, struct redis_url *out, const char **why);

#endif
