/* dstore.c - the disk tier's store file: open, format, read (dstore.h). */
#include "cache/dstore.h"
#include "rt/obj.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "rt/io.h"

#define B DSUPER_BLOCK

void *dstore_alloc(size_t n)
{
	void *p = NULL;
	if (n == 0 || n % B || posix_memalign(&p, B, n) != 0)
		return NULL;
	memset(p, 0, n);
	return p;
}

static void emit(struct dstore *ds, enum dstore_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void emit(struct dstore *ds, enum dstore_level lvl, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (ds->log)
		ds->log(ds->log_ctx, lvl, line);
}

static int fail_msg(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_msg(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* The pid holding an flock on the file (DEV, INO) per /proc/locks, or 0. */
static long lock_holder(dev_t dev, ino_t ino)
{
	FILE *f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	char line[256];
	long pid = 0;
	while (!pid && fgets(line, sizeof(line), f)) {
		char type[16];
		long p;
		unsigned maj, min;
		unsigned long i;
		/* "1: FLOCK  ADVISORY  WRITE 1234 fd:00:56789 0 EOF"; waiters
		 * ("1: -> FLOCK ...") read as type "->" and are skipped. */
		if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%lu", type, &p, &maj, &min, &i) ==
			5 &&
		    strcmp(type, "FLOCK") == 0 && maj == major(dev) && min == minor(dev) &&
		    i == (unsigned long)ino)
			pid = p;
	}
	fclose(f);
	return pid;
}

/* The highest generation any copy with the magic claims, trusted or not:
 * a format must go above it (dsuper.h), even above a copy torn mid-write. */
static uint64_t max_generation(const uint8_t *area)
{
	uint64_t max = 0;
	for (int i = 0; i < 2; i++) {
		const uint8_t *p = area + (size_t)i * B;
		uint64_t g;
		memcpy(&g, p + 48, 8);
		if (memcmp(p, DSUPER_MAGIC, 8) == 0 && g > max && g < UINT64_MAX / 2)
			max = g;
	}
	return max;
}

static int pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = pwrite(fd, (const char *)buf + done, n - done, off + (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}

static uint64_t new_store_id(void)
{
	uint64_t id = 0;
	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			id = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)clock();
	return id;
}

/* Write both copies of SB (generation set by the caller) and sync. */
static int write_super(int fd, const struct dsuper *sb, uint8_t *area)
{
	if (dsuper_encode(sb, area) != 0)
		return -EINVAL;
	memcpy(area + B, area, B);
	int r = pwrite_all(fd, area, DSUPER_AREA, 0);
	if (r == 0 && fdatasync(fd) != 0)
		r = -errno;
	return r;
}

/* Size the file or read the device's: 0, or an error in ERR. */
static int size_store(struct dstore *ds, uint64_t size, const struct stat *st, char *err,
		      size_t errlen)
{
	const char *path = ds->path;
	if (ds->blockdev) {
		uint64_t dev = 0;
		if (ioctl(ds->fd, BLKGETSIZE64, &dev) != 0)
			return fail_msg(err, errlen, -errno,
					"%s: cannot read the device's size: %s", path,
					strerror(errno));
		if (size > dev)
			return fail_msg(err, errlen, -ENOSPC,
					"%s: size %llu is larger than the device (%llu bytes)",
					path, (unsigned long long)size, (unsigned long long)dev);
		ds->size = size ? size : dev;
		return 0;
	}
	if (size == 0)
		return fail_msg(err, errlen, -EINVAL, "%s: a regular file needs a size", path);
	ds->size = size;
	if (fallocate(ds->fd, 0, 0, (off_t)size) == 0)
		return 0;
	int e = errno;
	if (e == EOPNOTSUPP) {
		if ((uint64_t)st->st_size < size && ftruncate(ds->fd, (off_t)size) != 0)
			return fail_msg(err, errlen, -errno, "%s: cannot extend to %llu bytes: %s",
					path, (unsigned long long)size, strerror(errno));
		emit(ds, DSTORE_LOG_WARN,
		     "%s: the file system cannot preallocate; the store file is sparse, and a full "
		     "disk will disable the disk tier when it is written",
		     path);
		return 0;
	}
	if (e == ENOSPC || e == EFBIG) {
		struct statvfs vfs;
		unsigned long long avail = 0;
		if (fstatvfs(ds->fd, &vfs) == 0)
			avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
		return fail_msg(err, errlen, -e,
				"%s: cannot preallocate %llu bytes: %s (%llu bytes available)",
				path, (unsigned long long)size, strerror(e), avail);
	}
	return fail_msg(err, errlen, -e, "%s: cannot preallocate %llu bytes: %s", path,
			(unsigned long long)size, strerror(e));
}

/* Read the superblock; keep it when its layout is the one asked for, else
 * format. 0, or an error in ERR. */
static int load_or_format(struct dstore *ds, uint64_t seg_size, char *err, size_t errlen)
{
	const char *path = ds->path;
	uint8_t *area = dstore_alloc(DSUPER_AREA);
	if (!area)
		return fail_msg(err, errlen, -ENOMEM, "%s: out of memory", path);
	int rc = 0;
	ssize_t n;
	do
		n = pread(ds->fd, area, DSUPER_AREA, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		rc = fail_msg(err, errlen, -errno, "%s: cannot read the superblock: %s", path,
			      strerror(errno));
		goto out;
	}
	struct dsuper want;
	if (dsuper_init(&want, ds->size, seg_size, 1, 0, 1) != 0) {
		rc = fail_msg(err, errlen, -EINVAL,
			      "%s: %llu bytes hold no segment of %llu bytes (at least %llu needed)",
			      path, (unsigned long long)ds->size, (unsigned long long)seg_size,
			      (unsigned long long)(dsuper_first(seg_size) + seg_size));
		goto out;
	}
	struct dsuper sb;
	int which = 0;
	bool both = false;
	enum dsuper_result res = dsuper_decode(area, (size_t)n, ds->size, &sb, &which, &both);
	if (res == DSUPER_OK && sb.seg_size == want.seg_size && sb.seg_count == want.seg_count) {
		ds->sb = sb;
		if (!both) { /* a torn update or rot: make the other copy whole again */
			dsuper_encode(&sb, area + (size_t)dsuper_slot(which) * B);
			rc = pwrite_all(ds->fd, area + (size_t)dsuper_slot(which) * B, B,
					(off_t)dsuper_slot(which) * B);
			if (rc == 0 && fdatasync(ds->fd) != 0)
				rc = -errno;
			if (rc < 0)
				rc = fail_msg(err, errlen, rc,
					      "%s: cannot repair the superblock: %s", path,
					      strerror(-rc));
		}
		goto out;
	}
	if (res != DSUPER_BLANK)
		emit(ds, DSTORE_LOG_WARN,
		     "%s: superblock %s%s; formatting the store (its contents are lost)", path,
		     res == DSUPER_OK ? "of another layout" : dsuper_result_name(res),
		     res == DSUPER_OK || res == DSUPER_MISFIT
			 ? " than the size and segment size asked"
			 : "");
	uint64_t gen = max_generation(area) + 1;
	dsuper_init(&sb, ds->size, seg_size, new_store_id(), (int64_t)time(NULL), gen);
	rc = write_super(ds->fd, &sb, area);
	if (rc < 0) {
		rc = fail_msg(err, errlen, rc, "%s: cannot write the superblock: %s", path,
			      strerror(-rc));
		goto out;
	}
	ds->sb = sb;
	ds->formatted = true;
out:
	free(area);
	return rc;
}

int dstore_open(struct dstore **out, const char *path, uint64_t size, const struct dstore_opts *o,
		char *err, size_t errlen)
{
	static const struct dstore_opts none;
	if (!o)
		o = &none;
	*out = NULL;
	uint64_t seg_size = o->seg_size ? o->seg_size : DSUPER_SEG_DEFAULT;
	struct dstore *ds = calloc(1, sizeof(*ds));
	if (!ds || !(ds->path = strdup(path))) {
		free(ds);
		return fail_msg(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	ds->magic = DSTORE_MAGIC;
	ds->log = o->log;
	ds->log_ctx = o->log_ctx;
	ds->fd = ds->rfd = -1;
	atomic_init(&ds->disabled, false);
	atomic_init(&ds->failing, false);

	/* Created here (O_EXCL won the race) means removed here on failure. */
	bool created = false;
	int direct = o->no_direct ? 0 : O_DIRECT;
	int flags = O_RDWR | O_CLOEXEC;
	int rc;
	/* A block device is opened exclusively too: flock locks one device
	 * node, and another node of the same disk (a container's own /dev)
	 * would not see it; O_EXCL is held by the device itself. */
	struct stat pre;
	bool blockdev = stat(path, &pre) == 0 && S_ISBLK(pre.st_mode);
	if (blockdev)
		flags |= O_EXCL;
	for (;;) {
		ds->fd = open(path, flags | direct);
		if (ds->fd < 0 && errno == ENOENT) {
			ds->fd = open(path, flags | direct | O_CREAT | O_EXCL, 0600);
			created = ds->fd >= 0;
			if (ds->fd < 0 && errno == EEXIST)
				continue;
		}
		if (ds->fd < 0 && errno == EINVAL && direct) {
			direct = 0; /* no O_DIRECT here (tmpfs) */
			continue;
		}
		break;
	}
	if (ds->fd < 0 && blockdev && errno == EBUSY) {
		rc = fail_msg(err, errlen, -EBUSY,
			      "%s: in use (mounted, or held by another ringcache)", path);
		goto fail;
	}
	if (ds->fd < 0) {
		rc = fail_msg(err, errlen, -errno, "%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	ds->direct = direct != 0;
	if (!ds->direct && !o->no_direct)
		emit(ds, DSTORE_LOG_WARN,
		     "%s: the file system does not support O_DIRECT (tmpfs?); the disk tier uses "
		     "buffered I/O",
		     path);
	struct stat st;
	if (fstat(ds->fd, &st) != 0) {
		rc = fail_msg(err, errlen, -errno, "%s: cannot stat: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		rc = fail_msg(err, errlen, -EINVAL, "%s: not a regular file or a block device",
			      path);
		goto fail;
	}
	ds->blockdev = S_ISBLK(st.st_mode);
	int lr = flock(ds->fd, LOCK_EX | LOCK_NB);
	int lerr = lr != 0 ? errno : 0; /* kill() below may change errno (EPERM) */
	/* A holder that is gone (killed) still holds the lock while the
	 * kernel tears its io_uring down: the ring's requests keep the file
	 * open a moment after the process was reaped. Wait for that (at
	 * most 5 s, main thread: blocking is allowed here), not for a
	 * holder that lives. */
	for (int i = 0; lr != 0 && lerr == EWOULDBLOCK && i < 100; i++) {
		long pid = lock_holder(st.st_dev, st.st_ino);
		/* EPERM: a holder alive under another uid. */
		if (pid && (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			break;
		nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
		lr = flock(ds->fd, LOCK_EX | LOCK_NB);
		lerr = lr != 0 ? errno : 0;
	}
	if (lr != 0) {
		int e = lerr;
		if (e == EWOULDBLOCK) {
			long pid = lock_holder(st.st_dev, st.st_ino);
			if (pid)
				rc = fail_msg(err, errlen, -EBUSY,
					      "%s: in use by another ringcache (pid %ld)", path,
					      pid);
			else
				rc = fail_msg(err, errlen, -EBUSY,
					      "%s: in use by another ringcache", path);
		} else {
			rc = fail_msg(err, errlen, -e, "%s: cannot lock: %s", path, strerror(e));
		}
		created = false; /* never remove a file someone else holds */
		goto fail;
	}
	if ((rc = size_store(ds, size, &st, err, errlen)) < 0)
		goto fail;
	if ((rc = load_or_format(ds, seg_size, err, errlen)) < 0)
		goto fail;
	ds->rfd = ds->fd;
	if (o->page_cache && ds->direct) {
		/* The same open file, without O_DIRECT (by its path only where
		 * /proc is missing, and then only if it is the same file). */
		char self[64];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", ds->fd);
		int rfd = open(self, O_RDONLY | O_CLOEXEC);
		if (rfd < 0)
			rfd = open(path, O_RDONLY | O_CLOEXEC);
		struct stat rst;
		if (rfd >= 0 &&
		    (fstat(rfd, &rst) != 0 || rst.st_ino != st.st_ino || rst.st_dev != st.st_dev)) {
			close(rfd);
			rfd = -1;
		}
		if (rfd < 0) /* an optimisation only: the reads stay direct */
			emit(ds, DSTORE_LOG_WARN,
			     "%s: cannot open it again for buffered reads; the disk tier reads "
			     "with O_DIRECT",
			     path);
		else
			ds->rfd = rfd;
	}
	*out = ds;
	return 0;
fail:
	if (created)
		unlink(path);
	if (ds->rfd >= 0 && ds->rfd != ds->fd)
		close(ds->rfd);
	if (ds->fd >= 0)
		close(ds->fd);
	free(ds->path);
	free(ds);
	return rc;
}

void dstore_close(struct dstore **dsp)
{
	struct dstore *ds = *dsp;
	if (!ds)
		return;
	*dsp = NULL;
	CHECK_OBJ_NOTNULL(ds, DSTORE_MAGIC);
	if (ds->rfd != ds->fd)
		close(ds->rfd);
	close(ds->fd);
	free(ds->path);
	ds->magic = 0;
	free(ds);
}

bool dstore_disabled(struct dstore *ds)
{
	return atomic_load_explicit(&ds->disabled, memory_order_acquire);
}

const char *dstore_why(struct dstore *ds)
{
	return dstore_disabled(ds) ? ds->why : "";
}

void dstore_fail(struct dstore *ds, int err, const char *what)
{
	CHECK_OBJ_NOTNULL(ds, DSTORE_MAGIC);
	atomic_fetch_add_explicit(&ds->stats.io_errors, 1, memory_order_relaxed);
	/* The first failure claims the line, writes it, then raises the flag
	 * (release): whoever sees the flag sees the whole line. */
	bool expected = false;
	if (!atomic_compare_exchange_strong(&ds->failing, &expected, true))
		return;
	snprintf(ds->why, sizeof(ds->why),
		 "%s: %s: %s; the disk tier is disabled, the memory tier goes on", ds->path, what,
		 strerror(err < 0 ? -err : err));
	atomic_store_explicit(&ds->disabled, true, memory_order_release);
	emit(ds, DSTORE_LOG_ERROR, "%s", ds->why);
}

bool dstore_check(struct dstore *ds)
{
	CHECK_OBJ_NOTNULL(ds, DSTORE_MAGIC);
	if (dstore_disabled(ds))
		return true;
	struct stat st;
	if (fstat(ds->fd, &st) != 0) {
		dstore_fail(ds, -errno, "checking the store file");
		return true;
	}
	if (!ds->blockdev && st.st_nlink == 0) {
		dstore_fail(ds, -ENOENT, "the store file was deleted");
		return true;
	}
	if (!ds->blockdev && (uint64_t)st.st_size < dsuper_span(&ds->sb)) {
		dstore_fail(ds, -EIO, "the store file was truncated");
		return true;
	}
	return false;
}

uint64_t dstore_offset(const struct dstore *ds, uint64_t seg, uint64_t off)
{
	return dsuper_seg_offset(&ds->sb, seg) + off;
}

size_t dstore_span_size(uint64_t off, size_t len)
{
	return (size_t)((off % B + len + B - 1) / B * B);
}

/* A read without O_DIRECT (the page cache descriptor, or a file system
 * without O_DIRECT) needs no alignment: exactly the bytes asked for, so a
 * record read copies no neighbouring blocks. */
static bool reads_aligned(const struct dstore *ds)
{
	return ds->direct && ds->rfd == ds->fd;
}

int dstore_read_span(struct dstore *ds, uint64_t seg, uint64_t off, size_t len, void *mem,
		     size_t cap, rt_time_t deadline, size_t *at_out)
{
	CHECK_OBJ_NOTNULL(ds, DSTORE_MAGIC);
	if (dstore_disabled(ds))
		return -ENODEV;
	if (seg >= ds->sb.seg_count || !len || off + len > ds->sb.seg_size ||
	    dstore_span_size(off, len) > cap)
		return -EINVAL;
	uint8_t *buf = mem;
	uint64_t at = dstore_offset(ds, seg, off);
	bool aligned = reads_aligned(ds);
	uint64_t start = aligned ? at / B * B : at;
	uint64_t end = aligned ? (at + len + B - 1) / B * B : at + len;
	size_t n = (size_t)(end - start);
	atomic_fetch_add_explicit(&ds->stats.reads, 1, memory_order_relaxed);
	size_t got = 0;
	char what[96];
	while (got < n) {
		ssize_t k = rt_read(ds->rfd, buf + got, n - got, (off_t)(start + got), deadline);
		if (k == -ETIMEDOUT || k == -ECANCELED) {
			if (k == -ETIMEDOUT)
				atomic_fetch_add_explicit(&ds->stats.read_timeouts, 1,
							  memory_order_relaxed);
			return (int)k;
		}
		if (k < 0 || (k == 0 && got < n)) {
			snprintf(what, sizeof(what), "reading segment %llu at %llu",
				 (unsigned long long)seg, (unsigned long long)off);
			if (k == 0)
				snprintf(what, sizeof(what),
					 "read past the end at byte %llu (the file was truncated?)",
					 (unsigned long long)(start + got));
			dstore_fail(ds, k < 0 ? (int)k : -EIO, what);
			return -ENODEV;
		}
		got += (size_t)k;
		/* O_DIRECT reads short only at the end of the file. */
		if (got < n && aligned && got % B) {
			snprintf(what, sizeof(what),
				 "read past the end at byte %llu (the file was truncated?)",
				 (unsigned long long)(start + got));
			dstore_fail(ds, -EIO, what);
			return -ENODEV;
		}
	}
	atomic_fetch_add_explicit(&ds->stats.read_bytes, n, memory_order_relaxed);
	*at_out = (size_t)(at - start);
	return 0;
}

int dstore_read(struct dstore *ds, uint64_t seg, uint32_t off, uint32_t len, rt_time_t deadline,
		struct dstore_rec *r)
{
	CHECK_OBJ_NOTNULL(ds, DSTORE_MAGIC);
	r->mem = NULL;
	if (dstore_disabled(ds))
		return -ENODEV;
	if (seg >= ds->sb.seg_count || len < DREC_HDR || off % DREC_ALIGN ||
	    (uint64_t)off + len > ds->sb.seg_size)
		return -EINVAL;
	/* Not zeroed: the read fills every byte or fails. */
	size_t n = dstore_span_size(off, len), at;
	void *buf = NULL;
	if (!reads_aligned(ds))
		buf = malloc(len);
	else if (posix_memalign(&buf, B, n) != 0)
		buf = NULL;
	if (!buf)
		return -ENOMEM;
	int rc = dstore_read_span(ds, seg, off, len, buf, n, deadline, &at);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	uint8_t *p = (uint8_t *)buf + at;
	enum drec_result res =
	    drec_decode(p, len, ds->sb.seg_size - off, ds->sb.store_id, &r->v, NULL);
	if (res != DREC_OK || r->v.h.total != len) {
		atomic_fetch_add_explicit(&ds->stats.damaged, 1, memory_order_relaxed);
		free(buf);
		return -EBADMSG;
	}
	r->mem = buf;
	r->size = reads_aligned(ds) ? n : len;
	return 0;
}

void dstore_rec_free(struct dstore_rec *r)
{
	free(r->mem);
	r->mem = NULL;
}
