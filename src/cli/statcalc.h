/*
 * statcalc.h - the arithmetic of `ringcache stat`: rates over the last
 * interval and since start, hit ratios, latency quantiles over a window,
 * and which names a -f filter lets through.
 *
 * Pure functions of two snapshots (promtext.h). Time is the daemon's own
 * uptime in each snapshot, taken when the snapshot was: a slow answer
 * does not bend a rate, and an uptime that went down means the daemon
 * restarted (no interval then, as varnishstat does after a restart).
 */
#ifndef RINGCACHE_CLI_STATCALC_H
#define RINGCACHE_CLI_STATCALC_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/promtext.h"

/* Seconds between PREV and CUR, or -1 when there is no interval (no
 * PREV, no uptime in one of them, or the daemon restarted). */
double stat_interval(const struct prom_snap *prev, const struct prom_snap *cur);

/* The value of CUR's series I in PREV (found by name; I is tried first,
 * since the order rarely changes), or NAN when PREV lacks it. */
double stat_prev_value(const struct prom_snap *prev, const struct prom_snap *cur, size_t i);

/* Per second over the interval DT (stat_interval) for a counter going
 * from BEFORE to NOW; NAN when there is no interval, BEFORE is NAN, or
 * the counter went down (a restart between two reads). */
double stat_rate(double before, double now, double dt);

/* Per second since start: VALUE over UPTIME; NAN when UPTIME <= 0. */
double stat_avg(double value, double uptime);

/* HITS over HITS + MISSES (passes are not lookups that could hit, as on
 * the dashboard); NAN when both are 0. */
double stat_hit_ratio(double hits, double misses);

/*
 * The Q quantile (0 < Q < 1) in seconds of the latency recorded between
 * PREV and CUR (PREV NULL: since start), interpolated inside its bucket as
 * Prometheus's histogram_quantile does; NAN when nothing was recorded or
 * the two histograms differ in shape.
 */
double stat_latency_quantile(const struct prom_snap *prev, const struct prom_snap *cur, double q);

/*
 * Whether NAME passes the -f patterns PATS (N of them), as varnishstat's
 * -f: a pattern that starts with '^' excludes what it matches, any other
 * includes; with no including pattern everything not excluded passes. A
 * pattern with a glob character (* ? [) matches the whole name
 * (fnmatch); one without matches a part of it.
 */
bool stat_filter_pass(const char *const *pats, size_t n, const char *name);

#endif
