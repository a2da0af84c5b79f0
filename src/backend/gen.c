/* gen.c - configuration generations: create, hold, switch, release. */
#include "backend/gen.h"
#include "rt/obj.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backend/member.h"
#include "backend/pool.h"

static void bcfg_free(struct config_backend *b)
{
	for (size_t i = 0; i < b->n_servers; i++)
		free(b->servers[i].spec); /* host is the config's */
	free(b->servers);
	free(b->weights);
	b->servers = NULL;
	b->weights = NULL;
	b->n_servers = 0;
}

/* Append A (weight W) to OUT unless an earlier server has its address. */
static void bcfg_add(struct config_backend *out, const struct config_addr *a, uint32_t w)
{
	for (size_t i = 0; i < out->n_servers; i++) {
		if (config_addr_equal(&out->servers[i], a)) {
			free(a->spec);
			return;
		}
	}
	out->servers[out->n_servers] = *a;
	out->weights[out->n_servers++] = w;
}

/* IN with its names' addresses as servers, into OUT. 0 or -ENOMEM. */
static int bcfg_expand(struct config_backend *out, const struct config_backend *in,
		       gen_names_fn names, void *ctx)
{
	*out = *in;
	out->servers = NULL;
	out->weights = NULL;
	out->n_servers = 0;
	size_t cap = 0;
	for (size_t i = 0; i < in->n_servers; i++) {
		const struct config_addr *a = &in->servers[i];
		const struct dns_set *set = a->host && names ? names(ctx, a->host, a->port) : NULL;
		cap += a->host ? (set ? set->n : 0) : 1;
	}
	out->servers = calloc(cap ? cap : 1, sizeof(*out->servers));
	out->weights = calloc(cap ? cap : 1, sizeof(*out->weights));
	if (!out->servers || !out->weights)
		goto fail;
	for (size_t i = 0; i < in->n_servers; i++) {
		const struct config_addr *a = &in->servers[i];
		uint32_t w = in->weights ? in->weights[i] : 1;
		if (!a->host) {
			struct config_addr c = *a;
			if (!(c.spec = strdup(a->spec)))
				goto fail;
			bcfg_add(out, &c, w);
			continue;
		}
		const struct dns_set *set = names ? names(ctx, a->host, a->port) : NULL;
		for (size_t k = 0; set && k < set->n; k++) {
			const struct dns_addr *d = &set->addr[k];
			char ip[INET6_ADDRSTRLEN] = "?";
			const void *raw =
			    d->sa.ss_family == AF_INET
				? (const void *)&((const struct sockaddr_in *)&d->sa)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)&d->sa)->sin6_addr;
			inet_ntop(d->sa.ss_family, raw, ip, sizeof(ip));
			struct config_addr c = {
			    .host = a->host, .port = a->port, .salen = d->salen};
			memcpy(&c.sa, &d->sa, d->salen);
			if (asprintf(&c.spec, "%s (%s)", a->spec, ip) < 0)
				goto fail;
			bcfg_add(out, &c, w);
		}
	}
	return 0;
fail:
	bcfg_free(out);
	return -ENOMEM;
}

static uint16_t sa_port(const struct sockaddr_storage *sa)
{
	return ntohs(sa->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
					       : ((const struct sockaddr_in *)sa)->sin_port);
}

static bool sa_any(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
}

static bool sa_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
	       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

/* Is SA's address one of this host's (it can be bound)? Main thread. */
static bool sa_local(const struct sockaddr_storage *sa)
{
	/* An interface's own address, not merely one that binds (with
	 * ip_nonlocal_bind any address does). */
	struct ifaddrs *ifs;
	if (getifaddrs(&ifs) != 0)
		return false;
	bool yes = false;
	for (struct ifaddrs *i = ifs; i && !yes; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != sa->ss_family)
			continue;
		struct sockaddr_storage a = {0};
		memcpy(&a, i->ifa_addr,
		       sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						 : sizeof(struct sockaddr_in));
		yes = sa_same_ip(&a, sa);
	}
	freeifaddrs(ifs);
	return yes;
}

/*
 * This node among the cluster backend B's servers: cluster.self, or,
 * when it is not given (discovery finds it), the server whose address
 * this node listens on (a listener on that address and port, or a
 * wildcard listener on that port with the address one of this host's).
 * Into *SELF; false when it is not there (not in the name's set yet: a
 * pod that is not ready).
 */
static bool find_self(const struct config_backend *b, const struct config *cfg,
		      struct config_addr *self)
{
	if (cfg->cluster.self.salen) {
		*self = cfg->cluster.self;
		/* With discovery, a member only once its address is among
		 * the name's (a pod that is not ready is not). */
		if (!cfg->cluster.discovery.enabled)
			return true;
		for (size_t i = 0; i < b->n_servers; i++)
			if (b->servers[i].salen == self->salen &&
			    !memcmp(&b->servers[i].sa, &self->sa, self->salen))
				return true;
		return false;
	}
	for (size_t i = 0; i < b->n_servers; i++) {
		const struct config_addr *s = &b->servers[i];
		for (size_t l = 0; s->salen && l < cfg->n_listen; l++) {
			const struct config_addr *la = &cfg->listen[l];
			if (!la->salen || sa_port(&la->sa) != sa_port(&s->sa))
				continue;
			/* A wildcard listener: its family, or IPv4 on "[::]" too
			 * (dual-stack: V6ONLY is not set). */
			bool family = la->sa.ss_family == s->sa.ss_family ||
				      (la->sa.ss_family == AF_INET6 && s->sa.ss_family == AF_INET);
			if (sa_same_ip(&la->sa, &s->sa) ||
			    (sa_any(&la->sa) && family && sa_local(&s->sa))) {
				*self = *s;
				return true;
			}
		}
	}
	return false;
}

/* A name among a cluster's peers may have this node's own address among
 * its addresses (a headless Service lists every pod): this node is a
 * member by its own name, never a server to forward to. */
static void drop_self(struct config_backend *b, const struct config_addr *self)
{
	size_t kept = 0;
	for (size_t i = 0; i < b->n_servers; i++) {
		if (b->servers[i].salen == self->salen &&
		    !memcmp(&b->servers[i].sa, &self->sa, self->salen)) {
			free(b->servers[i].spec);
			continue;
		}
		b->weights[kept] = b->weights[i];
		b->servers[kept++] = b->servers[i];
	}
	b->n_servers = kept;
}

/* G's cluster view (cluster.h): this node's name (SELF, or NULL when it
 * has none yet), whether it is a member (KNOWN: among discovery's
 * addresses, or given without discovery), and the other members' names
 * and ids. */
static int cluster_view(struct gen *g, const struct config *cfg, const struct config_addr *self,
			bool known)
{
	const struct config_backend *cb = &g->bcfg[cfg->cluster.backend];
	g->cluster.backend = (unsigned)cfg->cluster.backend;
	g->cluster.self_known = known;
	if (self)
		g->cluster.self_id =
		    cluster_member_id((const struct sockaddr *)&self->sa, g->cluster.self_name);
	else
		snprintf(g->cluster.self_name, sizeof(g->cluster.self_name), "-");
	g->cluster.ids = calloc(cb->n_servers ? cb->n_servers : 1, sizeof(*g->cluster.ids));
	g->cluster.names = calloc(cb->n_servers ? cb->n_servers : 1, sizeof(*g->cluster.names));
	if (!g->cluster.ids || !g->cluster.names)
		return -ENOMEM;
	for (size_t i = 0; i < cb->n_servers; i++)
		g->cluster.ids[i] = cluster_member_id((const struct sockaddr *)&cb->servers[i].sa,
						      g->cluster.names[i]);
	g->cluster.on = true;
	return 0;
}

struct gen *gen_create(struct config *cfg, gen_names_fn names, void *ctx, unsigned nworkers,
		       uint64_t id)
{
	struct gen *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->id = id;
	g->nworkers = nworkers;
	g->slots = aligned_alloc(64, nworkers * sizeof(*g->slots));
	g->backends = calloc(cfg->n_backends ? cfg->n_backends : 1, sizeof(*g->backends));
	g->bcfg = calloc(cfg->n_backends ? cfg->n_backends : 1, sizeof(*g->bcfg));
	if (!g->slots || !g->backends || !g->bcfg)
		goto fail;
	memset(g->slots, 0, nworkers * sizeof(*g->slots));
	struct config_addr self;
	bool have_self = false;
	for (unsigned i = 0; i < nworkers; i++)
		rt_group_init(&g->slots[i].probes);
	for (size_t b = 0; b < cfg->n_backends; b++) {
		if (bcfg_expand(&g->bcfg[b], &cfg->backends[b], names, ctx) < 0)
			goto fail;
		if (cfg->cluster.enabled && b == cfg->cluster.backend) {
			have_self = find_self(&g->bcfg[b], cfg, &self);
			if (have_self)
				drop_self(&g->bcfg[b], &self);
		}
		g->backends[b].cfg = &g->bcfg[b];
		g->n_backends = b + 1;
		if (backend_rt_init(&g->backends[b]) < 0)
			goto fail;
	}
	/* A given self names this node even while it is not a member yet. */
	bool named = have_self || (cfg->cluster.enabled && cfg->cluster.self.salen);
	if (cfg->cluster.enabled && cluster_view(g, cfg, named ? &self : NULL, have_self) < 0)
		goto fail;
	g->cfg = cfg;
	g->magic = GEN_MAGIC;
	atomic_init(&g->live, nworkers + 1);
	return g;
fail:
	for (size_t b = 0; b < g->n_backends; b++) {
		backend_rt_free(&g->backends[b]);
		bcfg_free(&g->bcfg[b]);
	}
	free(g->cluster.ids);
	free(g->cluster.names);
	free(g->bcfg);
	free(g->backends);
	free(g->slots);
	free(g);
	return NULL;
}

static void gen_free(struct gen *g)
{
	for (size_t b = 0; b < g->n_backends; b++) {
		backend_rt_free(&g->backends[b]);
		bcfg_free(&g->bcfg[b]);
	}
	free(g->cluster.ids);
	free(g->cluster.names);
	free(g->bcfg);
	free(g->backends);
	config_free(&g->cfg);
	for (unsigned i = 0; i < g->nworkers; i++)
		rt_group_fini(&g->slots[i].probes); /* probes hold the generation: none left */
	free(g->slots);
	g->magic = 0;
	free(g);
}

static void drop_live(struct gen *g)
{
	if (atomic_fetch_sub(&g->live, 1) == 1)
		gen_free(g);
}

/* W's loop is done with G: close its idle connections, count it out. */
static void release_slot(struct gen *g, unsigned wid)
{
	struct gen_slot *s = &g->slots[wid];
	assert(!s->released && s->refs == 0);
	s->released = true;
	bpools_free(&s->pools);
	drop_live(g);
}

void gen_unref_main(struct gen *g)
{
	if (g)
		drop_live(g);
}

void gen_discard(struct gen *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < g->nworkers; i++) {
		if (!g->slots[i].released) {
			assert(g->slots[i].refs == 0);
			release_slot(g, i);
		}
	}
	drop_live(g);
}

void gen_put(struct bloop *b, struct gen *g)
{
	CHECK_OBJ_NOTNULL(g, GEN_MAGIC);
	struct gen_slot *s = &g->slots[b->id];
	assert(s->refs > 0);
	if (--s->refs == 0 && g != b->gen && s->adopted)
		release_slot(g, b->id);
}

int gen_switch(struct bloop *b, struct gen *g)
{
	CHECK_OBJ_NOTNULL(g, GEN_MAGIC);
	struct gen_slot *s = &g->slots[b->id];
	s->pools = bpools_new(g->backends, g->n_backends);
	if (!s->pools) {
		release_slot(g, b->id);
		return -ENOMEM;
	}
	struct gen *old = b->gen;
	if (old)
		bpools_move(old->slots[b->id].pools, s->pools);
	b->gen = g;
	b->pools = s->pools;
	g->slots[b->id].adopted = true;
	if (old && old->slots[b->id].refs == 0)
		release_slot(old, b->id);
	return 0;
}

void gen_leave(struct bloop *b)
{
	struct gen *g = b->gen;
	b->gen = NULL;
	b->pools = NULL;
	if (g)
		release_slot(g, b->id);
}
