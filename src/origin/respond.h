/*
 * respond.h - turning one parsed request into its response: the query
 * parameters of docs/origin.md, the special paths, 400 replies and the
 * answer to a WebSocket upgrade.
 */
#ifndef RINGCACHE_ORIGIN_RESPOND_H
#define RINGCACHE_ORIGIN_RESPOND_H

#include <stdbool.h>
#include <stddef.h>

#include "origin/buf.h"
#include "origin/ws.h"

struct origin_req {
	int method; /* enum llhttp_method */
	unsigned http_major, http_minor;
	bool keep_alive; /* llhttp_should_keep_alive() of the request */
	const char *target;
	size_t target_len;
	const char *inm; /* If-None-Match values joined by ", "; NULL if absent */
	size_t inm_len;
	const char *hdrs; /* "Name: Value\r\n" lines as received, for /echo */
	size_t hdrs_len;
	const char *body; /* decoded request body, kept for /echo only */
	size_t body_len;
};

/* Fill the body pattern; call once before serving. */
void respond_init(void);
/* Whether TARGET is /echo, whose request body must be kept. */
bool respond_is_echo(const char *target, size_t len);
/* respond() sent a 101: the connection speaks WebSocket from the next byte. */
#define RESPOND_UPGRADED 1

/* Send the response to RQ on FD. SCRATCH is reusable memory of the caller.
 * Sets *CLOSE_CONN when the connection must close afterwards. Returns 0,
 * RESPOND_UPGRADED with the session's options in *WS, or a negative errno
 * (write failed, timed out or the task was cancelled). */
int respond(int fd, const struct origin_req *rq, struct buf *scratch, bool *close_conn,
	    struct ws_opts *ws);
/* Send STATUS (400, 413, 414, 431) with Connection: close. */
int respond_error(int fd, int status, struct buf *scratch);

#endif
