/* stats.c - a snapshot's renderings: Prometheus text for /metrics, JSON for /stats. */
#include "ops/stats.h"

#include <string.h>

#include "http/hbuf.h"

struct gauge_row {
	const char *name, *type, *json, *help;
	enum stats_part part;
};

static const struct gauge_row gauges[G_COUNT] = {
#define X(id, name_, type_, part_, json_, help_)                                                   \
	{.name = name_, .type = #type_, .json = json_, .help = help_, .part = STATS_##part_},
    RC_GAUGES(X)
#undef X
};

static void family(struct hbuf *b, const char *name, const char *type, const char *help)
{
	hbuf_puts(b, "# HELP ringcache_");
	hbuf_puts(b, name);
	hbuf_put(b, " ", 1);
	hbuf_puts(b, help);
	hbuf_puts(b, "\n# TYPE ringcache_");
	hbuf_puts(b, name);
	hbuf_put(b, " ", 1);
	hbuf_puts(b, type);
	hbuf_put(b, "\n", 1);
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label_value(struct hbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			hbuf_put(b, "\\", 1);
		if (*s == '\n')
			hbuf_puts(b, "\\n");
		else
			hbuf_put(b, s, 1);
	}
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcmp(s + n - k, suffix);
}

/* NAME's value: a _seconds series holds nanoseconds. */
static void value(struct hbuf *b, const char *name, uint64_t v)
{
	if (ends_with(name, "_seconds") || ends_with(name, "_seconds_total"))
		hbuf_printf(b, " %.6f\n", (double)v / 1e9);
	else
		hbuf_printf(b, " %llu\n", (unsigned long long)v);
}

static void server_series(struct hbuf *b, const struct stats *s, const char *name, const char *type,
			  const char *help, int which)
{
	family(b, name, type, help);
	for (size_t i = 0; i < s->nservers; i++) {
		const struct stats_server *sv = &s->server[i];
		hbuf_puts(b, "ringcache_");
		hbuf_puts(b, name);
		hbuf_puts(b, "{backend=\"");
		label_value(b, sv->backend);
		hbuf_puts(b, "\",server=\"");
		label_value(b, sv->server);
		hbuf_puts(b, "\"}");
		uint64_t v = which == 0 ? sv->up : which == 1 ? sv->active : sv->failed_probes;
		hbuf_printf(b, " %llu\n", (unsigned long long)v);
	}
}

static void loop_series(struct hbuf *b, const struct stats *s, const char *name, const char *type,
			const char *help, int which)
{
	family(b, name, type, help);
	for (unsigned i = 0; i < s->nloops; i++) {
		const struct stats_loop *l = &s->loop[i];
		hbuf_printf(b, "ringcache_%s{loop=\"%u\"}", name, i);
		value(b, name, which == 0 ? l->slow_tasks : which == 1 ? l->lag_ns : l->max_run_ns);
	}
}

/* A histogram family NAME: BUCKET's per-bucket counts made cumulative. */
static void histogram(struct hbuf *b, const char *name, const char *help, const uint64_t *bucket,
		      uint64_t sum_ns)
{
	family(b, name, "histogram", help);
	uint64_t cum = 0;
	for (int i = 0; i <= RC_LAT_BUCKETS; i++) {
		cum += bucket[i];
		if (i < RC_LAT_BUCKETS)
			hbuf_printf(b, "ringcache_%s_bucket{le=\"%g\"} %llu\n", name,
				    metric_lat_bounds[i], (unsigned long long)cum);
		else
			hbuf_printf(b, "ringcache_%s_bucket{le=\"+Inf\"} %llu\n", name,
				    (unsigned long long)cum);
	}
	hbuf_printf(b, "ringcache_%s_sum %.6f\n", name, (double)sum_ns / 1e9);
	hbuf_printf(b, "ringcache_%s_count %llu\n", name, (unsigned long long)cum);
}

size_t stats_render_prometheus(const struct stats *s, char *out, size_t cap)
{
	struct hbuf b;
	hbuf_init(&b, out, cap);
	for (int i = 0; i < M_COUNT; i++) {
		char name[96];
		struct hbuf nb;
		hbuf_init(&nb, name, sizeof(name));
		hbuf_puts(&nb, metric_names[i]);
		hbuf_puts(&nb, "_total");
		hbuf_cstr(&nb);
		family(&b, name, "counter", metric_help[i]);
		hbuf_printf(&b, "ringcache_%s %llu\n", name, (unsigned long long)s->counter[i]);
	}
	family(&b, "connection_closes_total", "counter",
	       "client connections closed, by reason (ops/metrics.h RC_CLOSES)");
	for (int i = 0; i < CLOSE_COUNT; i++)
		hbuf_printf(&b, "ringcache_connection_closes_total{reason=\"%s\"} %llu\n",
			    close_names[i], (unsigned long long)s->close[i]);
	histogram(&b, "request_duration_seconds",
		  "time from a whole request head to the end of its response", s->lat_bucket,
		  s->lat_sum_ns);
	if (s->has[STATS_CLUSTER])
		histogram(&b, "cluster_hop_duration_seconds",
			  "a forward to the key's owner: request sent -> the member's head in",
			  s->hop_bucket, s->hop_sum_ns);
	for (int i = 0; i < G_COUNT; i++) {
		const struct gauge_row *g = &gauges[i];
		if (!s->has[g->part])
			continue;
		family(&b, g->name, g->type, g->help);
		hbuf_puts(&b, "ringcache_");
		hbuf_puts(&b, g->name);
		value(&b, g->name, s->gauge[i]);
	}
	family(&b, "uptime_seconds", "gauge", "time since the daemon started");
	hbuf_printf(&b, "ringcache_uptime_seconds %.3f\n", (double)s->uptime_ms / 1e3);
	server_series(&b, s, "backend_up", "gauge",
		      "1 while the server is in rotation, 0 while its health probes have it out",
		      0);
	server_series(&b, s, "backend_active_requests", "gauge", "exchanges in progress", 1);
	server_series(&b, s, "backend_failed_probes_total", "counter", "health probes that failed",
		      2);
	/* Starvation watchdog, per loop; the maxima cover the time since the
	 * previous snapshot. */
	family(&b, "loop_io_backend", "gauge", "1 for the I/O backend each loop runs on");
	for (unsigned i = 0; i < s->nloops; i++)
		hbuf_printf(&b, "ringcache_loop_io_backend{loop=\"%u\",backend=\"%s\"} 1\n", i,
			    s->loop[i].backend ? s->loop[i].backend : "none");
	loop_series(&b, s, "loop_slow_tasks_total", "counter",
		    "task resumptions over timeouts.task_budget", 0);
	loop_series(&b, s, "loop_lag_seconds", "gauge",
		    "longest scheduling round since the last scrape", 1);
	loop_series(&b, s, "loop_max_task_run_seconds", "gauge",
		    "longest task run between awaits since the last scrape", 2);
	return b.len;
}

double stats_lat_quantile_us(const uint64_t *bucket, double q)
{
	uint64_t total = 0;
	for (int i = 0; i <= RC_LAT_BUCKETS; i++)
		total += bucket[i];
	if (!total)
		return -1;
	double rank = q * (double)total, cum = 0;
	for (int i = 0; i < RC_LAT_BUCKETS; i++) {
		if (cum + (double)bucket[i] >= rank && bucket[i]) {
			double lo = i ? metric_lat_bounds[i - 1] : 0, hi = metric_lat_bounds[i];
			return (lo + (hi - lo) * (rank - cum) / (double)bucket[i]) * 1e6;
		}
		cum += (double)bucket[i];
	}
	return metric_lat_bounds[RC_LAT_BUCKETS - 1] * 1e6;
}

/* JSON string contents: quote, backslash and control bytes escaped. */
static void json_str(struct hbuf *b, const char *s)
{
	hbuf_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			hbuf_put(b, "\\", 1);
			hbuf_put(b, s, 1);
		} else if (c < 0x20) {
			hbuf_printf(b, "\\u%04x", c);
		} else {
			hbuf_put(b, s, 1);
		}
	}
	hbuf_put(b, "\"", 1);
}

/* "latency": bounds and per-bucket counts (the last one is +Inf), in
 * microseconds, for clients that take quantiles over a window. */
static void json_latency(struct hbuf *b, const struct stats *s)
{
	hbuf_puts(b, ", \"latency\": {\"bounds_us\": [");
	for (int i = 0; i < RC_LAT_BUCKETS; i++)
		hbuf_printf(b, "%s%llu", i ? ", " : "",
			    (unsigned long long)(metric_lat_bounds_ns[i] / 1000));
	hbuf_puts(b, "], \"buckets\": [");
	for (int i = 0; i <= RC_LAT_BUCKETS; i++)
		hbuf_printf(b, "%s%llu", i ? ", " : "", (unsigned long long)s->lat_bucket[i]);
	double p50 = stats_lat_quantile_us(s->lat_bucket, 0.5);
	double p99 = stats_lat_quantile_us(s->lat_bucket, 0.99);
	hbuf_printf(b, "], \"sum_us\": %llu, \"p50_us\": %.0f, \"p99_us\": %.0f}",
		    (unsigned long long)(s->lat_sum_ns / 1000), p50, p99);
}

static void json_servers(struct hbuf *b, const struct stats *s)
{
	hbuf_puts(b, ", \"servers\": [");
	for (size_t i = 0; i < s->nservers; i++) {
		const struct stats_server *sv = &s->server[i];
		hbuf_puts(b, i ? ", {\"backend\": " : "{\"backend\": ");
		json_str(b, sv->backend);
		hbuf_puts(b, ", \"server\": ");
		json_str(b, sv->server);
		hbuf_printf(b, ", \"up\": %s, \"active\": %llu, \"failed_probes\": %llu}",
			    sv->up ? "true" : "false", (unsigned long long)sv->active,
			    (unsigned long long)sv->failed_probes);
	}
	hbuf_puts(b, "]");
}

static void json_loops(struct hbuf *b, const struct stats *s)
{
	hbuf_puts(b, ", \"loops\": [");
	for (unsigned i = 0; i < s->nloops; i++) {
		const struct stats_loop *l = &s->loop[i];
		hbuf_printf(b,
			    "%s{\"io\": \"%s\", \"lag_us\": %llu, \"max_run_us\": %llu, "
			    "\"slow_tasks\": %llu}",
			    i ? ", " : "", l->backend ? l->backend : "none",
			    (unsigned long long)(l->lag_ns / 1000),
			    (unsigned long long)(l->max_run_ns / 1000),
			    (unsigned long long)l->slow_tasks);
	}
	hbuf_puts(b, "]");
}

size_t stats_render_json(const struct stats *s, char *out, size_t cap)
{
	struct hbuf b;
	hbuf_init(&b, out, cap);
	hbuf_printf(&b, "{\"time_ms\": %llu, ", (unsigned long long)s->time_ms);
	for (int i = 0; i < M_COUNT; i++)
		hbuf_printf(&b, "\"%s\": %llu, ", metric_names[i],
			    (unsigned long long)s->counter[i]);
	bool first = true;
	for (int i = 0; i < G_COUNT; i++) {
		if (!gauges[i].json || !s->has[gauges[i].part])
			continue;
		hbuf_printf(&b, "%s\"%s\": %llu", first ? "" : ", ", gauges[i].json,
			    (unsigned long long)s->gauge[i]);
		first = false;
	}
	hbuf_printf(&b, "%s\"uptime_ms\": %llu", first ? "" : ", ",
		    (unsigned long long)s->uptime_ms);
	hbuf_puts(&b, ", \"connection_closes\": {");
	for (int i = 0; i < CLOSE_COUNT; i++)
		hbuf_printf(&b, "%s\"%s\": %llu", i ? ", " : "", close_names[i],
			    (unsigned long long)s->close[i]);
	hbuf_puts(&b, "}");
	json_latency(&b, s);
	json_servers(&b, s);
	json_loops(&b, s);
	hbuf_puts(&b, "}\n");
	return b.len;
}
