/*
 * promtext.h - a /metrics answer (Prometheus text exposition) read into a
 * list of named numbers, for `ringcache stat`.
 *
 * /metrics is the one rendering that has every number of the snapshot
 * (/stats leaves some out); its counters and gauges are the same values
 * /stats shows. Names are made the way /stats spells them: "ringcache_"
 * dropped, a counter's "_total" dropped, label values appended with dots
 * ("connection_closes.asked", "backend_up.app.10.0.0.1:80"). The request
 * latency histogram is kept apart, per bucket (not cumulative).
 *
 * Pure: no I/O; the caller owns the snapshot and frees it with
 * prom_snap_free.
 */
#ifndef RINGCACHE_CLI_PROMTEXT_H
#define RINGCACHE_CLI_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>

#define PROM_NAME_MAX 160
#define PROM_LAT_MAX  64 /* histogram buckets kept, +Inf included */

struct prom_series {
	char name[PROM_NAME_MAX]; /* as above */
	char family[96];	  /* the metric's name without "ringcache_" (and labels) */
	const char *help;	  /* from # HELP, into the snapshot's text; "" when none */
	bool counter;		  /* # TYPE counter: a rate makes sense */
	double value;
};

struct prom_snap {
	struct prom_series *s;
	size_t n, cap;
	double uptime_s;		 /* ringcache_uptime_seconds; -1 when absent */
	size_t nlat;			 /* buckets of request_duration_seconds, +Inf last */
	double lat_le[PROM_LAT_MAX];	 /* upper bounds in seconds (+Inf last) */
	double lat_bucket[PROM_LAT_MAX]; /* per bucket, not cumulative */
	char *text;			 /* a copy of the input that help points into */
};

/* Parse LEN bytes of TEXT into SNAP (zeroed first). 0, or -ENOMEM, or
 * -EINVAL when nothing in it looks like ringcache's /metrics. */
int prom_parse(struct prom_snap *snap, const char *text, size_t len);

/* The series called NAME, or NULL. */
const struct prom_series *prom_find(const struct prom_snap *snap, const char *name);

/* NAME's value, or DFLT when it is absent. */
double prom_value(const struct prom_snap *snap, const char *name, double dflt);

void prom_snap_free(struct prom_snap *snap);

#endif
