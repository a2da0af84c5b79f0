/*
 * admin_client.h - the subcommands' way to a running daemon's admin
 * listener (`ringcache log`, and the later stat, top and hist): where it
 * is and its token, from the daemon's own configuration file (-c FILE,
 * read with the config loader) or from --admin http://IP:PORT and
 * --token; then one GET whose body is read as it comes.
 *
 * A subcommand is a process of its own with no loop thread, so plain
 * blocking sockets are fine: connecting and the response head are bounded
 * by ADMIN_CLIENT_TIMEOUT, a streamed body is not (it ends when the daemon
 * or the user ends it).
 */
#ifndef RINGCACHE_CLI_ADMIN_CLIENT_H
#define RINGCACHE_CLI_ADMIN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define ADMIN_CLIENT_TIMEOUT_S 5

struct admin_target {
	struct sockaddr_storage sa;
	socklen_t salen;
	char where[80];	 /* "127.0.0.1:9090", for messages */
	char token[256]; /* "" when none */
};

/*
 * Fill T from CONFIG (a path, or NULL), ADMIN ("http://IP:PORT", or NULL;
 * it wins over the file) and TOKEN (NULL: the file's, if any). A listener
 * on a wildcard address is reached on loopback. 0, or -1 with a message
 * in ERR (ERRCAP bytes; config errors are printed to stderr as
 * FILE:LINE:COL lines).
 */
int admin_target_resolve(struct admin_target *t, const char *config, const char *admin,
			 const char *token, char *err, size_t errcap);

/* A response being read: its status, and its body decoded (chunked or
 * Content-Length or to the close). */
struct admin_resp {
	int fd;
	int status;
	bool chunked;
	bool has_length;
	uint64_t left;	 /* of the body (Content-Length) or of the current chunk */
	bool done;	 /* the body ended */
	char buf[16384]; /* bytes read past what was handed out */
	size_t pos, len;
};

/*
 * GET PATH (with its query, already percent-encoded) from T, with the
 * token as a bearer and ACCEPT as Accept (NULL: none). 0 with R ready for
 * admin_resp_read (R->status set), or -1 with a message in ERR.
 */
int admin_get(const struct admin_target *t, const char *path, const char *accept,
	      struct admin_resp *r, char *err, size_t errcap);

/* Up to CAP decoded body bytes into OUT: their count, 0 at the end of the
 * body, -1 on an error (the connection broke, bad framing). Blocks. */
ssize_t admin_resp_read(struct admin_resp *r, char *out, size_t cap);

/* Wait until admin_resp_read would return without waiting (body bytes
 * buffered, its end, or an error to report), at most TIMEOUT_MS (-1: no
 * limit). 1: ready; 0: not within the time; -1: poll failed. */
int admin_resp_wait(struct admin_resp *r, int timeout_ms);

void admin_resp_close(struct admin_resp *r);

/* Append S percent-encoded as a query value to OUT (CAP bytes, NUL
 * terminated); false when it does not fit. */
bool admin_query_append(char *out, size_t cap, const char *s);

#endif
