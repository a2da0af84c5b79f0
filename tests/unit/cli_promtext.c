/*
 * Unit tests of src/cli/promtext.c: /metrics text read into names spelled
 * as /stats spells them (prefix and a counter's _total dropped, label
 * values appended with dots, escapes undone), help and type carried, the
 * latency histogram made per bucket, and text that is not ours refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "cli/promtext.h"

static const char text[] =
    "# HELP ringcache_requests_total client requests received\n"
    "# TYPE ringcache_requests_total counter\n"
    "ringcache_requests_total 12\n"
    "# HELP ringcache_connection_closes_total client connections closed, by reason\n"
    "# TYPE ringcache_connection_closes_total counter\n"
    "ringcache_connection_closes_total{reason=\"asked\"} 3\n"
    "# HELP ringcache_request_duration_seconds time to respond\n"
    "# TYPE ringcache_request_duration_seconds histogram\n"
    "ringcache_request_duration_seconds_bucket{le=\"1e-05\"} 2\n"
    "ringcache_request_duration_seconds_bucket{le=\"2.5e-05\"} 5\n"
    "ringcache_request_duration_seconds_bucket{le=\"+Inf\"} 6\n"
    "ringcache_request_duration_seconds_sum 0.5\n"
    "ringcache_request_duration_seconds_count 6\n"
    "# HELP ringcache_connections open client connections\n"
    "# TYPE ringcache_connections gauge\n"
    "ringcache_connections 4\n"
    "# HELP ringcache_uptime_seconds time since the daemon started\n"
    "# TYPE ringcache_uptime_seconds gauge\n"
    "ringcache_uptime_seconds 10.500\n"
    "# HELP ringcache_backend_up 1 while in rotation\n"
    "# TYPE ringcache_backend_up gauge\n"
    "ringcache_backend_up{backend=\"a\\\"b\",server=\"10.0.0.1:80\"} 0\n"
    "# HELP ringcache_loop_lag_seconds longest round\n"
    "# TYPE ringcache_loop_lag_seconds gauge\n"
    "ringcache_loop_lag_seconds{loop=\"1\"} 0.000250\n"
    "other_metric 99\n";

Test(cli_promtext, names_values_help_and_types)
{
	struct prom_snap s;
	cr_assert_eq(prom_parse(&s, text, strlen(text)), 0);
	const struct prom_series *r = prom_find(&s, "requests");
	cr_assert_not_null(r);
	cr_expect_eq(r->value, 12);
	cr_expect(r->counter);
	cr_expect_str_eq(r->help, "client requests received");
	cr_expect_str_eq(r->family, "requests_total");
	cr_expect_eq(prom_value(&s, "connection_closes.asked", -1), 3);
	const struct prom_series *c = prom_find(&s, "connections");
	cr_assert_not_null(c);
	cr_expect(!c->counter, "a gauge");
	cr_expect_eq(c->value, 4);
	cr_expect_eq(s.uptime_s, 10.5);
	cr_expect_eq(prom_value(&s, "backend_up.a\"b.10.0.0.1:80", -1), 0, "escapes undone");
	cr_expect_eq(prom_value(&s, "loop_lag_seconds.1", -1), 0.00025);
	cr_expect_null(prom_find(&s, "other_metric"), "not ours");
	cr_expect_null(prom_find(&s, "request_duration_seconds_sum"), "the histogram apart");
	cr_expect_eq(prom_value(&s, "nothing", -7), -7);
	prom_snap_free(&s);
}

Test(cli_promtext, histogram_per_bucket)
{
	struct prom_snap s;
	cr_assert_eq(prom_parse(&s, text, strlen(text)), 0);
	cr_assert_eq(s.nlat, 3);
	cr_expect_eq(s.lat_bucket[0], 2);
	cr_expect_eq(s.lat_bucket[1], 3);
	cr_expect_eq(s.lat_bucket[2], 1);
	cr_expect_eq(s.lat_le[1], 2.5e-05);
	cr_expect(isinf(s.lat_le[2]));
	prom_snap_free(&s);
}

Test(cli_promtext, not_ours_refused)
{
	struct prom_snap s;
	const char *t = "# HELP up whatever\nup 1\n<html>\n";
	cr_expect_eq(prom_parse(&s, t, strlen(t)), -EINVAL);
	cr_expect_eq(prom_parse(&s, "", 0), -EINVAL);
	/* No newline at the end, a broken label: the good line still counts. */
	const char *u = "ringcache_x{a=\"1 2\nringcache_y 5";
	cr_assert_eq(prom_parse(&s, u, strlen(u)), 0);
	cr_expect_null(prom_find(&s, "x.1"));
	cr_expect_eq(prom_value(&s, "y", -1), 5);
	prom_snap_free(&s);
}
