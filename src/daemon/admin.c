/* admin.c - admin HTTP endpoint: health, metrics, stats, purge, ban, tag. */
#include "daemon/admin.h"
#include "rt/obj.h"
#include "daemon/clusterview.h"
#include "daemon/dash.h"
#include "daemon/logstream.h"
#include "daemon/stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cache/dtier.h"
#include "cache/store.h"
#include "compress/pool.h"
#include "http/hbuf.h"
#include "http/msg.h"
#include "ops/accesslog.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "serve/cinval.h"
#include "serve/keys.h"
#include "backend/gen.h"
#include "rt/io.h"
#include "rt/task.h"

#define ADMIN_BUF     16384
#define ADMIN_FIELDS  64
#define ADMIN_TIMEOUT (10 * RT_SEC)

#define ADMIN_CONN_MAGIC 0x41444d43u

struct admin_conn {
	unsigned magic;
	struct dloop *l;
	struct daemon *d;
	struct gen *gen; /* held while the request is handled */
	int fd;
	struct sockaddr_storage peer;
	char buf[ADMIN_BUF];
	char out[65536];
	struct stats stats; /* what /metrics and /stats render (heap: it is large) */
	struct hfield fields[ADMIN_FIELDS];
	struct hmsg m;
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The percent-decoded value of query parameter NAME in QUERY, or false. */
static bool query_param(const char *q, size_t qlen, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = q, *end = q + qlen;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if ((size_t)(e - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t n = 0;
			for (const char *s = p + nl + 1; s < e && n + 1 < cap; s++) {
				if (*s == '%' && e - s > 2 && hexval(s[1]) >= 0 &&
				    hexval(s[2]) >= 0) {
					out[n++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
					s += 2;
				} else {
					out[n++] = *s == '+' ? ' ' : *s;
				}
			}
			out[n] = '\0';
			return true;
		}
		p = e + 1;
	}
	return false;
}

/* QUERY without its NAME parameters, into OUT (room for QLEN bytes);
 * returns the length. */
static size_t query_without(const char *q, size_t qlen, const char *name, char *out)
{
	size_t nl = strlen(name), n = 0;
	const char *p = q, *end = q + qlen;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		bool drop = (size_t)(e - p) >= nl && strncmp(p, name, nl) == 0 &&
			    (p + nl == e || p[nl] == '=');
		if (!drop && e > p) {
			if (n)
				out[n++] = '&';
			memcpy(out + n, p, (size_t)(e - p));
			n += (size_t)(e - p);
		}
		p = e + 1;
	}
	return n;
}

static int respond(struct admin_conn *ac, int status, const char *reason, const char *type,
		   const char *body, size_t blen)
{
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			  status, reason, type, blen);
	struct iovec iov[2] = {{head, (size_t)hl}, {(void *)body, blen}};
	return rt_writev_all(ac->fd, iov, 2, rt_deadline_in(ADMIN_TIMEOUT)) < 0 ? -1 : 0;
}

static int respond_text(struct admin_conn *ac, int status, const char *reason, const char *text)
{
	return respond(ac, status, reason, "text/plain", text, strlen(text));
}

/* Constant time in the token's length: a reply's timing tells nothing of
 * how much of a guess was right. */
static bool token_equal(const char *a, size_t al, const char *token)
{
	size_t tl = strlen(token);
	unsigned char diff = al != tl;
	for (size_t i = 0; i < al && i < tl; i++)
		diff |= (unsigned char)(a[i] ^ token[i]);
	return !diff;
}

/*
 * The allow-list, then the token: "Authorization: Bearer T", or, for the
 * GET routes the dashboard opens (QUERY_OK: the page, /stats/stream and
 * /log), "?token=T", since a page opened in a browser and its
 * EventSources cannot send the header. No POST route takes it: a link or
 * a form elsewhere must not be able to purge or reload. Nothing here logs
 * a query string, so the token stays out of the log.
 */
static bool authorised(struct admin_conn *ac, int *status, const char *qs, size_t ql, bool query_ok)
{
	const struct config *cfg = ac->gen->cfg;
	if (!config_admin_allowed(cfg, (const struct sockaddr *)&ac->peer)) {
		*status = 403;
		return false;
	}
	if (!cfg->admin.token)
		return true;
	const struct hfield *f = hmsg_field(&ac->m, "authorization", 0);
	if (f && f->value.len >= 7 && strncasecmp(hmsg_ptr(&ac->m, f->value), "Bearer ", 7) == 0 &&
	    token_equal(hmsg_ptr(&ac->m, f->value) + 7, f->value.len - 7, cfg->admin.token))
		return true;
	char qt[256];
	if (query_ok && query_param(qs, ql, "token", qt, sizeof(qt)) &&
	    token_equal(qt, strlen(qt), cfg->admin.token))
		return true;
	*status = 401;
	return false;
}

/* JSON string contents: quotes, backslashes and control bytes escaped. */
static void put_json_str(struct hbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			char e[2] = {'\\', (char)ch};
			hbuf_put(b, e, 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
			hbuf_put(b, e, 6);
		} else {
			hbuf_put(b, s + i, 1);
		}
	}
}

/* How long POST /reload waits for the main thread to load the file. */
#define RELOAD_WAIT (30 * RT_SEC)

/*
 * POST /reload: the main thread loads, checks and swaps the config (reading
 * and parsing a file is no work for a loop thread); this task asks it with
 * a signal and polls for the answer, which needs no pointer from the main
 * thread to a task that may be gone by then.
 */
static int reload(struct admin_conn *ac)
{
	struct daemon *d = ac->d;
	unsigned long want = atomic_fetch_add(&d->reload_asked, 1) + 1;
	pthread_kill(d->main_thread, SIGHUP);
	rt_time_t until = rt_deadline_in(RELOAD_WAIT);
	while (atomic_load(&d->reload_done) < want) {
		if (ac->l->w.be.draining)
			return respond_text(ac, 503, "Service Unavailable", "draining\n");
		rt_time_t next = rt_deadline_in(20 * RT_MS);
		if (next > until)
			return respond_text(ac, 503, "Service Unavailable",
					    "reload did not finish in 30 s\n");
		if (rt_sleep_until(next) < 0)
			return -1;
	}
	struct hbuf b;
	hbuf_init(&b, ac->out, sizeof(ac->out));
	pthread_mutex_lock(&d->lock);
	int st = d->reload_status;
	if (st == 0) {
		hbuf_printf(&b, "{\"reloaded\": true, \"generation\": %llu}\n",
			    (unsigned long long)d->reload_gen);
	} else {
		hbuf_printf(&b, "{\"reloaded\": false, \"error\": \"%s\", \"messages\": [",
			    strerror(-st));
		const char *e = d->reload_errors;
		bool first = true;
		while (*e) {
			const char *nl = strchr(e, '\n');
			size_t n = nl ? (size_t)(nl - e) : strlen(e);
			hbuf_puts(&b, first ? "\"" : ", \"");
			put_json_str(&b, e, n);
			hbuf_puts(&b, "\"");
			first = false;
			e += n + (nl ? 1 : 0);
		}
		hbuf_puts(&b, "]}\n");
	}
	pthread_mutex_unlock(&d->lock);
	log_info("admin: reload %s", st == 0 ? "done" : "refused");
	return respond(ac,
		       st == 0	       ? 200
		       : st == -EINVAL ? 400
				       : 500,
		       st == 0	       ? "OK"
		       : st == -EINVAL ? "Bad Request"
				       : "Internal Server Error",
		       "application/json", ac->out, b.len);
}

/* For a stream's ticks (dash.h): the same checks under generation G. */
static bool still_allowed(void *ctx, const struct gen *g)
{
	struct admin_conn *ac = ctx;
	const struct hmsg *m = &ac->m;
	const char *t = hmsg_ptr(m, m->target);
	const char *q = memchr(t, '?', m->target.len);
	size_t ql = q ? m->target.len - (size_t)(q - t) - 1 : 0;
	int st;
	ac->gen = (struct gen *)g;
	bool ok = authorised(ac, &st, q ? q + 1 : "", ql, true);
	ac->gen = NULL;
	return ok;
}

/* How long an admin invalidation waits for the members' acknowledgements
 * before it answers (the senders go on trying after that). */
#define ADMIN_ACK_WAIT (2 * RT_SEC)

/* Wait (ADMIN_ACK_WAIT at most) until every member acknowledged SEQ;
 * what they did into OUT as the JSON members that follow the result. */
static void wait_acks(struct admin_conn *ac, uint64_t seq, char *out, size_t cap)
{
	struct daemon *d = ac->d;
	rt_time_t until = rt_deadline_in(ADMIN_ACK_WAIT);
	unsigned members, acked;
	char pending[768];
	for (;;) {
		cinval_acks(d->sh.inval, ac->gen, seq, &members, &acked, pending, sizeof(pending));
		if (acked == members || rt_clock_now() >= until ||
		    rt_sleep_until(rt_deadline_in(10 * RT_MS)) < 0)
			break;
	}
	snprintf(out, cap,
		 ", \"cluster\": {\"seq\": %llu, \"members\": %u, \"acknowledged\": %u, "
		 "\"pending\": [%s]}",
		 (unsigned long long)seq, members + 1, acked + 1, pending);
}

/* GET /cluster[?url=http://HOST/PATH | ?url=/PATH&host=HOST] (clusterview.h). */
static int cluster(struct admin_conn *ac, const char *qs, size_t ql)
{
	if (hmsg_method(&ac->m) != HTTP_GET)
		return respond_text(ac, 405, "Method Not Allowed", "use GET\n");
	char u[2048], h[512];
	const char *host = "", *target = NULL;
	size_t hl = 0;
	if (query_param(qs, ql, "url", u, sizeof(u))) {
		if (!clusterview_split_url(u, &host, &hl, &target))
			return respond_text(ac, 400, "Bad Request",
					    "url=http://HOST/PATH or url=/PATH&host=HOST\n");
		if (!hl && query_param(qs, ql, "host", h, sizeof(h))) {
			host = h;
			hl = strlen(h);
		}
	}
	size_t n = clusterview_render(ac->gen, host, hl, target, target ? strlen(target) : 0,
				      ac->out, sizeof(ac->out));
	if (!n)
		return respond_text(ac, 404, "Not Found", "this node is in no cluster\n");
	return respond(ac, 200, "OK", "application/json", ac->out, n);
}

static int handle(struct admin_conn *ac)
{
	struct daemon *d = ac->d;
	struct hmsg *m = &ac->m;
	const char *t = hmsg_ptr(m, m->target);
	size_t tl = m->target.len;
	const char *q = memchr(t, '?', tl);
	size_t pl = q ? (size_t)(q - t) : tl;
	const char *qs = q ? q + 1 : "";
	size_t ql = q ? tl - pl - 1 : 0;
	unsigned method = hmsg_method(m);
	int st;
#define PATH_IS(s) (pl == strlen(s) && memcmp(t, s, pl) == 0)
	bool dash = method == HTTP_GET && (PATH_IS("/") || PATH_IS("/stats/stream"));
	bool query_token = dash || (method == HTTP_GET && PATH_IS("/log"));
	if (!authorised(ac, &st, qs, ql, query_token)) {
		log_warn("admin: %d for %.*s", st, (int)pl, t);
		return st == 403 ? respond_text(ac, 403, "Forbidden", "forbidden\n")
				 : respond_text(ac, 401, "Unauthorized", "bearer token required\n");
	}
	if (PATH_IS("/health"))
		return respond_text(ac, 200, "OK", "ok\n");
	if (PATH_IS("/metrics")) {
		/* A live view's reads keep their own maxima (ops/stats.h). */
		char rd[8];
		bool live = query_param(qs, ql, "reader", rd, sizeof(rd)) && !strcmp(rd, "live");
		stats_take(d, ac->gen, &ac->stats, live ? STATS_LIVE : STATS_SCRAPE);
		size_t n = stats_render_prometheus(&ac->stats, ac->out, sizeof(ac->out));
		return respond(ac, 200, "OK", "text/plain; version=0.0.4", ac->out, n);
	}
	if (PATH_IS("/stats")) {
		stats_take(d, ac->gen, &ac->stats, STATS_SCRAPE);
		size_t n = stats_render_json(&ac->stats, ac->out, sizeof(ac->out));
		return respond(ac, 200, "OK", "application/json", ac->out, n);
	}
	if (dash && PATH_IS("/"))
		return dash_page(ac->fd);
	if (dash) {
		/* A stream lasts: it holds a generation per tick, not this one. */
		gen_put(&ac->l->w.be, ac->gen);
		ac->gen = NULL;
		struct dash_client c = {
		    .fd = ac->fd, .l = ac->l, .allowed = still_allowed, .ctx = ac};
		return dash_stream(&c);
	}
	if (PATH_IS("/log")) { /* the request record stream: until the client goes */
		if (method != HTTP_GET)
			return respond_text(ac, 405, "Method Not Allowed", "use GET\n");
		/* A stream outlives reloads: it must not keep a generation. */
		gen_put(&ac->l->w.be, ac->gen);
		ac->gen = NULL;
		/* The dashboard's ?token= has done its work: the stream's own
		 * parameters are the rest (it refuses names it does not know).
		 * The re-checks each second read the token from the target. */
		_Static_assert(sizeof(ac->out) >= ADMIN_BUF, "room for any query");
		size_t sl = query_without(qs, ql, "token", ac->out);
		return logstream_serve(ac->l, ac->fd, m, ac->out, sl, still_allowed, ac);
	}
	if (PATH_IS("/cluster"))
		return cluster(ac, qs, ql);
	bool is_post = method == HTTP_POST || method == HTTP_PURGE;
	if (PATH_IS("/reload"))
		return method == HTTP_POST
			   ? reload(ac)
			   : respond_text(ac, 405, "Method Not Allowed", "use POST\n");
	char a[2048], h[512], body[2300];
	if (PATH_IS("/purge") || PATH_IS("/ban") || PATH_IS("/tag")) {
		if (!is_post)
			return respond_text(ac, 405, "Method Not Allowed", "use POST\n");
	} else {
		return respond_text(ac, 404, "Not Found", "not found\n");
	}
	struct cinval_op op = {.kind = CINVAL_PURGE};
	char key[8192];
	if (PATH_IS("/purge")) {
		if (!query_param(qs, ql, "url", a, sizeof(a)) || a[0] != '/')
			return respond_text(ac, 400, "Bad Request", "url=/path required\n");
		if (!query_param(qs, ql, "host", h, sizeof(h)))
			h[0] = '\0';
		uint32_t hl;
		int kl =
		    cache_key_for(ac->gen->cfg, h, strlen(h), a, strlen(a), key, sizeof(key), &hl);
		if (kl <= 0) { /* no key (too long): nothing stored under it */
			int bl = snprintf(body, sizeof(body), "{\"purged\": 0}\n");
			return respond(ac, 200, "OK", "application/json", body, (size_t)bl);
		}
		op = (struct cinval_op){.kind = CINVAL_PURGE, .a = key, .alen = (size_t)kl};
	} else if (PATH_IS("/ban")) {
		bool hu = query_param(qs, ql, "url", a, sizeof(a));
		bool hh = query_param(qs, ql, "host", h, sizeof(h));
		if (!hu && !hh)
			return respond_text(ac, 400, "Bad Request", "url= and/or host= required\n");
		op = (struct cinval_op){.kind = CINVAL_BAN,
					.a = hu ? a : NULL,
					.alen = hu ? strlen(a) : 0,
					.b = hh ? h : NULL,
					.blen = hh ? strlen(h) : 0};
	} else {
		if (!query_param(qs, ql, "tag", a, sizeof(a)) || !a[0])
			return respond_text(ac, 400, "Bad Request", "tag= required\n");
		op = (struct cinval_op){.kind = CINVAL_TAG,
					.a = a,
					.alen = strlen(a),
					.soft = query_param(qs, ql, "soft", h, sizeof(h)) &&
						strcmp(h, "1") == 0};
	}
	char err[256];
	long n = cinval_apply(&d->sh, &op, err, sizeof(err));
	if (n < 0) {
		int bl = snprintf(body, sizeof(body), "{\"error\": \"%s\"}\n", err);
		return respond(ac, 400, "Bad Request", "application/json", body, (size_t)bl);
	}
	/* Then to every member of the cluster, acknowledged (cinval.h). */
	uint64_t seq = cinval_add(d->sh.inval, &op, ac->gen);
	char acks[1024] = "";
	if (seq)
		wait_acks(ac, seq, acks, sizeof(acks));
	int bl;
	if (op.kind == CINVAL_BAN) {
		log_info("admin: ban url=%s host=%s: #%ld", op.a ? a : "*", op.b ? h : "*", n);
		bl = snprintf(body, sizeof(body), "{\"ban\": %ld%s}\n", n, acks);
	} else {
		if (op.kind == CINVAL_PURGE)
			log_info("admin: purge host=%s url=%s: %ld objects", h, a, n);
		else
			log_info("admin: %s tag purge %s: %ld objects", op.soft ? "soft" : "hard",
				 a, n);
		bl = snprintf(body, sizeof(body), "{\"purged\": %ld%s}\n", n, acks);
	}
	return respond(ac, 200, "OK", "application/json", body, (size_t)bl);
#undef PATH_IS
}

static void admin_conn_main(void *arg)
{
	struct admin_conn *ac = arg;
	CHECK_OBJ_NOTNULL(ac, ADMIN_CONN_MAGIC);
	uint32_t len = 0, pos = 0;
	hmsg_init(&ac->m, HMSG_REQUEST, ac->fields, ADMIN_FIELDS, ADMIN_BUF / 2);
	for (;;) {
		memmove(ac->buf, ac->buf + pos, len - pos);
		len -= pos;
		pos = 0;
		hmsg_next(&ac->m, ac->buf, 0);
		bool bad = false;
		while (!ac->m.msg_done) {
			if (pos < len) {
				long n = hmsg_feed(&ac->m, pos, len - pos);
				if (n < 0) {
					bad = true;
					break;
				}
				pos += (uint32_t)n;
				continue;
			}
			if (len == sizeof(ac->buf)) {
				bad = true;
				break;
			}
			ssize_t n = rt_recv(ac->fd, ac->buf + len, sizeof(ac->buf) - len, 0,
					    rt_deadline_in(ADMIN_TIMEOUT));
			if (n <= 0)
				goto out;
			len += (uint32_t)n;
		}
		if (bad) {
			respond(ac, 400, "Bad Request", "text/plain", "bad request\n", 12);
			break;
		}
		/* One request per connection: an idle admin connection must
		 * not hold up a drain. */
		ac->gen = gen_hold(&ac->l->w.be);
		handle(ac);
		if (ac->gen) /* a stream put it early */
			gen_put(&ac->l->w.be, ac->gen);
		break;
	}
out:
	rt_close(ac->fd);
	FINI_OBJ(ac);
	free(ac);
}

void admin_accepted(struct listen_loop *ll, int fd)
{
	struct dloop *l = dloop_of(ll);
	struct admin_conn *ac = malloc(sizeof(*ac));
	if (!ac) {
		close(fd);
		return;
	}
	ac->magic = ADMIN_CONN_MAGIC;
	ac->l = l;
	ac->d = l->d;
	ac->fd = fd;
	socklen_t plen = sizeof(ac->peer);
	if (getpeername(fd, (struct sockaddr *)&ac->peer, &plen) < 0)
		ac->peer.ss_family = AF_UNSPEC; /* not allowed by any network */
	/* In the loop's admin group: drain ends them all. */
	if (rt_group_spawn(&l->admins, admin_conn_main, ac, "admin") < 0) {
		close(fd);
		free(ac);
	}
}
