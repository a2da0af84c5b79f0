/*
 * dstore.h - the disk tier's store file (issue 18): opening it, its
 * superblock, reading records back, and the switch that turns the tier off
 * when the file fails. The segment writer is dwriter.h. Not used by the
 * daemon yet (no config key reaches it): the index rebuild and the store
 * integration come later.
 *
 * Opening (dstore_open) runs on the main thread before the loops start,
 * the only place where its blocking syscalls are allowed:
 *  - open O_RDWR | O_CREAT | O_CLOEXEC | O_DIRECT. A file system that
 *    refuses O_DIRECT (tmpfs: EINVAL) is opened again without it, and a
 *    warning line says so: tmpfs is memory already, so the page cache
 *    costs nothing there, and io_uring never blocks a loop on it.
 *  - flock(LOCK_EX | LOCK_NB): a second daemon (or a second open in this
 *    one) is refused with "PATH: in use by another ringcache (pid N)", the
 *    pid taken from /proc/locks when it is there. A holder that is dead
 *    (a SIGKILL a moment ago: the kernel still tears its io_uring down,
 *    whose requests hold the file) is waited for, at most 5 s.
 *  - a regular file is preallocated to SIZE (fallocate; a file system
 *    without it gets ftruncate, sparse, and a warning); a file this call
 *    created is removed again when the open fails, so a failed start
 *    leaves no half-allocated file behind. A block device's size is read
 *    with BLKGETSIZE64; SIZE 0 takes all of it, a larger SIZE is refused.
 *  - the superblock read (dsuper_decode). A store of the same layout
 *    (segment size and count for SIZE) is kept; a blank, corrupt or
 *    unknown-version one, or one of another layout, is formatted: a new
 *    random store id, both copies written at a generation above any the
 *    file held (dsuper.h's rule), then fdatasync.
 * Every error is one line in ERR ("PATH: what went wrong: strerror"), for
 * the config loader to show.
 *
 * Reading (dstore_read) runs in a task on any loop: the aligned blocks
 * covering the record are read into an aligned buffer of their own, and the
 * record is checked (drec_decode) before it is handed out.
 *
 * Faults. A record that fails its checks is DAMAGED (counted, never
 * returned). An I/O error (EIO, ENOSPC, a short read: the file was
 * truncated under the daemon, a file found deleted) disables the tier: one
 * error line through the log hook (the first failure only), a flag every
 * loop can test (dstore_disabled), and every later call fails at once with
 * -ENODEV. Nothing here aborts on a fault of the file.
 *
 * Threads: dstore_open and dstore_close on the main thread while no loop
 * uses the store; the rest from any thread (the stats and the flag are
 * atomics; nothing else changes after the open).
 */
#ifndef RINGCACHE_CACHE_DSTORE_H
#define RINGCACHE_CACHE_DSTORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/drec.h"
#include "cache/dsuper.h"
#include "rt/clock.h"

#define DSTORE_MAGIC 0x44535452u /* "DSTR" */

/* Where the daemon's log lines go: the cache layer does not log itself. */
enum dstore_level { DSTORE_LOG_ERROR, DSTORE_LOG_WARN, DSTORE_LOG_INFO };
typedef void (*dstore_log_fn)(void *ctx, enum dstore_level lvl, const char *line);

struct dstore_opts {
	uint64_t seg_size; /* 0: DSUPER_SEG_DEFAULT */
	dstore_log_fn log; /* NULL: lines are dropped (dstore_why keeps the first error) */
	void *log_ctx;
	/* Tests: pretend the file system has no O_DIRECT (the fallback path). */
	bool no_direct;
	/* Reads of records (dstore_read, dstore_read_span) through the page
	 * cache, on a second descriptor without O_DIRECT: writes stay direct
	 * (the kernel drops the cached pages a direct write covers, and a
	 * record is read only once its write completed), and records read
	 * often are then served from the page cache, as nginx's and
	 * Varnish's files are; the rebuild's reads stay direct, so a start
	 * does not fill the page cache with the whole store. */
	bool page_cache;
};

/* Counters (monotonic) and the disabled gauge; the writer's are here too,
 * so that one struct is what metrics will render. */
struct dstore_stats {
	_Atomic uint64_t reads, read_bytes, damaged, read_timeouts;
	_Atomic uint64_t admitted, admit_dropped, inval_dropped, too_big, not_done, superseded;
	_Atomic uint64_t records, record_bytes, writes, write_bytes, segments;
	_Atomic uint64_t io_errors;
};

struct dstore {
	unsigned magic;
	int fd;	 /* O_DIRECT where the file system has it: writes, the rebuild */
	int rfd; /* record reads: fd, or a buffered one (dstore_opts.page_cache) */
	char *path;
	uint64_t size;	  /* bytes the store may use (SIZE, or the device's) */
	bool direct;	  /* opened with O_DIRECT */
	bool blockdev;	  /* a block device, not a regular file */
	bool formatted;	  /* this open formatted the store */
	struct dsuper sb; /* as written or read; never changes after the open */
	dstore_log_fn log;
	void *log_ctx;
	atomic_bool disabled;
	atomic_bool failing; /* the first dstore_fail claimed the line */
	char why[256];	     /* the error line that disabled the tier */
	struct dstore_stats stats;
};

/*
 * Open (and if needed create, preallocate, format) the store at PATH for
 * SIZE bytes. 0 with *OUT set, or a negative errno with a one-line message
 * in ERR (ERRLEN bytes). Main thread only.
 */
int dstore_open(struct dstore **out, const char *path, uint64_t size, const struct dstore_opts *o,
		char *err, size_t errlen);
/* Close the file (which drops the lock) and free; NULLs *DSP. Main thread,
 * no reader or writer left. */
void dstore_close(struct dstore **dsp);

/* The tier is off (an I/O error). Any thread. */
bool dstore_disabled(struct dstore *ds);
/* The line that disabled it ("" while it works). */
const char *dstore_why(struct dstore *ds);
/*
 * Turn the tier off because of ERR (a negative errno) while doing WHAT
 * ("writing segment 3 at 65536"): the first call logs one error line
 * "PATH: WHAT: strerror; the disk tier is disabled, the memory tier goes
 * on" and sets the flag; later calls only count. Any thread.
 */
void dstore_fail(struct dstore *ds, int err, const char *what);
/*
 * Is the file still there and whole? fstat: a file deleted (no links) or
 * shorter than the layout disables the tier (true returned). Reads only
 * the inode in memory, no disk I/O: the writer calls it when idle.
 */
bool dstore_check(struct dstore *ds);

/* Byte offset in the file of segment SEG's byte OFF. */
uint64_t dstore_offset(const struct dstore *ds, uint64_t seg, uint64_t off);

/* A record read back: V points into MEM (the blocks read). */
struct dstore_rec {
	void *mem;   /* what R->v points into: malloc'd, free() releases it */
	size_t size; /* bytes allocated for it */
	struct drec_view v;
};

/*
 * Read the record of LEN bytes at byte OFF of segment SEG (as the index
 * has it) and check it, in a task. 0 with *R filled (free it with
 * dstore_rec_free); -EBADMSG when the bytes there are not that whole
 * record of this store (damaged: counted); -ENODEV when the tier is
 * disabled (also when this read disabled it: an I/O error or a short
 * read); -ETIMEDOUT past DEADLINE (counted; the tier stays on: a slow
 * disk is not a broken one); -ECANCELED; -EINVAL for a range outside the
 * segment; -ENOMEM.
 */
int dstore_read(struct dstore *ds, uint64_t seg, uint32_t off, uint32_t len, rt_time_t deadline,
		struct dstore_rec *r);
void dstore_rec_free(struct dstore_rec *r);

/* Bytes [OFF, OFF+LEN) of segment SEG, raw, in a task: the blocks that
 * cover them are read into MEM (CAP bytes, aligned: dstore_alloc; at
 * least dstore_span_size(OFF, LEN)), and *AT says where byte OFF is in
 * MEM (through the page cache just those bytes are read: *AT is 0).
 * Nothing is checked: the caller checks what it reads (drec_head,
 * drec_front, drec_sum). 0, -ENODEV, -ETIMEDOUT, -ECANCELED, -EINVAL as
 * dstore_read. */
int dstore_read_span(struct dstore *ds, uint64_t seg, uint64_t off, size_t len, void *mem,
		     size_t cap, rt_time_t deadline, size_t *at);
size_t dstore_span_size(uint64_t off, size_t len);

/* An aligned, zeroed buffer of N bytes (a multiple of DSUPER_BLOCK) for
 * O_DIRECT, or NULL; free() releases it. */
void *dstore_alloc(size_t n);

#endif
