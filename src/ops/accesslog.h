/*
 * accesslog.h - the access log: one line per response, in the NCSA
 * combined format (plus cache fields) or as JSON, written through io_uring
 * so that a slow disk never stalls a loop.
 *
 * Two objects:
 *
 * - struct alog, one per process, made by the main thread at start
 *   (alog_open) and reopened by it on SIGUSR1 (alog_reopen). It owns the
 *   file: a refcounted fd object with a generation number. A reopen
 *   publishes a new one; every loop switches at its next write and the old
 *   fd is closed when the last writer lets go of it, so no write ever goes
 *   to a closed (or reused) fd number.
 *
 * - struct alog_loop, one per loop thread, used only on that thread. It has
 *   two 64 KiB buffers: alog_append formats a line into one while the other
 *   may be on its way to the disk. The append never waits: when the buffer
 *   is full (the disk is slower than the traffic) the line is dropped and
 *   counted. A flush task, spawned by the append that finds none, writes the
 *   buffer one second after its first line or as soon as it is half full,
 *   and ends once everything is written: an idle loop has no task, no timer
 *   and holds no fd (a rotated file is released by every loop that has
 *   nothing to write).
 *
 * Formats (docs/accesslog.md has examples):
 *
 *   combined: CLIENT - - [DD/Mon/YYYY:HH:MM:SS +0000] "METHOD TARGET PROTO"
 *             STATUS BYTES "REFERER" "USER-AGENT" host="HOST" cache=CACHE
 *             rt=SECONDS urt=SECONDS|- backend="BACKEND"
 *     nginx's escaping: '"', '\', bytes below 0x20 and from 0x7f up are
 *     written \xHH, so a line is always one line of printable ASCII; so
 *     are spaces inside the request line and the bare (unquoted) fields,
 *     so that splitting on spaces finds the fields. Times are UTC; rt and
 *     urt are seconds with microseconds. An absent string is "-" (quoted
 *     where the field is quoted).
 *   json: {"time":"YYYY-MM-DDTHH:MM:SS.mmmZ","client":...,"duration_us":N,
 *          "upstream_us":N|null,...}, one object per line. Strings are
 *     escaped per RFC 8259: '"' and '\' with a backslash, bytes below 0x20
 *     and 0x7f as \u00XX; valid UTF-8 is copied as it is, and each byte of
 *     an invalid sequence is written \u00XX (its Latin-1 reading). Since a
 *     valid character from U+0080 up is never escaped, \u0080..\u00ff in a
 *     line always means "this raw byte was not UTF-8". Absent strings are
 *     null.
 *   Both: a string longer than its field's limit (4096 bytes for the
 *   target, 2048 for the referer, 1024 for the user agent, 256 for host
 *   and backend, 64 for the rest) is cut there (at a UTF-8 boundary) and
 *   marked with "...", so a line never outgrows a buffer.
 */
#ifndef RINGCACHE_OPS_ACCESSLOG_H
#define RINGCACHE_OPS_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "config/config.h"

#define ALOG_BUF_SIZE (64u << 10) /* per buffer; two per loop */

struct alog;
struct alog_loop;

/* A string that need not be NUL-terminated (a span of a request buffer).
 * P == NULL means absent. */
struct alog_str {
	const char *p;
	size_t len;
};

static inline struct alog_str alog_cstr(const char *s)
{
	return (struct alog_str){s, s ? strlen(s) : 0};
}

/* One response. Nothing is kept after alog_append returns. */
struct alog_rec {
	struct alog_str client; /* client IP address, e.g. "192.0.2.1" or "2001:db8::1" */
	struct timespec start;	/* CLOCK_REALTIME when the request began */
	struct alog_str method; /* absent when the request line could not be read */
	struct alog_str target; /* request-target as received */
	uint8_t http_major;	/* HTTP/major.minor; major 0: unknown (not logged) */
	uint8_t http_minor;
	int status;		 /* status sent (0: none was sent) */
	uint64_t bytes;		 /* bytes sent for the response, head included */
	struct alog_str referer; /* header values, absent when not given */
	struct alog_str user_agent;
	struct alog_str host;
	struct alog_str cache;	 /* "hit", "miss", "pass", "stale", "collapsed", ... */
	uint64_t duration_ns;	 /* request start to the response's last byte */
	int64_t upstream_ns;	 /* time spent on the backend exchange; -1: none */
	struct alog_str backend; /* the server that answered ("app 10.0.0.1:80"); absent: none */
};

struct alog_stats {
	uint64_t written;      /* lines that reached the file */
	uint64_t dropped;      /* lines lost: buffer full, write error, or left at exit */
	uint64_t write_errors; /* failed writes (each may lose many lines) */
};

/*
 * Open PATH (O_WRONLY | O_APPEND | O_CREAT, mode 0640) for lines in FMT.
 * Call on a thread that may block (the main thread, at start). Returns
 * NULL with *ERR = -errno on failure.
 */
struct alog *alog_open(const char *path, enum config_access_format fmt, int *err);

/*
 * Open the path again (logrotate renamed the file) and make every loop
 * switch to the new fd at its next write; the old fd is closed once no loop
 * writes to it. Returns 0, or -errno with the old file kept (the caller
 * logs it). Any thread that may block: the main thread, on SIGUSR1.
 */
int alog_reopen(struct alog *a);

/* The path it writes to (fixed at alog_open). */
const char *alog_path(const struct alog *a);

/* Counters, summed over all loops; from any thread (for /metrics). */
void alog_stats_read(const struct alog *a, struct alog_stats *out);

/*
 * Close the file and free A; NULLs *AP (accepts NULL). Every alog_loop of
 * A must have been freed first (their loops have finished).
 */
void alog_close(struct alog **ap);

/* A loop's half: allocated anywhere, then used only on that loop's thread.
 * Returns NULL on allocation failure. */
struct alog_loop *alog_loop_create(struct alog *a);

/*
 * Log one response. On the loop's thread, from a task or a callback;
 * never waits: a line that does not fit is dropped and counted. AL == NULL
 * (no access log) does nothing.
 */
void alog_append(struct alog_loop *al, const struct alog_rec *r);

/*
 * The loop is draining: from now on lines are written at once instead of
 * up to a second later, so the loop's last flush does not hold up its end.
 * Appends stay allowed (requests still finishing are logged). On the loop's
 * thread. Without it the loop still ends, up to a second later.
 */
void alog_loop_stop(struct alog_loop *al);

/*
 * Free AL after its loop has finished running (rt_loop_run returned: the
 * flush task is gone). Lines still buffered, which only happens when a
 * flush task could not be started, are counted as dropped. NULLs *ALP;
 * accepts NULL.
 */
void alog_loop_free(struct alog_loop **alp);

/*
 * Format R as one line (with its '\n') into BUF; returns its length, or 0
 * when it does not fit in CAP bytes. Exposed for tests; a CAP of
 * ALOG_LINE_MAX is always enough.
 */
size_t alog_format(enum config_access_format fmt, const struct alog_rec *r, char *buf, size_t cap);

/* The longest line alog_format can produce (every field at its limit, all
 * escaped): smaller than one buffer, so every line can be logged. */
#define ALOG_LINE_MAX (48u << 10)

#endif
