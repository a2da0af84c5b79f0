/*
 * logstream.h - GET /log on the admin listener: the request record stream
 * (ops/rlog.h), filtered and formatted on the admin loop, sent as it comes.
 *
 * Parameters (query string, percent-encoded):
 *   q=QUERY         the filter (ops/query.h); compiled here again, whatever
 *                   the client checked: a bad one is a 400 with
 *                   {"error": ..., "column": N}
 *   hdr=NAME        a request header to carry (repeatable; at most 8 names
 *                   over all subscribers at once)
 *   format=F        json (default), compact or ncsa (ops/recfmt.h), or bin
 *                   (ops/recwire.h: the fields copied, no text made here:
 *                   what the ringcache subcommands ask for)
 *   group=1         the backend exchange on a line under its request
 * The body is chunked; with "Accept: text/event-stream" it is an SSE stream
 * (each line a "data:" event, losses as "event: lost"), else one line per
 * record. Lost records are reported in the stream as they are noticed.
 *
 * The subscriber's task reads the rings every 10 ms, and between reads
 * waits on the socket, so a client that goes away ends it at once; one
 * that stops reading blocks only its own task (its sends wait up to 60 s,
 * then it is dropped) while the rings go on and its loss is counted; once
 * it is a whole ring behind it is paused (rlog_pause), so that the loops
 * stop writing records for it, until its send goes through. At most
 * RLOG_MAX_SUBS streams at once: a 503 says so. Drain, and a reload that
 * takes the client's permission away, end them.
 */
#ifndef RINGCACHE_DAEMON_LOGSTREAM_H
#define RINGCACHE_DAEMON_LOGSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/daemon.h"
#include "http/msg.h"

struct gen;

/* Whether the request is still allowed under generation G (admin.allow
 * and admin.token as G has them): asked once a second, so that a reload
 * that takes the permission away ends the stream. */
typedef bool (*logstream_allowed_fn)(void *ctx, const struct gen *g);

/* Serve GET /log on FD (an admin connection of loop L, already
 * authorised) for request M with query string QS (QL bytes). Returns when
 * the stream ends; 0, or -1 when the client could not be answered. */
int logstream_serve(struct dloop *l, int fd, const struct hmsg *m, const char *qs, size_t ql,
		    logstream_allowed_fn allowed, void *ctx);

#endif
