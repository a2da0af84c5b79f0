/* logstream.c - GET /log: a subscriber's task, from its query to its last chunk. */
#include "daemon/logstream.h"
#include "rt/obj.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/gen.h"
#include "http/hbuf.h"
#include "ops/log.h"
#include "ops/query.h"
#include "ops/recfmt.h"
#include "ops/recwire.h"
#include "ops/rlog.h"
#include "rt/io.h"
#include "rt/task.h"

#define STREAM_MAGIC  0x4c4f4753u
#define OUT_CAP	      (64u << 10)
#define OUT_SEND_AT   (OUT_CAP - RECFMT_MAX - 256) /* room for one more line and its framing */
#define POLL_NS	      (10 * RT_MS)		   /* between looks at the rings */
#define FLUSH_NS      (20 * RT_MS)		   /* records wait at most this long to be sent */
#define FLUSH_AT      (32u << 10)		   /* or until this many bytes are ready */
#define SEND_TIMEOUT  (60 * RT_SEC)		   /* a reader stuck this long is dropped */
#define STALL_CHECK   (20 * RT_MS)		   /* how often a waiting send looks at the rings */
#define RECHECK	      RT_SEC			   /* between looks at the permission */
#define REPLY_TIMEOUT (10 * RT_SEC)
#define BATCH	      4096 /* records per round before the task lets others run */
#define PARAM_MAX     (QUERY_MAX_LEN + 1)

struct stream {
	unsigned magic;
	int fd;
	struct rlog_sub *sub;
	struct query q;
	bool have_q;
	enum recfmt fmt;
	bool bin; /* format=bin: frames (ops/recwire.h), not text */
	bool group, sse;
	logstream_allowed_fn allowed;
	void *ctx;
	struct dloop *l;
	rt_time_t checked; /* the permission, last asked */
	rt_time_t flushed; /* the last send */
	uint64_t lost_told;
	unsigned nnames;
	char names[RLOG_HDRS][RLOG_HDR_NAME];
	struct recfmt_hdrs hdrs;
	char line[RECFMT_MAX];
	char param[PARAM_MAX];
	size_t olen;
	char out[OUT_CAP];
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The next "name=value" of QS from *POS: NAME (its length *NL) and the
 * value percent-decoded into OUT (CAP bytes, NUL-terminated; false when it
 * does not fit). Returns false at the end. */
static bool next_param(const char *qs, size_t ql, size_t *pos, const char **name, size_t *nl,
		       char *out, size_t cap, bool *fits)
{
	while (*pos < ql && qs[*pos] == '&')
		(*pos)++;
	if (*pos >= ql)
		return false;
	const char *p = qs + *pos, *end = qs + ql;
	const char *amp = memchr(p, '&', (size_t)(end - p));
	const char *e = amp ? amp : end;
	const char *eq = memchr(p, '=', (size_t)(e - p));
	*name = p;
	*nl = (size_t)((eq ? eq : e) - p);
	size_t n = 0;
	*fits = true;
	for (const char *s = eq ? eq + 1 : e; s < e; s++) {
		char c = *s;
		if (c == '%' && e - s > 2 && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			c = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (n + 1 >= cap) {
			*fits = false;
			break;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	*pos = (size_t)(e - qs);
	return true;
}

static int reply(int fd, int status, const char *reason, const char *type, const char *body,
		 size_t blen)
{
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			  status, reason, type, blen);
	struct iovec iov[2] = {{head, (size_t)hl}, {(void *)body, blen}};
	return rt_writev_all(fd, iov, 2, rt_deadline_in(REPLY_TIMEOUT)) < 0 ? -1 : 0;
}

static int reply_text(int fd, int status, const char *reason, const char *text)
{
	return reply(fd, status, reason, "text/plain", text, strlen(text));
}

/* NAME (lower-cased; a response header's with RLOG_RESP_MARK before it
 * when RESP) among the stream's header names; false when full. */
static bool add_name_as(struct stream *s, const char *name, bool resp)
{
	char low[RLOG_HDR_NAME];
	size_t n = strlen(name), m = resp;
	if (n + m >= sizeof(low))
		return false;
	low[0] = RLOG_RESP_MARK;
	for (size_t i = 0; i <= n; i++)
		low[m + i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] | 0x20 : name[i]);
	n += m;
	for (unsigned i = 0; i < s->nnames; i++) {
		if (strcmp(s->names[i], low) == 0)
			return true;
	}
	if (s->nnames >= RLOG_HDRS)
		return false;
	memcpy(s->names[s->nnames++], low, n + 1);
	return true;
}

static bool add_name(struct stream *s, const char *name)
{
	return add_name_as(s, name, false);
}

/* Parse the parameters; 0, or an answer was sent (its result). */
static int setup(struct stream *s, const struct hmsg *m, const char *qs, size_t ql, int *done)
{
	*done = 1;
	size_t pos = 0, nl;
	const char *name;
	bool fits;
	s->fmt = RECFMT_JSON;
	while (next_param(qs, ql, &pos, &name, &nl, s->param, sizeof(s->param), &fits)) {
#define IS(k) (nl == strlen(k) && memcmp(name, k, nl) == 0)
		if (!fits)
			return reply_text(s->fd, 400, "Bad Request", "parameter too long\n");
		if (IS("q")) {
			if (s->have_q)
				return reply_text(s->fd, 400, "Bad Request", "one q= only\n");
			struct query_error qe;
			int r = query_compile(&s->q, s->param, &qe);
			if (r == -ENOMEM)
				return reply_text(s->fd, 503, "Service Unavailable",
						  "out of memory\n");
			if (r < 0) {
				struct hbuf b;
				hbuf_init(&b, s->line, sizeof(s->line));
				hbuf_puts(&b, "{\"error\": ");
				recfmt_json_string(&b, qe.msg);
				hbuf_puts(&b, ", \"column\": ");
				hbuf_put_u64(&b, qe.col);
				hbuf_puts(&b, "}\n");
				return reply(s->fd, 400, "Bad Request", "application/json", s->line,
					     b.len);
			}
			s->have_q = true;
		} else if (IS("hdr") || IS("rhdr")) {
			if (!s->param[0] || s->param[0] == RLOG_RESP_MARK ||
			    !add_name_as(s, s->param, IS("rhdr")))
				return reply_text(
				    s->fd, 400, "Bad Request",
				    "hdr=, rhdr=: at most 8 names of up to 30 bytes\n");
		} else if (IS("format")) {
			s->bin = strcmp(s->param, "bin") == 0;
			if (!s->bin && !recfmt_parse(s->param, strlen(s->param), &s->fmt))
				return reply_text(s->fd, 400, "Bad Request",
						  "format= json, compact, ncsa or bin\n");
		} else if (IS("group")) {
			s->group = strcmp(s->param, "0") != 0;
		} else {
			return reply_text(s->fd, 400, "Bad Request",
					  "unknown parameter (q, hdr, rhdr, format, group)\n");
		}
#undef IS
	}
	if (s->have_q) {
		for (unsigned i = 0; i < s->q.nhdr; i++) {
			if (!add_name(s, s->q.hdr[i]))
				return reply_text(s->fd, 400, "Bad Request",
						  "more than 8 header names\n");
		}
	}
	if (s->fmt == RECFMT_NCSA && !s->bin) { /* its two header fields, when there is room */
		add_name(s, "referer");
		add_name(s, "user-agent");
	}
	const struct hfield *acc = hmsg_field(m, "accept", 0);
	s->sse = !s->bin && acc &&
		 memmem(hmsg_ptr(m, acc->value), acc->value.len, "text/event-stream", 17);
	*done = 0;
	return 0;
}

/* Still let in? Asked at most once a RECHECK, under the loop's current
 * generation: a reload may have changed admin.allow or the token. */
static bool permitted(struct stream *s)
{
	if (rt_clock_now() - s->checked < RECHECK)
		return true;
	struct gen *g = gen_hold(&s->l->w.be);
	bool ok = s->allowed(s->ctx, g);
	gen_put(&s->l->w.be, g);
	s->checked = rt_clock_now();
	if (!ok)
		log_info("admin: log stream %d ended: no longer allowed", s->fd);
	return ok;
}

/*
 * The output as one chunk. A send that waits looks at the rings every
 * STALL_CHECK: once the reader is a whole ring behind it is losing what it
 * has not read anyway, and it is paused, so that the loops stop writing
 * records for it (rlog.h) until this send goes through.
 */
static int flush(struct stream *s)
{
	if (!s->olen)
		return 0;
	char size[24];
	int sl = snprintf(size, sizeof(size), "%zx\r\n", s->olen);
	struct iovec iov[3] = {{size, (size_t)sl}, {s->out, s->olen}, {"\r\n", 2}};
	struct iovec *v = iov;
	int nv = 3;
	s->olen = 0;
	rt_time_t hard = rt_deadline_in(SEND_TIMEOUT);
	int rc = 0;
	while (nv > 0) {
		if (v->iov_len == 0) {
			v++;
			nv--;
			continue;
		}
		rt_time_t soft = rt_deadline_in(STALL_CHECK);
		ssize_t n = rt_writev(s->fd, v, nv, soft > hard ? hard : soft);
		if (n == -ETIMEDOUT && rt_clock_now() < hard) {
			if (!permitted(s)) { /* a waiting send must not outlast it */
				rc = -1;
				break;
			}
			if (!s->sub->paused && rlog_lapped(s->sub))
				rlog_pause(s->sub);
			continue; /* nothing went: a timed out send is cancelled whole */
		}
		if (n <= 0) {
			rc = -1;
			break;
		}
		size_t left = (size_t)n;
		while (nv > 0 && left >= v->iov_len) {
			left -= v->iov_len;
			v++;
			nv--;
		}
		if (nv > 0) {
			v->iov_base = (char *)v->iov_base + left;
			v->iov_len -= left;
		}
	}
	rlog_resume(s->sub);
	return rc;
}

/* LINE (N bytes, '\n'-terminated lines) into the output, as SSE events
 * (EVENT: its name, or NULL) when the client asked for them. */
static void emit(struct stream *s, const char *line, size_t n, const char *event)
{
	if (!s->sse) {
		memcpy(s->out + s->olen, line, n);
		s->olen += n;
		return;
	}
	if (event) {
		s->olen +=
		    (size_t)snprintf(s->out + s->olen, OUT_CAP - s->olen, "event: %s\n", event);
	}
	/* Each line of the record (a grouped one has two) is a data line. */
	size_t i = 0;
	while (i < n) {
		const char *nlp = memchr(line + i, '\n', n - i);
		size_t e = nlp ? (size_t)(nlp - line) : n;
		memcpy(s->out + s->olen, "data: ", 6);
		memcpy(s->out + s->olen + 6, line + i, e - i);
		s->olen += 6 + e - i;
		s->out[s->olen++] = '\n';
		i = e + 1;
	}
	s->out[s->olen++] = '\n';
}

static void tell_lost(struct stream *s)
{
	uint64_t lost = s->sub->lost;
	if (lost == s->lost_told)
		return;
	if (s->bin) {
		s->olen += recwire_lost(lost - s->lost_told, lost, s->out + s->olen);
	} else {
		size_t n = recfmt_lost(s->fmt, lost - s->lost_told, lost, s->line, sizeof(s->line));
		emit(s, s->line, n, "lost");
	}
	s->lost_told = lost;
}

/* One round: records into the output until it is nearly full or the
 * batch is done. Returns how many were read. */
static unsigned fill(struct stream *s)
{
	unsigned n = 0;
	const struct rlog_rec *rec;
	/* Each record is read where it lies (rlog_peek): what is made of it
	 * is kept only if it was not overwritten meanwhile. */
	while (n < BATCH && s->olen < OUT_SEND_AT - 64 * 8 && (rec = rlog_peek(s->sub))) {
		n++;
		tell_lost(s);
		if (s->have_q && !query_match(&s->q, rec)) {
			rlog_peek_done(s->sub);
			continue;
		}
		for (unsigned i = 0; i < s->nnames; i++)
			s->hdrs.value[i] = rlog_sub_hdr(s->sub, rec, i);
		if (s->bin) {
			/* Straight into the output: a frame is at most
			 * RECWIRE_MAX, well inside the room OUT_SEND_AT keeps. */
			size_t at = s->olen;
			s->olen += recwire_record(rec, s->hdrs.value, s->nnames, s->out + s->olen);
			if (!rlog_peek_done(s->sub))
				s->olen = at;
			continue;
		}
		size_t len = recfmt_record(s->fmt, s->group, rec, &s->hdrs, s->line);
		/* SSE adds "data: " per line and a blank line: the room is
		 * kept by OUT_SEND_AT. */
		if (rlog_peek_done(s->sub) && len)
			emit(s, s->line, len, NULL);
	}
	tell_lost(s);
	return n;
}

static int run(struct dloop *l, struct stream *s)
{
	const char *type = s->bin		   ? RECWIRE_TYPE
			   : s->sse		   ? "text/event-stream"
			   : s->fmt == RECFMT_JSON ? "application/x-ndjson"
						   : "text/plain; charset=utf-8";
	char head[320];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
			  "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n"
			  "Connection: close\r\n\r\n",
			  type);
	if (s->bin) { /* the body starts with the magic, as a chunk of its own */
		hl += snprintf(head + hl, sizeof(head) - (size_t)hl, "%x\r\n%s\r\n",
			       RECWIRE_MAGIC_LEN, RECWIRE_MAGIC);
	}
	if (rt_send_all(s->fd, head, (size_t)hl, rt_deadline_in(REPLY_TIMEOUT)) < 0)
		return -1;
	s->checked = rt_clock_now();
	log_info("admin: log stream %d started (%u subscribers)", s->fd,
		 atomic_load(&s->sub->hub->subs));
	char junk[512];
	while (!l->w.be.draining && !rt_task_cancelled()) {
		if (!permitted(s))
			break;
		unsigned n = fill(s);
		/* Sends in batches: a full buffer at once, a few records at
		 * most every FLUSH_NS, so that a busy daemon makes one send per
		 * hundreds of records, not one per round. */
		if (s->olen >= FLUSH_AT || (s->olen && rt_clock_now() - s->flushed >= FLUSH_NS)) {
			if (flush(s) < 0)
				return -1;
			s->flushed = rt_clock_now();
			continue;
		}
		if (n == BATCH) { /* more to read: let the loop's other tasks run first */
			rt_task_yield();
			continue;
		}
		/* Nothing new, or too little to send yet: wait a little on
		 * the socket, which tells us at once when the client goes
		 * away. */
		ssize_t r = rt_recv(s->fd, junk, sizeof(junk), 0, rt_deadline_in(POLL_NS));
		if (r == -ETIMEDOUT || r > 0)
			continue; /* bytes from the client mean nothing here */
		return -1;	  /* closed, reset or cancelled */
	}
	rt_send_all(s->fd, "0\r\n\r\n", 5, rt_deadline_in(RT_SEC));
	return 0;
}

int logstream_serve(struct dloop *l, int fd, const struct hmsg *m, const char *qs, size_t ql,
		    logstream_allowed_fn allowed, void *ctx)
{
	struct stream *s = calloc(1, sizeof(*s));
	if (!s)
		return reply_text(fd, 503, "Service Unavailable", "out of memory\n");
	s->magic = STREAM_MAGIC;
	s->fd = fd;
	s->q.root = -1;
	s->allowed = allowed;
	s->ctx = ctx;
	s->l = l;
	int done, r = setup(s, m, qs, ql, &done);
	if (!done) {
		const char *names[RLOG_HDRS];
		for (unsigned i = 0; i < s->nnames; i++) {
			names[i] = s->names[i];
			s->hdrs.name[i] = s->names[i];
		}
		s->hdrs.n = s->nnames;
		int e = rlog_subscribe(l->d->rlog, names, s->nnames, &s->sub);
		if (e == -EBUSY) {
			char msg[96];
			snprintf(msg, sizeof(msg), "too many log subscribers (at most %d)\n",
				 RLOG_MAX_SUBS);
			r = reply_text(fd, 503, "Service Unavailable", msg);
		} else if (e == -ENOSPC) {
			r = reply_text(fd, 503, "Service Unavailable",
				       "the streams already carry 8 other header names\n");
		} else if (e < 0) {
			r = reply_text(fd, e == -EINVAL ? 400 : 503,
				       e == -EINVAL ? "Bad Request" : "Service Unavailable",
				       e == -EINVAL ? "bad header name\n" : "out of memory\n");
		} else {
			for (unsigned i = 0; i < s->q.nhdr; i++) {
				for (unsigned k = 0; k < s->nnames; k++) {
					if (strcmp(s->q.hdr[i], s->names[k]) == 0)
						query_bind_hdr(&s->q, i, (unsigned)s->sub->slot[k]);
				}
			}
			r = run(l, s);
			log_info("admin: log stream %d ended (%llu records lost)", fd,
				 (unsigned long long)s->sub->lost);
			rlog_unsubscribe(&s->sub);
		}
	}
	if (s->have_q)
		query_fini(&s->q);
	FINI_OBJ(s);
	free(s);
	return r;
}
