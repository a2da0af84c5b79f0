/*
 * dstream.h - a disk hit sent as it is read (issue 18): a record longer
 * than DSTREAM_MIN is not read whole before the first byte goes out. Its
 * first window (the header, key, meta and head lines, and the body's first
 * bytes) is read and checked in the request's task; the object made from
 * it is published with its body still filling, and a task of its own
 * reads the rest a window at a time, appending the body as it comes, so
 * the client (and every request coalesced onto the key) is sent the body
 * at the disk's pace and only one window is held for the read.
 *
 * Never a wrong object. The header has a check of its own and the front
 * (key, meta, head) is checked in range before anything is published; the
 * record's checksum covers every byte and can only be known at its end,
 * so the body's last byte is appended only once the checksum passed. A
 * damaged record (bit rot since the rebuild checked it, a store changed
 * under the daemon) leaves the body failed one byte short: its readers
 * end their responses short of the Content-Length they sent (the client
 * sees a broken response, never a complete wrong one), the object leaves
 * memory and the index (dindex_remove_at), and it is counted damaged. The
 * rebuild has checked every record whole before the index points at it,
 * so a damaged record here is rare: a torn write never reaches this.
 *
 * Memory. The stream charges DSTREAM_BUF to the tier's budget for reads in
 * flight (the caller's counter) from open to the end; the body is the
 * object's and is charged to the memory cache as it grows
 * (store_account), as a fetch's is.
 *
 * Threads: one loop, the one that opened it; the filler task runs there.
 */
#ifndef RINGCACHE_CACHE_DSTREAM_H
#define RINGCACHE_CACHE_DSTREAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache/dindex.h"
#include "cache/drec.h"
#include "cache/dstore.h"
#include "cache/store.h"
#include "rt/clock.h"
#include "rt/group.h"

#define DSTREAM_MIN    (256u * 1024) /* records longer than this stream */
#define DSTREAM_WINDOW (256u * 1024) /* bytes of the record per read */
#define DSTREAM_BUF    (DSTREAM_WINDOW + 2 * DSUPER_BLOCK)
/* Per read: a second at most, so that a reader (which waits for a body's
 * bytes at least a second: deliver.c wait_fill) never gives up first. */
#define DSTREAM_TIMEOUT (1ull * 1000 * 1000 * 1000)

struct dstream;

/* Where the record is and whose it is: on damage its entry (PHASH, VHASH
 * at SEG, OFF) leaves IX. READING is charged DSTREAM_BUF until the end. */
struct dstream_at {
	struct dstore *ds;
	struct dindex *ix;
	_Atomic uint64_t *reading;
	uint64_t budget; /* what READING may reach: past it, -ENOMEM */
	uint64_t phash;
	uint32_t vhash;
	uint64_t seg;
	uint32_t off, len; /* len > DSTREAM_MIN */
	/* The segment's readers: the stream counts as one from open to its
	 * end (it was counted, and the entry checked, by the caller), so
	 * the writer does not write the segment again under it (dtier.c). */
	_Atomic uint32_t *pin;
};

/*
 * Read and check the front of the record AT says, in a task: 0 with *SP
 * and *V (an OBJECT's view without its body, pointing into the stream:
 * valid until dstream_attach), -EBADMSG damaged (counted; the entry left
 * IX), -E2BIG the front does not fit a window or there is no body (read
 * the record whole), -ENODEV, -ETIMEDOUT, -ECANCELED, -ENOMEM (also past
 * the budget).
 */
int dstream_open(const struct dstream_at *at, rt_time_t deadline, struct dstream **sp,
		 struct drec_view *v);
/* O (unpublished, made from the view, its body empty) is what the stream
 * fills: the body bytes of the first window go in now (the stream takes a
 * reference). 0, or -ENOMEM (then dstream_free). */
int dstream_attach(struct dstream *s, struct cobj *o);
/* After the promotion: PUBLISHED, the filler task is spawned in TASKS
 * (of the current loop) and reads the rest; otherwise (or when it cannot
 * be spawned) the body fails at once. *SP is the stream's from now on:
 * NULLed. */
void dstream_start(struct dstream **sp, struct store *st, struct rt_group *tasks, bool published);
/* Not started: its object's body (if attached) fails, the budget and the
 * buffer are given back. NULLs *SP; NULL is fine. */
void dstream_free(struct dstream **sp);

#endif
