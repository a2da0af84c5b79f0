/*
 * health.h - active health probes of backend servers.
 *
 * For each server of a backend with `health_check`, one probe task sends
 * `GET path` on a fresh connection every interval and reads the status
 * line; the whole probe (connect, send, status) must finish within the
 * timeout. `fall` failed probes in a row take the server out of rotation
 * (backend_pick skips it), `rise` good ones in a row bring it back. Each
 * change is logged and shown in /metrics (ringcache_backend_up).
 *
 * Probes run on the loops like any task: server i of a generation is
 * probed by loop i % loops, so two loops never probe one server. A reload
 * stops the old generation's probes and starts the new one's, which take
 * over the state of servers with the same address (a dead server stays
 * out across a reload).
 */
#ifndef RINGCACHE_BACKEND_HEALTH_H
#define RINGCACHE_BACKEND_HEALTH_H

#include <stdbool.h>

#include "backend/gen.h"
#include "config/config.h"

/* On B's loop: start the probes of G that belong to this loop (in G's
 * slot's task group; each holds G). */
void health_start(struct bloop *b, struct gen *g);
/* On B's loop: stop the probes of B's current generation (reload
 * switched away, or drain). */
void health_stop(struct bloop *b);

/* Main thread, before G is posted (a reload or a DNS change): take over
 * what OLD knows of each server with the same address: the probes' up/down
 * state and runs (when G probes it), passive health (when G counts it) and
 * the no-reuse mark. */
void health_inherit(struct gen *g, const struct gen *old);

/* Is the status line's code what the check expects? (exposed for tests) */
bool health_status_ok(const struct config_health *h, int status);

#endif
