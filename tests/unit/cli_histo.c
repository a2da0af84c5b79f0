/*
 * Unit tests of src/cli/histo.c: the log-scale buckets and their edges,
 * counts and quantiles per kind, the window sliding a second at a time,
 * and the drawing (both characters, the scale, the tallest column fitting,
 * the ruler and labels, every line its width).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cli/histo.h"

Test(cli_histo, buckets)
{
	cr_expect_eq(histo_bucket(-1), 0);
	cr_expect_eq(histo_bucket(0), 0);
	cr_expect_eq(histo_bucket(999), 0);
	cr_expect_eq(histo_bucket(1000), 0);
	cr_expect_eq(histo_bucket(10000), HISTO_PER_DECADE, "10 us starts the second decade");
	cr_expect_eq(histo_bucket(9999), HISTO_PER_DECADE - 1);
	cr_expect_eq(histo_bucket(1000000), 3 * HISTO_PER_DECADE);
	cr_expect_eq(histo_bucket(10000000000LL), HISTO_BUCKETS - 1, "10 s and over: the last");
	cr_expect_eq(histo_bucket(INT64_MAX), HISTO_BUCKETS - 1);
	for (unsigned b = 1; b < HISTO_BUCKETS; b++) {
		double lo = histo_bucket_lo_ns(b);
		cr_expect_eq(histo_bucket((int64_t)lo + 1), b, "bucket %u", b);
		cr_expect_eq(histo_bucket((int64_t)lo - 1), b - 1, "under bucket %u", b);
	}
}

Test(cli_histo, counts_quantiles_window)
{
	struct histo *h = histo_create(2);
	cr_assert_not_null(h);
	for (int i = 0; i < 99; i++)
		histo_add(h, HISTO_HIT, 20000, 50); /* 20 us */
	histo_add(h, HISTO_HIT, 5000000, 50);	    /* 5 ms */
	for (int i = 0; i < 10; i++)
		histo_add(h, HISTO_OTHER, 3000000, 51); /* 3 ms */
	cr_expect_eq(histo_count(h, 51, HISTO_HIT), 100);
	cr_expect_eq(histo_count(h, 51, HISTO_OTHER), 10);
	double p50 = histo_quantile_ns(h, 51, HISTO_HIT, 0.5);
	double p99 = histo_quantile_ns(h, 51, HISTO_HIT, 0.99);
	double p100 = histo_quantile_ns(h, 51, HISTO_HIT, 1.0);
	cr_expect(p50 > 20000 * 0.97 && p50 < 20000 * 1.07, "%f", p50);
	cr_expect(p99 > 20000 * 0.97 && p99 < 20000 * 1.07, "%f", p99);
	cr_expect(p100 > 5e6 * 0.97 && p100 < 5e6 * 1.07, "%f", p100);
	cr_expect_eq(histo_count(h, 52, HISTO_HIT), 0, "second 50 left a 2 s window");
	cr_expect_eq(histo_count(h, 52, HISTO_OTHER), 10);
	cr_expect_eq(histo_quantile_ns(h, 52, HISTO_HIT, 0.5), 0);
	cr_expect_eq(histo_count(h, 500, HISTO_OTHER), 0);
	histo_free(&h);
	cr_expect_null(h);
	cr_expect_null(histo_create(0));
	cr_expect_null(histo_create(HISTO_MAX_WINDOW + 1));
}

static unsigned count_char(const char *s, char c)
{
	unsigned n = 0;
	for (; *s; s++)
		n += *s == c;
	return n;
}

Test(cli_histo, render)
{
	struct histo *h = histo_create(60);
	for (int i = 0; i < 1000; i++)
		histo_add(h, HISTO_HIT, 15000, 1); /* 15 us */
	histo_add(h, HISTO_OTHER, 15000, 1);	   /* one miss on top of them */
	for (int i = 0; i < 3; i++)
		histo_add(h, HISTO_OTHER, 200000000, 1); /* 200 ms */
	enum { COLS = 70, ROWS = 10 };
	char out[(ROWS + 2) * (COLS + 1) + 1];
	uint64_t per;
	size_t n = histo_render(h, 1, COLS, ROWS, out, sizeof(out), &per);
	cr_assert_eq(n, sizeof(out) - 1, "%s", out);
	cr_expect_eq(per, 200, "1000 hits in 10 rows: one per 200 (1, 2, 5 steps)");
	/* Every line COLS wide. */
	const char *p = out;
	for (int l = 0; l < ROWS + 2; l++) {
		const char *e = strchr(p, '\n');
		cr_assert_not_null(e);
		cr_expect_eq(e - p, COLS, "line %d: %.*s", l, (int)(e - p), p);
		p = e + 1;
	}
	/* 15 us: column 10 (decade 1 starts at column 10 of 70); 1000/200 = 5
	 * rows of '|', the one miss a '#' above; 200 ms: one '#'. */
	cr_expect_eq(count_char(out, '|'), 5, "%s", out);
	cr_expect_eq(count_char(out, '#'), 2, "%s", out);
	unsigned c15 = (unsigned)((uint64_t)histo_bucket(15000) * COLS / HISTO_BUCKETS);
	cr_expect_eq(out[(ROWS - 1) * (COLS + 1) + c15], '|', "%s", out);
	cr_expect_eq(out[(ROWS - 6) * (COLS + 1) + c15], '#', "%s", out);
	const char *ruler = out + ROWS * (COLS + 1), *labels = ruler + COLS + 1;
	cr_expect_eq(ruler[0], '+');
	cr_expect_eq(ruler[10], '+');
	cr_expect_eq(ruler[COLS - 1], '+');
	cr_expect(strncmp(labels, "1us", 3) == 0, "%s", labels);
	cr_expect(strstr(labels, "10us") == labels + 10, "%s", labels);
	cr_expect(strstr(labels, "1ms"), "%s", labels);
	cr_expect(strstr(labels, "10s\n"), "%s", labels);
	/* Too small a buffer or grid. */
	cr_expect_eq(histo_render(h, 1, COLS, ROWS, out, sizeof(out) - 1, &per), 0);
	cr_expect_eq(histo_render(h, 1, 8, ROWS, out, sizeof(out), &per), 0);
	/* Nothing in the window: an empty grid, one per row. */
	n = histo_render(h, 100, COLS, ROWS, out, sizeof(out), &per);
	cr_expect_eq(n, sizeof(out) - 1);
	cr_expect_eq(count_char(out, '|') + count_char(out, '#'), 0);
	cr_expect_eq(per, 1);
	histo_free(&h);
	char b[16];
	cr_expect_str_eq(histo_fmt_ns(12345, b, sizeof(b)), "12.3us");
	cr_expect_str_eq(histo_fmt_ns(4560000, b, sizeof(b)), "4.56ms");
	cr_expect_str_eq(histo_fmt_ns(1.2e9, b, sizeof(b)), "1.20s");
	cr_expect_str_eq(histo_fmt_ns(500, b, sizeof(b)), "500ns");
}
