/* cstream.c - the invalidation log as a Redis Stream (cstream.h). */
#include "serve/cstream.h"

#include <assert.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "backend/member.h"
#include "config/redisurl.h"
#include "ops/log.h"

#define CONNECT_MS 1000
/* A call's timeout: above XREAD's BLOCK, so a quiet stream is no error. */
#define CALL_MS	 2000
#define BLOCK_MS 500
#define BATCH	 "128"
#define BATCH_N	 128
/* Memory only: entries this much older than the start (on Redis's
 * clock) are read too, for the time between the start and the reader's
 * first TIME (nothing older concerns an empty cache). */
#define SKEW_MS	       5000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* While an entry is this young the members' progress is read every
 * FAST_MS (an admin call waits for it), else every SLOW_MS. */
#define YOUNG_MS 3000
#define FAST_MS	 20
#define SLOW_MS	 1000
#define MEMBERS	 64

/* A stream entry's id, MS-SEQ. */
struct sid {
	uint64_t ms, seq;
};

static int sid_cmp(struct sid a, struct sid b)
{
	return a.ms != b.ms	? (a.ms < b.ms ? -1 : 1)
	       : a.seq != b.seq ? (a.seq < b.seq ? -1 : 1)
				: 0;
}

static bool sid_parse(const char *s, size_t n, struct sid *out)
{
	char buf[48];
	if (!n || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	char *e;
	errno = 0;
	out->ms = strtoull(buf, &e, 10);
	if (e == buf || errno)
		return false;
	out->seq = 0;
	if (*e == '-') {
		char *f;
		out->seq = strtoull(e + 1, &f, 10);
		if (f == e + 1 || *f || errno)
			return false;
	} else if (*e) {
		return false;
	}
	return true;
}

static void sid_format(struct sid id, char *buf, size_t n)
{
	snprintf(buf, n, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
}

/* An entry made here, until Redis has it. */
struct out {
	uint64_t seq; /* 0: an empty slot */
	int64_t at_ms;
	enum cinval_kind kind;
	char *a, *b; /* NUL-terminated copies; alen and blen say (a key may hold NULs) */
	size_t alen, blen;
	bool soft;
	char to[CLUSTER_ADDR_MAX];
	bool sent;
	struct sid id; /* once sent */
};

struct progress {
	char name[CLUSTER_ADDR_MAX];
	struct sid id;
};

struct cstream {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* an entry, a name, the stop */
	atomic_bool stop;
	struct redis_url url;
	char where[REDIS_URL_HOST_MAX + 16]; /* for messages: no password */
	char *key, *progress_key, *epoch_key;
	char max_len[24];
	uint64_t boot;
	bool resume;
	int64_t start_ms;
	cstream_apply_fn *apply;
	void *ctx;
	atomic_bool draining; /* progress is no longer written */
	/* Under the lock. */
	char self[CLUSTER_ADDR_MAX];
	bool self_known; /* SELF is a member's name, not a boot's */
	uint64_t last;	 /* the newest seq given */
	uint64_t next;	 /* the oldest not sent */
	uint64_t lost;	 /* the newest given up unsent (0: none): a flush goes first */
	int64_t sent_at_ms;
	struct out box[CSTREAM_OUTBOX]; /* seq % CSTREAM_OUTBOX */
	struct progress prog[MEMBERS];
	size_t nprog;
	char members[MEMBERS][CLUSTER_ADDR_MAX]; /* whose progress the publisher reads */
	size_t nmembers;
	bool pub_up, sub_up;
	pthread_t pub, sub;
	bool pub_started, sub_started;
	struct cstream_stats stats;
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval ms_tv(long ms)
{
	return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

static char *dupn(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* Sleep MS or until woken (under no lock on entry). */
static void nap(struct cstream *cs, long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&cs->lock);
	if (!atomic_load(&cs->stop))
		pthread_cond_timedwait(&cs->wake, &cs->lock, &ts);
	pthread_mutex_unlock(&cs->lock);
}

static long backoff(unsigned *failures)
{
	long ms = BACKOFF_MIN_MS << (*failures < 5 ? *failures : 5);
	(*failures)++;
	return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* ---- connections ------------------------------------------------------- */

/* One thread's connection went up or down: one line each way. */
static void set_up(struct cstream *cs, bool *mine, bool up, const char *who, const char *why)
{
	pthread_mutex_lock(&cs->lock);
	bool was = *mine;
	*mine = up;
	atomic_store(&cs->stats.up, cs->pub_up && cs->sub_up);
	pthread_mutex_unlock(&cs->lock);
	if (was && !up)
		log_warn("cluster: Redis at %s (%s): %s; invalidations wait for it", cs->where, who,
			 why);
	else if (!was && up)
		log_info("cluster: Redis at %s (%s): connected", cs->where, who);
}

/* A reply to ARGV (ARGC), or NULL after a connection error (*C is then
 * freed and NULL). An error reply is a reply: the caller looks. */
static redisReply *call(redisContext **c, int argc, const char **argv, const size_t *len)
{
	redisReply *r = redisCommandArgv(*c, argc, argv, len);
	if (!r) {
		redisFree(*c);
		*c = NULL;
	}
	return r;
}

/* A call of NUL-terminated strings (none binary). */
static redisReply *callv(redisContext **c, int argc, const char **argv)
{
	size_t len[8];
	for (int i = 0; i < argc && i < 8; i++)
		len[i] = strlen(argv[i]);
	return call(c, argc, argv, len);
}

/* A call whose reply must be status OK. */
static bool call_ok(redisContext **c, int argc, const char **argv, char *why, size_t wn)
{
	redisReply *r = callv(c, argc, argv);
	bool ok = r && r->type == REDIS_REPLY_STATUS;
	if (r && !ok)
		snprintf(why, wn, "%s: %s", argv[0], r->type == REDIS_REPLY_ERROR ? r->str : "?");
	else if (!r)
		snprintf(why, wn, "%s: connection lost", argv[0]);
	freeReplyObject(r);
	return ok;
}

static redisContext *connect_to(struct cstream *cs, bool *mine, const char *who)
{
	const struct redis_url *u = &cs->url;
	char why[256] = "";
	redisContext *c = u->host[0]
			      ? redisConnectWithTimeout(u->host, (int)u->port, ms_tv(CONNECT_MS))
			      : redisConnectUnixWithTimeout(u->path, ms_tv(CONNECT_MS));
	if (!c || c->err) {
		snprintf(why, sizeof(why), "%s", c ? c->errstr : "out of memory");
		goto fail;
	}
	if (redisSetTimeout(c, ms_tv(CALL_MS)) != REDIS_OK) {
		snprintf(why, sizeof(why), "setting a timeout: %s", c->errstr);
		goto fail;
	}
	if (u->host[0])
		redisEnableKeepAlive(c);
	if (u->password[0]) {
		const char *auth[] = {"AUTH", u->user, u->password};
		bool ok = u->user[0] ? call_ok(&c, 3, auth, why, sizeof(why))
				     : call_ok(&c, 2, (const char *[]){"AUTH", u->password}, why,
					       sizeof(why));
		if (!ok)
			goto fail;
	}
	if (u->db) {
		char db[16];
		snprintf(db, sizeof(db), "%u", u->db);
		if (!call_ok(&c, 2, (const char *[]){"SELECT", db}, why, sizeof(why)))
			goto fail;
	}
	set_up(cs, mine, true, who, "");
	return c;
fail:
	if (c)
		redisFree(c);
	/* A start that finds Redis down says so once too. */
	pthread_mutex_lock(&cs->lock);
	bool first = !*mine && !cs->stats.errors;
	pthread_mutex_unlock(&cs->lock);
	if (first)
		log_warn("cluster: Redis at %s (%s): %s; invalidations wait for it", cs->where, who,
			 why);
	set_up(cs, mine, false, who, why);
	atomic_fetch_add(&cs->stats.errors, 1);
	return NULL;
}

/* ---- the publisher --------------------------------------------------------- */

uint64_t cstream_add(struct cstream *cs, const struct cinval_op *op)
{
	struct out e = {.kind = op->kind, .soft = op->soft, .at_ms = wall_ms()};
	if (op->to)
		snprintf(e.to, sizeof(e.to), "%s", op->to);
	if (op->a && !(e.a = dupn(op->a, e.alen = op->alen)))
		return 0;
	if (op->b && !(e.b = dupn(op->b, e.blen = op->blen))) {
		free(e.a);
		return 0;
	}
	pthread_mutex_lock(&cs->lock);
	e.seq = ++cs->last;
	if (!cs->next)
		cs->next = e.seq;
	struct out *slot = &cs->box[e.seq % CSTREAM_OUTBOX];
	if (slot->seq && !slot->sent) {
		/* Redis has been away for a whole outbox: the oldest is given
		 * up, and a flush goes ahead of what is left. */
		cs->lost = slot->seq;
		if (cs->next <= slot->seq)
			cs->next = slot->seq + 1;
	}
	free(slot->a);
	free(slot->b);
	*slot = e;
	pthread_cond_broadcast(&cs->wake);
	pthread_mutex_unlock(&cs->lock);
	return e.seq;
}

/* The next entry to send into *E (A and B copied: the caller frees them):
 * false when there is none. */
static bool take(struct cstream *cs, struct out *e, char *self, size_t sn, bool *none)
{
	bool got = false;
	pthread_mutex_lock(&cs->lock);
	*none = !cs->lost && !(cs->next && cs->next <= cs->last);
	snprintf(self, sn, "%s", cs->self);
	if (cs->lost) {
		*e = (struct out){.seq = cs->lost, .kind = CINVAL_FLUSH};
		got = true;
	} else if (cs->next && cs->next <= cs->last) {
		const struct out *o = &cs->box[cs->next % CSTREAM_OUTBOX];
		assert(o->seq == cs->next);
		*e = *o;
		e->a = o->a ? dupn(o->a, o->alen) : NULL;
		e->b = o->b ? dupn(o->b, o->blen) : NULL;
		got = (!o->a || e->a) && (!o->b || e->b);
		if (!got) {
			free(e->a);
			free(e->b);
		}
	}
	pthread_mutex_unlock(&cs->lock);
	return got;
}

static void sent(struct cstream *cs, const struct out *e, struct sid id)
{
	pthread_mutex_lock(&cs->lock);
	if (e->kind == CINVAL_FLUSH && cs->lost == e->seq) {
		cs->lost = 0;
	} else {
		struct out *o = &cs->box[e->seq % CSTREAM_OUTBOX];
		if (o->seq == e->seq) {
			o->sent = true;
			o->id = id;
		}
		if (cs->next == e->seq)
			cs->next++;
	}
	cs->sent_at_ms = wall_ms();
	pthread_mutex_unlock(&cs->lock);
	atomic_fetch_add(&cs->stats.published, 1);
}

/* XADD E: 0 and its id, or -1 (WHY says). */
static int xadd(struct cstream *cs, redisContext **c, const struct out *e, const char *self,
		struct sid *id, char *why, size_t wn)
{
	char boot[20], seq[24];
	snprintf(boot, sizeof(boot), "%" PRIx64, cs->boot);
	snprintf(seq, sizeof(seq), "%" PRIu64, e->seq);
	const char *argv[32];
	size_t len[32];
	int n = 0;
#define ARG(p, l) (argv[n] = (p), len[n] = (l), n++)
#define ARGS(s)	  ARG(s, strlen(s))
	ARGS("XADD");
	ARGS(cs->key);
	ARGS("MAXLEN");
	ARGS(cs->max_len);
	ARGS("*");
	ARGS("boot");
	ARGS(boot);
	ARGS("from");
	ARGS(self);
	ARGS("seq");
	ARGS(seq);
	ARGS("kind");
	ARGS(cinval_kind_name(e->kind));
	if (e->a) {
		ARGS("a");
		ARG(e->a, e->alen);
	}
	if (e->b) {
		ARGS("b");
		ARG(e->b, e->blen);
	}
	if (e->soft) {
		ARGS("soft");
		ARGS("1");
	}
	if (e->to[0]) {
		ARGS("to");
		ARGS(e->to);
	}
#undef ARG
#undef ARGS
	redisReply *r = call(c, n, argv, len);
	int rc = r && r->type == REDIS_REPLY_STRING && sid_parse(r->str, r->len, id) ? 0 : -1;
	if (rc < 0)
		snprintf(why, wn, "XADD: %s",
			 !r				? "connection lost"
			 : r->type == REDIS_REPLY_ERROR ? r->str
							: "odd reply");
	freeReplyObject(r);
	return rc;
}

/* The members' progress (HMGET of the names cstream_set_members gave)
 * into cs->prog: a hash that holds old names too is read no further. */
static void read_progress(struct cstream *cs, redisContext **c)
{
	char names[MEMBERS][CLUSTER_ADDR_MAX];
	pthread_mutex_lock(&cs->lock);
	size_t nm = cs->nmembers;
	memcpy(names, cs->members, nm * sizeof(names[0]));
	pthread_mutex_unlock(&cs->lock);
	if (!nm)
		return;
	const char *argv[MEMBERS + 2] = {"HMGET", cs->progress_key};
	size_t len[MEMBERS + 2] = {5, strlen(cs->progress_key)};
	for (size_t i = 0; i < nm; i++)
		argv[i + 2] = names[i], len[i + 2] = strlen(names[i]);
	redisReply *r = call(c, (int)nm + 2, argv, len);
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == nm) {
		struct progress p[MEMBERS];
		size_t np = 0;
		for (size_t i = 0; i < nm; i++) {
			const redisReply *v = r->element[i];
			if (v->type != REDIS_REPLY_STRING || !sid_parse(v->str, v->len, &p[np].id))
				continue; /* no progress yet */
			memcpy(p[np].name, names[i], sizeof(p[np].name));
			np++;
		}
		pthread_mutex_lock(&cs->lock);
		memcpy(cs->prog, p, np * sizeof(p[0]));
		cs->nprog = np;
		pthread_mutex_unlock(&cs->lock);
	}
	freeReplyObject(r);
}

static void *pub_main(void *arg)
{
	struct cstream *cs = arg;
	redisContext *c = NULL;
	unsigned failures = 0;
	int64_t progress_at = 0;
	while (!atomic_load(&cs->stop)) {
		if (!c && !(c = connect_to(cs, &cs->pub_up, "publisher"))) {
			nap(cs, backoff(&failures));
			continue;
		}
		struct out e;
		char self[CLUSTER_ADDR_MAX], why[256];
		bool none;
		if (take(cs, &e, self, sizeof(self), &none)) {
			struct sid id;
			int rc = xadd(cs, &c, &e, self, &id, why, sizeof(why));
			free(e.a);
			free(e.b);
			if (rc == 0) {
				sent(cs, &e, id);
				failures = 0;
				continue;
			}
			/* Redis refused it (out of memory, the key of another
			 * type): kept and tried again, as when it is away. */
			atomic_fetch_add(&cs->stats.errors, 1);
			if (!c) {
				set_up(cs, &cs->pub_up, false, "publisher", why);
			} else if (!failures) {
				log_warn("cluster: Redis at %s: %s; invalidations wait", cs->where,
					 why);
			}
			nap(cs, backoff(&failures));
			continue;
		}
		pthread_mutex_lock(&cs->lock);
		bool young = wall_ms() - cs->sent_at_ms < YOUNG_MS;
		pthread_mutex_unlock(&cs->lock);
		int64_t now = wall_ms();
		if (now - progress_at >= (young ? FAST_MS : SLOW_MS)) {
			read_progress(cs, &c);
			progress_at = now;
			if (!c) {
				set_up(cs, &cs->pub_up, false, "publisher", "connection lost");
				continue;
			}
		}
		/* Nothing to send, or no memory to copy it: a nap. */
		nap(cs, none ? (young ? FAST_MS : SLOW_MS) : BACKOFF_MIN_MS);
	}
	if (c)
		redisFree(c);
	return NULL;
}

/* ---- the reader ------------------------------------------------------------ */

/* The value of field NAME among an entry's FIELDS, or NULL. */
static const redisReply *field(const redisReply *fields, const char *name)
{
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i];
		if (k->type == REDIS_REPLY_STRING && k->len == strlen(name) &&
		    !memcmp(k->str, name, k->len) &&
		    fields->element[i + 1]->type == REDIS_REPLY_STRING)
			return fields->element[i + 1];
	}
	return NULL;
}

static void flush(struct cstream *cs, const char *why)
{
	log_warn("cluster: the Redis stream %s %s: invalidations this node may have missed are "
		 "not known; everything stored before now is invalid",
		 cs->key, why);
	atomic_fetch_add(&cs->stats.gaps, 1);
	cs->apply(cs->ctx, &(struct cinval_op){.kind = CINVAL_FLUSH}, "redis");
}

/* Apply one entry (FIELDS) unless it is this node's own. One for one
 * member (the owner of a key an unsafe method changed; its "to" field)
 * is applied by every reader all the same: each reads it anyway, and a
 * near copy goes with it. */
static void entry(struct cstream *cs, const redisReply *fields)
{
	const redisReply *boot = field(fields, "boot"), *kind = field(fields, "kind");
	const redisReply *a = field(fields, "a"), *b = field(fields, "b");
	const redisReply *from = field(fields, "from");
	const redisReply *soft = field(fields, "soft");
	if (!boot || !kind) {
		atomic_fetch_add(&cs->stats.errors, 1);
		return;
	}
	char bootz[24];
	snprintf(bootz, sizeof(bootz), "%.*s", (int)boot->len, boot->str);
	if (strtoull(bootz, NULL, 16) == cs->boot)
		return; /* applied here when it was made */
	char *az = a ? dupn(a->str, a->len) : NULL, *bz = b ? dupn(b->str, b->len) : NULL;
	char fromz[CLUSTER_ADDR_MAX];
	snprintf(fromz, sizeof(fromz), "%.*s", from ? (int)from->len : 0, from ? from->str : "");
	struct cinval_op op = {
	    .kind = cinval_kind_of(kind->str, kind->len),
	    .a = az,
	    .alen = a ? a->len : 0,
	    .b = bz,
	    .blen = b ? b->len : 0,
	    .soft = soft && soft->len == 1 && soft->str[0] == '1',
	};
	if ((a && !az) || (b && !bz) || !cinval_op_ok(&op)) {
		atomic_fetch_add(&cs->stats.errors, 1);
		log_warn("cluster: Redis stream %s: a malformed entry from %s skipped", cs->key,
			 fromz[0] ? fromz : "?");
	} else {
		cs->apply(cs->ctx, &op, fromz);
	}
	free(az);
	free(bz);
}

/* What XINFO STREAM says of the stream. */
struct info {
	bool exists;
	struct sid last;	/* last-generated-id */
	uint64_t length, added; /* entries now, entries ever added (Redis 7) */
	bool has_added;
	struct sid first; /* the oldest entry kept */
	bool has_first;
};

static void info_of(const redisReply *r, struct info *in)
{
	*in = (struct info){0};
	if (!r || r->type != REDIS_REPLY_ARRAY)
		return; /* an error: no such key, the stream is not made yet */
	in->exists = true;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING)
			continue;
		if (!strcmp(k->str, "last-generated-id") && v->type == REDIS_REPLY_STRING)
			sid_parse(v->str, v->len, &in->last);
		else if (!strcmp(k->str, "length") && v->type == REDIS_REPLY_INTEGER)
			in->length = (uint64_t)v->integer;
		else if (!strcmp(k->str, "entries-added") && v->type == REDIS_REPLY_INTEGER)
			in->added = (uint64_t)v->integer, in->has_added = true;
		else if (!strcmp(k->str, "first-entry") && v->type == REDIS_REPLY_ARRAY &&
			 v->elements && v->element[0]->type == REDIS_REPLY_STRING)
			in->has_first =
			    sid_parse(v->element[0]->str, v->element[0]->len, &in->first);
	}
}

/* XINFO STREAM alone: -1 after a connection error. */
static int stream_info(struct cstream *cs, redisContext **c, struct info *in)
{
	redisReply *r = callv(c, 3, (const char *[]){"XINFO", "STREAM", cs->key});
	if (!r)
		return -1;
	info_of(r, in);
	freeReplyObject(r);
	return 0;
}

/* The stream's epoch (set here when it has none): -1 after a connection
 * error. */
static int epoch_of(struct cstream *cs, redisContext **c, char *out, size_t n)
{
	uint64_t mine[2];
	if (getrandom(mine, sizeof(mine), 0) != sizeof(mine))
		mine[0] = cs->boot, mine[1] = (uint64_t)wall_ms();
	char val[40];
	snprintf(val, sizeof(val), "%016" PRIx64 "%016" PRIx64, mine[0], mine[1]);
	redisReply *r = callv(c, 4, (const char *[]){"SET", cs->epoch_key, val, "NX"});
	freeReplyObject(r);
	if (!r)
		return -1;
	r = callv(c, 2, (const char *[]){"GET", cs->epoch_key});
	if (!r)
		return -1;
	snprintf(out, n, "%.*s", r->type == REDIS_REPLY_STRING ? (int)r->len : 0,
		 r->type == REDIS_REPLY_STRING ? r->str : "");
	freeReplyObject(r);
	return 0;
}

/*
 * Where the reader is: LAST, the id it reads after (an entry it read, or a
 * time when it has read none yet), and NUM, that entry's number in the
 * stream (1 for the first entry ever added; 0: not known). Redis 7 counts
 * the entries ever added, so the oldest entry kept has the number
 * added - length + 1: when that is more than one past NUM, entries this
 * node never read were trimmed away.
 */
struct reader {
	struct sid last;
	uint64_t num;
	bool read_any; /* LAST is an entry read (not a time) */
	bool positioned;
	bool refused; /* the last XREAD had an error reply */
	char epoch[40];
};

static void reset(struct reader *rd)
{
	rd->last = (struct sid){0};
	rd->num = 0;
	rd->read_any = false;
}

/* This node's start on Redis's clock (the stream's ids are its times):
 * its TIME less how long this node has run, or this node's own start
 * when TIME has no answer. */
static int64_t start_on_redis(struct cstream *cs, redisContext **c)
{
	redisReply *r = callv(c, 1, (const char *[]){"TIME"});
	int64_t at = cs->start_ms;
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    r->element[1]->type == REDIS_REPLY_STRING) {
		int64_t now = strtoll(r->element[0]->str, NULL, 10) * 1000 +
			      strtoll(r->element[1]->str, NULL, 10) / 1000;
		at = now - (wall_ms() - cs->start_ms);
	}
	freeReplyObject(r);
	return at;
}

/* Where to read from after a (re)connection, and the flush when what was
 * missed is no longer known. -1 after a connection error. */
static int position(struct cstream *cs, redisContext **c, struct reader *rd, const char *self)
{
	char epoch[40];
	struct info in;
	if (epoch_of(cs, c, epoch, sizeof(epoch)) < 0 || stream_info(cs, c, &in) < 0)
		return -1;
	if (!rd->positioned) {
		int64_t from = start_on_redis(cs, c) - SKEW_MS;
		if (!*c)
			return -1;
		reset(rd);
		rd->last.ms = from > 0 ? (uint64_t)from : 0;
		if (cs->resume) {
			/* Objects outlived the restart: on from where this node
			 * left off, or a flush when that is not known. */
			redisReply *r =
			    callv(c, 3, (const char *[]){"HGET", cs->progress_key, self});
			if (!r)
				return -1;
			struct sid p;
			bool known = r->type == REDIS_REPLY_STRING && sid_parse(r->str, r->len, &p);
			freeReplyObject(r);
			if (known)
				rd->last = p, rd->read_any = true;
			else
				flush(cs, "has no progress of this node's (and its objects "
					  "outlived a restart)");
		}
	} else if (strcmp(epoch, rd->epoch)) {
		flush(cs, "lost what it held (a new epoch: Redis restarted empty?)");
		reset(rd);
	} else if (rd->read_any && (!in.exists || sid_cmp(in.last, rd->last) < 0)) {
		flush(cs, "went back (Redis restored from an older copy?)");
		reset(rd);
		rd->last = in.exists ? in.last : (struct sid){0};
	}
	snprintf(rd->epoch, sizeof(rd->epoch), "%s", epoch);
	rd->positioned = true;
	return 0;
}

/* HSET this node's progress. */
static void write_progress(struct cstream *cs, redisContext **c, const char *self, struct sid id)
{
	char v[48];
	sid_format(id, v, sizeof(v));
	redisReply *r = callv(c, 4, (const char *[]){"HSET", cs->progress_key, self, v});
	freeReplyObject(r);
}

/* Whether entries after the reader's position went unread (IN and the
 * batch, of N entries, come from one snapshot), and the number of the
 * batch's last entry into *NUM. */
static bool gap(const struct reader *rd, const struct info *in, size_t n, uint64_t *num)
{
	*num = rd->num ? rd->num + n : 0;
	/* A batch that took all there was ends at the newest entry. */
	if (in->has_added && n && n < BATCH_N)
		*num = in->added;
	/* Fewer entries ever added than this node has read: the stream was
	 * made again (deleted, evicted) under the same connection. */
	if (in->has_added && rd->num && in->added < rd->num)
		return true;
	if (!in->exists || !in->has_first || sid_cmp(in->first, rd->last) <= 0)
		return false; /* the position is within the stream: the batch follows it */
	/* Everything kept is newer than the position: the batch begins with
	 * the oldest entry kept. */
	if (!in->has_added) /* Redis 6: no count; the position's entry is gone */
		return rd->read_any;
	uint64_t oldest = in->added - in->length + 1;
	if (n)
		*num = oldest + n - 1;
	/* An unknown number: unread entries were trimmed if any ever were
	 * (a time as the position may be older than what went). */
	return rd->num ? oldest > rd->num + 1 : in->added > in->length;
}

/* One snapshot: the stream's info and the entries after the position,
 * atomically (MULTI ... EXEC), applied. -1 after a connection error, -2
 * after an error reply. */
static int read_snapshot(struct cstream *cs, redisContext **c, struct reader *rd, bool *moved)
{
	char last[48];
	sid_format(rd->last, last, sizeof(last));
	redisReply *r = callv(c, 1, (const char *[]){"MULTI"});
	freeReplyObject(r);
	if (!r)
		return -1;
	r = callv(c, 3, (const char *[]){"XINFO", "STREAM", cs->key});
	freeReplyObject(r);
	if (!r)
		return -1;
	r = callv(c, 6, (const char *[]){"XREAD", "COUNT", BATCH, "STREAMS", cs->key, last});
	freeReplyObject(r);
	if (!r)
		return -1;
	r = callv(c, 1, (const char *[]){"EXEC"});
	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		if (!rd->refused)
			log_warn("cluster: Redis at %s: reading %s: %s", cs->where, cs->key,
				 r->type == REDIS_REPLY_ERROR ? r->str : "an odd reply");
		rd->refused = true;
		freeReplyObject(r);
		return -2;
	}
	rd->refused = false;
	struct info in;
	info_of(r->element[0], &in);
	const redisReply *x = r->element[1], *list = NULL;
	if (x->type == REDIS_REPLY_ARRAY && x->elements == 1 &&
	    x->element[0]->type == REDIS_REPLY_ARRAY && x->element[0]->elements == 2 &&
	    x->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
		list = x->element[0]->element[1];
	size_t n = list ? list->elements : 0;
	uint64_t num;
	if (gap(rd, &in, n, &num))
		flush(cs, "was trimmed past entries this node had not read");
	for (size_t i = 0; i < n; i++) {
		const redisReply *e = list->element[i];
		struct sid id;
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING ||
		    !sid_parse(e->element[0]->str, e->element[0]->len, &id))
			continue;
		if (e->element[1]->type == REDIS_REPLY_ARRAY)
			entry(cs, e->element[1]);
		rd->last = id;
		rd->read_any = true;
		*moved = true;
		atomic_fetch_add(&cs->stats.read, 1);
	}
	if (n)
		rd->num = num;
	freeReplyObject(r);
	return 0;
}

/* Wait (BLOCK_MS at most) for entries after the position, then read them
 * in a snapshot. -1 after a connection error, -2 after an error reply. */
static int read_batch(struct cstream *cs, redisContext **c, struct reader *rd, bool *moved)
{
	char last[48];
	sid_format(rd->last, last, sizeof(last));
	_Static_assert(BLOCK_MS == 500 && BLOCK_MS < CALL_MS, "XREAD's BLOCK is BLOCK_MS");
	redisReply *r = callv(
	    c, 8,
	    (const char *[]){"XREAD", "COUNT", "1", "BLOCK", "500", "STREAMS", cs->key, last});
	if (!r)
		return -1;
	bool some = r->type == REDIS_REPLY_ARRAY;
	if (r->type == REDIS_REPLY_ERROR) {
		/* The key of another type, a Redis without streams: said once
		 * per connection, tried again after a backoff. */
		if (!rd->refused)
			log_warn("cluster: Redis at %s: XREAD %s: %s", cs->where, cs->key, r->str);
		rd->refused = true;
		freeReplyObject(r);
		return -2;
	}
	freeReplyObject(r);
	return some ? read_snapshot(cs, c, rd, moved) : 0;
}

static void *sub_main(void *arg)
{
	struct cstream *cs = arg;
	redisContext *c = NULL;
	unsigned failures = 0;
	struct reader rd = {0};
	char self[CLUSTER_ADDR_MAX] = "", written[CLUSTER_ADDR_MAX] = "";
	struct sid written_id = {0};
	while (!atomic_load(&cs->stop)) {
		pthread_mutex_lock(&cs->lock);
		snprintf(self, sizeof(self), "%s", cs->self);
		/* Resuming needs this node's progress, kept under its member
		 * name: not told yet who this node is, or not yet which
		 * member, it waits. */
		bool wait = !self[0] || (cs->resume && !rd.positioned && !cs->self_known);
		pthread_mutex_unlock(&cs->lock);
		if (wait) {
			nap(cs, 100);
			continue;
		}
		if (!c) {
			if (!(c = connect_to(cs, &cs->sub_up, "reader"))) {
				nap(cs, backoff(&failures));
				continue;
			}
			if (position(cs, &c, &rd, self) < 0)
				goto lost;
			written[0] = '\0'; /* written again on this connection */
		}
		bool moved = false;
		int rc = read_batch(cs, &c, &rd, &moved);
		if (rc == -2) {
			atomic_fetch_add(&cs->stats.errors, 1);
			nap(cs, backoff(&failures));
			continue;
		}
		if (rc < 0)
			goto lost;
		failures = 0;
		/* The progress, when it moved or this node's name did; not in
		 * a drain, whose disk tier may no longer take what was
		 * applied: read again after the restart. */
		if (!atomic_load(&cs->draining) &&
		    (moved || strcmp(written, self) || sid_cmp(written_id, rd.last))) {
			write_progress(cs, &c, self, rd.last);
			if (!c)
				goto lost;
			snprintf(written, sizeof(written), "%s", self);
			written_id = rd.last;
		}
		continue;
	lost:
		atomic_fetch_add(&cs->stats.errors, 1);
		set_up(cs, &cs->sub_up, false, "reader", "connection lost");
		nap(cs, backoff(&failures));
	}
	if (c)
		redisFree(c);
	return NULL;
}

/* ---- the rest ---------------------------------------------------------------- */

void cstream_set_self(struct cstream *cs, const char *name, bool known)
{
	pthread_mutex_lock(&cs->lock);
	if (strcmp(cs->self, name) || cs->self_known != known) {
		snprintf(cs->self, sizeof(cs->self), "%s", name);
		cs->self_known = known;
		pthread_cond_broadcast(&cs->wake);
	}
	pthread_mutex_unlock(&cs->lock);
}

void cstream_set_members(struct cstream *cs, const char (*names)[CLUSTER_ADDR_MAX], size_t n)
{
	pthread_mutex_lock(&cs->lock);
	cs->nmembers = n < MEMBERS ? n : MEMBERS;
	memcpy(cs->members, names, cs->nmembers * sizeof(cs->members[0]));
	pthread_mutex_unlock(&cs->lock);
}

void cstream_drain(struct cstream *cs)
{
	atomic_store(&cs->draining, true);
}

bool cstream_acked(struct cstream *cs, uint64_t seq, const char *name)
{
	bool acked = false;
	pthread_mutex_lock(&cs->lock);
	const struct out *o = &cs->box[seq % CSTREAM_OUTBOX];
	if (o->seq == seq && o->sent)
		for (size_t i = 0; i < cs->nprog && !acked; i++)
			acked =
			    !strcmp(cs->prog[i].name, name) && sid_cmp(cs->prog[i].id, o->id) >= 0;
	pthread_mutex_unlock(&cs->lock);
	return acked;
}

void cstream_pending(struct cstream *cs, uint64_t *pending, uint64_t *lag_ms)
{
	*pending = *lag_ms = 0;
	int64_t now = wall_ms();
	pthread_mutex_lock(&cs->lock);
	if (cs->next && cs->next <= cs->last) {
		*pending = cs->last - cs->next + 1;
		const struct out *o = &cs->box[cs->next % CSTREAM_OUTBOX];
		if (o->seq == cs->next && now > o->at_ms)
			*lag_ms = (uint64_t)(now - o->at_ms);
	}
	*pending += cs->lost ? 1 : 0;
	pthread_mutex_unlock(&cs->lock);
}

const struct cstream_stats *cstream_stats(const struct cstream *cs)
{
	return &cs->stats;
}

struct cstream *cstream_create(const char *url, const char *stream, uint64_t max_len, uint64_t boot,
			       bool resume, cstream_apply_fn *apply, void *ctx)
{
	struct cstream *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return NULL;
	const char *why = NULL;
	if (!redis_url_parse(url, &cs->url, &why)) {
		free(cs);
		errno = EINVAL; /* the config checked it */
		return NULL;
	}
	if (cs->url.host[0])
		snprintf(cs->where, sizeof(cs->where), "%s%s%s:%u",
			 strchr(cs->url.host, ':') ? "[" : "", cs->url.host,
			 strchr(cs->url.host, ':') ? "]" : "", cs->url.port);
	else
		snprintf(cs->where, sizeof(cs->where), "unix:%s", cs->url.path);
	snprintf(cs->max_len, sizeof(cs->max_len), "%" PRIu64, max_len);
	cs->boot = boot;
	cs->resume = resume;
	cs->start_ms = wall_ms();
	cs->apply = apply;
	cs->ctx = ctx;
	pthread_mutex_init(&cs->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cs->wake, &ca);
	pthread_condattr_destroy(&ca);
	size_t kl = strlen(stream);
	cs->key = strdup(stream);
	cs->progress_key = malloc(kl + sizeof(":progress"));
	cs->epoch_key = malloc(kl + sizeof(":epoch"));
	if (!cs->key || !cs->progress_key || !cs->epoch_key)
		goto fail;
	snprintf(cs->progress_key, kl + sizeof(":progress"), "%s:progress", stream);
	snprintf(cs->epoch_key, kl + sizeof(":epoch"), "%s:epoch", stream);
	int e = pthread_create(&cs->pub, NULL, pub_main, cs);
	if (e) {
		errno = e;
		goto fail;
	}
	cs->pub_started = true;
	pthread_setname_np(cs->pub, "rc-redis-pub");
	if ((e = pthread_create(&cs->sub, NULL, sub_main, cs))) {
		errno = e;
		goto fail;
	}
	cs->sub_started = true;
	pthread_setname_np(cs->sub, "rc-redis-sub");
	return cs;
fail:
	cstream_free(&cs);
	return NULL;
}

void cstream_free(struct cstream **csp)
{
	struct cstream *cs = *csp;
	if (!cs)
		return;
	*csp = NULL;
	pthread_mutex_lock(&cs->lock);
	atomic_store(&cs->stop, true);
	pthread_cond_broadcast(&cs->wake);
	pthread_mutex_unlock(&cs->lock);
	if (cs->pub_started)
		pthread_join(cs->pub, NULL);
	if (cs->sub_started)
		pthread_join(cs->sub, NULL);
	for (size_t i = 0; i < CSTREAM_OUTBOX; i++) {
		free(cs->box[i].a);
		free(cs->box[i].b);
	}
	free(cs->key);
	free(cs->progress_key);
	free(cs->epoch_key);
	pthread_cond_destroy(&cs->wake);
	pthread_mutex_destroy(&cs->lock);
	free(cs);
}
