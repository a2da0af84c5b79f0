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
#include <sys/wait.h>
#include <unistd.h>

#include "cache/dstore.h"

#define SEG (64u * 1024)
#define SIZE                                                                                       \
	(1024u * 1024) /* 64 KiB of superblocks (the first segment's alignment), 15 segments       \
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
	char want[400];
	snprintf(want, sizeof(want), "%s: in use by another ringcache (pid %ld)", path,
		 (long)getpid());
	cr_assert_str_eq(err, want);
	dstore_close(&ds);
	/* The lock went with the close, and the refused open removed nothing. */
	ds = open_ok(SIZE);
	cr_assert_not(ds->formatted);
	dstore_close(&ds);
}

Test(dstore_open, another_process_holding_the_store_is_named)
{
	int ready[2], quit[2];
	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(quit), 0);
	pid_t child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		struct dstore *mine = NULL;
		char e[256];
		char ok = dstore_open(&mine, path, SIZE, &opts, e, sizeof(e)) == 0 ? 'y' : 'n';
		(void)!write(ready[1], &ok, 1);
		(void)!read(quit[0], &ok, 1); /* until the parent has tried */
		dstore_close(&mine);
		_exit(0);
	}
	char ok = 0;
	cr_assert_eq(read(ready[0], &ok, 1), 1);
	cr_assert_eq(ok, 'y');
	struct dstore *ds = NULL;
	int r = dstore_open(&ds, path, SIZE, &opts, err, sizeof(err));
	(void)!write(quit[1], "q", 1);
	int status;
	waitpid(child, &status, 0);
	cr_assert_eq(r, -EBUSY);
	char want[200];
	snprintf(want, sizeof(want), "%s: in use by another ringcache (pid %ld)", path,
		 (long)child);
	cr_assert_str_eq(err, want);
	/* Gone with its process: the store opens. */
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

/* --- the writer and reading back, on a real loop ---------------------------------- */

#include "cache/dwriter.h"
#include "rt/loop.h"
#include "rt/task.h"

static struct rt_loop *loop;
static struct store *mem;

static void run_main(rt_task_fn fn, void *arg)
{
	cr_assert_eq(rt_task_spawn_detached(fn, arg, "main"), 0);
	rt_loop_stop(loop);
	rt_loop_run(loop);
}

static void loop_setup_on(enum rt_backend be)
{
	setup();
	int e = 0;
	struct rt_loop_opts lo = {.backend = be};
	loop = rt_loop_create(&lo, &e);
	cr_assert_not_null(loop, "rt_loop_create: %d", e);
	mem = store_create(64u << 20);
	cr_assert_not_null(mem);
	nlogged = 0;
}
static void loop_setup(void)
{
	loop_setup_on(RT_BACKEND_AUTO);
}
static void loop_setup_epoll(void)
{
	loop_setup_on(RT_BACKEND_EPOLL);
}
static void loop_teardown(void)
{
	store_free(&mem);
	rt_loop_destroy(&loop);
	teardown();
}

TestSuite(dwriter, .init = loop_setup, .fini = loop_teardown, .timeout = 60);
TestSuite(dwriter_epoll, .init = loop_setup_epoll, .fini = loop_teardown, .timeout = 60);

#define MAXREC 256
struct wt {
	struct dstore *ds;
	struct dwriter *w;
	struct dwriter_conf conf;
	int nobj;
	size_t sizes[MAXREC];
	struct dwriter_done done[MAXREC];
	uint64_t copy_version[MAXREC]; /* a copy's version (done[i].copy), else 0 */
	char keys[MAXREC][32];
	int ndone;
	int rc;
};

static void on_written(void *ctx, const struct dwriter_done *d)
{
	struct wt *t = ctx;
	cr_assert_lt(t->ndone, MAXREC);
	struct dwriter_done *c = &t->done[t->ndone];
	*c = *d;
	cr_assert_leq(d->key_len, sizeof(t->keys[0]));
	memcpy(t->keys[t->ndone], d->key, d->key_len);
	c->key = t->keys[t->ndone];
	c->obj = NULL;
	t->copy_version[t->ndone] = d->copy ? d->copy->obj.version : 0;
	c->copy = NULL;
	t->ndone++;
}

/* Body byte I of object N: its own pattern, so a record read back from
 * the wrong place shows. */
static char body_byte(int n, size_t i)
{
	return (char)('a' + (n * 7 + (int)(i % 251)) % 26);
}

static struct cobj *make_obj(int n, size_t len)
{
	struct cobj *o = cobj_new(mem);
	cr_assert_not_null(o);
	o->status = 200;
	o->reason = strdup("OK");
	char h[64];
	int hl = snprintf(h, sizeof(h), "Content-Type: text/plain\r\nX-N: %d\r\n", n);
	o->hdrs = strdup(h);
	o->hdrs_len = (uint32_t)hl;
	cc_init(&o->meta.cc);
	o->meta.status = 200;
	o->meta.date = 1700000000 + n;
	o->meta.expires = POLICY_NONE;
	o->meta.last_modified = POLICY_NONE;
	o->lifetime = 60 + n;
	o->clen = (int64_t)len;
	char chunk[4096];
	for (size_t i = 0; i < len;) {
		size_t k = len - i < sizeof(chunk) ? len - i : sizeof(chunk);
		for (size_t j = 0; j < k; j++)
			chunk[j] = body_byte(n, i + j);
		cr_assert_eq(cbody_append(o->body, chunk, k, len), 0);
		i += k;
	}
	cbody_finish(o->body, true);
	return o;
}

static int key_of(int n, char *out)
{
	/* host NUL target, as cache/key.h builds it */
	int l = snprintf(out, 32, "example.com%c/obj/%d", 0, n);
	return l;
}

/* Record reads through the page cache (cache.disk.page_cache): exact,
 * unaligned reads on a second descriptor. */
static bool read_buffered;

static void check_obj_rec(struct wt *t, const struct dwriter_done *d, int n, size_t len)
{
	struct dstore_rec r;
	int rc = dstore_read(t->ds, d->seg, d->off, d->len, rt_deadline_in(5 * RT_SEC), &r);
	cr_assert_eq(rc, 0, "read of object %d (seg %llu off %u len %u): %d", n,
		     (unsigned long long)d->seg, d->off, d->len, rc);
	cr_assert_eq(r.v.h.kind, DREC_OBJECT);
	cr_assert_eq(r.v.h.seq, d->seq);
	char key[32];
	int kl = key_of(n, key);
	cr_assert_eq(r.v.in.key_len, (uint32_t)kl);
	cr_assert_eq(memcmp(r.v.in.key, key, (size_t)kl), 0);
	char h[64];
	int hl = snprintf(h, sizeof(h), "Content-Type: text/plain\r\nX-N: %d\r\n", n);
	cr_assert_eq(r.v.in.head_len, (uint32_t)hl);
	cr_assert_eq(memcmp(r.v.in.head, h, (size_t)hl), 0);
	cr_assert_eq(r.v.obj.lifetime, 60 + n);
	cr_assert_eq(r.v.obj.meta.date, 1700000000 + n);
	cr_assert_eq(r.v.obj.reason_len, 2);
	cr_assert_eq(r.v.h.body_len, len);
	/* Exactly the record when read through the page cache, else the
	 * blocks that cover it. */
	if (read_buffered)
		cr_assert_eq(r.size, d->len);
	else
		cr_assert_eq(r.size, dstore_span_size(d->off, d->len));
	for (size_t i = 0; i < len; i++)
		if (r.v.body[i] != body_byte(n, i))
			cr_assert_fail("object %d byte %zu", n, i);
	dstore_rec_free(&r);
	cr_assert_null(r.mem);
}

static struct dstore *open_logged(uint64_t size)
{
	struct dstore_opts o = {.seg_size = SEG, .log = log_hook, .page_cache = read_buffered};
	struct dstore *ds = NULL;
	int r = dstore_open(&ds, path, size, &o, err, sizeof(err));
	cr_assert_eq(r, 0, "dstore_open: %d %s", r, err);
	return ds;
}

/* Objects of many sizes (empty, under a block, over the window, over a
 * segment) through a small window: every one read back whole from where
 * the writer said it went; sequence numbers in admission order. */
static void write_read_main(void *arg)
{
	struct wt *t = arg;
	struct rt_task *wr = rt_task_spawn(dwriter_main, t->w, "dwriter");
	cr_assert_not_null(wr);
	for (int n = 0; n < t->nobj; n++) {
		struct cobj *o = make_obj(n, t->sizes[n]);
		char key[32];
		int kl = key_of(n, key);
		cr_assert_eq(dwriter_admit(t->w, key, (uint32_t)kl, o), 0);
		cobj_release(&o);
		if (n % 7 == 3)
			cr_assert_eq(rt_task_yield(), 0); /* let some flushes happen in between */
	}
	dwriter_stop(t->w);
	cr_assert_eq(rt_task_join(&wr, rt_deadline_in(10 * RT_SEC)), 0);
	/* Reads from a task too. */
	int k = 0;
	for (int n = 0; n < t->nobj; n++) {
		if (t->sizes[n] > SEG)
			continue; /* too big: never written */
		cr_assert_lt(k, t->ndone);
		check_obj_rec(t, &t->done[k], n, t->sizes[n]);
		if (k)
			cr_assert_gt(t->done[k].seq, t->done[k - 1].seq);
		k++;
	}
	cr_assert_eq(k, t->ndone);
	t->rc = 1;
}

static void write_read(void)
{
	static struct wt t;
	memset(&t, 0, sizeof(t));
	t.ds = open_logged(SIZE);
	t.conf = (struct dwriter_conf){.buf_size = 8192, .written = on_written, .ctx = &t};
	t.w = dwriter_create(t.ds, &t.conf);
	cr_assert_not_null(t.w);
	static const size_t sizes[] = {0,	1, 100,	 4000, 4096,  5000,  9000,  20000, 30000,
				       SEG + 1, 3, 8191, 8192, 12000, 40000, 50000, 700};
	t.nobj = (int)(sizeof(sizes) / sizeof(sizes[0]));
	memcpy(t.sizes, sizes, sizeof(sizes));
	run_main(write_read_main, &t);
	cr_assert_eq(t.rc, 1);
	struct dstore_stats *s = &t.ds->stats;
	cr_assert_eq(s->admitted, (uint64_t)t.nobj);
	cr_assert_eq(s->too_big, 1);
	cr_assert_eq(s->records, (uint64_t)t.nobj - 1);
	cr_assert_gt(s->segments, 3, "rolled over segments: %llu", (unsigned long long)s->segments);
	cr_assert_eq(s->damaged, 0);
	cr_assert_eq(s->io_errors, 0);
	cr_assert_eq(nlogged, 0, "%s", logged[0]);

	/* Every segment the writer used walks clean: its SEGMENT record, then
	 * the objects in order, then END (zeros) or STALE. */
	int fd = open(path, O_RDONLY);
	uint8_t *seg = malloc(SEG);
	int seen = 0;
	for (uint64_t i = 0; i < s->segments; i++) {
		cr_assert_eq(pread(fd, seg, SEG, (off_t)dstore_offset(t.ds, i, 0)), SEG);
		struct drec_walk wk;
		drec_walk_init(&wk, seg, SEG, SEG, t.ds->sb.store_id, i);
		struct drec_view v;
		enum drec_result r;
		int in_seg = 0;
		while ((r = drec_walk_next(&wk, &v)) == DREC_OK) {
			if (in_seg++ == 0) {
				cr_assert_eq(v.h.kind, DREC_SEGMENT);
				continue;
			}
			cr_assert_eq(v.h.seq, t.done[seen].seq);
			cr_assert_eq(wk.off - v.h.total, t.done[seen].off);
			seen++;
		}
		cr_assert_eq(r, DREC_END, "segment %llu ends %s", (unsigned long long)i,
			     drec_result_name(r));
	}
	cr_assert_eq(seen, t.ndone);
	free(seg);
	close(fd);
	dwriter_free(&t.w);
	dstore_close(&t.ds);
}

Test(dwriter, objects_of_every_size_are_read_back_whole)
{
	write_read();
}

Test(dwriter, objects_of_every_size_are_read_back_whole_through_the_page_cache)
{
	read_buffered = true;
	write_read();
	read_buffered = false;
}

/* Reinsertion through the NEXT_SEG hook: when the writer leaves segment
 * 0 the hook reads object 0's record back and hands it to dwriter_copy;
 * the copy is the first record of segment 1, before the object that
 * asked for the roll, with a new sequence and object 0's version, and it
 * reads back whole. The hook is asked at the start too (for FIRST_SEG). */
struct copy_hook {
	struct wt *t;
	int calls;
	uint64_t room; /* what the roll out of segment 0 left the copies */
	int copied;
};

static int copy_next_seg(void *ctx, uint64_t sealed, uint64_t *next, uint64_t room)
{
	struct copy_hook *h = ctx;
	struct wt *t = h->t;
	*next = (sealed + 1) % t->ds->sb.seg_count;
	if (h->calls++ == 0) {
		cr_assert_eq(*next, 0, "asked for FIRST_SEG at the start");
		return 0;
	}
	if (sealed != 0)
		return 0;
	h->room = room;
	struct dstore_rec r;
	cr_assert_eq(dstore_read(t->ds, t->done[0].seg, t->done[0].off, t->done[0].len,
				 rt_deadline_in(5 * RT_SEC), &r),
		     0);
	cr_assert_leq(r.v.h.total, room);
	cr_assert_eq(dwriter_copy(t->w, &r), 0);
	cr_assert_null(r.mem, "the record is the writer's now");
	h->copied++;
	return 0;
}

static void copy_written(void *ctx, const struct dwriter_done *d)
{
	on_written(((struct copy_hook *)ctx)->t, d);
}

static void copy_main(void *arg)
{
	struct wt *t = arg;
	struct rt_task *wr = rt_task_spawn(dwriter_main, t->w, "dwriter");
	cr_assert_not_null(wr);
	for (int n = 0; n < 4; n++) { /* three fit a segment, the fourth rolls */
		struct cobj *o = make_obj(n, 20000);
		char key[32];
		int kl = key_of(n, key);
		cr_assert_eq(dwriter_admit(t->w, key, (uint32_t)kl, o), 0);
		cobj_release(&o);
	}
	dwriter_stop(t->w);
	cr_assert_eq(rt_task_join(&wr, rt_deadline_in(10 * RT_SEC)), 0);
	cr_assert_eq(t->ndone, 5, "four objects and one copy");
	for (int k = 0; k < 3; k++)
		cr_assert(t->done[k].seg == 0 && !t->copy_version[k]);
	const struct dwriter_done *c = &t->done[3], *last = &t->done[4];
	cr_assert_eq(c->seg, 1);
	cr_assert_eq(t->copy_version[3], t->done[0].seq, "the copy keeps its version");
	cr_assert_gt(c->seq, t->done[2].seq, "and takes a new sequence");
	cr_assert_eq(last->seg, 1);
	cr_assert_eq(t->copy_version[4], 0);
	cr_assert_gt(last->off, c->off, "the object that rolled comes after the copy");
	cr_assert_gt(last->seq, c->seq);
	check_obj_rec(t, c, 0, 20000);
	struct dstore_rec r;
	cr_assert_eq(dstore_read(t->ds, c->seg, c->off, c->len, rt_deadline_in(5 * RT_SEC), &r), 0);
	cr_assert_eq(r.v.obj.version, t->done[0].seq);
	dstore_rec_free(&r);
	t->rc = 1;
}

Test(dwriter, a_copy_from_the_next_seg_hook_goes_first_and_keeps_its_version)
{
	static struct wt t;
	memset(&t, 0, sizeof(t));
	t.ds = open_logged(SIZE);
	static struct copy_hook h;
	h = (struct copy_hook){.t = &t};
	t.conf = (struct dwriter_conf){
	    .buf_size = 8192, .next_seg = copy_next_seg, .written = copy_written, .ctx = &h};
	t.w = dwriter_create(t.ds, &t.conf);
	cr_assert_not_null(t.w);
	run_main(copy_main, &t);
	cr_assert_eq(t.rc, 1);
	cr_assert_eq(h.copied, 1);
	cr_assert_eq(h.calls, 2, "the start and the roll out of segment 0");
	cr_assert(h.room > 0 && h.room < SEG - 20000, "room left for the record that rolled: %llu",
		  (unsigned long long)h.room);
	cr_assert_eq(t.ds->stats.records, 5);
	cr_assert_eq(t.ds->stats.damaged, 0);
	cr_assert_eq(nlogged, 0, "%s", logged[0]);
	dwriter_free(&t.w);
	dstore_close(&t.ds);
}

Test(dwriter_epoll, objects_of_every_size_are_read_back_whole)
{
	write_read();
}

/* --- admission, invalidations ------------------------------------------------ */

static void queue_main(void *arg)
{
	struct wt *t = arg;
	/* The writer has not run yet: everything admitted waits in the queue. */
	int ok = 0, full = 0;
	for (int n = 0; n < 10; n++) {
		struct cobj *o = make_obj(n, 100);
		char key[32];
		int kl = key_of(n, key), r = dwriter_admit(t->w, key, (uint32_t)kl, o);
		cobj_release(&o);
		ok += r == 0;
		full += r == -EAGAIN;
	}
	cr_assert_eq(ok, 4);
	cr_assert_eq(full, 6);
	/* Invalidations have room of their own beyond the objects' bound. */
	char key[32];
	int kl = key_of(1, key);
	cr_assert_eq(dwriter_tombstone(t->w, key, (uint32_t)kl), 0);
	cr_assert_eq(dwriter_ban(t->w, "^/obj/", 6, "example", 7), 0);
	cr_assert_eq(dwriter_ban(t->w, NULL, 0, "^x$", 3), 0);
	cr_assert_eq(dwriter_ban(t->w, NULL, 0, NULL, 0), -EINVAL);
	cr_assert_eq(dwriter_tag(t->w, "group-1", 7, true), 0);
	/* A body still filling is refused. */
	struct cobj *o = cobj_new(mem);
	cr_assert_eq(dwriter_admit(t->w, key, (uint32_t)kl, o), -EINVAL);
	cobj_release(&o);
	/* Written in queue order while it runs (a drain would reorder). */
	struct rt_task *wr = rt_task_spawn(dwriter_main, t->w, "dwriter");
	for (int i = 0; i < 1000 && t->ndone < 8; i++)
		rt_sleep_until(rt_deadline_in(RT_SEC / 100));
	cr_assert_eq(t->ndone, 8);
	dwriter_stop(t->w);
	cr_assert_eq(rt_task_join(&wr, rt_deadline_in(10 * RT_SEC)), 0);
	o = make_obj(99, 1);
	cr_assert_eq(dwriter_admit(t->w, key, (uint32_t)kl, o), -ENODEV, "stopped");
	cobj_release(&o);
	cr_assert_eq(t->ndone, 8);
	struct dstore_rec r;
	const struct dwriter_done *d = &t->done[4];
	cr_assert_eq(d->kind, DREC_TOMBSTONE);
	cr_assert_eq(dstore_read(t->ds, d->seg, d->off, d->len, RT_NEVER, &r), 0);
	cr_assert_eq(r.v.h.kind, DREC_TOMBSTONE);
	cr_assert_eq(r.v.in.key_len, (uint32_t)kl);
	cr_assert_eq(memcmp(r.v.in.key, key, (size_t)kl), 0);
	cr_assert_gt(r.v.h.seq, t->done[3].seq, "purges after the objects they follow");
	dstore_rec_free(&r);
	d = &t->done[5];
	cr_assert_eq(dstore_read(t->ds, d->seg, d->off, d->len, RT_NEVER, &r), 0);
	cr_assert_eq(r.v.h.kind, DREC_BAN);
	cr_assert_eq(r.v.h.flags, DREC_BAN_URL | DREC_BAN_HOST);
	cr_assert_eq(r.v.in.url_len, 6);
	cr_assert_eq(memcmp(r.v.in.url_re, "^/obj/", 6), 0);
	cr_assert_eq(memcmp(r.v.in.host_re, "example", 7), 0);
	dstore_rec_free(&r);
	d = &t->done[6];
	cr_assert_eq(dstore_read(t->ds, d->seg, d->off, d->len, RT_NEVER, &r), 0);
	cr_assert_eq(r.v.h.flags, DREC_BAN_HOST);
	dstore_rec_free(&r);
	d = &t->done[7];
	cr_assert_eq(dstore_read(t->ds, d->seg, d->off, d->len, RT_NEVER, &r), 0);
	cr_assert_eq(r.v.h.kind, DREC_TAG);
	cr_assert_eq(r.v.h.flags, DREC_TAG_SOFT);
	cr_assert_eq(memcmp(r.v.in.key, "group-1", 7), 0);
	dstore_rec_free(&r);
	t->rc = 1;
}

Test(dwriter, a_full_queue_drops_objects_and_keeps_room_for_invalidations)
{
	static struct wt t;
	memset(&t, 0, sizeof(t));
	t.ds = open_logged(SIZE);
	t.conf = (struct dwriter_conf){.queue = 4, .written = on_written, .ctx = &t};
	t.w = dwriter_create(t.ds, &t.conf);
	cr_assert_not_null(t.w);
	run_main(queue_main, &t);
	cr_assert_eq(t.rc, 1);
	cr_assert_eq(t.ds->stats.admitted, 4);
	cr_assert_eq(t.ds->stats.admit_dropped, 6);
	cr_assert_eq(t.ds->stats.not_done, 1);
	dwriter_free(&t.w);
	dstore_close(&t.ds);
}

/* A drain (dwriter_stop with a queue) writes the invalidations first, so
 * a deadline that cuts it short loses objects, never a purge; objects
 * queued before an invalidation that applies to them are not written. */
static void drain_main(void *arg)
{
	struct wt *t = arg;
	char key[32];
	int kl;
	for (int n = 0; n < 4; n++) {
		struct cobj *o = make_obj(n, 100);
		if (n == 2) {
			o->tags = strdup("red blue");
			o->tags_len = 8;
			o->tags_space_sep = true;
		}
		kl = key_of(n, key);
		cr_assert_eq(dwriter_admit(t->w, key, (uint32_t)kl, o), 0);
		cobj_release(&o);
	}
	kl = key_of(1, key);
	cr_assert_eq(dwriter_tombstone(t->w, key, (uint32_t)kl), 0);
	cr_assert_eq(dwriter_tag(t->w, "blue", 4, false), 0);
	struct cobj *o = make_obj(1, 50); /* key 1 again, after its purge */
	cr_assert_eq(dwriter_admit(t->w, key, (uint32_t)kl, o), 0);
	cobj_release(&o);
	/* A ban of one URL: object 3 only. */
	cr_assert_eq(dwriter_ban(t->w, "^/obj/3$", 8, NULL, 0), 0);
	/* Stopped before the task ever ran: all of it is the drain's. */
	struct rt_task *wr = rt_task_spawn(dwriter_main, t->w, "dwriter");
	dwriter_stop(t->w);
	cr_assert_eq(rt_task_join(&wr, rt_deadline_in(10 * RT_SEC)), 0);
	cr_assert_eq(t->ndone, 5, "tombstone, tag, ban, object 0, then key 1's new object");
	check_obj_rec(t, &t->done[4], 1, 50);
	t->rc = 1;
}

Test(dwriter, a_drain_writes_invalidations_first)
{
	static struct wt t;
	memset(&t, 0, sizeof(t));
	t.ds = open_logged(SIZE);
	t.conf = (struct dwriter_conf){.written = on_written, .ctx = &t};
	t.w = dwriter_create(t.ds, &t.conf);
	cr_assert_not_null(t.w);
	run_main(drain_main, &t);
	cr_assert_eq(t.rc, 1);
	cr_assert_eq(t.done[0].kind, DREC_TOMBSTONE);
	cr_assert_eq(t.done[1].kind, DREC_TAG);
	cr_assert_eq(t.done[2].kind, DREC_BAN);
	char k0[32], k1[32];
	int l0 = key_of(0, k0), l1 = key_of(1, k1);
	cr_assert_eq(t.done[3].key_len, (uint32_t)l0);
	cr_assert_eq(memcmp(t.done[3].key, k0, (size_t)l0), 0);
	cr_assert_eq(t.done[4].key_len, (uint32_t)l1);
	cr_assert_eq(memcmp(t.done[4].key, k1, (size_t)l1), 0);
	for (int i = 1; i < 5; i++)
		cr_assert_gt(t.done[i].seq, t.done[i - 1].seq);
	cr_assert_eq(t.ds->stats.superseded, 3,
		     "key 1's old object, the tagged one, the banned one");
	dwriter_free(&t.w);
	dstore_close(&t.ds);
}

/* --- faults ------------------------------------------------------------------- */

/* Write N objects of LEN bytes and stop: T->done says where they went. */
static void write_some_main(void *arg)
{
	struct wt *t = arg;
	struct rt_task *wr = rt_task_spawn(dwriter_main, t->w, "dwriter");
	for (int n = 0; n < t->nobj; n++) {
		struct cobj *o = make_obj(n, t->sizes[n]);
		char key[32];
		int kl = key_of(n, key);
		cr_assert_eq(dwriter_admit(t->w, key, (uint32_t)kl, o), 0);
		cobj_release(&o);
	}
	dwriter_stop(t->w);
	cr_assert_eq(rt_task_join(&wr, rt_deadline_in(10 * RT_SEC)), 0);
	t->rc = 1;
}

static void write_some(struct wt *t, int n, size_t len)
{
	memset(t, 0, sizeof(*t));
	t->ds = open_logged(SIZE);
	t->conf = (struct dwriter_conf){.written = on_written, .ctx = t};
	t->w = dwriter_create(t->ds, &t->conf);
	cr_assert_not_null(t->w);
	t->nobj = n;
	for (int i = 0; i < n; i++)
		t->sizes[i] = len;
	run_main(write_some_main, t);
	cr_assert_eq(t->ndone, n);
	dwriter_free(&t->w);
}

struct rd {
	struct wt *t;
	int idx;
	int rc, rc2;
};

static void read_main(void *arg)
{
	struct rd *q = arg;
	const struct dwriter_done *d = &q->t->done[q->idx];
	struct dstore_rec r;
	q->rc = dstore_read(q->t->ds, d->seg, d->off, d->len, rt_deadline_in(5 * RT_SEC), &r);
	if (q->rc == 0)
		dstore_rec_free(&r);
	q->rc2 = dstore_read(q->t->ds, d->seg, d->off, d->len, rt_deadline_in(5 * RT_SEC), &r);
	if (q->rc2 == 0)
		dstore_rec_free(&r);
}

Test(dwriter, a_torn_record_is_damaged_never_served)
{
	static struct wt t;
	write_some(&t, 3, 10000);
	dstore_close(&t.ds); /* "crash" */
	/* The second record's last half never reached the disk. */
	const struct dwriter_done *d = &t.done[1];
	int fd = open(path, O_WRONLY);
	static char zero[8192];
	off_t at = (off_t)(SEG + d->seg * SEG + d->off + d->len / 2);
	cr_assert_eq(pwrite(fd, zero, d->len - d->len / 2, at), (ssize_t)(d->len - d->len / 2));
	close(fd);
	t.ds = open_logged(SIZE);
	cr_assert_not(t.ds->formatted);
	struct rd q = {.t = &t, .idx = 1};
	run_main(read_main, &q);
	cr_assert_eq(q.rc, -EBADMSG);
	cr_assert_eq(t.ds->stats.damaged, 2);
	cr_assert_not(dstore_disabled(t.ds), "damage is not an I/O error");
	q = (struct rd){.t = &t, .idx = 2};
	run_main(read_main, &q);
	cr_assert_eq(q.rc, 0, "the record after it is whole");
	dstore_close(&t.ds);
}

static void truncated_under_the_store(void)
{
	static struct wt t;
	write_some(&t, 4, 20000);
	cr_assert_eq(truncate(path, SEG + 4096), 0);
	struct rd q = {.t = &t, .idx = 3};
	run_main(read_main, &q);
	cr_assert_eq(q.rc, -ENODEV);
	cr_assert_eq(q.rc2, -ENODEV);
	cr_assert(dstore_disabled(t.ds));
	cr_assert_eq(nlogged, 1, "one error line");
	char want[400];
	snprintf(want, sizeof(want), "%s: read past the end at byte ", path);
	cr_assert_eq(strncmp(logged[0], want, strlen(want)), 0, "%s", logged[0]);
	cr_assert_str_eq(dstore_why(t.ds), logged[0]);
	cr_assert_neq(strstr(logged[0], "the disk tier is disabled, the memory tier goes on"),
		      NULL);
	cr_assert_eq(t.ds->stats.io_errors, 1, "the second read failed at once");
	dstore_close(&t.ds);
}

Test(dwriter, a_file_truncated_under_the_store_disables_it_with_one_line)
{
	truncated_under_the_store();
}

Test(dwriter_epoll, a_file_truncated_under_the_store_disables_it_with_one_line)
{
	truncated_under_the_store();
}

static void deleted_main(void *arg)
{
	struct wt *t = arg;
	struct rt_task *wr = rt_task_spawn(dwriter_main, t->w, "dwriter");
	cr_assert_eq(unlink(path), 0);
	/* The writer looks at the file once a second while idle, and ends. */
	cr_assert_eq(rt_task_join(&wr, rt_deadline_in(5 * RT_SEC)), 0);
	cr_assert(dstore_disabled(t->ds));
	struct cobj *o = make_obj(1, 10);
	cr_assert_eq(dwriter_admit(t->w, "k", 1, o), -ENODEV);
	cobj_release(&o);
	t->rc = 1;
}

Test(dwriter, a_file_deleted_under_the_store_disables_it)
{
	static struct wt t;
	memset(&t, 0, sizeof(t));
	t.ds = open_logged(SIZE);
	t.conf = (struct dwriter_conf){.written = on_written, .ctx = &t};
	t.w = dwriter_create(t.ds, &t.conf);
	run_main(deleted_main, &t);
	cr_assert_eq(t.rc, 1);
	cr_assert_eq(nlogged, 1);
	char want[400];
	snprintf(want, sizeof(want),
		 "%s: the store file was deleted: No such file or directory; the disk tier is "
		 "disabled, the memory tier goes on",
		 path);
	cr_assert_str_eq(logged[0], want);
	dwriter_free(&t.w);
	dstore_close(&t.ds);
}

static void write_error_main(void *arg)
{
	struct wt *t = arg;
	struct rt_task *wr = rt_task_spawn(dwriter_main, t->w, "dwriter");
	for (int n = 0; n < 3; n++) {
		struct cobj *o = make_obj(n, 1000);
		char key[32];
		int kl = key_of(n, key);
		cr_assert_eq(dwriter_admit(t->w, key, (uint32_t)kl, o), 0);
		cobj_release(&o);
	}
	cr_assert_eq(rt_task_join(&wr, rt_deadline_in(5 * RT_SEC)), 0, "the writer ends");
	struct cobj *o = make_obj(9, 10);
	cr_assert_eq(dwriter_admit(t->w, "k", 1, o), -ENODEV);
	cobj_release(&o);
	t->rc = 1;
}

Test(dwriter, a_failed_write_disables_the_tier_and_reports_nothing)
{
	static struct wt t;
	memset(&t, 0, sizeof(t));
	t.ds = open_logged(SIZE);
	/* The store's descriptor turned read-only: every write fails (EBADF),
	 * as one on a dying disk fails with EIO. */
	int ro = open(path, O_RDONLY);
	cr_assert_eq(dup2(ro, t.ds->fd), t.ds->fd);
	close(ro);
	t.conf = (struct dwriter_conf){.written = on_written, .ctx = &t};
	t.w = dwriter_create(t.ds, &t.conf);
	run_main(write_error_main, &t);
	cr_assert_eq(t.rc, 1);
	cr_assert_eq(t.ndone, 0, "nothing reported: nothing is on disk");
	cr_assert_eq(t.ds->stats.records, 0);
	cr_assert(dstore_disabled(t.ds));
	cr_assert_eq(nlogged, 1);
	char want[400];
	snprintf(want, sizeof(want),
		 "%s: writing segment 0 at 0: Bad file descriptor; the disk tier is disabled, "
		 "the memory tier goes on",
		 path);
	cr_assert_str_eq(logged[0], want);
	dwriter_free(&t.w);
	dstore_close(&t.ds);
}

/* --- rebuild -------------------------------------------------------------------- */

#include <time.h>

#include "cache/drebuild.h"

static void rebuild_main(void *arg)
{
	drebuild_main(arg);
}

/* on_done runs before the rebuild says it is done: the disk tier starts
 * its writer and applies the invalidations made meanwhile first. */
static int done_seen_early = -1;

static void done_not_yet(void *ctx, const struct drebuild_stats *s)
{
	(void)s;
	done_seen_early = atomic_load(&((struct drebuild *)ctx)->done);
}

/* Invalidation records the rebuild could not read (on_lost). */
static int lost_seen;
static uint64_t lost_seq;

static void on_lost(void *ctx, const struct drec_head *h)
{
	(void)ctx;
	lost_seen++;
	lost_seq = h->seq;
}

static void rebuild(struct wt *t, struct drebuild *rb, struct dindex **ix, struct dseg **dseg)
{
	*ix = dindex_create(dindex_expected(SIZE, 0), (uint32_t)t->ds->sb.seg_count,
			    (int64_t)time(NULL));
	cr_assert_not_null(*ix);
	struct dseg_conf dc = {.nsegs = (uint32_t)t->ds->sb.seg_count, .seg_size = SEG};
	*dseg = dseg_create(&dc);
	cr_assert_not_null(*dseg);
	*rb = (struct drebuild){.ds = t->ds,
				.ix = *ix,
				.dseg = *dseg,
				.read_size = 8192, /* smaller than some records: windows grow */
				.now = (int64_t)time(NULL),
				.on_done = done_not_yet,
				.on_lost = on_lost,
				.ctx = rb};
	done_seen_early = -1;
	lost_seen = 0;
	run_main(rebuild_main, rb);
	cr_assert(atomic_load(&rb->done));
	cr_assert_eq(done_seen_early, 0, "done was set before on_done ran");
	cr_assert_eq(rb->stats.rc, 0);
	cr_assert_eq(rb->stats.segments, t->ds->sb.seg_count);
}

static void inval_then_stop_main(void *arg)
{
	struct wt *t = arg;
	struct rt_task *wr = rt_task_spawn(dwriter_main, t->w, "dwriter");
	for (int n = 0; n < t->nobj; n++) {
		struct cobj *o = make_obj(n, t->sizes[n]);
		char key[32];
		int kl = key_of(n, key);
		cr_assert_eq(dwriter_admit(t->w, key, (uint32_t)kl, o), 0);
		cobj_release(&o);
	}
	char key[32];
	int kl = key_of(2, key);
	cr_assert_eq(dwriter_tombstone(t->w, key, (uint32_t)kl), 0);
	cr_assert_eq(dwriter_ban(t->w, "^/x", 3, NULL, 0), 0);
	cr_assert_eq(dwriter_tag(t->w, "t", 1, false), 0);
	/* Object 3 again, after the purge of 2: a newer version. */
	struct cobj *o = make_obj(3, 5);
	kl = key_of(3, key);
	cr_assert_eq(dwriter_admit(t->w, key, (uint32_t)kl, o), 0);
	cobj_release(&o);
	/* In queue order: not left to the drain, which would write the
	 * invalidations first and skip the objects the ban applies to. */
	for (int i = 0; i < 1000 && t->ndone < t->nobj + 4; i++)
		rt_sleep_until(rt_deadline_in(RT_SEC / 100));
	dwriter_stop(t->w);
	cr_assert_eq(rt_task_join(&wr, rt_deadline_in(10 * RT_SEC)), 0);
	t->rc = 1;
}

static void rebuilt_from_the_segments(void)
{
	static struct wt t;
	memset(&t, 0, sizeof(t));
	t.ds = open_logged(SIZE);
	t.conf = (struct dwriter_conf){.buf_size = 8192, .written = on_written, .ctx = &t};
	t.w = dwriter_create(t.ds, &t.conf);
	static const size_t sizes[] = {10, 20000, 300, 4000, 30000, 9000, 1, 45000, 2000};
	t.nobj = (int)(sizeof(sizes) / sizeof(sizes[0]));
	memcpy(t.sizes, sizes, sizeof(sizes));
	run_main(inval_then_stop_main, &t);
	cr_assert_eq(t.ndone, t.nobj + 4);
	dwriter_free(&t.w);
	dstore_close(&t.ds); /* a restart */

	t.ds = open_logged(SIZE);
	cr_assert_not(t.ds->formatted);
	struct drebuild rb;
	struct dindex *ix;
	struct dseg *dseg;
	rebuild(&t, &rb, &ix, &dseg);
	cr_assert_eq(rb.stats.objects, (uint64_t)t.nobj + 1);
	cr_assert_eq(rb.stats.tombstones, 1);
	cr_assert_eq(rb.stats.bans, 1);
	cr_assert_eq(rb.stats.tags, 1);
	cr_assert_eq(rb.stats.records, (uint64_t)t.nobj + 4);
	cr_assert_eq(rb.stats.damaged, 0);
	cr_assert_eq(rb.stats.top_seq, t.done[t.ndone - 1].seq);
	cr_assert_gt(rb.stats.bytes_read, 0);
	for (int n = 0; n < t.nobj; n++) {
		char key[32];
		int kl = key_of(n, key);
		struct dindex_rec r;
		bool found = dindex_get(ix, dindex_phash(key, (size_t)kl), 0, &r);
		if (n == 2) {
			cr_assert_not(found, "purged by the tombstone after it");
			continue;
		}
		cr_assert(found, "object %d", n);
		const struct dwriter_done *d = n == 3 ? &t.done[t.ndone - 1] : &t.done[n];
		cr_assert_eq(r.seg, d->seg, "object %d", n);
		cr_assert_eq(r.off, d->off, "object %d", n);
		cr_assert_eq(r.len, d->len);
		cr_assert_eq(r.seq, d->seq);
		cr_assert_gt(r.expires, 0);
	}
	/* The segments' state came back too: the last written one is open. */
	cr_assert_eq(dseg_open(dseg), (int64_t)t.done[t.ndone - 1].seg);
	dseg_free(&dseg);
	dindex_free(&ix);
	dstore_close(&t.ds);
}

Test(dwriter, the_index_is_rebuilt_from_the_segments)
{
	rebuilt_from_the_segments();
}

Test(dwriter_epoll, the_index_is_rebuilt_from_the_segments)
{
	rebuilt_from_the_segments();
}

static void tear(const struct dwriter_done *d)
{
	int fd = open(path, O_WRONLY);
	static char zero[65536];
	off_t at = (off_t)(SEG + d->seg * SEG + d->off + d->len / 2);
	cr_assert_eq(pwrite(fd, zero, d->len - d->len / 2, at), (ssize_t)(d->len - d->len / 2));
	close(fd);
}

Test(dwriter, a_record_torn_by_a_crash_is_dropped_and_counted_at_rebuild)
{
	static struct wt t;
	write_some(&t, 4, 10000);
	dstore_close(&t.ds);
	tear(&t.done[1]); /* in the middle: skipped, the rest is read */
	tear(&t.done[3]); /* the last one: the end of the log */
	t.ds = open_logged(SIZE);
	struct drebuild rb;
	struct dindex *ix;
	struct dseg *dseg;
	rebuild(&t, &rb, &ix, &dseg);
	cr_assert_eq(rb.stats.objects, 2);
	cr_assert_eq(rb.stats.damaged, 2);
	struct dindex_rec r;
	char key[32];
	int kl = key_of(2, key);
	cr_assert(dindex_get(ix, dindex_phash(key, (size_t)kl), 0, &r), "the one after the tear");
	kl = key_of(1, key);
	cr_assert_not(dindex_get(ix, dindex_phash(key, (size_t)kl), 0, &r));
	dseg_free(&dseg);
	dindex_free(&ix);
	dstore_close(&t.ds);
}

/* A tombstone whose key rotted: the rebuild cannot say what it purged and
 * reports it (dtier then takes it as purging everything older). */
Test(dwriter, a_damaged_tombstone_is_reported_at_rebuild)
{
	static struct wt t;
	memset(&t, 0, sizeof(t));
	t.ds = open_logged(SIZE);
	t.conf = (struct dwriter_conf){.buf_size = 8192, .written = on_written, .ctx = &t};
	t.w = dwriter_create(t.ds, &t.conf);
	t.nobj = 3;
	for (int i = 0; i < 3; i++)
		t.sizes[i] = 100;
	run_main(inval_then_stop_main, &t);
	cr_assert_eq(t.ndone, t.nobj + 4);
	dwriter_free(&t.w);
	dstore_close(&t.ds);
	const struct dwriter_done *d = &t.done[t.nobj];
	cr_assert_eq(d->kind, DREC_TOMBSTONE);
	int fd = open(path, O_WRONLY);
	off_t at = (off_t)(SEG + d->seg * SEG + d->off + DREC_HDR); /* its key's first byte */
	cr_assert_eq(pwrite(fd, "#", 1, at), 1);
	close(fd);
	t.ds = open_logged(SIZE);
	struct drebuild rb;
	struct dindex *ix;
	struct dseg *dseg;
	rebuild(&t, &rb, &ix, &dseg);
	cr_assert_eq(rb.stats.damaged, 1);
	cr_assert_eq(rb.stats.tombstones, 0);
	cr_assert_eq(lost_seen, 1);
	cr_assert_eq(lost_seq, d->seq);
	cr_assert_eq(rb.stats.bans, 1, "the records after it are read");
	dseg_free(&dseg);
	dindex_free(&ix);
	dstore_close(&t.ds);
}

Test(dwriter, a_reformatted_store_rebuilds_empty)
{
	static struct wt t;
	write_some(&t, 3, 1000);
	dstore_close(&t.ds);
	/* Another layout: formatted with a new store id; the old records are
	 * another store's (FOREIGN), neither taken nor counted as damage. */
	struct dstore_opts o = {.seg_size = SEG, .log = log_hook};
	cr_assert_eq(dstore_open(&t.ds, path, SIZE + SEG, &o, err, sizeof(err)), 0, "%s", err);
	cr_assert(t.ds->formatted);
	struct drebuild rb;
	struct dindex *ix;
	struct dseg *dseg;
	rebuild(&t, &rb, &ix, &dseg);
	cr_assert_eq(rb.stats.records, 0);
	cr_assert_eq(rb.stats.damaged, 0);
	cr_assert_eq(rb.stats.top_seq, 0);
	dseg_free(&dseg);
	dindex_free(&ix);
	dstore_close(&t.ds);
}

/* --- admissions from other threads --------------------------------------------- */

#include <pthread.h>

struct producer {
	struct wt *t;
	int first, count;
	_Atomic int ok;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (int n = p->first; n < p->first + p->count; n++) {
		struct cobj *o = make_obj(n, (size_t)(n * 97 % 9000));
		char key[32];
		int kl = key_of(n, key);
		p->ok += dwriter_admit(p->t->w, key, (uint32_t)kl, o) == 0;
		cobj_release(&o);
	}
	return NULL;
}

static void threads_main(void *arg)
{
	struct wt *t = arg;
	struct rt_task *wr = rt_task_spawn(dwriter_main, t->w, "dwriter");
	struct producer ps[2] = {{t, 0, 60, 0}, {t, 60, 60, 0}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, produce, &ps[i]), 0);
	/* The writer runs meanwhile: this task only waits, a tick at a time
	 * (joining a thread would block the loop). */
	while (ps[0].ok + ps[1].ok < 120 && rt_sleep_until(rt_deadline_in(RT_MS)) == 0)
		;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(ps[0].ok + ps[1].ok, 120);
	dwriter_stop(t->w);
	cr_assert_eq(rt_task_join(&wr, rt_deadline_in(10 * RT_SEC)), 0);
	/* Every record reads back as the object its key names. */
	for (int k = 0; k < t->ndone; k++) {
		int n = atoi(t->keys[k] + sizeof("example.com") + sizeof("/obj/") - 1);
		check_obj_rec(t, &t->done[k], n, (size_t)(n * 97 % 9000));
	}
	t->rc = 1;
}

Test(dwriter, objects_admitted_from_other_threads)
{
	static struct wt t;
	memset(&t, 0, sizeof(t));
	t.ds = open_logged(SIZE);
	t.conf = (struct dwriter_conf){.written = on_written, .ctx = &t};
	t.w = dwriter_create(t.ds, &t.conf);
	run_main(threads_main, &t);
	cr_assert_eq(t.rc, 1);
	cr_assert_eq(t.ndone, 120);
	cr_assert_eq(t.ds->stats.admit_dropped, 0);
	dwriter_free(&t.w);
	dstore_close(&t.ds);
}
