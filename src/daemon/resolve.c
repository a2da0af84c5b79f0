/* resolve.c - the names of backend servers: the resolver, the mailbox, the current sets. */
#include "daemon/resolve.h"
#include "rt/obj.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ops/log.h"

#define RNAME_MAGIC 0x524e414du /* "RNAM" */

/* Tries of each DNS query (c-ares's, per server); the first try gets a
 * quarter of resolver.timeout and the second (c-ares doubles it) half, so
 * that with one DNS server c-ares's own timeout comes before the
 * lookup's deadline, which is resolver.timeout. */
#define RESOLVE_TRIES 2

/* One (host, port) followed. */
struct rname {
	unsigned magic;
	char *host;
	uint16_t port;
	struct dns_set *set; /* main thread: the current set; NULL: never resolved */

	/* The mailbox, under resolve.mu. */
	struct dns_set *posted; /* a newer set, not taken yet */
	bool answered;		/* its first lookup came back, either way */
	bool fail_new;		/* a run of failures began: FAIL_WHY, to be logged */
	int fail_status;
	const char *fail_why; /* c-ares's words (static) */
	bool failing;	      /* in a run of failures */
	bool recovered;	      /* resolves again after a run: to be logged */
	bool member;	      /* a cluster's members (discovery's name or a peer): settled */
};

/* What one resolver calls back with: events of an epoch not live are
 * from a resolver being replaced. */
struct resolve_inst {
	struct resolve *r;
	unsigned epoch;
};

void resolve_init(struct resolve *r)
{
	memset(r, 0, sizeof(*r));
	INIT_OBJ(r, RESOLVE_MAGIC);
	r->main = pthread_self();
	r->due = RT_NEVER;
	pthread_mutex_init(&r->mu, NULL);
	/* The wait for first answers is bounded on the monotonic clock, as
	 * every deadline here is: a wall clock step must not stretch it. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
}

static void rname_free(struct rname **np)
{
	struct rname *n;
	TAKE_OBJ_NOTNULL(n, np, RNAME_MAGIC);
	dns_set_put(&n->set);
	dns_set_put(&n->posted);
	free(n->host);
	FINI_OBJ(n);
	free(n);
}

void resolve_fini(struct resolve *r)
{
	if (r->magic != RESOLVE_MAGIC)
		return; /* never set up */
	if (r->dns)
		dns_stop(&r->dns);
	free(r->inst);
	for (size_t i = 0; i < r->n_names; i++)
		rname_free(&r->names[i]);
	free(r->names);
	free(r->servers);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	FINI_OBJ(r);
}

/* ------------------------------------------------------------------------ */
/* The resolver thread's side                                               */

static void on_event(void *ctx, const struct dns_event *ev)
{
	struct resolve_inst *in = ctx;
	struct resolve *r = in->r;
	struct rname *n = ev->arg;
	CHECK_OBJ_NOTNULL(n, RNAME_MAGIC);
	pthread_mutex_lock(&r->mu);
	if (in->epoch != r->epoch_live) {
		pthread_mutex_unlock(&r->mu);
		return;
	}
	bool post = false, member_first = false;
	if (!n->answered) {
		n->answered = true;
		pthread_cond_broadcast(&r->cv);
	}
	if (ev->status == 0) {
		if (ev->changed) {
			atomic_fetch_add_explicit(&r->changes, 1, memory_order_relaxed);
			dns_set_put(&n->posted);
			n->posted = dns_set_hold(ev->set);
			post = true;
			if (n->member && !r->member_post) {
				r->member_post = true;
				/* Even with other posts waiting: the main thread
				 * must start the settle time (resolve_woken). */
				member_first = true;
			}
		}
		if (n->failing) {
			n->failing = false;
			n->recovered = true;
			post = true;
		}
	} else {
		atomic_fetch_add_explicit(&r->failures, 1, memory_order_relaxed);
		if (!n->failing) { /* the first of a run is logged, the rest counted */
			n->failing = true;
			n->fail_new = true;
			n->fail_status = ev->status;
			n->fail_why = ev->why;
			post = true;
		}
	}
	if (post && (!r->pending || member_first)) {
		r->pending = true;
		pthread_kill(r->main, RESOLVE_SIGNAL);
	}
	pthread_mutex_unlock(&r->mu);
}

/* ------------------------------------------------------------------------ */
/* The main thread's side                                                   */

static struct rname *find(struct rname **v, size_t n, const char *host, uint16_t port)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] && v[i]->port == port && !strcasecmp(v[i]->host, host))
			return v[i];
	}
	return NULL;
}

const struct dns_set *resolve_set(void *ctx, const char *host, uint16_t port)
{
	struct resolve *r = ctx;
	CHECK_OBJ_NOTNULL(r, RESOLVE_MAGIC);
	struct rname *n = find(r->names, r->n_names, host, port);
	return n ? n->set : NULL;
}

/* "10.0.0.5, 10.0.0.6" (the name's port left out: it is in the name). */
static void format_set(const struct dns_set *s, char *out, size_t cap)
{
	size_t k = 0;
	out[0] = '\0';
	for (size_t i = 0; s && i < s->n && k + 1 < cap; i++) {
		const struct dns_addr *a = &s->addr[i];
		char ip[INET6_ADDRSTRLEN] = "?";
		const void *raw =
		    a->sa.ss_family == AF_INET
			? (const void *)&((const struct sockaddr_in *)&a->sa)->sin_addr
			: (const void *)&((const struct sockaddr_in6 *)&a->sa)->sin6_addr;
		inet_ntop(a->sa.ss_family, raw, ip, sizeof(ip));
		int w = snprintf(out + k, cap - k, "%s%s", i ? ", " : "", ip);
		if (w < 0)
			break;
		k += (size_t)w < cap - k ? (size_t)w : cap - k - 1;
	}
}

/* What happened to a name, said once per backend of CFG that names it. */
enum news { NEWS_SET, NEWS_FAILED, NEWS_RECOVERED };

static void say(const struct config *cfg, const struct rname *n, enum news what, const char *why)
{
	char set[512];
	format_set(n->set, set, sizeof(set));
	for (size_t b = 0; b < cfg->n_backends; b++) {
		const struct config_backend *cb = &cfg->backends[b];
		bool names_it = false;
		for (size_t i = 0; i < cb->n_servers && !names_it; i++) {
			const struct config_addr *a = &cb->servers[i];
			names_it = a->host && a->port == n->port && !strcasecmp(a->host, n->host);
		}
		if (!names_it)
			continue;
		if (what == NEWS_SET)
			log_info("backend %s: %s:%u now %s", cb->name, n->host, n->port, set);
		else if (what == NEWS_RECOVERED)
			log_info("backend %s: %s:%u resolves again", cb->name, n->host, n->port);
		else if (n->set)
			log_warn("backend %s: %s:%u: lookup failed (%s); keeping %s", cb->name,
				 n->host, n->port, why, set);
		else
			log_warn("backend %s: %s:%u does not resolve (%s); it has no server until "
				 "it does",
				 cb->name, n->host, n->port, why);
	}
}

/* Move every name's posts in and log them; true when a set changed. */
static bool take_posts(struct resolve *r, const struct config *cfg)
{
	bool changed = false;
	pthread_mutex_lock(&r->mu);
	r->pending = false;
	r->member_post = false;
	for (size_t i = 0; i < r->n_names; i++) {
		struct rname *n = r->names[i];
		struct dns_set *posted = n->posted;
		bool fail_new = n->fail_new, recovered = n->recovered;
		const char *why = n->fail_why;
		n->posted = NULL;
		n->fail_new = n->recovered = false;
		/* Logging waits until the lock is let go: the resolver's
		 * callback takes it. */
		pthread_mutex_unlock(&r->mu);
		bool moved = posted && !dns_set_equal(posted, n->set);
		if (moved) {
			dns_set_put(&n->set);
			n->set = posted;
			posted = NULL;
			changed = true;
			say(cfg, n, NEWS_SET, NULL);
		}
		dns_set_put(&posted);
		if (recovered && !moved) /* else "now ..." said it */
			say(cfg, n, NEWS_RECOVERED, NULL);
		if (fail_new)
			say(cfg, n, NEWS_FAILED, why ? why : "lookup failed");
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	if (changed)
		r->stale = true;
	return changed;
}

/* resolver.* as the resolver takes them: the servers as c-ares's CSV
 * (NULL: resolv.conf's). */
static int servers_csv(const struct config *cfg, char **out)
{
	*out = NULL;
	if (!cfg->resolver.n_servers)
		return 0;
	size_t cap = cfg->resolver.n_servers * (INET6_ADDRSTRLEN + 10) + 1;
	char *csv = malloc(cap);
	if (!csv)
		return -ENOMEM;
	size_t k = 0;
	csv[0] = '\0';
	for (size_t i = 0; i < cfg->resolver.n_servers; i++) {
		const struct config_addr *a = &cfg->resolver.servers[i];
		char ip[INET6_ADDRSTRLEN] = "";
		if (a->sa.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)&a->sa;
			inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
			k += (size_t)snprintf(csv + k, cap - k, "%s%s:%u", i ? "," : "", ip,
					      ntohs(in->sin_port));
		} else {
			const struct sockaddr_in6 *in6 = (const void *)&a->sa;
			inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
			k += (size_t)snprintf(csv + k, cap - k, "%s[%s]:%u", i ? "," : "", ip,
					      ntohs(in6->sin6_port));
		}
	}
	*out = csv;
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Start a resolver with CFG's resolver.* (no names yet); the one running
 * goes on until the caller swaps. */
/* How often names are looked up: resolver.interval, or a cluster's
 * discovery.interval when that is shorter (one resolver asks for all). */
static uint64_t follow_interval(const struct config *cfg)
{
	uint64_t i = cfg->resolver.interval_ns;
	if (cfg->cluster.enabled && cfg->cluster.discovery.enabled &&
	    cfg->cluster.discovery.interval_ns < i)
		i = cfg->cluster.discovery.interval_ns;
	return i;
}

/* Is (HOST, PORT) a name of CFG's cluster members? */
static bool names_members(const struct config *cfg, const char *host, uint16_t port)
{
	if (!cfg->cluster.enabled)
		return false;
	const struct config_backend *cb = &cfg->backends[cfg->cluster.backend];
	for (size_t i = 0; i < cb->n_servers; i++) {
		const struct config_addr *a = &cb->servers[i];
		if (a->host && a->port == port && !strcasecmp(a->host, host))
			return true;
	}
	return false;
}

static struct dns *start(struct resolve *r, const struct config *cfg, char *csv,
			 struct resolve_inst **inst_out, int *err)
{
	struct resolve_inst *in = malloc(sizeof(*in));
	if (!in) {
		*err = -ENOMEM;
		return NULL;
	}
	*in = (struct resolve_inst){.r = r, .epoch = r->epoch + 1};
	uint64_t per_try = cfg->resolver.timeout_ns / 4;
	struct dns_opts o = {
	    .interval_ns = follow_interval(cfg),
	    .timeout_ns = per_try < RT_MS ? RT_MS : per_try,
	    .tries = RESOLVE_TRIES,
	    .deadline_ns = cfg->resolver.timeout_ns,
	    .servers = csv,
	    .on_event = on_event,
	    .ctx = in,
	};
	struct dns *d = dns_start(&o, err);
	if (!d) {
		free(in);
		return NULL;
	}
	*inst_out = in;
	return d;
}

/* Wait until every name of V[0..N) answered, or until DEADLINE (rt_clock). */
static void wait_answers(struct resolve *r, struct rname **v, size_t n, rt_time_t deadline)
{
	struct timespec until = {.tv_sec = (time_t)(deadline / RT_SEC),
				 .tv_nsec = (long)(deadline % RT_SEC)};
	pthread_mutex_lock(&r->mu);
	for (;;) {
		bool all = true;
		for (size_t i = 0; i < n && all; i++)
			all = v[i]->answered;
		if (all || pthread_cond_timedwait(&r->cv, &r->mu, &until) != 0)
			break;
	}
	pthread_mutex_unlock(&r->mu);
}

int resolve_follow(struct resolve *r, const struct config *cfg, unsigned flags)
{
	CHECK_OBJ_NOTNULL(r, RESOLVE_MAGIC);
	/* The names: CFG's, once each, and with KEEP the ones followed now. */
	size_t cap = (flags & RESOLVE_KEEP) ? r->n_names : 0;
	for (size_t b = 0; b < cfg->n_backends; b++)
		cap += cfg->backends[b].n_servers;
	struct rname **next = calloc(cap ? cap : 1, sizeof(*next));
	struct rname **fresh = calloc(cap ? cap : 1, sizeof(*fresh));
	struct dns_name *dn = calloc(cap ? cap : 1, sizeof(*dn));
	size_t n = 0, n_fresh = 0;
	int err = -ENOMEM;
	if (!next || !fresh || !dn)
		goto fail;
	for (size_t i = 0; (flags & RESOLVE_KEEP) && i < r->n_names; i++)
		next[n++] = r->names[i];
	for (size_t b = 0; b < cfg->n_backends; b++) {
		const struct config_backend *cb = &cfg->backends[b];
		for (size_t i = 0; i < cb->n_servers; i++) {
			const struct config_addr *a = &cb->servers[i];
			if (!a->host || find(next, n, a->host, a->port))
				continue;
			struct rname *kept = find(r->names, r->n_names, a->host, a->port);
			if (kept) {
				next[n++] = kept;
				continue;
			}
			struct rname *nm = calloc(1, sizeof(*nm));
			if (!nm || !(nm->host = strdup(a->host))) {
				free(nm);
				goto fail;
			}
			nm->magic = RNAME_MAGIC;
			nm->port = a->port;
			next[n++] = fresh[n_fresh++] = nm;
		}
	}
	/* Which are the cluster's (under MU: the callback reads it), and
	 * how long a change of theirs waits to be applied. */
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < n; i++)
		next[i]->member = names_members(cfg, next[i]->host, next[i]->port);
	pthread_mutex_unlock(&r->mu);
	r->settle_ns = cfg->cluster.enabled && cfg->cluster.discovery.enabled
			   ? cfg->cluster.discovery.settle_ns
			   : 0;
	for (size_t i = 0; i < n; i++)
		dn[i] =
		    (struct dns_name){.host = next[i]->host, .port = next[i]->port, .arg = next[i]};

	/* The resolver: started with the first name, anew when its keys
	 * changed (the new one takes the names before the old one stops). */
	char *csv = NULL;
	if ((err = servers_csv(cfg, &csv)) < 0)
		goto fail;
	bool same = r->dns && same_str(csv, r->servers) && r->interval_ns == follow_interval(cfg) &&
		    r->timeout_ns == cfg->resolver.timeout_ns;
	if (!r->dns && n == 0) {
		free(csv);
		goto done; /* nothing to follow, nothing running */
	}
	if (same || (r->dns && n == 0)) {
		free(csv);
		if ((err = dns_update(r->dns, dn, n)) < 0)
			goto fail;
		if (flags & RESOLVE_REFRESH)
			dns_refresh(r->dns);
	} else {
		struct resolve_inst *in = NULL;
		struct dns *d = start(r, cfg, csv, &in, &err);
		if (!d) {
			log_error("resolver: cannot start: %s", strerror(-err));
			free(csv);
			goto fail;
		}
		pthread_mutex_lock(&r->mu);
		unsigned was = r->epoch_live;
		r->epoch_live = in->epoch;
		pthread_mutex_unlock(&r->mu);
		if ((err = dns_update(d, dn, n)) < 0) {
			pthread_mutex_lock(&r->mu);
			r->epoch_live = was;
			pthread_mutex_unlock(&r->mu);
			dns_stop(&d);
			free(in);
			free(csv);
			goto fail;
		}
		/* Names it asks about that the old one had answered count as
		 * answered: nobody waits for them. */
		if (r->dns) {
			dns_stop(&r->dns);
			log_info("resolver: now %s, every %llu ms, lookups of at most %llu ms",
				 csv ? csv : "the servers of /etc/resolv.conf",
				 (unsigned long long)(follow_interval(cfg) / RT_MS),
				 (unsigned long long)(cfg->resolver.timeout_ns / RT_MS));
		}
		free(r->inst);
		free(r->servers);
		r->dns = d;
		r->inst = in;
		r->epoch = in->epoch;
		r->servers = csv;
		r->interval_ns = follow_interval(cfg);
		r->timeout_ns = cfg->resolver.timeout_ns;
		atomic_store(&r->running, true);
	}

done:
	/* Past the update: records it no longer names get no more events. */
	for (size_t i = 0; i < r->n_names; i++) {
		if (!find(next, n, r->names[i]->host, r->names[i]->port))
			rname_free(&r->names[i]);
	}
	free(r->names);
	r->names = next;
	r->n_names = n;
	atomic_store(&r->names_followed, n);
	if (n_fresh)
		wait_answers(r, fresh, n_fresh,
			     rt_clock_now() + cfg->resolver.timeout_ns + 100 * RT_MS);
	take_posts(r, cfg);
	/* A new name still unanswered is slow: say so; its answer is
	 * followed like any change. */
	for (size_t i = 0; i < n_fresh; i++) {
		pthread_mutex_lock(&r->mu);
		bool answered = fresh[i]->answered;
		pthread_mutex_unlock(&r->mu);
		if (!answered && !fresh[i]->set)
			say(cfg, fresh[i], NEWS_FAILED, "no answer yet");
	}
	free(fresh);
	free(dn);
	return 0;
fail:
	for (size_t i = 0; fresh && i < n_fresh; i++)
		rname_free(&fresh[i]);
	free(fresh);
	free(next);
	free(dn);
	return err;
}

void resolve_woken(struct resolve *r)
{
	CHECK_OBJ_NOTNULL(r, RESOLVE_MAGIC);
	rt_time_t at = r->last + RESOLVE_GAP;
	rt_time_t now = rt_clock_now();
	if (at < now)
		at = now;
	/* A cluster's members changed: applied a settle time later, with
	 * every change that came meanwhile (the posts wait in the mailbox),
	 * so pods coming and going in a rolling restart make a few
	 * generations, not one each, and a flap shorter than that none. */
	pthread_mutex_lock(&r->mu);
	bool members = r->member_post;
	r->member_post = false;
	pthread_mutex_unlock(&r->mu);
	if (members && r->settle_ns) {
		r->due = now + r->settle_ns;
		return;
	}
	if (at < r->due)
		r->due = at;
}

rt_time_t resolve_due(const struct resolve *r)
{
	return r->due;
}

bool resolve_take(struct resolve *r, const struct config *cfg)
{
	CHECK_OBJ_NOTNULL(r, RESOLVE_MAGIC);
	r->due = RT_NEVER;
	take_posts(r, cfg);
	return r->stale;
}

void resolve_applied(struct resolve *r, bool for_dns)
{
	r->stale = false;
	if (for_dns) {
		r->last = rt_clock_now();
		atomic_fetch_add_explicit(&r->generations, 1, memory_order_relaxed);
	}
}

void resolve_retry(struct resolve *r, uint64_t ns)
{
	rt_time_t at = rt_clock_now() + ns;
	if (at < r->due)
		r->due = at;
}
