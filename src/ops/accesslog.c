/*
 * accesslog.c - access log lines, formatted on the loop into a buffer and
 * written by a short-lived flush task through io_uring.
 *
 * The formatter writes through a bounded cursor (struct out) and gives up
 * the line, rather than growing anything, when it runs out of room: the
 * append path never allocates, never waits and never calls printf.
 */
#include "ops/accesslog.h"
#include "rt/group.h"
#include "rt/obj.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/date.h"
#include "ops/log.h"
#include "rt/io.h"
#include "rt/loop.h"
#include "rt/task.h"

#define ALOG_MAGIC	0x414c4f47u
#define ALOG_LOOP_MAGIC 0x414c4c50u

#define FLUSH_AFTER_NS	 RT_SEC /* a line waits at most this long in a buffer */
#define WRITE_TIMEOUT_NS (10 * RT_SEC)
#define HALF_BUF	 (ALOG_BUF_SIZE / 2)

/* Field limits, in bytes of input (accesslog.h). */
#define LIM_TARGET  4096
#define LIM_REFERER 2048
#define LIM_UA	    1024
#define LIM_HOST    256
#define LIM_BACKEND 256
#define LIM_SHORT   64 /* client, method, cache */

/* Worst case: each input byte becomes \u00XX (6 bytes); 1 KiB covers the
 * keys, numbers, times and "..." marks. */
_Static_assert((LIM_TARGET + LIM_REFERER + LIM_UA + LIM_HOST + LIM_BACKEND + 3 * LIM_SHORT) * 6 +
		       1024 <=
		   ALOG_LINE_MAX,
	       "ALOG_LINE_MAX too small for the field limits");
_Static_assert(ALOG_LINE_MAX <= ALOG_BUF_SIZE, "a line must fit in an empty buffer");

/*
 * An open file. References: the alog's while it is current, and each
 * loop's while its flush task writes to it. The last release closes it, so
 * a writer always holds the fd it writes to.
 */
struct alog_fd {
	int fd;
	uint64_t gen;
	atomic_uint refs;
};

struct alog {
	unsigned magic;
	char *path;
	enum config_access_format fmt;
	pthread_mutex_t lock; /* guards cur: swapped by reopen, referenced by loops */
	struct alog_fd *cur;
	_Atomic uint64_t gen; /* cur->gen: loops compare it without the lock */
	_Atomic uint64_t written, dropped, write_errors;
	atomic_bool failing; /* the last write failed: log only the first of a streak */
};

/* The formatted second, reused by every line stamped in the same second. */
struct tcache {
	int64_t sec;
	char clf[26]; /* 06/Nov/1994:08:49:37 +0000 */
	char iso[19]; /* 1994-11-06T08:49:37 */
};

struct alog_loop {
	unsigned magic;
	struct alog *a;
	char *buf[2];
	uint32_t len[2];
	uint32_t lines[2];
	unsigned cur;		/* appends go to buf[cur]; the other may be being written */
	rt_time_t first_ns;	/* when buf[cur] got its first line */
	struct alog_fd *fdo;	/* held while a flush task runs */
	struct rt_task *waiter; /* the flush task while it waits for its flush time */
	bool running;		/* a flush task exists (in FLUSH) */
	struct rt_group flush;	/* the flush task: its storage outlives it */
	bool stopping;
	struct tcache tc;
};

/* ------------------------------------------------------------------------ */
/* Formatting                                                                */

struct out {
	char *p, *end;
	bool over; /* something did not fit: the line is dropped */
};

static inline void put(struct out *o, char c)
{
	if (o->p < o->end)
		*o->p++ = c;
	else
		o->over = true;
}

static inline void put_mem(struct out *o, const void *s, size_t n)
{
	if ((size_t)(o->end - o->p) < n) {
		o->over = true;
		o->p = o->end;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

#define put_lit(o, s) put_mem(o, s, sizeof(s) - 1)

static void put_u64(struct out *o, uint64_t v)
{
	char t[20];
	size_t i = sizeof(t);
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put_mem(o, t + i, sizeof(t) - i);
}

static void put_int(struct out *o, int v)
{
	if (v < 0) {
		put(o, '-');
		put_u64(o, -(uint64_t)(int64_t)v);
	} else {
		put_u64(o, (uint64_t)v);
	}
}

/* N as exactly WIDTH digits (the low ones). */
static void put_fixed(struct out *o, uint64_t v, unsigned width)
{
	char t[20];
	for (unsigned i = width; i-- > 0;) {
		t[i] = (char)('0' + v % 10);
		v /= 10;
	}
	put_mem(o, t, width);
}

/* NS as seconds with microseconds: 1234567 -> "0.001234". */
static void put_secs(struct out *o, uint64_t ns)
{
	uint64_t us = ns / 1000;
	put_u64(o, us / 1000000);
	put(o, '.');
	put_fixed(o, us % 1000000, 6);
}

/* How much of S to log: at most LIM bytes, not ending inside a UTF-8
 * character; *CUT tells whether anything was left out. */
static size_t clip(struct alog_str s, size_t lim, bool *cut)
{
	*cut = s.len > lim;
	if (!*cut)
		return s.len;
	size_t n = lim;
	/* s.p[n] is the first byte left out: a continuation byte there means
	 * the character began before the cut. */
	for (int i = 0; i < 3 && n > 0 && ((unsigned char)s.p[n] & 0xc0) == 0x80; i++)
		n--;
	return n;
}

static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";

/* nginx's access log escaping; TOKEN also escapes spaces, for fields that
 * are not quoted (so the line still splits on spaces). */
static inline bool clf_plain(unsigned char c, bool token)
{
	return c > 0x20 ? c < 0x7f && c != '"' && c != '\\' : c == ' ' && !token;
}

static void put_clf(struct out *o, const char *s, size_t n, bool token)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && clf_plain(u[j], token))
			j++;
		put_mem(o, s + i, j - i);
		if (j == n)
			break;
		char e[4] = {'\\', 'x', hex_upper[u[j] >> 4], hex_upper[u[j] & 15]};
		put_mem(o, e, 4);
		i = j + 1;
	}
}

/* A combined-format field: quoted ("..."), or a bare token; absent or
 * empty bare tokens are "-" so the fields stay countable. */
static void clf_field(struct out *o, struct alog_str s, size_t lim, bool quoted)
{
	bool cut;
	if (!s.p || (!quoted && !s.len)) {
		if (quoted)
			put_lit(o, "\"-\"");
		else
			put(o, '-');
		return;
	}
	size_t n = clip(s, lim, &cut);
	if (quoted)
		put(o, '"');
	put_clf(o, s.p, n, !quoted);
	if (cut)
		put_lit(o, "...");
	if (quoted)
		put(o, '"');
}

/* Length of the valid UTF-8 character at P (2..4 bytes), or 0. Strict:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	if (c < 0xc2 || c > 0xf4)
		return 0;
	size_t k = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	}
	if ((c == 0xe0 && p[1] < 0xa0) ||  /* overlong 3-byte */
	    (c == 0xed && p[1] >= 0xa0) || /* UTF-16 surrogates */
	    (c == 0xf0 && p[1] < 0x90) ||  /* overlong 4-byte */
	    (c == 0xf4 && p[1] >= 0x90))   /* above U+10FFFF */
		return 0;
	return k;
}

static void put_json(struct out *o, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && u[j] >= 0x20 && u[j] < 0x7f && u[j] != '"' && u[j] != '\\')
			j++;
		put_mem(o, s + i, j - i);
		if (j == n)
			break;
		unsigned char c = u[j];
		size_t k;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			put_mem(o, e, 2);
			k = 1;
		} else if (c >= 0x80 && (k = utf8_len(u + j, n - j))) {
			put_mem(o, s + j, k);
		} else {
			char e[6] = {'\\', 'u', '0', '0', hex_lower[c >> 4], hex_lower[c & 15]};
			put_mem(o, e, 6);
			k = 1;
		}
		i = j + k;
	}
}

/* KEY is the literal text before the value, e.g. ",\"host\":". */
static void json_field(struct out *o, const char *key, size_t klen, struct alog_str s, size_t lim)
{
	bool cut;
	put_mem(o, key, klen);
	if (!s.p) {
		put_lit(o, "null");
		return;
	}
	size_t n = clip(s, lim, &cut);
	put(o, '"');
	put_json(o, s.p, n);
	if (cut)
		put_lit(o, "...");
	put(o, '"');
}

#define JSON_FIELD(o, key, s, lim) json_field(o, key, sizeof(key) - 1, s, lim)

static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Cut both layouts out of an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"):
 * pure arithmetic, no gmtime_r (which takes glibc's timezone lock). */
static void tcache_fill(struct tcache *tc, int64_t sec)
{
	char d[32];
	if (tc->sec == sec)
		return;
	http_date_format(sec, d);
	char *c = tc->clf;
	memcpy(c, d + 5, 2);
	c[2] = '/';
	memcpy(c + 3, d + 8, 3);
	c[6] = '/';
	memcpy(c + 7, d + 12, 4);
	c[11] = ':';
	memcpy(c + 12, d + 17, 8);
	memcpy(c + 20, " +0000", 6);
	int m = 0;
	while (m < 11 && memcmp(month_names[m], d + 8, 3))
		m++;
	char *s = tc->iso;
	memcpy(s, d + 12, 4);
	s[4] = '-';
	s[5] = (char)('0' + (m + 1) / 10);
	s[6] = (char)('0' + (m + 1) % 10);
	s[7] = '-';
	memcpy(s + 8, d + 5, 2);
	s[10] = 'T';
	memcpy(s + 11, d + 17, 8);
	tc->sec = sec;
}

static void put_proto(struct out *o, const struct alog_rec *r)
{
	put_lit(o, "HTTP/");
	put_u64(o, r->http_major);
	put(o, '.');
	put_u64(o, r->http_minor);
}

static void fmt_combined(struct out *o, const struct alog_rec *r, const struct tcache *tc)
{
	clf_field(o, r->client, LIM_SHORT, false);
	put_lit(o, " - - [");
	put_mem(o, tc->clf, sizeof(tc->clf));
	put_lit(o, "] \"");
	/* The request line, as nginx's $request: a bare "-" when unknown. */
	if (!r->method.p) {
		put(o, '-');
	} else {
		bool cut;
		put_clf(o, r->method.p, clip(r->method, LIM_SHORT, &cut), true);
		if (cut)
			put_lit(o, "...");
		if (r->target.p) {
			put(o, ' ');
			put_clf(o, r->target.p, clip(r->target, LIM_TARGET, &cut), true);
			if (cut)
				put_lit(o, "...");
		}
		if (r->http_major) {
			put(o, ' ');
			put_proto(o, r);
		}
	}
	put_lit(o, "\" ");
	put_int(o, r->status);
	put(o, ' ');
	put_u64(o, r->bytes);
	put(o, ' ');
	clf_field(o, r->referer, LIM_REFERER, true);
	put(o, ' ');
	clf_field(o, r->user_agent, LIM_UA, true);
	put_lit(o, " host=");
	clf_field(o, r->host, LIM_HOST, true);
	put_lit(o, " cache=");
	clf_field(o, r->cache, LIM_SHORT, false);
	put_lit(o, " rt=");
	put_secs(o, r->duration_ns);
	put_lit(o, " urt=");
	if (r->upstream_ns < 0)
		put(o, '-');
	else
		put_secs(o, (uint64_t)r->upstream_ns);
	put_lit(o, " backend=");
	clf_field(o, r->backend, LIM_BACKEND, true);
}

static void fmt_json(struct out *o, const struct alog_rec *r, const struct tcache *tc)
{
	long ns = r->start.tv_nsec;
	put_lit(o, "{\"time\":\"");
	put_mem(o, tc->iso, sizeof(tc->iso));
	put(o, '.');
	put_fixed(o, ns >= 0 && ns < 1000000000L ? (uint64_t)ns / 1000000 : 0, 3);
	put_lit(o, "Z\"");
	JSON_FIELD(o, ",\"client\":", r->client, LIM_SHORT);
	JSON_FIELD(o, ",\"method\":", r->method, LIM_SHORT);
	JSON_FIELD(o, ",\"target\":", r->target, LIM_TARGET);
	put_lit(o, ",\"protocol\":");
	if (r->http_major) {
		put(o, '"');
		put_proto(o, r);
		put(o, '"');
	} else {
		put_lit(o, "null");
	}
	put_lit(o, ",\"status\":");
	put_int(o, r->status);
	put_lit(o, ",\"bytes\":");
	put_u64(o, r->bytes);
	JSON_FIELD(o, ",\"referer\":", r->referer, LIM_REFERER);
	JSON_FIELD(o, ",\"user_agent\":", r->user_agent, LIM_UA);
	JSON_FIELD(o, ",\"host\":", r->host, LIM_HOST);
	JSON_FIELD(o, ",\"cache\":", r->cache, LIM_SHORT);
	put_lit(o, ",\"duration_us\":");
	put_u64(o, r->duration_ns / 1000);
	put_lit(o, ",\"upstream_us\":");
	if (r->upstream_ns < 0)
		put_lit(o, "null");
	else
		put_u64(o, (uint64_t)r->upstream_ns / 1000);
	JSON_FIELD(o, ",\"backend\":", r->backend, LIM_BACKEND);
	put(o, '}');
}

static size_t format_line(enum config_access_format fmt, const struct alog_rec *r,
			  struct tcache *tc, char *buf, size_t cap)
{
	struct out o = {buf, buf + cap, false};
	tcache_fill(tc, (int64_t)r->start.tv_sec);
	if (fmt == ACCESS_FORMAT_JSON)
		fmt_json(&o, r, tc);
	else
		fmt_combined(&o, r, tc);
	put(&o, '\n');
	return o.over ? 0 : (size_t)(o.p - buf);
}

size_t alog_format(enum config_access_format fmt, const struct alog_rec *r, char *buf, size_t cap)
{
	struct tcache tc = {.sec = INT64_MIN};
	return format_line(fmt, r, &tc, buf, cap);
}

/* ------------------------------------------------------------------------ */
/* The file                                                                  */

static struct alog_fd *fd_open(const char *path, int *err)
{
	struct alog_fd *f = calloc(1, sizeof(*f));
	if (!f) {
		*err = -ENOMEM;
		return NULL;
	}
	f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (f->fd < 0) {
		*err = -errno;
		free(f);
		return NULL;
	}
	atomic_init(&f->refs, 1);
	return f;
}

static void fd_release(struct alog_fd *f)
{
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* In a task the close goes through the ring (closing a file can wait,
	 * on NFS for one); on the main thread rt_close is a plain close. */
	rt_close(f->fd);
	free(f);
}

struct alog *alog_open(const char *path, enum config_access_format fmt, int *err)
{
	struct alog *a = calloc(1, sizeof(*a));
	if (!a || !(a->path = strdup(path))) {
		free(a);
		*err = -ENOMEM;
		return NULL;
	}
	if (!(a->cur = fd_open(path, err))) {
		free(a->path);
		free(a);
		return NULL;
	}
	a->magic = ALOG_MAGIC;
	a->fmt = fmt;
	a->cur->gen = 1;
	atomic_init(&a->gen, 1);
	pthread_mutex_init(&a->lock, NULL);
	return a;
}

int alog_reopen(struct alog *a)
{
	int err;
	CHECK_OBJ_NOTNULL(a, ALOG_MAGIC);
	struct alog_fd *f = fd_open(a->path, &err);
	if (!f)
		return err;
	pthread_mutex_lock(&a->lock);
	struct alog_fd *old = a->cur;
	f->gen = old->gen + 1;
	a->cur = f;
	atomic_store_explicit(&a->gen, f->gen, memory_order_release);
	pthread_mutex_unlock(&a->lock);
	fd_release(old); /* closed now unless a loop is writing to it */
	return 0;
}

const char *alog_path(const struct alog *a)
{
	return a->path;
}

void alog_stats_read(const struct alog *a, struct alog_stats *out)
{
	out->written = atomic_load_explicit(&a->written, memory_order_relaxed);
	out->dropped = atomic_load_explicit(&a->dropped, memory_order_relaxed);
	out->write_errors = atomic_load_explicit(&a->write_errors, memory_order_relaxed);
}

void alog_close(struct alog **ap)
{
	struct alog *a = ap ? *ap : NULL;
	if (!a)
		return;
	CHECK_OBJ_NOTNULL(a, ALOG_MAGIC);
	/* Every loop let go of its fd when its last flush task ended. */
	assert(atomic_load(&a->cur->refs) == 1);
	fd_release(a->cur);
	pthread_mutex_destroy(&a->lock);
	free(a->path);
	a->magic = 0;
	free(a);
	*ap = NULL;
}

/* ------------------------------------------------------------------------ */
/* The loop's half                                                           */

struct alog_loop *alog_loop_create(struct alog *a)
{
	CHECK_OBJ_NOTNULL(a, ALOG_MAGIC);
	struct alog_loop *al = calloc(1, sizeof(*al));
	if (!al)
		return NULL;
	al->buf[0] = malloc(ALOG_BUF_SIZE);
	al->buf[1] = malloc(ALOG_BUF_SIZE);
	if (!al->buf[0] || !al->buf[1]) {
		free(al->buf[0]);
		free(al->buf[1]);
		free(al);
		return NULL;
	}
	al->magic = ALOG_LOOP_MAGIC;
	al->a = a;
	rt_group_init(&al->flush);
	al->tc.sec = INT64_MIN;
	return al;
}

static void count_dropped(struct alog *a, uint64_t n)
{
	if (n)
		atomic_fetch_add_explicit(&a->dropped, n, memory_order_relaxed);
}

/* Use the current file: switch after a reopen (or take it for the first
 * write since the last flush task ended). */
static void take_current_fd(struct alog_loop *al)
{
	struct alog *a = al->a;
	pthread_mutex_lock(&a->lock);
	struct alog_fd *f = a->cur;
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&a->lock);
	struct alog_fd *old = al->fdo;
	al->fdo = f;
	if (old)
		fd_release(old);
}

static size_t count_lines(const char *p, size_t n)
{
	size_t k = 0;
	const char *e = p + n;
	while (p < e && (p = memchr(p, '\n', (size_t)(e - p)))) {
		k++;
		p++;
	}
	return k;
}

/* Write buf[IDX] (every byte, short writes continued), then empty it. */
static void write_buf(struct alog_loop *al, unsigned idx)
{
	struct alog *a = al->a;
	if (!al->fdo || al->fdo->gen != atomic_load_explicit(&a->gen, memory_order_acquire))
		take_current_fd(al);
	const char *p = al->buf[idx];
	size_t left = al->len[idx];
	uint64_t lines = al->lines[idx];
	while (left) {
		/* Offset -1: the file position, i.e. the end of an O_APPEND file,
		 * whoever else appended to it meanwhile. */
		ssize_t n =
		    rt_write(al->fdo->fd, p, left, (off_t)-1, rt_clock_now() + WRITE_TIMEOUT_NS);
		if (n <= 0) {
			int e = n < 0 ? (int)-n : EIO;
			uint64_t lost = count_lines(p, left);
			lines -= lost;
			count_dropped(a, lost);
			atomic_fetch_add_explicit(&a->write_errors, 1, memory_order_relaxed);
			if (!atomic_exchange(&a->failing, true))
				log_error(
				    "access log %s: write failed: %s; lines are being dropped",
				    a->path, strerror(e));
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	if (!left && atomic_load_explicit(&a->failing, memory_order_relaxed) &&
	    atomic_exchange(&a->failing, false))
		log_info("access log %s: writing again", a->path);
	atomic_fetch_add_explicit(&a->written, lines, memory_order_relaxed);
	al->len[idx] = 0;
	al->lines[idx] = 0;
}

static bool flush_wait_cancel(void *arg)
{
	struct alog_loop *al = arg;
	al->waiter = NULL;
	return true;
}

/*
 * The flush task: exists while there is something to write. It waits
 * until the fill buffer's first line is FLUSH_AFTER_NS old or the buffer is
 * half full (an append wakes it), swaps the buffers and writes, and ends
 * once both are empty, letting go of the file.
 */
static void flush_main(void *arg)
{
	struct alog_loop *al = arg;
	for (;;) {
		uint32_t fill = al->len[al->cur];
		if (!fill) {
			if (!al->fdo)
				break;
			struct alog_fd *f = al->fdo;
			al->fdo = NULL;
			fd_release(f); /* may await a close: look again after it */
			continue;
		}
		if (!al->stopping && fill < HALF_BUF && !rt_task_cancelled()) {
			rt_time_t due = al->first_ns + FLUSH_AFTER_NS;
			if (rt_clock_now() < due) {
				al->waiter = rt_task_self();
				rt_wait(due, flush_wait_cancel, al);
				continue;
			}
		}
		unsigned idx = al->cur;
		al->cur ^= 1;
		assert(al->len[al->cur] == 0);
		write_buf(al, idx);
	}
	/* No await since the buffers were seen empty: the next append spawns
	 * a new task. */
	al->running = false;
}

void alog_append(struct alog_loop *al, const struct alog_rec *r)
{
	if (!al)
		return;
	CHECK_OBJ_NOTNULL(al, ALOG_LOOP_MAGIC);
	unsigned c = al->cur;
	uint32_t len = al->len[c];
	size_t n = format_line(al->a->fmt, r, &al->tc, al->buf[c] + len, ALOG_BUF_SIZE - len);
	if (!n) {
		count_dropped(al->a, 1);
		return;
	}
	al->len[c] = len + (uint32_t)n;
	al->lines[c]++;
	if (!len)
		al->first_ns = rt_clock_now();
	if (!al->running) {
		assert(rt_loop_current());
		/* On failure the line waits in the buffer for the next append. */
		al->running = rt_group_spawn(&al->flush, flush_main, al, "alog") == 0;
	} else if (al->waiter && len < HALF_BUF && len + n >= HALF_BUF) {
		struct rt_task *t = al->waiter;
		al->waiter = NULL;
		rt_wake(t, 0);
	}
}

void alog_loop_stop(struct alog_loop *al)
{
	if (!al)
		return;
	CHECK_OBJ_NOTNULL(al, ALOG_LOOP_MAGIC);
	al->stopping = true;
	if (al->waiter) {
		struct rt_task *t = al->waiter;
		al->waiter = NULL;
		rt_wake(t, 0);
	}
}

void alog_loop_free(struct alog_loop **alp)
{
	struct alog_loop *al = alp ? *alp : NULL;
	if (!al)
		return;
	CHECK_OBJ_NOTNULL(al, ALOG_LOOP_MAGIC);
	assert(!al->running && !al->fdo);
	rt_group_fini(&al->flush); /* no flush task is left */
	count_dropped(al->a, (uint64_t)al->lines[0] + al->lines[1]);
	free(al->buf[0]);
	free(al->buf[1]);
	al->magic = 0;
	free(al);
	*alp = NULL;
}
