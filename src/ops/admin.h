/*
 * admin.h - the admin listener: health, metrics, stats, purge, ban, tag
 * purge (docs/admin.md). Served by loop 0 with the same runtime as client
 * traffic; requests are small and every action is a short store call, so
 * it needs no thread of its own.
 */
#ifndef RINGCACHE_OPS_ADMIN_H
#define RINGCACHE_OPS_ADMIN_H

#include "proxy/proxy.h"

/* A connection accepted on the admin listener (listen.c), on loop 0:
 * serve it in a task of its own. Takes FD. */
void admin_accepted(struct worker *w, int fd);

/* Prometheus text for the whole process, for tests and the endpoint.
 * Writes at most CAP bytes into OUT, returns the length. */
struct gen;
size_t admin_render_metrics(struct proxy *px, const struct gen *g, char *out, size_t cap);

#endif
