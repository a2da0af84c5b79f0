/*
 * disk.h - helpers of the disk tier's scenario tests (cache_disk.c,
 * cache_disk_faults.c): /metrics read and polled, the admin API posted
 * to, the daemon's log searched, a store file damaged.
 */
#ifndef SCENARIO_DISK_H
#define SCENARIO_DISK_H

#include <sys/types.h>

#include "harness.h"

/* GET /metrics on the admin port AP: the text (malloc'd). */
char *fetch_metrics(int ap);
/* The value of SERIES (a name with its labels, if any) in /metrics text, or -1. */
double prom(const char *text, const char *series);
/* Poll /metrics (max SECONDS) until SERIES is WANT; the last text
 * (malloc'd). Fails the test, with D's log, if it never is. */
char *wait_metric(int ap, struct proc *d, const char *series, double want, int seconds);
/* The same until SERIES is at least MIN. */
char *wait_at_least(int ap, struct proc *d, const char *series, double min, int seconds);
/* wait_metric for ringcache_disk_rebuild_done 1. */
char *wait_rebuilt(int ap, struct proc *d, int seconds);
/* How many times NEEDLE occurs in D's log. */
int log_count(struct proc *d, const char *needle);
/* POST PATH on the admin API AP: 200 (asserts). */
void admin_post(int ap, const char *path);
/* SIGTERM: D must exit 0 (its log in the failure otherwise). */
void stopped_cleanly(struct proc *d);
/* N bytes of the file STORE at AT overwritten with garbage drawn from
 * SEED (a torn write, a bad block). */
void damage(const char *store, off_t at, size_t n, unsigned seed);

#endif
