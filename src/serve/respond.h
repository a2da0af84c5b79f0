/*
 * respond.h - responses ringcache makes itself: errors, and the reasons
 * connections close.
 *
 * An error response is short text with its status, Cache-Status when the
 * cache path set one, Cache-Control: no-store, and Connection: close
 * unless the caller may keep the connection (its request was read whole).
 * Its detail goes into one log line ("client PEER: TARGET: STATUS:
 * DETAIL") and, when the connection then closes, the close reason
 * (ops/metrics.h RC_CLOSES) is the one its status implies unless the
 * caller set a more precise one.
 */
#ifndef RINGCACHE_SERVE_RESPOND_H
#define RINGCACHE_SERVE_RESPOND_H

#include <stdbool.h>

#include "http/edits.h"
#include "ops/metrics.h"
#include "serve/req.h"

/* The reason phrase of STATUS ("Bad Request"); "Error" for others. */
const char *respond_reason(int status);

/* The close reason an error STATUS implies. */
enum close_reason respond_close_reason(int status);

/*
 * Send a complete short error response for R and log DETAIL with it.
 * With KEEP, and the request read whole and nothing else closing the
 * connection, it stays open; else it closes after this response
 * (r->closing). 0, or the send's negative errno.
 */
int respond_error(struct req *r, int status, const char *detail, bool keep);

/*
 * Send a response the configuration makes (a route's redirect or
 * respond, a 429): STATUS, CTYPE (NULL: none), BODY[0..BLEN), the lines
 * of EXTRA, then the response header rules. WORD is what the access log
 * calls it. KEEP as for respond_error. 0, or the send's negative errno.
 */
int respond_page(struct req *r, int status, const char *ctype, const char *body, size_t blen,
		 const struct hedits *extra, bool keep, const char *word);

#endif
