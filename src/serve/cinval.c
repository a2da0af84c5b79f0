/* cinval.c - a cluster's invalidations: the log, the senders, the
 * receiver (cinval.h). */
#include "serve/cinval.h"
#include "rt/obj.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "backend/exchange.h"
#include "cache/dtier.h"
#include "cache/store.h"
#include "http/forward.h"
#include "http/hbuf.h"
#include "ops/log.h"
#include "rt/chan.h"
#include "rt/task.h"
#include "serve/req.h"
#include "serve/respond.h"
#include "serve/worker.h"

/* A query string longer than this is not sent (the members' head limit
 * is at least 1 KiB more than what is left of it): a flush goes instead. */
#define CINVAL_TARGET_MAX 8192
/* How long the master sleeps when nothing kicks it: retries and
 * members coming back up are noticed at this pace. */
#define CINVAL_TICK	   (100 * RT_MS)
#define CINVAL_BACKOFF_MAX (5 * RT_SEC)

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stream_apply(void *ctx, const struct cinval_op *op, const char *from);

struct cinval *cinval_create(const struct config *cfg, struct serve_shared *sh)
{
	struct cinval *ci = calloc(1, sizeof(*ci));
	if (!ci)
		return NULL;
	ci->magic = CINVAL_MAGIC;
	ci->sh = sh;
	pthread_mutex_init(&ci->lock, NULL);
	if (getrandom(&ci->boot, sizeof(ci->boot), 0) != sizeof(ci->boot))
		ci->boot = (uint64_t)wall_ms() ^ (uint64_t)(uintptr_t)ci;
	ci->boot |= 1; /* never 0: "nothing received yet" */
	if (cfg->cluster.enabled && cfg->cluster.invalidation.redis) {
		/* Restart-only keys: the stream is the one of the start, made
		 * before any loop runs (they read ci->cs unlocked). With a disk
		 * tier objects outlive a restart, so the reader goes on from
		 * where this node left off. */
		ci->cs = cstream_create(cfg->cluster.invalidation.redis,
					cfg->cluster.invalidation.stream
					    ? cfg->cluster.invalidation.stream
					    : "ringcache:invalidations",
					cfg->cluster.invalidation.max_len, ci->boot,
					sh->disk != NULL, stream_apply, ci);
		if (!ci->cs) {
			log_error("cluster: cannot start the Redis stream's threads: %s",
				  strerror(errno));
			cinval_free(&ci);
			return NULL;
		}
	}
	return ci;
}

static void entry_clear(struct cinval_entry *e)
{
	free(e->a);
	free(e->b);
	memset(e, 0, sizeof(*e));
}

void cinval_free(struct cinval **cp)
{
	struct cinval *ci = *cp;
	if (!ci)
		return;
	*cp = NULL;
	CHECK_OBJ_NOTNULL(ci, CINVAL_MAGIC);
	cstream_free(&ci->cs);
	for (size_t i = 0; i < CINVAL_LOG; i++)
		entry_clear(&ci->log[i]);
	struct rt_chan *kick = atomic_load(&ci->kick);
	if (kick)
		rt_chan_destroy(&kick);
	pthread_mutex_destroy(&ci->lock);
	FINI_OBJ(ci);
	free(ci);
}

/* ---- applying ---------------------------------------------------------- */

long cinval_apply(struct serve_shared *sh, const struct cinval_op *op, char *err, size_t errlen)
{
	struct store *st = sh->store;
	long n = 0;
	store_inval_begin(st); /* both tiers (store.h) */
	switch (op->kind) {
	case CINVAL_PURGE:
		n = (long)store_purge_key(st, op->a, (uint32_t)op->alen);
		if (sh->disk)
			dtier_purge(sh->disk, op->a, (uint32_t)op->alen, true);
		break;
	case CINVAL_BAN:
	case CINVAL_FLUSH: {
		/* A flush is a ban that every URL matches. */
		const char *u = op->kind == CINVAL_FLUSH ? "^" : op->a;
		const char *h = op->kind == CINVAL_FLUSH ? NULL : op->b;
		int64_t seq = store_ban(st, u, h, err, errlen);
		n = seq < 0 ? -1 : (long)seq;
		if (n >= 0 && sh->disk)
			dtier_ban(sh->disk, u, h);
		break;
	}
	case CINVAL_TAG:
		n = (long)store_purge_tag(st, op->a, op->alen, op->soft);
		if (sh->disk)
			dtier_tag(sh->disk, op->a, op->alen, op->soft);
		break;
	default:
		break;
	}
	store_inval_end(st);
	return n;
}

/* ---- the log ------------------------------------------------------------- */

static char *dupz(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

static struct cinval_member *member(struct cinval *ci, const char *name);

uint64_t cinval_add(struct cinval *ci, const struct cinval_op *op, const struct gen *g)
{
	CHECK_OBJ_NOTNULL(ci, CINVAL_MAGIC);
	if (!cluster_on(g))
		return 0;
	if (ci->cs) {
		uint64_t seq = cstream_add(ci->cs, op);
		if (seq)
			atomic_fetch_add_explicit(&ci->stats.added, 1, memory_order_relaxed);
		return seq;
	}
	struct cinval_entry e = {.kind = op->kind, .soft = op->soft, .at_ms = wall_ms()};
	if (op->to)
		snprintf(e.to, sizeof(e.to), "%s", op->to);
	if (op->a && !(e.a = dupz(op->a, e.alen = op->alen)))
		return 0;
	if (op->b && !(e.b = dupz(op->b, e.blen = op->blen))) {
		free(e.a);
		return 0;
	}
	pthread_mutex_lock(&ci->lock);
	/* Every member of G is followed before the entry exists: one first
	 * seen after it would start past it, and never be sent it. */
	const struct config_backend *cb = g->backends[g->cluster.backend].cfg;
	for (size_t i = 0; i < cb->n_servers; i++)
		if (!member(ci, g->cluster.names[i]))
			atomic_fetch_add_explicit(&ci->stats.untracked, 1, memory_order_relaxed);
	e.seq = ++ci->last;
	struct cinval_entry *slot = &ci->log[e.seq % CINVAL_LOG];
	entry_clear(slot); /* the oldest: a member behind it gets a flush */
	*slot = e;
	pthread_mutex_unlock(&ci->lock);
	atomic_fetch_add_explicit(&ci->stats.added, 1, memory_order_relaxed);
	struct rt_chan *kick = atomic_load_explicit(&ci->kick, memory_order_acquire);
	if (kick)
		rt_chan_send(kick, ci); /* full: it is awake already */
	return e.seq;
}

/* The oldest sequence the log still holds (under the lock). */
static uint64_t oldest(const struct cinval *ci)
{
	return ci->last >= CINVAL_LOG ? ci->last - CINVAL_LOG + 1 : 1;
}

/* Member NAME's progress (under the lock), added (with nothing to catch
 * up on: it was not a member before) when new; NULL when the table is
 * full. */
static struct cinval_member *member(struct cinval *ci, const char *name)
{
	struct cinval_member *gone = NULL;
	for (size_t i = 0; i < ci->nm; i++) {
		struct cinval_member *m = &ci->m[i];
		if (!strcmp(m->name, name)) {
			m->left_at = 0; /* back, if it had left */
			return m;
		}
		if (m->left_at && !m->busy && (!gone || m->left_at < gone->left_at))
			gone = m;
	}
	struct cinval_member *m = ci->nm < CINVAL_MEMBERS ? &ci->m[ci->nm++] : gone;
	if (!m)
		return NULL;
	if (m == gone)
		ci->reused = true;
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	/* New to the cluster: nothing made before concerns it. Unless a
	 * slot was reused: it may be one whose progress went, and gets
	 * everything kept (or a flush, the log having gone round). */
	m->acked = ci->reused ? 0 : ci->last;
	return m;
}

void cinval_acks(struct cinval *ci, const struct gen *g, uint64_t seq, unsigned *members,
		 unsigned *acked, char *pending, size_t cap)
{
	*members = *acked = 0;
	struct hbuf b;
	hbuf_init(&b, pending, cap);
	if (!cluster_on(g) || !seq) {
		hbuf_cstr(&b);
		return;
	}
	const struct config_backend *cb = g->backends[g->cluster.backend].cfg;
	pthread_mutex_lock(&ci->lock);
	for (size_t i = 0; i < cb->n_servers; i++) {
		(*members)++;
		struct cinval_member *m = ci->cs ? NULL : member(ci, g->cluster.names[i]);
		if (ci->cs ? cstream_acked(ci->cs, seq, g->cluster.names[i])
			   : m && m->acked >= seq) {
			(*acked)++;
		} else {
			hbuf_printf(&b, "%s\"%s\"", b.len ? ", " : "", g->cluster.names[i]);
		}
	}
	pthread_mutex_unlock(&ci->lock);
	hbuf_cstr(&b);
}

void cinval_pending(struct cinval *ci, uint64_t *pending, uint64_t *lag_ms)
{
	if (ci->cs) {
		cstream_pending(ci->cs, pending, lag_ms);
		return;
	}
	*pending = *lag_ms = 0;
	int64_t now = wall_ms(), first = 0;
	pthread_mutex_lock(&ci->lock);
	for (size_t i = 0; i < ci->nm; i++) {
		const struct cinval_member *m = &ci->m[i];
		if (!m->name[0] || m->left_at || m->acked >= ci->last)
			continue;
		*pending += ci->last - m->acked;
		uint64_t next = m->acked + 1 > oldest(ci) ? m->acked + 1 : oldest(ci);
		const struct cinval_entry *e = &ci->log[next % CINVAL_LOG];
		if (e->seq == next && (!first || e->at_ms < first))
			first = e->at_ms;
	}
	pthread_mutex_unlock(&ci->lock);
	if (first && now > first)
		*lag_ms = (uint64_t)(now - first);
}

/* ---- sending ------------------------------------------------------------- */

/* Percent-encode N bytes at P into B: what a query value may hold as it is
 * stays (the key's host, path and most of a pattern), the rest, NULs and
 * '&', '=', '+', '%' included, becomes %XX. */
static void put_encoded(struct hbuf *b, const char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || strchr("-._~/:", c);
		if (plain && c) {
			hbuf_put(b, p + i, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			hbuf_put(b, e, 3);
		}
	}
}

/* The request that carries entry E (SEQ) to member NAME, into B. */
static void put_request(struct hbuf *b, const struct cinval *ci, const struct config *cfg,
			const char *self, const char *name, const struct cinval_entry *e)
{
	hbuf_puts(b, "POST " CINVAL_PATH "?from=");
	put_encoded(b, self, strlen(self));
	hbuf_printf(b, "&boot=%" PRIu64 "&seq=%" PRIu64 "&kind=%s", ci->boot, e->seq,
		    cinval_kind_name(e->kind));
	if (e->a) {
		hbuf_puts(b, "&a=");
		put_encoded(b, e->a, e->alen);
	}
	if (e->b) {
		hbuf_puts(b, "&b=");
		put_encoded(b, e->b, e->blen);
	}
	if (e->soft)
		hbuf_puts(b, "&soft=1");
	hbuf_printf(b,
		    " HTTP/1.1\r\nHost: %s\r\n" FORWARD_HOP_FIELD ": %s\r\n"
		    "Content-Length: 0\r\n\r\n",
		    name, cfg->cluster.token);
}

/* This node's name in G: its member address, or, while it is not among
 * the members' addresses yet, its boot (receivers tell its entries apart
 * from another's), in BUF. */
static const char *self_name(const struct cinval *ci, const struct gen *g,
			     char buf[CLUSTER_ADDR_MAX])
{
	if (g->cluster.self_known)
		return g->cluster.self_name;
	snprintf(buf, CLUSTER_ADDR_MAX, "boot-%" PRIx64, ci->boot);
	return buf;
}

enum sent { SENT_OK, SENT_FAILED, SENT_REFUSED };

/* Send E to member NAME of G: OK when it answered 200, REFUSED for a 4xx
 * (it will not take it), else FAILED (to be sent again). */
static enum sent send_entry(struct cinval *ci, struct gen *g, const char *name,
			    const struct cinval_entry *e)
{
	const struct config_backend *cb = g->backends[g->cluster.backend].cfg;
	unsigned server = UINT32_MAX;
	for (size_t i = 0; i < cb->n_servers; i++)
		if (!strcmp(g->cluster.names[i], name))
			server = (unsigned)i;
	if (server == UINT32_MAX)
		return SENT_FAILED; /* no longer a member: its slot goes */
	enum { FIELDS = 64, RBUF = 8192 };
	char *head = malloc(CINVAL_TARGET_MAX + 1024);
	char *rbuf = malloc(RBUF);
	struct hfield *fields = malloc(FIELDS * sizeof(*fields));
	enum sent ok = SENT_FAILED;
	if (!head || !rbuf || !fields)
		goto out;
	struct hbuf b;
	hbuf_init(&b, head, CINVAL_TARGET_MAX + 1024);
	char self[CLUSTER_ADDR_MAX];
	put_request(&b, ci, g->cfg, self_name(ci, g, self), name, e);
	if (b.overflow) {
		/* Too long for a member's head: everything goes instead. */
		struct cinval_entry flush = {.seq = e->seq, .kind = CINVAL_FLUSH};
		hbuf_init(&b, head, CINVAL_TARGET_MAX + 1024);
		put_request(&b, ci, g->cfg, self, name, &flush);
	}
	struct hmsg resp;
	hmsg_init(&resp, HMSG_RESPONSE, fields, FIELDS, RBUF);
	char who[96];
	snprintf(who, sizeof(who), "cluster invalidation #%" PRIu64 " to %s", e->seq, name);
	struct exchange x = {
	    .b = &ci->w->be,
	    .g = g,
	    .backend = g->cluster.backend,
	    .who = who,
	    .head = head,
	    .head_len = b.len,
	    .idempotent = true, /* applying one twice changes nothing */
	    .resp = &resp,
	    .rbuf = rbuf,
	    .rcap = RBUF,
	    .pinned = true,
	    .pin = server,
	};
	atomic_fetch_add_explicit(&ci->stats.sent, 1, memory_order_relaxed);
	if (exchange_begin(&x) != EXCHANGE_OK)
		goto out;
	int status = hmsg_status(&resp);
	const char *p;
	ssize_t k;
	while ((k = exchange_read(&x, &p, false)) > 0)
		;
	exchange_end(&x, k == 0 ? EXCHANGE_END_DONE : EXCHANGE_END_BACKEND);
	ok = k == 0 && status == 200		       ? SENT_OK
	     : k == 0 && status >= 400 && status < 500 ? SENT_REFUSED
						       : SENT_FAILED;
	if (ok != SENT_OK)
		log_warn("%s: answered %d%s", who, status,
			 ok == SENT_REFUSED ? "; skipped (it will not take it)" : "");
out:
	free(head);
	free(rbuf);
	free(fields);
	return ok;
}

struct sender {
	struct cinval *ci;
	char name[CLUSTER_ADDR_MAX];
};

/* One member's sender: its entries in order until it has them all or
 * one fails (then the master starts it again after the backoff). */
static void sender_main(void *arg)
{
	struct sender *s = arg;
	struct cinval *ci = s->ci;
	for (;;) {
		pthread_mutex_lock(&ci->lock);
		struct cinval_member *m = member(ci, s->name);
		if (!m || m->acked >= ci->last) {
			if (m)
				m->busy = false;
			pthread_mutex_unlock(&ci->lock);
			break;
		}
		/* The next entry, or a flush for what the log no longer holds
		 * (it covers everything up to the newest: the entries after it
		 * would only repeat part of it). */
		struct cinval_entry e = {.kind = CINVAL_FLUSH, .seq = ci->last};
		bool gap = m->acked + 1 < oldest(ci);
		bool copied = true;
		if (!gap) {
			const struct cinval_entry *le = &ci->log[(m->acked + 1) % CINVAL_LOG];
			if (le->to[0] && strcmp(le->to, s->name)) {
				m->acked = le->seq; /* another member's: nothing to send */
				pthread_mutex_unlock(&ci->lock);
				continue;
			}
			e = *le;
			e.a = le->a ? dupz(le->a, le->alen) : NULL;
			e.b = le->b ? dupz(le->b, le->blen) : NULL;
			copied = (!le->a || e.a) && (!le->b || e.b);
		}
		pthread_mutex_unlock(&ci->lock);
		struct gen *g = gen_hold(&ci->w->be);
		enum sent r =
		    copied && cluster_on(g) ? send_entry(ci, g, s->name, &e) : SENT_FAILED;
		bool ok = r != SENT_FAILED;
		gen_put(&ci->w->be, g);
		free(e.a);
		free(e.b);
		pthread_mutex_lock(&ci->lock);
		m = member(ci, s->name);
		if (m && ok) {
			if (e.seq > m->acked)
				m->acked = e.seq;
			m->failures = 0;
		} else if (m) {
			m->failures++;
			uint64_t back = CINVAL_TICK << (m->failures < 6 ? m->failures : 6);
			m->retry_at = rt_clock_now() +
				      (back < CINVAL_BACKOFF_MAX ? back : CINVAL_BACKOFF_MAX);
			m->busy = false;
		}
		pthread_mutex_unlock(&ci->lock);
		atomic_fetch_add_explicit(r == SENT_OK	      ? &ci->stats.acked
					  : r == SENT_REFUSED ? &ci->stats.rejected
							      : &ci->stats.failed,
					  1, memory_order_relaxed);
		if (ok && gap)
			atomic_fetch_add_explicit(&ci->stats.gaps_sent, 1, memory_order_relaxed);
		if (!ok || rt_task_cancelled())
			break;
	}
	pthread_mutex_lock(&ci->lock);
	struct cinval_member *m = member(ci, s->name);
	if (m)
		m->busy = false;
	pthread_mutex_unlock(&ci->lock);
	free(s);
}

/* Start the senders of the members of G that have entries to get, are
 * up and are not waiting out a backoff. */
static void start_senders(struct cinval *ci, const struct gen *g)
{
	const struct config_backend *cb = g->backends[g->cluster.backend].cfg;
	uint64_t now = rt_clock_now();
	/* Members that left (a pod's old address, one not ready) are marked:
	 * their progress stays for when they come back (member()). */
	pthread_mutex_lock(&ci->lock);
	for (size_t k = 0; k < ci->nm; k++) {
		struct cinval_member *m = &ci->m[k];
		bool in = false;
		for (size_t i = 0; i < cb->n_servers && !in && m->name[0]; i++)
			in = !strcmp(m->name, g->cluster.names[i]);
		if (m->name[0] && !in && !m->left_at)
			m->left_at = now ? now : 1;
	}
	pthread_mutex_unlock(&ci->lock);
	for (size_t i = 0; i < cb->n_servers; i++) {
		pthread_mutex_lock(&ci->lock);
		struct cinval_member *m = member(ci, g->cluster.names[i]);
		bool go = m && !m->busy && m->acked < ci->last && now >= m->retry_at &&
			  cluster_peer_live(g, (unsigned)i, now);
		if (go)
			m->busy = true;
		if (!m)
			atomic_fetch_add_explicit(&ci->stats.untracked, 1, memory_order_relaxed);
		pthread_mutex_unlock(&ci->lock);
		if (!go)
			continue;
		struct sender *s = calloc(1, sizeof(*s));
		if (s) {
			s->ci = ci;
			snprintf(s->name, sizeof(s->name), "%s", g->cluster.names[i]);
		}
		if (!s || rt_group_spawn(ci->group, sender_main, s, "cluster-inval") < 0) {
			free(s);
			pthread_mutex_lock(&ci->lock);
			m->busy = false;
			pthread_mutex_unlock(&ci->lock);
		}
	}
}

/* How long a drain waits, once no client connection is left, for the
 * members to acknowledge what is still pending. */
#define CINVAL_DRAIN_GRACE (2 * RT_SEC)

/* Draining: done once no client connection is left (a request finishing
 * may still invalidate) and the members have what was made, or the grace
 * after the last connection ended has passed. */
static bool drained(struct cinval *ci, rt_time_t *zero_at)
{
	struct worker *w = ci->w;
	if (!w->be.draining)
		return false;
	if (atomic_load(&w->sh->nconns) > 0) {
		*zero_at = 0;
		return false;
	}
	rt_time_t now = rt_clock_now();
	if (!*zero_at)
		*zero_at = now;
	uint64_t pending, lag;
	cinval_pending(ci, &pending, &lag);
	return !pending || now >= *zero_at + CINVAL_DRAIN_GRACE;
}

static void master_main(void *arg)
{
	struct cinval *ci = arg;
	rt_time_t zero_at = 0;
	for (;;) {
		void *item;
		int r = rt_chan_recv(atomic_load(&ci->kick), &item, rt_deadline_in(CINVAL_TICK));
		if (r == -ECANCELED || r == -EPIPE || drained(ci, &zero_at))
			break;
		struct gen *g = gen_hold(&ci->w->be);
		char self[CLUSTER_ADDR_MAX];
		if (cluster_on(g) && ci->cs) {
			cstream_set_self(ci->cs, self_name(ci, g, self), g->cluster.self_known);
			cstream_set_members(ci->cs, g->cluster.names,
					    g->backends[g->cluster.backend].cfg->n_servers);
		}
		/* Draining: what the reader applies may no longer reach the
		 * disk tier, so its progress stays (cstream.h). */
		if (ci->cs && ci->w->be.draining)
			cstream_drain(ci->cs);
		else if (cluster_on(g))
			start_senders(ci, g);
		gen_put(&ci->w->be, g);
	}
}

/* What the stream applies (cstream.h): on its reader thread. */
static void stream_apply(void *ctx, const struct cinval_op *op, const char *from)
{
	struct cinval *ci = ctx;
	char err[160] = "";
	long n = cinval_apply(ci->sh, op, err, sizeof(err));
	atomic_fetch_add_explicit(op->kind == CINVAL_FLUSH ? &ci->stats.flushes_applied
							   : &ci->stats.applied,
				  1, memory_order_relaxed);
	if (n < 0)
		log_warn("cluster: ban from %s refused: %s", from, err);
}

const struct cstream_stats *cinval_stream_stats(const struct cinval *ci)
{
	return ci->cs ? cstream_stats(ci->cs) : NULL;
}

int cinval_start(struct cinval *ci, struct worker *w, struct rt_group *group)
{
	CHECK_OBJ_NOTNULL(ci, CINVAL_MAGIC);
	ci->w = w;
	ci->group = group;
	struct rt_chan *kick = rt_chan_create(64);
	if (!kick)
		return -ENOMEM;
	atomic_store_explicit(&ci->kick, kick, memory_order_release);
	return rt_group_spawn(group, master_main, ci, "cluster-inval") < 0 ? -ENOMEM : 0;
}

/* ---- receiving ----------------------------------------------------------- */

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* The value of NAME in query Q (QL bytes), decoded into OUT (CAP bytes,
 * NUL-terminated); its length, or -1 when absent, malformed or too long. */
static long param(const char *q, size_t ql, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *end = q + ql;
	for (const char *p = q; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if ((size_t)(e - p) > nl && !memcmp(p, name, nl) && p[nl] == '=') {
			size_t n = 0;
			for (const char *v = p + nl + 1; v < e; v++) {
				if (n + 1 >= cap)
					return -1;
				if (*v == '%') {
					int h = e - v >= 3 ? hexval(v[1]) : -1;
					int l = e - v >= 3 ? hexval(v[2]) : -1;
					if (h < 0 || l < 0)
						return -1;
					out[n++] = (char)(h * 16 + l);
					v += 2;
				} else {
					out[n++] = *v == '+' ? ' ' : *v;
				}
			}
			out[n] = '\0';
			return (long)n;
		}
		p = e + 1;
	}
	return -1;
}

int cinval_receive(struct req *r)
{
	CHECK_OBJ_NOTNULL(r, REQ_MAGIC);
	struct worker *w = r->w;
	struct cinval *ci = w->sh->inval;
	r->cache_word = "cluster-invalidation";
	if (!r->cluster_hop) {
		atomic_fetch_add_explicit(&ci->stats.refused, 1, memory_order_relaxed);
		return respond_error(r, 403, "cluster invalidation without the cluster's token",
				     true);
	}
	if (hmsg_method(&r->req) != HTTP_POST)
		return respond_error(r, 405, "cluster invalidation: use POST", true);
	const struct hmsg *m = &r->req;
	const char *t = hmsg_ptr(m, m->target);
	const char *q = memchr(t, '?', m->target.len);
	size_t ql = q ? m->target.len - (size_t)(q + 1 - t) : 0;
	q = q ? q + 1 : "";
	char from[CLUSTER_ADDR_MAX], num[32], kind[16];
	char *a = malloc(CINVAL_TARGET_MAX), *b = malloc(CINVAL_TARGET_MAX);
	long al = -1, bl = -1;
	uint64_t boot = 0, seq = 0;
	int k = -1;
	bool ok = a && b && param(q, ql, "from", from, sizeof(from)) > 0 &&
		  param(q, ql, "boot", num, sizeof(num)) > 0 && (boot = strtoull(num, NULL, 10)) &&
		  param(q, ql, "seq", num, sizeof(num)) > 0 && (seq = strtoull(num, NULL, 10)) &&
		  param(q, ql, "kind", kind, sizeof(kind)) > 0;
	if (ok && cinval_kind_of(kind, strlen(kind)) < CINVAL__N)
		k = (int)cinval_kind_of(kind, strlen(kind));
	if (ok) {
		al = param(q, ql, "a", a, CINVAL_TARGET_MAX);
		bl = param(q, ql, "b", b, CINVAL_TARGET_MAX);
	}
	ok = ok && k >= 0 && ((k != CINVAL_PURGE && k != CINVAL_TAG) || al > 0) &&
	     (k != CINVAL_BAN || al >= 0 || bl >= 0);
	if (!ok) {
		free(a);
		free(b);
		return respond_error(r, 400, "cluster invalidation: malformed", true);
	}
	char numsoft[4];
	struct cinval_op op = {.kind = (enum cinval_kind)k,
			       .a = al >= 0 ? a : NULL,
			       .alen = al >= 0 ? (size_t)al : 0,
			       .b = bl >= 0 ? b : NULL,
			       .blen = bl >= 0 ? (size_t)bl : 0,
			       .soft = param(q, ql, "soft", numsoft, sizeof(numsoft)) == 1 &&
				       numsoft[0] == '1'};
	/* Applied once: a sender that did not see our answer sends it
	 * again; a sender that restarted (a new boot) starts again at 1. */
	pthread_mutex_lock(&ci->lock);
	struct cinval_member *mb = member(ci, from);
	bool fresh = !mb || mb->rx_boot != boot || seq > mb->rx_seq;
	pthread_mutex_unlock(&ci->lock);
	long n = 0;
	char err[160] = "";
	if (fresh) {
		n = cinval_apply(w->sh, &op, err, sizeof(err));
		atomic_fetch_add_explicit(k == CINVAL_FLUSH ? &ci->stats.flushes_applied
							    : &ci->stats.applied,
					  1, memory_order_relaxed);
		if (k == CINVAL_FLUSH)
			log_warn("cluster: member %s could not send invalidations this node "
				 "missed; everything stored before now is invalid",
				 from);
		pthread_mutex_lock(&ci->lock);
		mb = member(ci, from);
		if (mb) {
			mb->rx_boot = boot;
			mb->rx_seq = seq;
		}
		pthread_mutex_unlock(&ci->lock);
	}
	free(a);
	free(b);
	if (n < 0) /* a pattern that does not compile here: nothing to retry */
		log_warn("cluster: ban from %s refused: %s", from, err);
	char body[64];
	int len = snprintf(body, sizeof(body), "{\"applied\": %s}\n", fresh ? "true" : "false");
	return respond_page(r, 200, "application/json", body, (size_t)len, NULL, true,
			    "cluster-invalidation");
}
