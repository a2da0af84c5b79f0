/*
 * canned.h - a raw backend for responses the test origin cannot make
 * (interim 1xx responses, a POST answered with its own Content-Location).
 *
 * It listens on a fresh port and serves each connection in a process of
 * its own; for each request (head, and a Content-Length body read whole)
 * the test's handler writes the answer to the socket itself. Requests are
 * counted in shared memory, so a test can tell a hit from a fetch. Every
 * process ends on canned_stop, or by itself after SECONDS (alarm).
 */
#ifndef SCENARIO_CANNED_H
#define SCENARIO_CANNED_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

struct canned_req {
	char method[16];
	char path[512];
	const char *head; /* through the empty line */
	size_t head_len;
	const char *body; /* Content-Length bytes */
	size_t body_len;
};

/* Answer RQ on FD; return < 0 to close the connection. */
typedef int (*canned_fn)(int fd, const struct canned_req *rq, void *ctx);

struct canned {
	pid_t pid;
	int port;
	atomic_long *requests; /* shared with the serving processes */
};

void canned_start(struct canned *cb, int seconds, canned_fn fn, void *ctx);
void canned_stop(struct canned *cb);
/* Requests served so far (all connections). */
long canned_requests(const struct canned *cb);
/* Send all of S on FD; 0 or -1. */
int canned_send(int fd, const char *s, size_t n);

#endif
