/* Unit tests of src/cache/key.c: the primary cache key and the host part of
 * a Host value. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cache/key.h"

#define ALL (KEY_HOST | KEY_QUERY)

static char out[4096];
static uint32_t host_len;

/* The key of HOST and TARGET under OPTS, printed with the NUL as '|'. */
static const char *key(unsigned opts, const char *host, const char *target)
{
	static char shown[4096];
	host_len = 12345;
	int n = cache_key_build(opts, host, strlen(host), target, strlen(target), out, sizeof(out),
				&host_len);
	cr_assert_geq(n, 0, "%s %s", host, target);
	cr_assert_leq(host_len, (uint32_t)n);
	cr_assert_eq(out[host_len], '\0', "the host part ends in a NUL");
	for (int i = 0; i < n; i++)
		shown[i] = out[i] == '\0' ? '|' : out[i];
	shown[n] = '\0';
	cr_assert_eq(strchr(shown, '|') - shown, (long)host_len, "one NUL, after the host");
	return shown;
}

Test(cache_key, host_lower_cased_port_kept_target_as_sent)
{
	cr_assert_str_eq(key(ALL, "Example.COM:8080", "/A/b?Q=1"), "example.com:8080|/A/b?Q=1");
	cr_assert_eq(host_len, 16);
	cr_assert_str_eq(key(ALL, "[2001:DB8::1]:443", "/"), "[2001:db8::1]:443|/");
	cr_assert_eq(host_len, 17);
	/* Path case and encoded slashes are the origin's business, not ours. */
	cr_assert_str_eq(key(ALL, "a", "/Dir%2Ffile%2f"), "a|/Dir%2Ffile%2f");
	cr_assert_str_neq(key(ALL, "a", "/dir/file"), "a|/dir%2Ffile");
	cr_assert_str_eq(key(ALL, "a", "/%7Euser"), "a|/%7Euser");
	/* A fragment is not sent, but what is sent is kept. */
	cr_assert_str_eq(key(ALL, "a", "*"), "a|*");
}

Test(cache_key, normalized_path_folds_the_path_only)
{
	const unsigned np = ALL | KEY_NORMALIZE_PATH;
	cr_assert_str_eq(key(np, "a", "/a%62c"), "a|/abc");
	cr_assert_str_eq(key(np, "a", "/Dir%2ffile"), "a|/Dir%2Ffile");
	cr_assert_str_neq(key(np, "a", "/a%2Fb"), "a|/a/b");
	cr_assert_str_eq(key(np, "a", "/%7Euser/%41"), "a|/~user/A");
	/* The query is the application's: not decoded, not case-folded. */
	cr_assert_str_eq(key(np, "a", "/%61?x=%61%2f"), "a|/a?x=%61%2f");
	cr_assert_str_eq(key(np | KEY_SORT_QUERY, "a", "/%61?b=%62&a=1"), "a|/a?a=1&b=%62");
	cr_assert_str_eq(key(KEY_HOST | KEY_NORMALIZE_PATH, "a", "/%61?x=1"), "a|/a");
	/* Off, every spelling is its own key. */
	cr_assert_str_eq(key(ALL, "a", "/a%62c"), "a|/a%62c");
}

Test(cache_key, without_host_the_host_part_is_empty)
{
	cr_assert_str_eq(key(KEY_QUERY, "Example.com", "/p?x=1"), "|/p?x=1");
	cr_assert_eq(host_len, 0);
	cr_assert_str_eq(key(0, "Example.com", "/p?x=1"), "|/p");
	cr_assert_eq(host_len, 0);
	/* An empty Host with the host on is an empty host part too. */
	cr_assert_str_eq(key(ALL, "", "/p"), "|/p");
	cr_assert_eq(host_len, 0);
}

Test(cache_key, without_query_the_query_goes)
{
	cr_assert_str_eq(key(KEY_HOST, "a", "/p?x=1&y=2"), "a|/p");
	cr_assert_str_eq(key(KEY_HOST, "a", "/p?"), "a|/p");
	cr_assert_str_eq(key(KEY_HOST, "a", "/p"), "a|/p");
	/* The sort option does nothing when the query is not kept. */
	cr_assert_str_eq(key(KEY_HOST | KEY_SORT_QUERY, "a", "/p?b=1&a=2"), "a|/p");
	/* Only the first '?' starts the query. */
	cr_assert_str_eq(key(KEY_HOST, "a", "/p?x=?y"), "a|/p");
	cr_assert_str_eq(key(ALL, "a", "/p?x=?y"), "a|/p?x=?y");
	/* With the query kept, "/p?" and "/p" stay two keys. */
	cr_assert_str_eq(key(ALL, "a", "/p?"), "a|/p?");
}

#define SORTED (KEY_HOST | KEY_QUERY | KEY_SORT_QUERY)

Test(cache_key, sorted_query)
{
	char ab[64];
	snprintf(ab, sizeof(ab), "%s", key(SORTED, "a", "/p?b=2&a=1"));
	cr_assert_str_eq(ab, "a|/p?a=1&b=2");
	cr_assert_str_eq(key(SORTED, "a", "/p?a=1&b=2"), ab);
	/* Unsorted, the two are two keys. */
	char ba[64];
	snprintf(ba, sizeof(ba), "%s", key(ALL, "a", "/p?b=2&a=1"));
	cr_assert_str_neq(key(ALL, "a", "/p?a=1&b=2"), ba);
	/* Byte order, whole parameters: shorter first on a common prefix. */
	cr_assert_str_eq(key(SORTED, "a", "/?ab=1&a=2&a&B=3&b"), "a|/?B=3&a&a=2&ab=1&b");
	/* Duplicate names are kept, in the order of their values. */
	cr_assert_str_eq(key(SORTED, "a", "/?x=2&y=0&x=1&x=3"), "a|/?x=1&x=2&x=3&y=0");
	cr_assert_str_eq(key(SORTED, "a", "/?x=1&x=1"), "a|/?x=1&x=1");
	/* Empty parameters go. */
	cr_assert_str_eq(key(SORTED, "a", "/?b=2&&a=1&"), "a|/?a=1&b=2");
	cr_assert_str_eq(key(SORTED, "a", "/?&b=2&a=1"), "a|/?a=1&b=2");
	/* A query of only '&'s is an empty one, not none. */
	cr_assert_str_eq(key(SORTED, "a", "/p?&&&"), "a|/p?");
	cr_assert_str_eq(key(SORTED, "a", "/p?&"), "a|/p?");
	cr_assert_str_eq(key(SORTED, "a", "/p?"), "a|/p?");
	cr_assert_str_eq(key(SORTED, "a", "/p"), "a|/p");
	/* '=' inside values and encoded '&' are not separators. */
	cr_assert_str_eq(key(SORTED, "a", "/?z=a%26b&c=d=e"), "a|/?c=d=e&z=a%26b");
	/* The path is not touched. */
	cr_assert_str_eq(key(SORTED, "a", "/B/a?y&x"), "a|/B/a?x&y");
}

Test(cache_key, sorting_gives_one_key_for_every_order)
{
	static const char *const perms[] = {
	    "/s?a=1&b=2&c=3", "/s?a=1&c=3&b=2", "/s?b=2&a=1&c=3",
	    "/s?b=2&c=3&a=1", "/s?c=3&a=1&b=2", "/s?c=3&b=2&a=1",
	};
	for (size_t i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
		cr_assert_str_eq(key(SORTED, "h", perms[i]), "h|/s?a=1&b=2&c=3", "%s", perms[i]);
}

/*
 * A query of more parameters than the sort has room for (64) must still
 * key every one of them: two URLs that differ only in a late parameter
 * are two objects. (Dropping the rest would let ?...&user=alice and
 * ?...&user=bob share an entry; cache_key_build once stopped at 64.)
 */
Test(cache_key, sorted_query_with_many_parameters_keeps_them_all)
{
	char t1[2048], t2[2048], k1[2048];
	int l = snprintf(t1, sizeof(t1), "/p?");
	for (unsigned i = 0; i < 70; i++)
		l += snprintf(t1 + l, sizeof(t1) - (size_t)l, "%sp%02u=%u", i ? "&" : "", i, i);
	snprintf(t2, sizeof(t2), "%s", t1);
	/* Change the last parameter only. */
	t2[strlen(t2) - 1] = 'X';
	snprintf(k1, sizeof(k1), "%s", key(SORTED, "a", t1));
	cr_assert_str_neq(key(SORTED, "a", t2), k1,
			  "two targets that differ in parameter 70 share a sorted key");
	/* And the key holds every parameter of the target. */
	cr_assert_eq(strlen(k1), strlen("a|") + strlen(t1), "%s", k1);
}

/* The length a key needs, from a build with room to spare. */
static int need(unsigned opts, const char *host, const char *target)
{
	uint32_t hl;
	return cache_key_build(opts, host, strlen(host), target, strlen(target), out, sizeof(out),
			       &hl);
}

/* At every capacity: -1 below the key's length, the key at and above it,
 * and never a byte written past CAP. */
static void check_boundaries(unsigned opts, const char *host, const char *target)
{
	int full = need(opts, host, target);
	cr_assert_geq(full, 0);
	char want[512];
	memcpy(want, out, (size_t)full);
	size_t hlen = strlen(host), tlen = strlen(target);
	/* The room it may ask for: the host, a NUL and the whole target. */
	size_t worst = ((opts & KEY_HOST) ? hlen : 0) + 1 + tlen;
	for (size_t cap = 0; cap <= worst + 2; cap++) {
		char mem[600];
		memset(mem, 'Z', sizeof(mem));
		uint32_t hl = 0;
		int n = cache_key_build(opts, host, hlen, target, tlen, mem, cap, &hl);
		for (size_t i = cap; i < sizeof(mem); i++)
			cr_assert_eq(mem[i], 'Z', "opts %u cap %zu: byte %zu written", opts, cap,
				     i);
		if (cap < (size_t)full) {
			cr_assert_eq(n, -1, "opts %u %s %s: %d in %zu bytes", opts, host, target, n,
				     cap);
		} else if (cap >= worst) {
			cr_assert_eq(n, full, "opts %u %s %s: cap %zu", opts, host, target, cap);
			cr_assert_eq(memcmp(mem, want, (size_t)full), 0);
		} else {
			/* Room for this key but not for the whole target: either
			 * answer is the contract's, a wrong key is not. */
			cr_assert(n == -1 || (n == full && memcmp(mem, want, (size_t)full) == 0),
				  "opts %u %s %s: cap %zu gave %d", opts, host, target, cap, n);
		}
	}
}

Test(cache_key, does_not_fit_at_every_boundary)
{
	static const char *const targets[] = {"/", "/p", "/p?b=2&a=1", "/p?&&", "/p?x", "/a/b/c"};
	static const char *const hosts[] = {"", "a", "Example.com:8080"};
	static const unsigned opts[] = {0,   KEY_HOST, KEY_QUERY,
					ALL, SORTED,   KEY_QUERY | KEY_SORT_QUERY};
	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++)
		for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++)
			for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++)
				check_boundaries(opts[o], hosts[h], targets[t]);
}

Test(cache_key, a_key_filling_the_buffer_exactly)
{
	char mem[8];
	uint32_t hl;
	/* "ab" NUL "/xyz?q" is 9 bytes: too many for 8. */
	cr_assert_eq(cache_key_build(ALL, "ab", 2, "/xyz?q", 6, mem, 8, &hl), -1);
	/* "ab" NUL "/xyz" is 7; "a" NUL "/xyz?q" is 8. */
	cr_assert_eq(cache_key_build(ALL, "ab", 2, "/xyz", 4, mem, 8, &hl), 7);
	cr_assert_eq(cache_key_build(ALL, "a", 1, "/xyz?q", 6, mem, 8, &hl), 8);
	cr_assert_eq(hl, 1);
	cr_assert_eq(memcmp(mem, "a\0/xyz?q", 8), 0);
	/* A host longer than the room. */
	cr_assert_eq(cache_key_build(ALL, "abcdefgh", 8, "/", 1, mem, 8, &hl), -1);
	/* Without the host, the host's length does not count. */
	cr_assert_eq(cache_key_build(KEY_QUERY, "abcdefghijk", 11, "/abcdef", 7, mem, 8, &hl), 8);
	cr_assert_eq(hl, 0);
}

Test(cache_key, host_len_drops_the_port)
{
	static const struct {
		const char *host;
		size_t len;
	} t[] = {
	    {"example.com", 11},
	    {"example.com:8080", 11},
	    {"example.com:", 11},
	    {"Example.COM", 11},
	    {"", 0},
	    {":80", 0},
	    {"1.2.3.4:80", 7},
	    {"[::1]", 5},
	    {"[::1]:8080", 5},
	    {"[2001:db8::1]:443", 13},
	    {"[2001:db8::1]", 13},
	    {"[::ffff:1.2.3.4]:80", 16},
	    {"[v1.x]:80", 6},
	    {"[::1]:", 5},
	    {"[::1", 4}, /* unclosed: all of it */
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_eq(cache_key_host_len(t[i].host, strlen(t[i].host)), t[i].len,
			     "'%s': %zu, want %zu", t[i].host,
			     cache_key_host_len(t[i].host, strlen(t[i].host)), t[i].len);
	/* Only N bytes are read. */
	cr_assert_eq(cache_key_host_len("ab:80", 2), 2);
	cr_assert_eq(cache_key_host_len("[::1]:80", 3), 3);
	cr_assert_eq(cache_key_host_len("x", 0), 0);
}
