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

#define LAT_BOUNDS(X)                                                                              \
	X(10e-6)                                                                                   \
	X(25e-6)                                                                                   \
	X(50e-6) X(100e-6) X(250e-6) X(500e-6) X(1e-3) X(2.5e-3) X(5e-3) X(10e-3) X(25e-3)         \
	    X(50e-3) X(100e-3) X(250e-3) X(500e-3) X(1) X(2.5) X(5) X(10)

const double metric_lat_bounds[RC_LAT_BUCKETS] = {
#define X(s) s,
    LAT_BOUNDS(X)
#undef X
};

const uint64_t metric_lat_bounds_ns[RC_LAT_BUCKETS] = {
#define X(s) (uint64_t)((s)*1e9 + 0.5),
    LAT_BOUNDS(X)
#undef X
};

static void observe(_Atomic uint64_t *bucket, _Atomic uint64_t *sum, uint64_t ns)
{
	/* Non-cumulative buckets here; the exposition sums them. */
	int i = 0;
	while (i < RC_LAT_BUCKETS && ns > metric_lat_bounds_ns[i])
		i++;
	atomic_fetch_add_explicit(&bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(sum, ns, memory_order_relaxed);
}

void metrics_observe_latency(struct metrics *m, uint64_t ns)
{
	observe(m->lat_bucket, &m->lat_sum_ns, ns);
}

void metrics_observe_hop(struct metrics *m, uint64_t ns)
{
	observe(m->hop_bucket, &m->hop_sum_ns, ns);
}
