/*
 * dwriter.h - the disk tier's segment writer (issue 18): one task that owns
 * the open segment and appends records to it, fed through a bounded
 * channel from any loop.
 *
 * One writer, one task. A log-structured store has one append point; one
 * task owning it gives sequence numbers in append order and sequential
 * writes with no lock. dtier runs it on loop 0, beside the other
 * background tasks (the ban lurker, the admin API), in a task group of
 * its own that a drain stops and dtier_force cancels; its
 * CPU work is a copy and a hash of what it writes (about 1 ms per MiB),
 * and it awaits a write at least once per buffer's worth, well inside the
 * loop's task budget.
 *
 * Admission. An object that is no longer current when the writer comes to
 * it (store_obj_current: purged, banned, tag-purged or replaced since it
 * was queued) is skipped (counted: superseded), so its record never
 * follows, and undoes, the invalidation's.
 *
 * dwriter_admit takes a reference to a stored object whose body
 * is complete (cobj_retain) and queues it; it never waits: when more than
 * QUEUE items are queued the object is simply not written ("admissions
 * dropped"). Invalidations (tombstone, ban, tag) have QUEUE / 4 more room
 * (at least 64) of their own, because dropping one could let a purged
 * object come back at the next rebuild; when even that is full they fail
 * with -EAGAIN too (counted) and the caller decides (the integration:
 * remove the key's disk entries from the index at once, so only a restart
 * before the next write of that key could bring it back).
 *
 * The write buffer. A window of BUF bytes (default 1 MiB, 4096-aligned
 * from posix_memalign) over the open segment, starting at a block
 * boundary. Records are encoded into it back to back (drec: 8-byte
 * aligned, the SEGMENT record first in each segment, sequence numbers in
 * append order). The bytes beyond the last record are always zero.
 * A flush writes, with one rt_write, every block from the one holding the
 * first unwritten byte to the one holding the last byte, so offset,
 * length and address are multiples of 4096 as O_DIRECT wants. The last
 * block is usually partial: it goes out with zeros after the last record
 * (a walk reads END there) and is written again, grown, by the next
 * flush. Rewriting it is safe against a torn write: its first part is
 * byte for byte what is on disk already, so a crash in the middle can only
 * cut the records that write added, never one written before. Padding to
 * the block instead would cost up to 4 KiB per flush, a block per object
 * when traffic is light. A flush happens when the window is full (then
 * the window slides on to the last, partial block), DWRITER_LINGER after
 * the queue ran dry (so a record reaches the disk, and the index, without
 * waiting for more traffic, while a burst of objects makes one write and
 * not one each: one write in flight at a time is what the writer can do,
 * and a write per object let the queue overflow at a few thousand
 * objects a second), at once after an invalidation, and when a segment
 * is sealed (its last block padded with zeros, already there).
 *
 * A record is reported (the WRITTEN hook: where it went, for the index)
 * only after the write holding its last byte completed, so the index
 * never points at bytes that are only in memory. An object's body is
 * hashed first (drec_begin, drec_body over the body's chunks, drec_end)
 * and then copied through the window, which is flushed and slides on as
 * it fills: the header is final before any of it can be written, so a
 * record bigger than the window needs nothing else. That reads the body
 * twice (hashing runs at many GB/s; one rule for every size is worth
 * it). A record that cannot fit in a segment after the SEGMENT record
 * (or whose head does not fit the window) is dropped (counted: "too
 * big"). The writer opens each segment at its start (it does not resume
 * a half-written one); a segment's SEGMENT record goes out with its first
 * record, never alone, so a start and a stop with nothing admitted in
 * between leave the store as it was.
 *
 * Segments. The writer opens FIRST_SEG (the rebuild's choice) as soon as
 * its task runs, asking the NEXT_SEG hook for it as the segment after
 * FIRST_SEG - 1 (so the hook treats it as every later one), and, when a
 * record does not fit in the rest, seals the open one and asks the hook
 * for the next (NULL: the next number, wrapping: a plain circular log). The hook, on the writer's task, may read records of the segment
 * it gives (the oldest, still intact) and hand them back with
 * dwriter_copy: the reinsertion (dtier.c). They are written first in
 * the segment, before the record that asked for the roll (ROOM bytes
 * are theirs at most, so that record still fits), as records with new
 * sequence numbers that keep their version (drec.h), and reported
 * written with their view (dwriter_done.copy). Copies skip the currency
 * test objects pass (store_obj_current: they are in no memory): the hook
 * judges them; an invalidation made after its choice is queued behind
 * them and so takes a higher sequence.
 *
 * The drain. dwriter_stop closes the channel; the task then takes what
 * is queued at once and writes the invalidations first (flushed before
 * any object), then the objects, so that when the drain's deadline
 * cancels it the objects are what is lost, never a purge (a lost
 * tombstone lets a restart bring a purged object back). An object queued
 * before an invalidation that applies to it (its key, a tag it has, a
 * ban that matches it, compiled again here) is skipped, as the queue
 * order would have it: store_obj_current cannot say, for an object that
 * left memory is no longer retired by a purge.
 *
 * Faults. Every write has a deadline (IO_TIMEOUT). A failed write (EIO,
 * ENOSPC on a sparse file, a deadline passed: a disk that cannot take a
 * MiB in that long is not one to cache on) disables the tier through
 * dstore_fail: one error line, the flag; the writer then drops what is
 * queued and what was pending (never reported), closes the channel so
 * later admissions fail with -ENODEV, and ends. Once a second (idle or
 * not) it checks that the file is still there and whole (dstore_check):
 * writes into a deleted file succeed and would fill a disk nobody sees.
 * Cancellation (a drain) ends it too, without disabling anything.
 */
#ifndef RINGCACHE_CACHE_DWRITER_H
#define RINGCACHE_CACHE_DWRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/drec.h"
#include "cache/dstore.h"
#include "cache/store.h"

#define DWRITER_MAGIC	    0x44575254u /* "DWRT" */
#define DWRITER_BUF_DEFAULT (1024u * 1024)
#define DWRITER_QUEUE	    1024u
#define DWRITER_IO_TIMEOUT  (10ull * 1000 * 1000 * 1000)
/* How long encoded records wait, once the queue ran dry, for more to join
 * their write (an invalidation goes out at once). */
#define DWRITER_LINGER (2ull * 1000 * 1000)

/* A record on disk, for the index (the WRITTEN hook). OBJ is the object
 * written (the writer's reference: retain it to keep it), NULL for an
 * invalidation. */
struct dwriter_done {
	enum drec_kind kind;
	uint16_t flags;
	const char *key; /* OBJECT, TOMBSTONE: primary key; TAG: the tag */
	uint32_t key_len;
	struct cobj *obj;
	const struct drec_view *copy; /* a reinserted record (OBJ NULL): what it holds */
	uint64_t seq, seg;
	uint32_t off, len;
};

struct dwriter_conf {
	size_t buf_size;     /* 0: DWRITER_BUF_DEFAULT; a multiple of 4096, at least 8192 */
	size_t queue;	     /* objects queued at most; 0: DWRITER_QUEUE */
	uint64_t first_seq;  /* the first sequence number: above all on disk; 0: 1 */
	uint64_t first_seg;  /* the segment opened first */
	uint64_t io_timeout; /* ns per write; 0: DWRITER_IO_TIMEOUT */
	/* The segment after SEALED (0, or a negative errno: the writer then
	 * drops records until a later call succeeds), and its copies
	 * (dwriter_copy, ROOM bytes of records at most). NULL: SEALED + 1,
	 * wrapping, no copies. */
	int (*next_seg)(void *ctx, uint64_t sealed, uint64_t *next, uint64_t room);
	void (*written)(void *ctx, const struct dwriter_done *d);
	void *ctx;
};

struct dwriter;

/* A writer for DS; its channel belongs to the current loop, where
 * dwriter_main must run. NULL on -ENOMEM or a bad conf. */
struct dwriter *dwriter_create(struct dstore *ds, const struct dwriter_conf *c);
/* The task (rt_task_spawn(dwriter_main, w, "dwriter") on that loop): runs
 * until dwriter_stop and an empty queue, a fault, or cancellation. */
void dwriter_main(void *arg);
/* Any thread: no more admissions; the task writes what is queued, flushes
 * and ends. */
void dwriter_stop(struct dwriter *w);
/* After the task ended. NULLs *WP. */
void dwriter_free(struct dwriter **wp);

/*
 * Queue stored object O under primary key KEY (host NUL target) for
 * writing. Any thread, never waits. 0 queued (a reference taken); -EAGAIN
 * the queue is full (dropped, counted); -EINVAL O's body is not complete
 * (counted as not_done); -ENODEV the tier is disabled or the writer
 * stopped; -ENOMEM.
 */
int dwriter_admit(struct dwriter *w, const char *key, uint32_t key_len, struct cobj *o);
/* From the NEXT_SEG hook only (the writer's task): write the object
 * record REC (read and checked: dstore_read) again, first in the segment
 * the hook returns. REC is taken (*REC emptied), whatever the outcome: 0,
 * -EINVAL (not an object record), -ENOMEM. */
int dwriter_copy(struct dwriter *w, struct dstore_rec *rec);
/* Invalidations, with room of their own (above): 0, -EAGAIN, -ENODEV,
 * -ENOMEM, -EINVAL (drec refuses the strings). */
int dwriter_tombstone(struct dwriter *w, const char *key, uint32_t key_len);
int dwriter_ban(struct dwriter *w, const char *url_re, uint32_t url_len, const char *host_re,
		uint32_t host_len);
int dwriter_tag(struct dwriter *w, const char *tag, uint32_t len, bool soft);

/* The sequence number the next record takes (for tests and the rebuild). */
uint64_t dwriter_next_seq(struct dwriter *w);
/* Objects admitted and not yet reported written or dropped (queued, being
 * encoded, or encoded and waiting for their write). Any thread. */
uint64_t dwriter_objects(struct dwriter *w);

#endif
