/* metrics.c - counter names and help strings from the metrics table. */
#include "ops/metrics.h"

const char *const metric_names[M_COUNT] = {
#define X(name, help) #name,
    RC_METRICS(X)
#undef X
};

const char *const metric_help[M_COUNT] = {
#define X(name, help) help,
    RC_METRICS(X)
#undef X
};

const char *const close_names[CLOSE_COUNT] = {
#define X(name, help) #name,
    RC_CLOSES(X)
#undef X
};

const char *const close_help[CLOSE_COUNT] = {
#define X(name, help) help,
    RC_CLOSES(X)
#undef X
};

const double metric_lat_bounds[RC_LAT_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

void metrics_observe_latency(struct metrics *m, uint64_t ns)
{
	/* Non-cumulative buckets here; the exposition sums them. */
	double s = (double)ns / 1e9;
	int i = 0;
	while (i < RC_LAT_BUCKETS && s > metric_lat_bounds[i])
		i++;
	atomic_fetch_add_explicit(&m->lat_bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->lat_sum_ns, ns, memory_order_relaxed);
}
