/*
 * cluster.c - the cluster section across keys (readers.h): the name
 * "cluster" kept for its backend, this node's address, and that backend
 * itself, made from the members once the whole file is read.
 *
 * The backend is what carries the forwarded requests and the probes
 * between members (backend/cluster.h): it is one more item of backends[],
 * appended after the user's ones and after routes_check, so that no route
 * can name it, and freed with them. Its settings are those a user backend
 * with the same keys would get: the backends[] rows' defaults, then the
 * cluster's own timeouts, probes and passive health.
 */
#include "config/readers.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/table.h"
#include "config/values.h"
#include "config/walk.h"

#define CLUSTER_BACKEND_NAME "cluster"

/* Passive health of the members: one failed request takes a member out for
 * two probe intervals (the probes bring it back sooner when it answers). */
#define CLUSTER_MAX_FAILS   1
#define CLUSTER_FAIL_WINDOW (10 * NS_PER_S)
/* A probe gets at most this long, and never more than its interval. */
#define CLUSTER_PROBE_TIMEOUT NS_PER_S

/* The value node of KEY in mapping N, or NULL when N is not a mapping. */
static yaml_node_t *value_of(struct walk *w, yaml_node_t *n, const char *key)
{
	return n && n->type == YAML_MAPPING_NODE ? walk_get(w, n, key) : NULL;
}

/* A user backend named "cluster" would be mistaken for the cluster's. */
static void check_reserved_name(struct walk *w, yaml_node_t *root)
{
	const struct config *cfg = w->cfg;
	yaml_node_t *list = value_of(w, root, "backends");
	for (size_t i = 0; i < cfg->n_backends; i++) {
		if (!cfg->backends[i].name || strcmp(cfg->backends[i].name, CLUSTER_BACKEND_NAME))
			continue;
		yaml_node_t *item = list && list->type == YAML_SEQUENCE_NODE && i < walk_len(list)
					? walk_item(w, list, i)
					: NULL;
		yaml_node_t *nn = value_of(w, item, "name");
		walk_err(w, nn ? nn : root,
			 "backends[%zu].name: '" CLUSTER_BACKEND_NAME
			 "' is reserved while cluster: is set (it names the cluster's own "
			 "backend)",
			 i);
	}
}

/* 0.0.0.0 or :: is where a node listens, not where its peers reach it. */
static void check_self(struct walk *w, yaml_node_t *root)
{
	const struct config_addr *a = &w->cfg->cluster.self;
	bool any = false;
	if (!a->spec)
		return; /* missing: reported already */
	if (a->sa.ss_family == AF_INET)
		any = ((const struct sockaddr_in *)&a->sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	else if (a->sa.ss_family == AF_INET6)
		any = IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->sa)->sin6_addr);
	if (!any)
		return;
	yaml_node_t *n = value_of(w, value_of(w, root, "cluster"), "self");
	walk_err(w, n ? n : root,
		 "cluster.self: '%s' is not an address peers can reach; give this node's own "
		 "address, e.g. \"10.0.0.1:8080\"",
		 a->spec);
}

static int addr_copy(struct config_addr *dst, const struct config_addr *src)
{
	*dst = (struct config_addr){.sa = src->sa, .salen = src->salen, .port = src->port};
	if (!(dst->spec = strdup(src->spec)) || (src->host && !(dst->host = strdup(src->host)))) {
		value_addr_free(dst);
		return -ENOMEM;
	}
	return 0;
}

/* The members but self (a name stays: the daemon skips self among its
 * addresses), then discovery's name, weight 1 each, into B. 0 or
 * -ENOMEM. */
static int backend_servers(const struct config *cfg, struct config_backend *b)
{
	size_t cnt = cfg->cluster.discovery.enabled ? 1 : 0;
	for (size_t i = 0; i < cfg->cluster.n_peers; i++)
		cnt += !config_addr_equal(&cfg->cluster.peers[i], &cfg->cluster.self);
	if (!cnt)
		return 0; /* a one-node cluster: no one to forward to */
	b->servers = calloc(cnt, sizeof(*b->servers));
	b->weights = calloc(cnt, sizeof(*b->weights));
	if (!b->servers || !b->weights)
		return -ENOMEM;
	if (cfg->cluster.discovery.enabled) {
		/* A name like any peer's, which the resolver follows. */
		struct config_addr *d = &b->servers[b->n_servers];
		d->port = (uint16_t)cfg->cluster.discovery.port;
		if (!(d->host = strdup(cfg->cluster.discovery.dns)) ||
		    asprintf(&d->spec, "%s:%u", d->host, d->port) < 0) {
			d->spec = NULL;
			return -ENOMEM;
		}
		b->weights[b->n_servers++] = 1;
	}
	for (size_t i = 0; i < cfg->cluster.n_peers; i++) {
		const struct config_addr *p = &cfg->cluster.peers[i];
		if (config_addr_equal(p, &cfg->cluster.self))
			continue;
		if (addr_copy(&b->servers[b->n_servers], p) < 0)
			return -ENOMEM;
		b->weights[b->n_servers++] = 1;
	}
	return 0;
}

/* The "cluster" backend, appended to cfg->backends (which then owns it). */
static void add_backend(struct walk *w)
{
	struct config *cfg = w->cfg;
	struct config_backend *v = realloc(cfg->backends, (cfg->n_backends + 1) * sizeof(*v));
	if (!v) {
		walk_oom(w);
		return;
	}
	cfg->backends = v;
	struct config_backend *b = &v[cfg->n_backends];
	memset(b, 0, sizeof(*b));
	cfg->cluster.backend = cfg->n_backends++;

	/* What a user backend starts from: pool_size, between_bytes_timeout. */
	if (config_table_init(w->table, "backends[]", b, cfg) < 0 ||
	    !(b->name = strdup(CLUSTER_BACKEND_NAME)) || backend_servers(cfg, b) < 0 ||
	    !(b->health.path = strdup(CLUSTER_PROBE_PATH))) {
		walk_oom(w);
		return;
	}
	uint64_t probe = cfg->cluster.probe_interval_ns;
	b->balance = BALANCE_HASH; /* unused: the cluster picks the owner itself */
	b->retries = 0;		   /* another member is not the owner */
	b->proxy_protocol = false;
	b->connect_timeout_ns = cfg->cluster.connect_timeout_ns;
	b->first_byte_timeout_ns = cfg->cluster.first_byte_timeout_ns;
	b->max_fails = CLUSTER_MAX_FAILS;
	b->fail_window_ns = CLUSTER_FAIL_WINDOW;
	b->fail_timeout_ns = 2 * probe;
	b->fail_on_5xx = false; /* a member's 5xx is its origin's, passed on */
	b->health.enabled = true;
	b->health.host = NULL;
	b->health.interval_ns = probe;
	b->health.timeout_ns = probe < CLUSTER_PROBE_TIMEOUT ? probe : CLUSTER_PROBE_TIMEOUT;
	b->health.rise = 1;
	b->health.fall = 2;
	b->health.expect[0] = 200;
	b->health.n_expect = 1;
}

/* Who the members are: peers, discovery or both; and self, which
 * discovery alone can find (among its addresses: gen.c). */
static void check_members(struct walk *w, yaml_node_t *root)
{
	const struct config *cfg = w->cfg;
	yaml_node_t *c = value_of(w, root, "cluster");
	/* Given but wrong: its own error was said. */
	bool discovery = cfg->cluster.discovery.enabled || value_of(w, c, "discovery");
	if (!discovery && !value_of(w, c, "peers"))
		walk_err(w, c ? c : root, "cluster: missing required key 'peers'");
	if (!discovery && !value_of(w, c, "self"))
		walk_err(w, c ? c : root, "cluster: missing required key 'self'");
}

void cluster_check(struct walk *w, yaml_node_t *root)
{
	if (!w->cfg->cluster.enabled)
		return;
	check_reserved_name(w, root);
	check_members(w, root);
	check_self(w, root);
	/* Only a config that loads is used: a failed one gets no backend. */
	if (!w->n_failed)
		add_backend(w);
}
