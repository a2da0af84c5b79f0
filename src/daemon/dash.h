/*
 * dash.h - the dashboard on the admin listener (docs/admin.md, "The
 * dashboard"): GET / answers one self-contained page (dash/index.html,
 * compiled into the binary by the build: no file is read at run time),
 * GET /stats/stream answers a text/event-stream of /stats snapshots, one
 * a second, which the page draws. The page's recent errors and top missed
 * URLs read GET /log (logstream.h) as an event stream; nothing here.
 *
 * Subscribers are admin tasks on loop 0. They share one snapshot (taken
 * by whichever subscriber finds the last one older than half a second),
 * so N watchers cost one snapshot a second, and nothing at all when no one
 * watches: the snapshot's memory is made by the first subscriber and
 * freed by the last. Every send has a deadline; a subscriber that does
 * not read is dropped, one that closes is noticed at once (its task waits
 * for the next tick in a receive), and drain cancels them with the rest of
 * the admin group.
 */
#ifndef RINGCACHE_DAEMON_DASH_H
#define RINGCACHE_DAEMON_DASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Streams at once; the next one gets 503. Each holds an admin request's
 * buffers (about 150 KiB) for as long as it watches. */
#define DASH_STREAMS_MAX 16

/* struct dash_hub, the subscribers' state, is in struct daemon
 * (daemon.h), which this header must not include: daemon.h sits above
 * the admin routes. */

struct dloop;
struct gen;

/* What a stream needs of the admin request that asked for it. */
struct dash_client {
	int fd;
	struct dloop *l; /* loop 0 */
	/* Whether the request is still allowed under G: each tick asks, so a
	 * reload that changes admin.allow or admin.token ends the stream. */
	bool (*allowed)(void *ctx, const struct gen *g);
	void *ctx;
};

/* Write the page's response on FD. 0 or a negative errno. */
int dash_page(int fd);

/* Serve a stream on C until the client goes away, stops reading, loses
 * its permission, or the loop drains; or answer 503 at the cap. Holds no
 * generation between ticks. 0 or a negative errno. */
int dash_stream(const struct dash_client *c);

/* The page, from the build (dash_assets.c, made of dash/index.html). */
extern const unsigned char dash_index_html[];
extern const size_t dash_index_html_len;

#endif
