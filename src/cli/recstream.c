/* recstream.c - GET /log?format=bin, read frame by frame into records. */
#include "cli/recstream.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/recwire.h"

struct recstream {
	struct admin_resp resp;
	bool magic_seen;
	_Atomic uint64_t lost; /* read by other threads than the reader (top's screen) */
	char err[256];
	size_t len;		   /* bytes in buf not yet taken */
	char buf[2 * RECWIRE_MAX]; /* a frame and what came after it */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The path with its parameters; false when it does not fit. */
static bool build_path(char *path, size_t cap, const struct recstream_opts *o)
{
	snprintf(path, cap, "/log?format=bin");
	if (o->query && o->query[0]) {
		if (strlen(path) + 3 >= cap)
			return false;
		strcat(path, "&q=");
		if (!admin_query_append(path, cap, o->query))
			return false;
	}
	for (unsigned i = 0; i < o->nhdr; i++) {
		bool resp = o->hdrs[i][0] == RLOG_RESP_MARK;
		if (strlen(path) + 6 >= cap)
			return false;
		strcat(path, resp ? "&rhdr=" : "&hdr=");
		if (!admin_query_append(path, cap, o->hdrs[i] + resp))
			return false;
	}
	return true;
}

int recstream_open(struct recstream **sp, const struct admin_target *t,
		   const struct recstream_opts *o, char *err, size_t errcap)
{
	*sp = NULL;
	if (o->nhdr > RLOG_HDRS) {
		snprintf(err, errcap, "at most %d header names", RLOG_HDRS);
		return -2;
	}
	char path[8192];
	if (!build_path(path, sizeof(path), o)) {
		snprintf(err, errcap, "query too long");
		return -2;
	}
	struct recstream *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	if (admin_get(t, path, NULL, &s->resp, err, errcap) < 0) {
		free(s);
		return -1;
	}
	if (s->resp.status != 200) {
		/* The daemon's own words: a 400 names the column of a query
		 * it refused, a 503 says how many streams it has. */
		int st = s->resp.status;
		size_t n = (size_t)snprintf(err, errcap, "%s: %d: ", t->where, st);
		ssize_t k;
		while (n + 1 < errcap &&
		       (k = admin_resp_read(&s->resp, err + n, errcap - n - 1)) > 0)
			n += (size_t)k;
		err[n < errcap ? n : errcap - 1] = '\0';
		while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == '\r'))
			err[--n] = '\0';
		admin_resp_close(&s->resp);
		free(s);
		return st == 400 ? -2 : -1;
	}
	*sp = s;
	return 0;
}

/* More bytes, waiting at most until DEADLINE (ms, -1: none). 1: some came;
 * 0: none in time; -1: the body ended; -2: broke. */
static int more(struct recstream *s, int64_t deadline)
{
	struct admin_resp *r = &s->resp;
	int wait = -1;
	if (deadline >= 0) {
		int64_t left = deadline - now_ms();
		wait = left > 0 ? (int)left : 0;
	}
	/* Not admin_resp_read at once: with only chunk framing buffered it
	 * would wait for the next chunk, past the caller's time. */
	int w = admin_resp_wait(r, wait);
	if (w < 0) {
		snprintf(s->err, sizeof(s->err), "poll: %s", strerror(errno));
		return -2;
	}
	if (w == 0)
		return 0;
	ssize_t n = admin_resp_read(r, s->buf + s->len, sizeof(s->buf) - s->len);
	if (n < 0) {
		snprintf(s->err, sizeof(s->err), "the stream broke off");
		return -2;
	}
	if (n == 0)
		return -1;
	s->len += (size_t)n;
	return 1;
}

int recstream_next(struct recstream *s, struct rlog_rec *out, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	for (;;) {
		size_t used = 0;
		int kind = 0;
		if (!s->magic_seen && s->len >= RECWIRE_MAGIC_LEN) {
			if (memcmp(s->buf, RECWIRE_MAGIC, RECWIRE_MAGIC_LEN) != 0) {
				snprintf(s->err, sizeof(s->err),
					 "not a record stream (is the daemon this version?)");
				return -2;
			}
			s->magic_seen = true;
			used = RECWIRE_MAGIC_LEN;
		} else if (s->magic_seen) {
			unsigned nhdr;
			uint64_t ln, lt;
			kind = recwire_next(s->buf, s->len, &used, out, &nhdr, &ln, &lt);
			if (kind < 0) {
				snprintf(s->err, sizeof(s->err), "a malformed record frame");
				return -2;
			}
			if (kind == RECWIRE_LOST)
				atomic_store_explicit(&s->lost, lt, memory_order_relaxed);
		}
		if (used) {
			memmove(s->buf, s->buf + used, s->len - used);
			s->len -= used;
			if (kind == RECWIRE_RECORD)
				return 1;
			continue;
		}
		int m = more(s, deadline);
		if (m <= 0)
			return m;
	}
}

uint64_t recstream_lost(const struct recstream *s)
{
	return atomic_load_explicit(&s->lost, memory_order_relaxed);
}

const char *recstream_error(const struct recstream *s)
{
	return s->err;
}

int recstream_fd(const struct recstream *s)
{
	return s->resp.fd;
}

void recstream_close(struct recstream **sp)
{
	struct recstream *s = *sp;
	if (!s)
		return;
	*sp = NULL;
	admin_resp_close(&s->resp);
	free(s);
}
