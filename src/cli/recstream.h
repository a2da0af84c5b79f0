/*
 * recstream.h - a running daemon's request records, as struct rlog_rec,
 * for the subcommands that read them (`ringcache log`, `top`, `hist`).
 *
 * It asks GET /log for the binary record format (ops/recwire.h: what the
 * daemon's loop writes is a copy of each record's fields, no text
 * formatting), so that watching costs the daemon as little as it can; the
 * text is made here, in the subcommand's own process. The query (ops/query.h)
 * is still applied by the daemon, before anything is sent.
 *
 * Blocking, like admin_client.h: a subcommand has no loop thread.
 */
#ifndef RINGCACHE_CLI_RECSTREAM_H
#define RINGCACHE_CLI_RECSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/admin_client.h"
#include "ops/rlog.h"

struct recstream_opts {
	const char *query;	 /* NULL: every record */
	const char *const *hdrs; /* request header names to carry, NULL when NHDR is 0 */
	unsigned nhdr;		 /* at most RLOG_HDRS */
};

struct recstream;

/*
 * Open the stream on T. 0 with *SP; -1 when the daemon could not be
 * reached or refused (ERR says why, with the daemon's own words); -2 when
 * the daemon refused the query or a header name (400: ERR has its text).
 */
int recstream_open(struct recstream **sp, const struct admin_target *t,
		   const struct recstream_opts *o, char *err, size_t errcap);

/*
 * The next record into *OUT, waiting at most TIMEOUT_MS (0: only what has
 * already arrived; -1: no limit). OUT->hdr[i] is the value of the i-th
 * name of opts.hdrs ("" when the request had none). 1: a record; 0: none
 * within the time; -1: the daemon ended the stream (a drain); -2: the
 * stream broke (ERR of recstream_error says how).
 */
int recstream_next(struct recstream *s, struct rlog_rec *out, int timeout_ms);

/* Records the daemon said this reader lost, in all (a slow reader loses
 * records; it never slows the daemon). Any thread may ask. */
uint64_t recstream_lost(const struct recstream *s);

/* Why recstream_next returned -2. */
const char *recstream_error(const struct recstream *s);

/* The socket, for poll() beside a terminal; data may already be buffered:
 * call recstream_next(s, out, 0) first. */
int recstream_fd(const struct recstream *s);

void recstream_close(struct recstream **sp);

#endif
