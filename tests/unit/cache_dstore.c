/* Unit tests of src/cache/dstore.c and dwriter.c: the disk tier's store
 * file on a real file system (O_DIRECT: /tmp here is ext4, not tmpfs),
 * opened, locked, formatted, written by the segment writer on a real loop,
 * read back, and broken in the ways issue 18 lists. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/dstore.h"

#define SEG  (64u * 1024)
#define SIZE (1024u * 1024) /* 64 KiB of superblocks (the first segment's alignment), 15 segments  \
			     */

static char dir[64];
static char path[128];
static char err[256];
static struct dstore_opts opts = {.seg_size = SEG};

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/dstore_XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/store", dir);
	err[0] = 0;
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

TestSuite(dstore_open, .init = setup, .fini = teardown, .timeout = 60);

static struct dstore *open_ok(uint64_t size)
{
	struct dstore *ds = NULL;
	int r = dstore_open(&ds, path, size, &opts, err, sizeof(err));
	cr_assert_eq(r, 0, "dstore_open: %d %s", r, err);
	return ds;
}

Test(dstore_open, formats_a_new_file_and_keeps_it_on_reopen)
{
	struct dstore *ds = open_ok(SIZE);
	cr_assert(ds->formatted);
	cr_assert(ds->direct, "/tmp should take O_DIRECT");
	cr_assert_eq(ds->sb.seg_size, SEG);
	cr_assert_eq(ds->sb.seg_count, (SIZE - SEG) / SEG);
	cr_assert_eq(ds->sb.generation, 1);
	cr_assert_neq(ds->sb.store_id, 0);
	uint64_t id = ds->sb.store_id;
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_size, SIZE);
	cr_assert_geq((uint64_t)st.st_blocks * 512, SIZE, "preallocated, not sparse");
	dstore_close(&ds);
	cr_assert_null(ds);

	ds = open_ok(SIZE);
	cr_assert_not(ds->formatted);
	cr_assert_eq(ds->sb.store_id, id);
	cr_assert_eq(ds->sb.generation, 1);
	dstore_close(&ds);
}

Test(dstore_open, a_second_open_is_refused_with_the_holders_pid)
{
	struct dstore *ds = open_ok(SIZE), *two = NULL;
	cr_assert_eq(dstore_open(&two, path, SIZE, &opts, err, sizeof(err)), -EBUSY);
	cr_assert_null(two);
	char want[200];
	snprintf(want, sizeof(want), "%s: in use by another ringcache (pid %ld)", path,
		 (long)getpid());
	cr_assert_str_eq(err, want);
	dstore_close(&ds);
	/* The lock went with the close, and the refused open removed nothing. */
	ds = open_ok(SIZE);
	cr_assert_not(ds->formatted);
	dstore_close(&ds);
}

Test(dstore_open, another_layout_is_formatted_at_a_higher_generation)
{
	struct dstore *ds = open_ok(SIZE);
	uint64_t id = ds->sb.store_id;
	dstore_close(&ds);
	struct dstore_opts o2 = {.seg_size = 2 * SEG};
	cr_assert_eq(dstore_open(&ds, path, SIZE, &o2, err, sizeof(err)), 0, "%s", err);
	cr_assert(ds->formatted);
	cr_assert_neq(ds->sb.store_id, id);
	cr_assert_eq(ds->sb.generation, 2);
	cr_assert_eq(ds->sb.seg_count, (SIZE - 2 * SEG) / (2 * SEG));
	dstore_close(&ds);
	/* A bigger size is another layout too (more segments). */
	cr_assert_eq(dstore_open(&ds, path, 2 * SIZE, &o2, err, sizeof(err)), 0, "%s", err);
	cr_assert(ds->formatted);
	cr_assert_eq(ds->sb.generation, 3);
	dstore_close(&ds);
}

static void smash(off_t off, size_t n)
{
	int fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	char junk[64];
	memset(junk, 0x5a, sizeof(junk));
	cr_assert_eq(pwrite(fd, junk, n, off), (ssize_t)n);
	close(fd);
}

Test(dstore_open, one_rotten_copy_is_repaired_both_rotten_reformat_above_them)
{
	struct dstore *ds = open_ok(SIZE);
	uint64_t id = ds->sb.store_id;
	dstore_close(&ds);
	smash(4096 + 100, 8); /* copy 1's zero area: its checksum fails */
	ds = open_ok(SIZE);
	cr_assert_not(ds->formatted);
	cr_assert_eq(ds->sb.store_id, id);
	dstore_close(&ds);
	/* Repaired: copy 0 alone is enough now. */
	smash(100, 8);
	ds = open_ok(SIZE);
	cr_assert_not(ds->formatted);
	cr_assert_eq(ds->sb.store_id, id);
	dstore_close(&ds);
	smash(100, 8); /* both bad now */
	smash(4096 + 100, 8);
	ds = open_ok(SIZE);
	cr_assert(ds->formatted);
	cr_assert_neq(ds->sb.store_id, id);
	cr_assert_eq(ds->sb.generation, 2, "above the torn copies' generation 1");
	dstore_close(&ds);
}

Test(dstore_open, unusable_paths_are_one_clear_line)
{
	struct dstore *ds = NULL;
	char p[160];
	snprintf(p, sizeof(p), "%s/missing/store", dir);
	cr_assert_eq(dstore_open(&ds, p, SIZE, &opts, err, sizeof(err)), -ENOENT);
	char want[256];
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", p);
	cr_assert_str_eq(err, want);
	cr_assert_eq(dstore_open(&ds, dir, SIZE, &opts, err, sizeof(err)), -EISDIR);
	snprintf(want, sizeof(want), "%s: cannot open: Is a directory", dir);
	cr_assert_str_eq(err, want);
	cr_assert_lt(dstore_open(&ds, "/dev/null", SIZE, &opts, err, sizeof(err)), 0);
	cr_assert_str_eq(err, "/dev/null: not a regular file or a block device");
	cr_assert_null(ds);
}

Test(dstore_open, too_small_for_one_segment)
{
	struct dstore *ds = NULL;
	cr_assert_eq(dstore_open(&ds, path, SEG, &opts, err, sizeof(err)), -EINVAL);
	char want[256];
	snprintf(want, sizeof(want),
		 "%s: 65536 bytes hold no segment of 65536 bytes (at least 131072 needed)", path);
	cr_assert_str_eq(err, want);
	cr_assert_eq(access(path, F_OK), -1, "the file it created is gone again");
}

Test(dstore_open, a_size_the_file_system_cannot_hold)
{
	struct dstore *ds = NULL;
	/* 1 PiB: past ext4's 16 TiB file limit (EFBIG) or the disk (ENOSPC);
	 * refused before anything is allocated either way. */
	int r = dstore_open(&ds, path, 1ull << 50, &opts, err, sizeof(err));
	cr_assert(r == -EFBIG || r == -ENOSPC, "%d %s", r, err);
	char want[256];
	snprintf(want, sizeof(want), "%s: cannot preallocate 1125899906842624 bytes: ", path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
	cr_assert_eq(access(path, F_OK), -1, "the file it created is gone again");
}

Test(dstore_open, enospc_on_a_small_tmpfs)
{
	/* A 1 MiB tmpfs of this test's own (a private mount namespace: the
	 * test runs in a process of its own, nobody else sees the mount). */
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0)
		cr_skip_test("no private tmpfs here (%s): ENOSPC not tested", strerror(errno));
	struct dstore *ds = NULL;
	int r = dstore_open(&ds, path, 4 * SIZE, &opts, err, sizeof(err));
	cr_assert_eq(r, -ENOSPC, "%d %s", r, err);
	char want[256];
	snprintf(want, sizeof(want),
		 "%s: cannot preallocate 4194304 bytes: No space left on device (", path);
	cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
	cr_assert_eq(access(path, F_OK), -1, "the file it created is gone again");
	/* What fits works, on tmpfs too (O_DIRECT there since Linux 6.6). */
	ds = open_ok(SIZE / 2);
	dstore_close(&ds);
	unlink(path);
	umount(dir);
}

static char logged[4][512];
static int nlogged;
static void log_hook(void *ctx, enum dstore_level lvl, const char *line)
{
	(void)ctx;
	(void)lvl;
	if (nlogged < 4)
		snprintf(logged[nlogged], sizeof(logged[0]), "%s", line);
	nlogged++;
}

Test(dstore_open, without_o_direct)
{
	struct dstore_opts o = {.seg_size = SEG, .no_direct = true, .log = log_hook};
	struct dstore *ds = NULL;
	nlogged = 0;
	cr_assert_eq(dstore_open(&ds, path, SIZE, &o, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(ds->direct);
	cr_assert_eq(nlogged, 0, "asked for, not a fallback: no warning");
	dstore_close(&ds);
}
