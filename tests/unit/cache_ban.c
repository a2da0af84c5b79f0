/* Unit tests of src/cache/ban: regex bans evaluated lazily per object sequence. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cache/ban.h"

static struct ban_list *bl;

static void setup(void)
{
	bl = ban_list_create();
	cr_assert_not_null(bl);
}

static void teardown(void)
{
	ban_list_free(&bl);
	cr_assert_null(bl);
}

TestSuite(cache_ban, .init = setup, .fini = teardown);

/* Check an object stored at SEQ (a copy: the caller's seq is not advanced). */
static bool banned_at(uint64_t seq, const char *host, const char *url)
{
	return ban_check(bl, &seq, host, host ? strlen(host) : 0, url, strlen(url));
}

static int64_t add(const char *url_re, const char *host_re)
{
	char err[256];
	int64_t s = ban_add(bl, url_re, host_re, err, sizeof(err));
	cr_assert_gt(s, 0, "ban_add(%s, %s): %s", url_re ? url_re : "-", host_re ? host_re : "-",
		     err);
	return s;
}

Test(cache_ban, empty)
{
	cr_assert_eq(ban_seq(bl), 0);
	cr_assert_eq(ban_count(bl), 0);
	uint64_t seq = 0;
	cr_assert_not(ban_check(bl, &seq, "a", 1, "/", 1));
	cr_assert_eq(seq, 0);
	ban_prune(bl, 0);
	ban_prune(bl, 100);
	cr_assert_eq(ban_count(bl), 0);
}

Test(cache_ban, url_only)
{
	cr_assert_eq(add("^/img/", NULL), 1);
	cr_assert_eq(ban_seq(bl), 1);
	cr_assert(banned_at(0, "example.com", "/img/a.png"));
	cr_assert(banned_at(0, "other.org", "/img/b.png"), "any host");
	cr_assert(banned_at(0, NULL, "/img/b.png"), "no host at all");
	cr_assert_not(banned_at(0, "example.com", "/css/img/a.png"));
	cr_assert_not(banned_at(0, "example.com", "/IMG/a.png"), "URLs are case-sensitive");
	cr_assert_eq(add("(?i)^/IMG/", NULL), 2);
	cr_assert(banned_at(0, "example.com", "/img/a.png"));
}

Test(cache_ban, url_includes_query)
{
	add("\\?v=1$", NULL);
	cr_assert(banned_at(0, "h", "/app.js?v=1"));
	cr_assert_not(banned_at(0, "h", "/app.js?v=12"));
}

Test(cache_ban, host_only)
{
	add(NULL, "^(www\\.)?example\\.com$");
	cr_assert(banned_at(0, "example.com", "/"));
	cr_assert(banned_at(0, "www.example.com", "/any/thing?x"));
	cr_assert(banned_at(0, "WWW.Example.COM", "/"), "hosts are case-insensitive");
	cr_assert(banned_at(0, "example.com:8080", "/"), "the port is not part of the host");
	cr_assert_not(banned_at(0, "example.com.evil", "/"));
	cr_assert_not(banned_at(0, "sub.example.com", "/"));
	cr_assert_not(banned_at(0, NULL, "/"));
}

Test(cache_ban, host_port_stripping)
{
	add(NULL, "^\\[::1\\]$");
	add(NULL, "^::1$");
	add(NULL, "^10\\.0\\.0\\.1$");
	cr_assert(banned_at(0, "[::1]:80", "/"));
	cr_assert(banned_at(0, "[::1]", "/"));
	cr_assert(banned_at(0, "::1", "/"), "a bare IPv6 address keeps its last group");
	cr_assert(banned_at(0, "10.0.0.1:443", "/"));
	cr_assert(banned_at(0, "10.0.0.1:", "/"));
	cr_assert_not(banned_at(0, "10.0.0.12", "/"));
}

Test(cache_ban, host_and_url_both_must_match)
{
	add("^/api/", "^api\\.example\\.com$");
	cr_assert(banned_at(0, "api.example.com", "/api/v1/users"));
	cr_assert_not(banned_at(0, "www.example.com", "/api/v1/users"));
	cr_assert_not(banned_at(0, "api.example.com", "/static/x"));
}

Test(cache_ban, lengths_not_nul_terminators)
{
	add("^/a$", "^h$");
	uint64_t seq = 0;
	/* The subject ends at the given length, not at a NUL. */
	cr_assert(ban_check(bl, &seq, "hXX", 1, "/aYY", 2));
	seq = 0;
	cr_assert_not(ban_check(bl, &seq, "hXX", 2, "/aYY", 2));
}

Test(cache_ban, lazy_evaluation)
{
	add("^/old", NULL);	    /* seq 1 */
	uint64_t obj = ban_seq(bl); /* an object stored now */
	cr_assert_eq(obj, 1);
	/* A ban older than the object does not apply to it. */
	cr_assert_not(ban_check(bl, &obj, "h", 1, "/old/page", 9));
	cr_assert_eq(obj, 1);

	add("^/nomatch", NULL); /* seq 2 */
	add("^/other", NULL);	/* seq 3 */
	cr_assert_not(ban_check(bl, &obj, "h", 1, "/old/page", 9));
	cr_assert_eq(obj, 3, "seq advanced past the bans just tested");

	/* A later ban still applies to the object. */
	cr_assert_eq(add("/page$", NULL), 4);
	cr_assert(ban_check(bl, &obj, "h", 1, "/old/page", 9));
	cr_assert_eq(obj, 3, "a banned object's seq is left alone");

	/* An older object is still caught by the first ban. */
	cr_assert(banned_at(0, "h", "/old/x"));
	/* And a newer object is not. */
	uint64_t fresh = ban_seq(bl);
	cr_assert_not(ban_check(bl, &fresh, "h", 1, "/old/page", 9));
	cr_assert_eq(fresh, 4);
}

Test(cache_ban, seq_never_goes_backwards)
{
	add("^/x", NULL);
	add("^/y", NULL);
	uint64_t seq = 7; /* as if another thread had advanced it further */
	cr_assert_not(ban_check(bl, &seq, "h", 1, "/x", 2));
	cr_assert_eq(seq, 7);
}

Test(cache_ban, invalid_regex)
{
	char err[256] = "junk";
	int64_t rc = ban_add(bl, "^/(unclosed", NULL, err, sizeof(err));
	cr_assert_eq(rc, -EINVAL);
	cr_assert(strstr(err, "url regex") != NULL, "%s", err);
	cr_assert(strstr(err, "missing closing parenthesis") != NULL, "%s", err);
	cr_assert(strstr(err, "offset 11") != NULL, "%s", err);

	rc = ban_add(bl, "^/ok$", "[z-a]", err, sizeof(err));
	cr_assert_eq(rc, -EINVAL);
	cr_assert(strstr(err, "host regex") != NULL, "%s", err);
	cr_assert(strstr(err, "range out of order") != NULL, "%s", err);

	/* Tiny buffers are truncated, never overflowed; NULL is accepted. */
	char small[8];
	cr_assert_eq(ban_add(bl, "(", NULL, small, sizeof(small)), -EINVAL);
	cr_assert_eq(strlen(small), sizeof(small) - 1);
	cr_assert_eq(ban_add(bl, "(", NULL, NULL, 0), -EINVAL);

	cr_assert_eq(ban_add(bl, NULL, NULL, err, sizeof(err)), -EINVAL);
	cr_assert(strlen(err) > 0);

	/* Deep nesting is refused rather than recursing on a small stack. */
	char deep[400];
	memset(deep, '(', 200);
	memset(deep + 200, ')', 200);
	deep[sizeof(deep) - 1] = '\0';
	deep[199] = 'a';
	cr_assert_eq(ban_add(bl, deep, NULL, err, sizeof(err)), -EINVAL);

	/* Failures add nothing and consume no sequence number. */
	cr_assert_eq(ban_count(bl), 0);
	cr_assert_eq(ban_seq(bl), 0);
	cr_assert_eq(add("ok", NULL), 1);
}

Test(cache_ban, catastrophic_pattern_counts_as_match)
{
	/* Exponential backtracking: hits the match limit instead of spinning. */
	add("^(a+)+$", NULL);
	char url[64];
	memset(url, 'a', sizeof(url) - 2);
	url[sizeof(url) - 2] = 'b';
	url[sizeof(url) - 1] = '\0';
	cr_assert(banned_at(0, "h", url));
}

Test(cache_ban, many_groups_single_ovector)
{
	add("^/(a)(b)(c)(d)(e)(f)/", NULL);
	cr_assert(banned_at(0, "h", "/abcdef/x"));
	cr_assert_not(banned_at(0, "h", "/abcdeg/x"));
}

Test(cache_ban, prune)
{
	for (int i = 1; i <= 10; i++) {
		char re[32];
		snprintf(re, sizeof(re), "^/p%d$", i);
		cr_assert_eq(add(re, NULL), i);
	}
	cr_assert_eq(ban_count(bl), 10);
	ban_prune(bl, 4); /* the oldest live object was stored at seq 4 */
	cr_assert_eq(ban_count(bl), 6);
	cr_assert_eq(ban_seq(bl), 10);
	/* An object at 4 still sees bans 5..10. */
	cr_assert(banned_at(4, "h", "/p5"));
	cr_assert(banned_at(4, "h", "/p10"));
	cr_assert_not(banned_at(4, "h", "/p4"));
	ban_prune(bl, 4);
	cr_assert_eq(ban_count(bl), 6);
	ban_prune(bl, 2); /* older than what is left: nothing to do */
	cr_assert_eq(ban_count(bl), 6);
	ban_prune(bl, ban_seq(bl)); /* empty store */
	cr_assert_eq(ban_count(bl), 0);
	cr_assert_eq(ban_seq(bl), 10, "sequence numbers are never reused");
	cr_assert_eq(add("^/q$", NULL), 11);
	uint64_t seq = 10;
	cr_assert(ban_check(bl, &seq, "h", 1, "/q", 2));
}

/* --- concurrency ---------------------------------------------------------- */

enum { CHECKERS = 4, OBJECTS = 256, ROUNDS = 200 };

struct shared {
	uint64_t seq[OBJECTS]; /* per-object seq, checked from every thread */
	_Atomic bool stop;
	_Atomic uint64_t banned;
	_Atomic uint64_t checks;
};

static void *checker(void *arg)
{
	struct shared *sh = arg;
	char url[32];
	unsigned seed = (unsigned)(uintptr_t)&url;
	while (!atomic_load(&sh->stop)) {
		int i = rand_r(&seed) % OBJECTS;
		int n = snprintf(url, sizeof(url), "/obj/%d", i);
		if (ban_check(bl, &sh->seq[i], "example.com", 11, url, (size_t)n))
			atomic_fetch_add(&sh->banned, 1);
		atomic_fetch_add(&sh->checks, 1);
	}
	return NULL;
}

Test(cache_ban, concurrent_add_check_prune)
{
	static struct shared sh;
	memset(&sh, 0, sizeof(sh));
	pthread_t th[CHECKERS];
	for (int t = 0; t < CHECKERS; t++)
		cr_assert_eq(pthread_create(&th[t], NULL, checker, &sh), 0);
	for (int r = 0; r < ROUNDS; r++) {
		char re[32];
		/* Mostly bans that match nothing, so seqs keep advancing, and a
		 * few that do match some objects. */
		if (r % 20 == 0)
			snprintf(re, sizeof(re), "^/obj/%d$", r % OBJECTS);
		else
			snprintf(re, sizeof(re), "^/none/%d$", r);
		cr_assert_eq(add(re, r % 2 ? "^example\\.com$" : NULL), r + 1);
		if (r % 10 == 9)
			ban_prune(bl, ban_seq(bl) > 5 ? ban_seq(bl) - 5 : 0);
	}
	/* Let the checkers run a little against the final list. */
	while (atomic_load(&sh.checks) < 20000)
		sched_yield();
	atomic_store(&sh.stop, true);
	for (int t = 0; t < CHECKERS; t++)
		pthread_join(th[t], NULL);
	cr_assert_leq(ban_count(bl), 5);
	cr_assert_eq(ban_seq(bl), ROUNDS);
	/* Final state is deterministic again: an object checked at the newest
	 * sequence is never banned, and seqs only moved forward. */
	for (int i = 0; i < OBJECTS; i++) {
		uint64_t s = ban_seq(bl);
		cr_assert_not(ban_check(bl, &s, "example.com", 11, "/obj/0", 6));
		cr_assert_leq(sh.seq[i], ROUNDS);
	}
}
