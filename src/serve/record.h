/*
 * record.h - the request record stream's writer (ops/rlog.h): a finished
 * request's record, made from what the request kept for the access log
 * and for its response (serve/req.h), into its loop's ring.
 *
 * Called only when r->rec_on (someone subscribed when the request began):
 * a request nobody watches pays that one test. It never waits and never
 * allocates: the strings are copied, cut to their room, into the ring's
 * slot itself.
 */
#ifndef RINGCACHE_SERVE_RECORD_H
#define RINGCACHE_SERVE_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "rt/clock.h"
#include "serve/req.h"

/* Write R's record: T0 when its head was in, PARSED when r->req holds a
 * whole head (else only what the connection knows: a 4xx for a bad head). */
void record_request(struct req *r, rt_time_t t0, bool parsed);

/* The response head (LEN bytes from its status line to its blank line)
 * goes to the client: keep the values of the response header names
 * subscribers asked for. One test when nobody asked for any. */
void record_note_head(struct req *r, const char *head, size_t len);

#endif
