/*
 * stats.h - request counters of ringcache-origin, shared by all loop threads.
 *
 * Tests ask the origin how often a given request-target reached it (did the
 * proxy serve it from cache or forward it?), so counts are kept per exact
 * request-target plus one total. One mutex guards everything: this is a test
 * server, and a lock held for a hash lookup is far cheaper than the request.
 */
#ifndef RINGCACHE_ORIGIN_STATS_H
#define RINGCACHE_ORIGIN_STATS_H

#include <stddef.h>
#include <stdint.h>

void stats_init(void);
void stats_destroy(void);

/* Count one request for TARGET; returns the new total (X-Origin-Request). */
uint64_t stats_count(const char *target, size_t len);
/* Current total, without counting. */
uint64_t stats_total(void);
/* Requests seen for exactly TARGET since the last reset. */
uint64_t stats_get(const char *target, size_t len);
/* Count one 101 sent (an accepted WebSocket handshake, or force101). */
void stats_count_upgrade(void);
/* 101s sent since the last reset. */
uint64_t stats_upgrades(void);
/* Zero every counter. */
void stats_reset(void);

#endif
