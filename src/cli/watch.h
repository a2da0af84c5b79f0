/*
 * watch.h - what `ringcache top` and `ringcache hist` share: their common
 * options, and the loop that feeds records from a running daemon's record
 * stream (cli/recstream.h) into a view and draws it once a second.
 *
 * Live on a terminal: the alternate screen (cli/term.h), redrawn each
 * second, on a key and on a resize; 'q' quits. When the daemon is not
 * there or goes away (a drain, a restart) the screen says so and the
 * stream is opened again every second; records the daemon says were lost
 * are counted on screen. Not a terminal (a pipe, TERM=dumb): the same
 * frame as plain text, once a second, no escapes. With -1: records are
 * gathered for -d SECONDS (default: the window), the frame is printed once
 * as plain text and the command exits.
 *
 * Time is the monotonic clock in whole seconds, read when a record
 * arrives, so a view's window is the last W seconds of arrivals.
 *
 * The stream is read on a thread of its own that feeds the view; the
 * calling thread draws and reads keys. A view's callbacks are called
 * under one lock, never two at once, so a view needs no locking itself.
 */
#ifndef RINGCACHE_CLI_WATCH_H
#define RINGCACHE_CLI_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/rlog.h"

#define WATCH_DEFAULT_WINDOW 60
#define WATCH_MAX_WINDOW     600 /* -w; each view's table takes it */

struct watch_cfg {
	const char *prog; /* "top", for messages: "ringcache top: ..." */
	const char *config, *admin, *token, *query;
	unsigned window;   /* seconds; 0 until -w */
	bool once;	   /* -1 */
	unsigned duration; /* -d; 0: the window */
};

/* The options both commands take, for their getopt tables. */
#define WATCH_SHORT_OPTS "c:q:w:d:1"
#define WATCH_LONG_OPTS                                                                            \
	{"config", required_argument, NULL, 'c'}, {"admin", required_argument, NULL, 'A'},         \
	    {"token", required_argument, NULL, 'T'}, {"query", required_argument, NULL, 'q'},      \
	    {"window", required_argument, NULL, 'w'}, {"duration", required_argument, NULL, 'd'},  \
	{                                                                                          \
		"once", no_argument, NULL, '1'                                                     \
	}

/* Option CH with ARG into CFG: 1 when it was one of the common ones, 0
 * when not, -1 (after a message) when its value is bad. */
int watch_opt(struct watch_cfg *cfg, int ch, const char *arg);

/* What a frame is drawn with. */
struct watch_status {
	const char *where;   /* "127.0.0.1:9090" */
	bool live;	     /* the stream is open */
	const char *problem; /* why not, when not live: the daemon's words */
	uint64_t lost;	     /* records lost, over every stream since the start */
	unsigned covered;    /* seconds of the window seen so far (1..window) */
	bool plain;	     /* not a terminal: no keys to list */
};

struct watch_view {
	void *ctx;
	/* A record that arrived at second NOW. */
	void (*feed)(void *ctx, const struct rlog_rec *rec, int64_t now);
	/* The frame at NOW into OUT (CAP bytes, NUL-terminated), lines
	 * ending in '\n', at most COLS x ROWS: its length. */
	size_t (*draw)(void *ctx, int64_t now, unsigned cols, unsigned rows,
		       const struct watch_status *st, char *out, size_t cap);
	/* A key other than 'q' (live on a terminal only): a byte or a
	 * TERM_KEY_* of cli/term.h (arrows, pages). Redraw when true. */
	bool (*key)(void *ctx, int key);
};

/* Check the query (its column on error), find the daemon, run the view.
 * The exit status: 0, 1 when the daemon could not be reached (with -1) or
 * the stream broke with -1, 2 for a bad query or target. */
int watch_run(const struct watch_cfg *cfg, const struct watch_view *v);

#endif
