/*
 * pass.h - a request passed to a backend, streamed both ways.
 *
 * Sends the client's request head (rewritten: hop-by-hop fields removed,
 * Via and X-Forwarded-For added), streams the request body, reads the
 * response and streams it to the client with framing the client can use,
 * all through one backend exchange (backend/exchange.h). Memory is
 * bounded by the connection's buffers whatever the body size.
 */
#ifndef RINGCACHE_SERVE_PASS_H
#define RINGCACHE_SERVE_PASS_H

#include "serve/req.h"

/* Forward the request whose head rq->req holds. */
enum req_result pass_forward(struct req *rq, unsigned backend);

#endif
