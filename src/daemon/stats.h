/*
 * stats.h - taking a snapshot of the process (ops/stats.h).
 *
 * The one place that reads the loops' counters, the store's, the
 * compression pool's, the access log's, the backends' health and the
 * loops' watchdog figures; everything that shows numbers renders a
 * snapshot instead of reaching into those itself.
 */
#ifndef RINGCACHE_DAEMON_STATS_H
#define RINGCACHE_DAEMON_STATS_H

#include "daemon/daemon.h"
#include "ops/stats.h"

/* Fill S for D, with the per-server series of generation G (which the
 * caller holds while it uses S). The loops' lag and run-time maxima are
 * those since READER's previous snapshot (ops/stats.h, enum stats_reader).
 * On loop 0 (the admin listener's). */
void stats_take(struct daemon *d, const struct gen *g, struct stats *s, enum stats_reader reader);

#endif
