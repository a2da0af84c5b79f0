/*
 * Unit tests of src/cli/statcalc.c: the interval from the daemon's
 * uptime (none before the second read or after a restart), rates and
 * averages, hit ratios, latency quantiles over a window and since start,
 * and varnishstat-like -f filters. Time is in the snapshots: no sleeps.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/statcalc.h"

/* A snapshot at UPTIME with REQUESTS and latency buckets B0, B1, B+Inf. */
static void snap(struct prom_snap *s, double uptime, double requests, int b0, int b1, int binf)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "# TYPE ringcache_requests_total counter\n"
		 "ringcache_requests_total %.0f\n"
		 "# TYPE ringcache_d_seconds histogram\n"
		 "ringcache_d_seconds_bucket{le=\"0.001\"} %d\n"
		 "ringcache_d_seconds_bucket{le=\"0.002\"} %d\n"
		 "ringcache_d_seconds_bucket{le=\"+Inf\"} %d\n"
		 "# TYPE ringcache_uptime_seconds gauge\n"
		 "ringcache_uptime_seconds %.3f\n",
		 requests, b0, b0 + b1, b0 + b1 + binf, uptime);
	cr_assert_eq(prom_parse(s, text, strlen(text)), 0);
}

Test(cli_statcalc, interval_rate_and_average)
{
	struct prom_snap a, b, c;
	snap(&a, 10, 100, 0, 0, 0);
	snap(&b, 12, 160, 0, 0, 0);
	snap(&c, 1, 5, 0, 0, 0); /* restarted */
	cr_expect_eq(stat_interval(NULL, &b), -1, "no interval before the second read");
	cr_expect_eq(stat_interval(&a, &b), 2);
	cr_expect_eq(stat_interval(&b, &c), -1, "a restart has no interval");
	cr_expect_eq(stat_prev_value(&a, &b, 0), 100);
	cr_expect_eq(stat_rate(100, 160, 2), 30);
	cr_expect(isnan(stat_rate(160, 5, 2)), "a counter that went down");
	cr_expect(isnan(stat_rate(NAN, 5, 2)));
	cr_expect(isnan(stat_rate(1, 5, -1)));
	cr_expect_eq(stat_avg(160, 12), 160.0 / 12);
	cr_expect(isnan(stat_avg(5, 0)));
	prom_snap_free(&a);
	prom_snap_free(&b);
	prom_snap_free(&c);
}

Test(cli_statcalc, prev_value_by_name_when_order_changed)
{
	struct prom_snap a, b;
	const char *ta = "ringcache_x 1\nringcache_y 2\n";
	const char *tb = "ringcache_y 3\nringcache_z 4\n";
	cr_assert_eq(prom_parse(&a, ta, strlen(ta)), 0);
	cr_assert_eq(prom_parse(&b, tb, strlen(tb)), 0);
	cr_expect_eq(stat_prev_value(&a, &b, 0), 2);
	cr_expect(isnan(stat_prev_value(&a, &b, 1)), "new in the second read");
	cr_expect(isnan(stat_prev_value(NULL, &b, 1)));
	prom_snap_free(&a);
	prom_snap_free(&b);
}

Test(cli_statcalc, hit_ratio)
{
	cr_expect_eq(stat_hit_ratio(3, 1), 0.75);
	cr_expect_eq(stat_hit_ratio(0, 5), 0);
	cr_expect(isnan(stat_hit_ratio(0, 0)));
}

Test(cli_statcalc, latency_quantiles_window_and_since_start)
{
	struct prom_snap a, b;
	snap(&a, 1, 0, 10, 0, 0);  /* 10 fast ones */
	snap(&b, 2, 0, 10, 10, 0); /* then 10 in (1 ms, 2 ms] */
	cr_expect_float_eq(stat_latency_quantile(NULL, &b, 0.5), 0.001, 1e-12, "since start");
	cr_expect_float_eq(stat_latency_quantile(&a, &b, 0.5), 0.0015, 1e-12, "the window");
	cr_expect(isnan(stat_latency_quantile(&b, &b, 0.5)), "nothing in the window");
	struct prom_snap c;
	snap(&c, 3, 0, 10, 10, 5);
	cr_expect_eq(stat_latency_quantile(&b, &c, 0.99), 0.002, "+Inf: the highest bound");
	prom_snap_free(&a);
	prom_snap_free(&b);
	prom_snap_free(&c);
}

Test(cli_statcalc, filters_like_varnishstat)
{
	const char *none[] = {NULL};
	cr_expect(stat_filter_pass(none, 0, "requests"), "no filter: everything");
	const char *glob[] = {"cache_*"};
	cr_expect(stat_filter_pass(glob, 1, "cache_hit"));
	cr_expect(!stat_filter_pass(glob, 1, "requests"));
	cr_expect(!stat_filter_pass(glob, 1, "xcache_hit"), "a glob matches the whole name");
	const char *part[] = {"hit"};
	cr_expect(stat_filter_pass(part, 1, "cache_hit_stale"), "a plain word: a part of it");
	const char *excl[] = {"^*stale*"};
	cr_expect(stat_filter_pass(excl, 1, "cache_hit"), "only exclusions: the rest passes");
	cr_expect(!stat_filter_pass(excl, 1, "cache_hit_stale"));
	const char *both[] = {"cache_*", "^cache_ban*", "requests"};
	cr_expect(stat_filter_pass(both, 3, "cache_miss"));
	cr_expect(stat_filter_pass(both, 3, "requests"));
	cr_expect(!stat_filter_pass(both, 3, "cache_bans"));
	cr_expect(!stat_filter_pass(both, 3, "connections"));
}
