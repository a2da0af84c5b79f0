/*
 * statview.h - what `ringcache stat` shows, as text: the live screen (a
 * summary on top, then one row per number: name, value, rate over the
 * last interval, average since start, description), the plain lines of
 * -1 and of a terminal that cannot be drawn on, and the JSON of -j.
 *
 * Rendering only: the snapshots come in (promtext.h), text goes out to a
 * FILE or into a buffer. Screen lines are cut at the terminal's width and
 * never wrap; colour (SGR) is added only on the live screen.
 */
#ifndef RINGCACHE_CLI_STATVIEW_H
#define RINGCACHE_CLI_STATVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli/promtext.h"

struct statview {
	const char *where;	 /* the admin listener, for the title */
	const char *const *pats; /* -f patterns */
	size_t npats;
	double interval_s; /* of the refresh, for the messages */
	const char *error; /* "" or why the last read failed (shown on top) */
	int scroll;	   /* first row of the table shown */
	long now;	   /* wall clock (time(NULL)) for the title */
};

/*
 * The live screen for a terminal of ROWS x COLS into *BUF (malloc'd, of
 * *CAP bytes, grown by the call; NULL and 0 at first): *LEN bytes of
 * cursor moves and lines to write as they are. From CUR and PREV (NULL
 * before the second read). V->scroll is clamped to the table. 0, or
 * -ENOMEM.
 */
int statview_screen(struct statview *v, const struct prom_snap *prev, const struct prom_snap *cur,
		    int rows, int cols, char **buf, size_t *cap, size_t *len);

/* Plain lines to F: name, value, rate over the interval (when PREV is
 * given), average per second since start, description. */
void statview_plain(const struct statview *v, const struct prom_snap *prev,
		    const struct prom_snap *cur, FILE *f);

/* One JSON object and a newline to F: uptime, a summary (hit ratio and
 * latency quantiles since start), and every number that passes the
 * filter with its value, type, average since start and description. */
void statview_json(const struct statview *v, const struct prom_snap *cur, FILE *f);

#endif
