/* config/redisurl: a Redis server's URL. */
#include <criterion/criterion.h>

#include "config/redisurl.h"

static struct redis_url ok(const char *s)
{
	struct redis_url u;
	const char *why = NULL;
	cr_assert(redis_url_parse(s, &u, &why), "%s: %s", s, why);
	return u;
}

static void bad(const char *s, const char *want)
{
	struct redis_url u;
	const char *why = NULL;
	cr_assert(!redis_url_parse(s, &u, &why), "%s was taken", s);
	cr_assert_str_eq(why, want, "%s", s);
}

Test(redisurl, tcp)
{
	struct redis_url u = ok("redis://127.0.0.1");
	cr_assert_str_eq(u.host, "127.0.0.1");
	cr_assert_eq(u.port, 6379);
	cr_assert_eq(u.db, 0);
	cr_assert_str_eq(u.password, "");
	u = ok("redis://redis.ns.svc.cluster.local:6380/3");
	cr_assert_str_eq(u.host, "redis.ns.svc.cluster.local");
	cr_assert_eq(u.port, 6380);
	cr_assert_eq(u.db, 3);
	u = ok("redis://:s3cr@t@[::1]:7000/");
	cr_assert_str_eq(u.host, "::1");
	cr_assert_eq(u.port, 7000);
	cr_assert_str_eq(u.password, "s3cr@t", "the last '@' ends the password");
	cr_assert_str_eq(u.user, "");
	u = ok("redis://ringcache:pw@r");
	cr_assert_str_eq(u.user, "ringcache");
	cr_assert_str_eq(u.password, "pw");
}

Test(redisurl, unix_socket)
{
	struct redis_url u = ok("unix:/run/redis/redis.sock");
	cr_assert_str_eq(u.host, "");
	cr_assert_str_eq(u.path, "/run/redis/redis.sock");
	u = ok("unix:///run/r.sock?db=4");
	cr_assert_str_eq(u.path, "/run/r.sock");
	cr_assert_eq(u.db, 4);
}

Test(redisurl, errors)
{
	bad("rediss://r", "expected redis://[:PASSWORD@]HOST[:PORT][/DB] or unix:/PATH");
	bad("redis://", "no host, or a host longer than 255 bytes");
	bad("redis://r:x", "the port must be a number from 1 to 65535");
	bad("redis://r:65536", "the port must be a number from 1 to 65535");
	bad("redis://r/x", "after the host only /DB (a number) may follow");
	bad("redis://pw@r", "the part before '@' is [USER]:PASSWORD");
	bad("redis://:@r", "the password is empty or longer than 255 bytes");
	bad("redis://a b", "the host is not a host name or an address");
	bad("redis://[::1", "an IPv6 address is written [ADDRESS]");
	bad("redis://[::1]x", "after ']' only :PORT may follow");
	bad("unix:r.sock", "a Unix socket's path must be absolute: unix:/run/redis/redis.sock");
	bad("unix:/r.sock?x=1", "after the path only ?db=NUMBER may follow");
}
