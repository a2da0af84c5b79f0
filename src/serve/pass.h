/*
 * upstream.h - one request/response exchange with a backend, streamed.
 *
 * Sends the client's request head (rewritten: hop-by-hop fields removed,
 * Via and X-Forwarded-For added), streams the request body, reads the
 * response and streams it to the client with framing the client can use.
 * Memory is bounded by the connection's buffers whatever the body size.
 */
#ifndef RINGCACHE_SERVE_PASS_H
#define RINGCACHE_SERVE_PASS_H

#include "serve/conn.h"

enum upstream_result {
	UP_OK = 0,	/* response complete; the client connection may continue */
	UP_CLOSE = 1,	/* response complete; close the client connection */
	UP_ABORT = 2,	/* failed after the response started: close without ending it */
	UP_ERRORED = 3, /* an error response was sent; close */
};

/* Forward the request whose head c->req holds. */
enum upstream_result upstream_forward(struct client *c, unsigned backend);

#endif
