/*
 * Unit tests of src/cli/topk.c: exact counts and their order, the window
 * sliding a second at a time (and jumps past it), the verdict and status
 * classes, and the bound: many distinct URLs never grow the table, the
 * heavy ones survive evictions with exact counts.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cli/topk.h"

static void add(struct topk *t, const char *target, const char *verdict, unsigned status,
		int64_t now)
{
	struct rlog_rec r;
	memset(&r, 0, sizeof(r));
	strcpy(r.host, "h");
	snprintf(r.target, sizeof(r.target), "%s", target);
	snprintf(r.verdict, sizeof(r.verdict), "%s", verdict);
	r.status = (uint16_t)status;
	topk_add(t, &r, now);
}

Test(cli_topk, counts_and_order)
{
	struct topk *t = topk_create(64, 60);
	cr_assert_not_null(t);
	for (int i = 0; i < 300; i++)
		add(t, "/a", i ? "hit" : "miss", 200, 100 + i / 100);
	for (int i = 0; i < 100; i++)
		add(t, "/b", i ? "stale" : "pass", 200, 101);
	for (int i = 0; i < 50; i++)
		add(t, "/c", "miss", 503, 102);
	struct topk_row rows[8];
	size_t n = topk_rows(t, 102, TOPK_REQ, rows, 8);
	cr_assert_eq(n, 3);
	cr_expect_str_eq(rows[0].url, "h/a");
	cr_expect_eq(rows[0].n[TOPK_REQ], 300);
	cr_expect_eq(rows[0].n[TOPK_HIT], 299);
	cr_expect_eq(rows[0].n[TOPK_MISS], 1);
	cr_expect_str_eq(rows[1].url, "h/b");
	cr_expect_eq(rows[1].n[TOPK_HIT], 99);
	cr_expect_eq(rows[1].n[TOPK_MISS], 1);
	cr_expect_str_eq(rows[2].url, "h/c");
	cr_expect_eq(rows[2].n[TOPK_5XX], 50);
	n = topk_rows(t, 102, TOPK_MISS, rows, 8);
	cr_assert_eq(n, 3);
	cr_expect_str_eq(rows[0].url, "h/c");
	cr_expect_eq(rows[0].n[TOPK_MISS], 50);
	cr_expect_str_eq(rows[1].url, "h/a", "ties: more requests first");
	cr_expect_str_eq(rows[2].url, "h/b");
	n = topk_rows(t, 102, TOPK_5XX, rows, 8);
	cr_assert_eq(n, 1, "rows with 0 in the order are left out");
	cr_expect_str_eq(rows[0].url, "h/c");
	n = topk_rows(t, 102, TOPK_REQ, rows, 2);
	cr_expect_eq(n, 2);
	uint64_t tot[TOPK_NCOL];
	topk_totals(t, 102, tot);
	cr_expect_eq(tot[TOPK_REQ], 450);
	cr_expect_eq(tot[TOPK_MISS], 52);
	cr_expect_eq(tot[TOPK_5XX], 50);
	topk_free(&t);
	cr_expect_null(t);
}

Test(cli_topk, window_slides_by_the_second)
{
	struct topk *t = topk_create(16, 3);
	add(t, "/a", "hit", 200, 10);
	add(t, "/a", "hit", 200, 11);
	add(t, "/a", "hit", 200, 11);
	add(t, "/a", "hit", 200, 12);
	struct topk_row rows[4];
	cr_assert_eq(topk_rows(t, 12, TOPK_REQ, rows, 4), 1);
	cr_expect_eq(rows[0].n[TOPK_REQ], 4);
	cr_assert_eq(topk_rows(t, 13, TOPK_REQ, rows, 4), 1);
	cr_expect_eq(rows[0].n[TOPK_REQ], 3, "second 10 left the window");
	add(t, "/a", "hit", 200, 9); /* late: counts into the current second */
	cr_assert_eq(topk_rows(t, 13, TOPK_REQ, rows, 4), 1);
	cr_expect_eq(rows[0].n[TOPK_REQ], 4);
	cr_assert_eq(topk_rows(t, 14, TOPK_REQ, rows, 4), 1);
	cr_expect_eq(rows[0].n[TOPK_REQ], 2);
	cr_expect_eq(topk_rows(t, 1000, TOPK_REQ, rows, 4), 0, "a jump far past the window");
	uint64_t tot[TOPK_NCOL];
	topk_totals(t, 1000, tot);
	cr_expect_eq(tot[TOPK_REQ], 0);
	add(t, "/b", "miss", 500, 1000);
	cr_assert_eq(topk_rows(t, 1000, TOPK_REQ, rows, 4), 1);
	cr_expect_str_eq(rows[0].url, "h/b");
	topk_free(&t);
}

Test(cli_topk, bounded_heavy_hitters_survive)
{
	enum { CAP = 64 };
	struct topk *t = topk_create(CAP, 60);
	char url[32];
	/* Three heavy URLs among 100,000 distinct one-off ones, once they
	 * have more than one request each (a URL seen once is as small as
	 * the tail, and may go with it). */
	for (int i = 0; i < 10; i++)
		add(t, "/heavy1", "hit", 200, 5);
	for (int i = 0; i < 5; i++)
		add(t, "/heavy2", "hit", 200, 5);
	for (int i = 0; i < 3; i++)
		add(t, "/heavy3", "hit", 500, 5);
	for (int i = 0; i < 100000; i++) {
		snprintf(url, sizeof(url), "/tail%d", i);
		add(t, url, "miss", 200, 5);
		if (i % 100 == 0) {
			add(t, "/heavy1", "hit", 200, 5);
			add(t, "/heavy1", "hit", 200, 5);
			add(t, "/heavy2", "hit", 200, 5);
		}
		if (i % 500 == 0)
			add(t, "/heavy3", "hit", 500, 5);
		cr_assert_leq(topk_size(t), CAP);
	}
	cr_expect_gt(topk_evicted(t), 90000);
	struct topk_row rows[3];
	cr_assert_eq(topk_rows(t, 5, TOPK_REQ, rows, 3), 3);
	cr_expect_str_eq(rows[0].url, "h/heavy1");
	cr_expect_eq(rows[0].n[TOPK_REQ], 2010, "exact: it was never evicted");
	cr_expect_str_eq(rows[1].url, "h/heavy2");
	cr_expect_eq(rows[1].n[TOPK_REQ], 1005);
	cr_expect_str_eq(rows[2].url, "h/heavy3");
	cr_expect_eq(rows[2].n[TOPK_REQ], 203);
	uint64_t tot[TOPK_NCOL];
	topk_totals(t, 5, tot);
	cr_expect_eq(tot[TOPK_REQ], 100000 + 3000 + 200 + 18, "totals count the evicted too");
	topk_free(&t);
}

Test(cli_topk, long_urls_are_cut_and_bad_arguments_refused)
{
	struct topk *t = topk_create(8, 1);
	char target[600];
	memset(target, 'x', sizeof(target) - 1);
	target[0] = '/';
	target[sizeof(target) - 1] = '\0';
	bool col[TOPK_NCOL] = {true};
	topk_add_url(t, "host", target, col, 0);
	struct topk_row rows[1];
	cr_assert_eq(topk_rows(t, 0, TOPK_REQ, rows, 1), 1);
	cr_expect_eq(strlen(rows[0].url), TOPK_KEY - 1);
	topk_free(&t);
	cr_expect_null(topk_create(8, 0));
	cr_expect_null(topk_create(8, TOPK_MAX_WINDOW + 1));
	cr_expect_null(topk_create(2, 10));
}
