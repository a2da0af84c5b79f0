/*
 * admin.h - the admin listener: health, metrics, stats, purge, ban, tag
 * purge (docs/admin.md). Served by loop 0 with the same runtime as client
 * traffic; requests are small and every action is a short store call, so
 * it needs no thread of its own.
 */
#ifndef RINGCACHE_OPS_ADMIN_H
#define RINGCACHE_OPS_ADMIN_H

#include "proxy/proxy.h"

/* Open the admin socket (main thread, before the loops start). 0, or
 * -errno (logged). No-op when admin is not configured. */
int admin_open(struct proxy *px);
/* Start the accept task on the calling loop (worker 0). */
void admin_start(struct worker *w);
/* Stop accepting (drain); the loop finishes open admin requests. */
void admin_stop(struct worker *w);
void admin_close(struct proxy *px);

/* Prometheus text for the whole process, for tests and the endpoint.
 * Writes at most CAP bytes into OUT, returns the length. */
size_t admin_render_metrics(struct proxy *px, char *out, size_t cap);

#endif
