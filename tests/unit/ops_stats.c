/*
 * Unit tests of src/ops/stats.c: the latency quantile (interpolated as
 * Prometheus's histogram_quantile does) and the /stats JSON's histogram,
 * servers and loops (names escaped, one line).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ops/stats.h"

Test(ops_stats, quantile_of_an_empty_histogram_is_minus_one)
{
	uint64_t b[RC_LAT_BUCKETS + 1] = {0};
	cr_expect_eq(stats_lat_quantile_us(b, 0.5), -1);
}

Test(ops_stats, quantile_interpolates_inside_its_bucket)
{
	uint64_t b[RC_LAT_BUCKETS + 1] = {0};
	/* 100 requests in (10 us, 25 us]: the median is halfway, 17.5 us. */
	b[1] = 100;
	cr_expect_float_eq(stats_lat_quantile_us(b, 0.5), 17.5, 1e-9);
	cr_expect_float_eq(stats_lat_quantile_us(b, 0.99), 10 + 15 * 0.99, 1e-9);
	/* The first bucket starts at 0. */
	uint64_t c[RC_LAT_BUCKETS + 1] = {0};
	c[0] = 4;
	cr_expect_float_eq(stats_lat_quantile_us(c, 0.25), 2.5, 1e-9);
	/* 90 fast ones and 10 in (1 ms, 2.5 ms]: p99 lands in the slow bucket. */
	uint64_t d[RC_LAT_BUCKETS + 1] = {0};
	d[0] = 90;
	d[7] = 10;
	double p99 = stats_lat_quantile_us(d, 0.99);
	cr_expect(p99 > 1000 && p99 <= 2500, "p99 %f", p99);
	cr_expect_float_eq(stats_lat_quantile_us(d, 0.5), 10 * 50.0 / 90, 1e-9);
}

Test(ops_stats, quantile_in_the_inf_bucket_is_the_highest_bound)
{
	uint64_t b[RC_LAT_BUCKETS + 1] = {0};
	b[RC_LAT_BUCKETS] = 3;
	cr_expect_float_eq(stats_lat_quantile_us(b, 0.5),
			   metric_lat_bounds[RC_LAT_BUCKETS - 1] * 1e6, 1e-6);
}

Test(ops_stats, observe_puts_each_latency_in_its_bucket)
{
	struct metrics *m = calloc(1, sizeof(*m));
	cr_assert_not_null(m);
	metrics_observe_latency(m, 10000);		/* exactly 10 us: the first bucket */
	metrics_observe_latency(m, 10001);		/* just over */
	metrics_observe_latency(m, 20ull * 1000000000); /* 20 s: +Inf */
	cr_expect_eq(m->lat_bucket[0], 1);
	cr_expect_eq(m->lat_bucket[1], 1);
	cr_expect_eq(m->lat_bucket[RC_LAT_BUCKETS], 1);
	cr_expect_eq(m->lat_sum_ns, 10000 + 10001 + 20ull * 1000000000);
	free(m);
}

Test(ops_stats, json_has_latency_servers_and_loops)
{
	static struct stats s; /* large */
	memset(&s, 0, sizeof(s));
	s.has[STATS_ALWAYS] = true;
	s.time_ms = 1234;
	s.uptime_ms = 4321;
	s.counter[M_requests] = 7;
	s.lat_bucket[1] = 2;
	s.lat_sum_ns = 30000;
	s.nservers = 2;
	s.server[0] =
	    (struct stats_server){.backend = "a\"b", .server = "h:1", .up = true, .active = 3};
	s.server[1] = (struct stats_server){.backend = "a\\b", .server = "h:2", .failed_probes = 9};
	s.nloops = 1;
	s.loop[0] = (struct stats_loop){.backend = "epoll", .lag_ns = 5000, .max_run_ns = 2000};
	static char out[65536];
	size_t n = stats_render_json(&s, out, sizeof(out));
	cr_assert(n > 0 && n < sizeof(out));
	out[n] = '\0';
	cr_expect(!strncmp(out, "{\"time_ms\": 1234, \"requests\": 7, ", 33), "%s", out);
	cr_expect_eq(memchr(out, '\n', n), out + n - 1, "one line");
	cr_expect(strstr(out, ", \"uptime_ms\": 4321, \"connection_closes\": {") != NULL, "%s",
		  out);
	cr_expect(strstr(out, "\"buckets\": [0, 2, 0,") != NULL, "%s", out);
	cr_expect(strstr(out, "\"sum_us\": 30, \"p50_us\": 18, \"p99_us\": 25}") != NULL, "%s",
		  out);
	cr_expect(strstr(out, "{\"backend\": \"a\\\"b\", \"server\": \"h:1\", \"up\": true, "
			      "\"active\": 3, \"failed_probes\": 0}") != NULL,
		  "%s", out);
	cr_expect(strstr(out, "{\"backend\": \"a\\\\b\", \"server\": \"h:2\", \"up\": false") !=
		      NULL,
		  "%s", out);
	cr_expect(strstr(out, "\"loops\": [{\"io\": \"epoll\", \"lag_us\": 5, \"max_run_us\": 2, "
			      "\"slow_tasks\": 0}]}\n") != NULL,
		  "%s", out);
}
