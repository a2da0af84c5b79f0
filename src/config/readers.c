/*
 * readers.c - readers and checks for the keys that the schema's generic
 * types do not cover (readers.h): listeners, backends and their servers,
 * expected status codes, codings, content types, networks, the strings
 * with rules of their own, and the checks across keys.
 */
#include "config/readers.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/coding.h"
#include "config/redisurl.h"
#include "config/table.h"
#include "config/values.h"
#include "config/walk.h"

static void addrs_free(struct config_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		value_addr_free(&a[i]);
	free(a);
}

/*
 * A single address string or a list of them. Entries that fail are reported
 * and skipped; the caller notices the error count anyway.
 */
/* {address: "IP:PORT", proxy_protocol: true|false} into A. */
static bool listen_item(struct walk *w, yaml_node_t *n, const char *path, unsigned flags,
			struct config_addr *a)
{
	char sub[WALK_PATH_MAX];
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = walk_node(w, p->key);
		const char *ks =
		    k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		if (strcmp(ks, "address") && strcmp(ks, "proxy_protocol"))
			walk_err(w, k ? k : n,
				 "unknown key '%s' in %s; expected one of: address, proxy_protocol",
				 ks, path);
	}
	yaml_node_t *addr = walk_get(w, n, "address"), *pp = walk_get(w, n, "proxy_protocol");
	if (!addr) {
		walk_err(w, n, "%s: missing required key 'address'", path);
		return false;
	}
	walk_join(sub, sizeof(sub), path, "address");
	if (!walk_addr(w, addr, sub, flags, a))
		return false;
	if (pp) {
		walk_join(sub, sizeof(sub), path, "proxy_protocol");
		const char *s = walk_scalar(w, pp, sub, "true or false");
		if (s && strcmp(s, "true") && strcmp(s, "false")) {
			walk_err(w, pp, "%s: expected true or false, got '%s'", sub, s);
			value_addr_free(a); /* the caller skips the item */
			return false;
		}
		a->proxy_protocol = s && !strcmp(s, "true");
	}
	return true;
}

static void read_addr_list(struct walk *w, yaml_node_t *n, const char *path, unsigned flags,
			   bool unique, struct config_addr **out, size_t *n_out)
{
	char sub[WALK_PATH_MAX];

	if (n->type == YAML_SCALAR_NODE && !walk_is_null(n)) {
		struct config_addr *a = calloc(1, sizeof(*a));
		if (!a) {
			walk_oom(w);
			return;
		}
		if (walk_addr(w, n, path, flags, a)) {
			*out = a;
			*n_out = 1;
		} else {
			free(a);
		}
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		walk_err(w, n, "%s: expected an address or a list of addresses, got %s", path,
			 walk_kind(n));
		return;
	}
	size_t cnt = walk_len(n);
	if (cnt == 0) {
		walk_err(w, n, "%s: at least one address is required", path);
		return;
	}
	struct config_addr *a = calloc(cnt, sizeof(*a));
	if (!a) {
		walk_oom(w);
		return;
	}
	size_t got = 0;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = walk_item(w, n, i);
		walk_index(sub, sizeof(sub), path, i);
		if (item && item->type == YAML_MAPPING_NODE && unique) {
			/* A listener with options: {address, proxy_protocol}. */
			if (!listen_item(w, item, sub, flags, &a[got]))
				continue;
		} else if (!item || !walk_addr(w, item, sub, flags, &a[got])) {
			continue;
		}
		/*
		 * Two listeners on one address would only fail later, at bind
		 * time, with EADDRINUSE. (Port 0 binds are all distinct.)
		 * Repeated servers are left alone: they may be deliberate.
		 */
		size_t dup = got;
		for (size_t j = 0; unique && value_addr_port(&a[got]) != 0 && j < got; j++) {
			if (config_addr_equal(&a[j], &a[got]))
				dup = j;
		}
		if (dup != got) {
			walk_err(w, item, "%s: '%s' is the same address as '%s'", sub, a[got].spec,
				 a[dup].spec);
			value_addr_free(&a[got]);
			continue;
		}
		got++;
	}
	*out = a;
	*n_out = got;
}

/* ------------------------------------------------------------------------ */
/* listen                                                                    */

static void listen_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			const char *path, void *base)
{
	struct config *cfg = base;
	read_addr_list(w, n, path, CONFIG_PORT0, true, &cfg->listen, &cfg->n_listen);
}

static void listen_release(const struct config_table *t, const struct config_row *row, void *base)
{
	struct config *cfg = base;
	addrs_free(cfg->listen, cfg->n_listen);
	cfg->listen = NULL;
	cfg->n_listen = 0;
}

const struct config_ops read_listen_ops = {.read = listen_read, .release = listen_release};

/* ------------------------------------------------------------------------ */
/* backends                                                                  */

static void backend_read(struct walk *w, yaml_node_t *n, size_t idx, struct config_backend *b)
{
	char path[WALK_PATH_MAX];

	if (config_table_init(w->table, "backends[]", b, w->cfg) < 0)
		walk_oom(w);
	walk_index(path, sizeof(path), "backends", idx);
	if (n->type != YAML_MAPPING_NODE) {
		walk_err(w, n, "%s: expected a mapping, got %s", path, walk_kind(n));
		return;
	}
	walk_section(w, n, "backends[]", path, b);
}

static void backends_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			  const char *path, void *base)
{
	struct config *cfg = base;

	if (n->type != YAML_SEQUENCE_NODE) {
		walk_err(w, n, "%s: expected a list of backends, got %s", path, walk_kind(n));
		return;
	}
	size_t cnt = walk_len(n);
	if (cnt == 0) {
		walk_err(w, n, "%s: at least one backend is required", path);
		return;
	}
	cfg->backends = calloc(cnt, sizeof(*cfg->backends));
	if (!cfg->backends) {
		walk_oom(w);
		return;
	}
	cfg->n_backends = cnt;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = walk_item(w, n, i);
		if (!item)
			continue;
		backend_read(w, item, i, &cfg->backends[i]);
		if (!cfg->backends[i].name)
			continue;
		/* Names are how routes and stats refer to backends: keep them unique. */
		for (size_t j = 0; j < i; j++) {
			if (!cfg->backends[j].name ||
			    strcmp(cfg->backends[j].name, cfg->backends[i].name) != 0)
				continue;
			yaml_node_t *nn = walk_get(w, item, "name");
			yaml_node_t *first = walk_get(w, walk_item(w, n, j), "name");
			walk_err(w, nn ? nn : item,
				 "backends[%zu].name: duplicate backend name '%s' (first used by "
				 "backends[%zu] at line %zu)",
				 i, cfg->backends[i].name, j,
				 first ? first->start_mark.line + 1 : 0);
			break;
		}
	}
}

static void backends_release(const struct config_table *t, const struct config_row *row, void *base)
{
	struct config *cfg = base;
	for (size_t i = 0; i < cfg->n_backends; i++)
		config_table_release(t, "backends[]", &cfg->backends[i]);
	free(cfg->backends);
	cfg->backends = NULL;
	cfg->n_backends = 0;
}

const struct config_ops read_backends_ops = {.read = backends_read, .release = backends_release};

int read_check_name(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	if (!*s) {
		walk_err(w, n, "%s: must not be empty", path);
		return -1;
	}
	return 1;
}

/* ------------------------------------------------------------------------ */
/* backends[].servers                                                        */

/*
 * The same address twice in one backend would be one server with two
 * entries in every count (and a retry could go to it again): say to give
 * it a weight instead.
 */
static void check_duplicate_servers(struct walk *w, yaml_node_t *list, const char *path,
				    const struct config_backend *b)
{
	if (list->type != YAML_SEQUENCE_NODE)
		return;
	size_t cnt = walk_len(list);
	if (cnt != b->n_servers)
		return; /* some failed to load: their errors are out already */
	for (size_t i = 1; i < cnt; i++) {
		for (size_t j = 0; j < i; j++) {
			const struct config_addr *x = &b->servers[i], *y = &b->servers[j];
			if (!config_addr_equal(x, y))
				continue;
			yaml_node_t *item = walk_item(w, list, i);
			walk_err(w, item ? item : list,
				 "%s[%zu]: '%s' is listed again (first as %s[%zu]); give the "
				 "server a weight instead",
				 path, i, x->spec, path, j);
			break;
		}
	}
}

/*
 * An address or a list whose items are addresses or {address: ...,
 * weight: N} mappings (the "backends[].servers[]" rows). Weights default
 * to that row's default. A "host:port" is kept as a name (CONFIG_FOLLOW):
 * the daemon's resolver looks it up, and every address it has becomes a
 * server with the item's weight.
 */
static void servers_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			 const char *path, void *base)
{
	struct config_backend *b = base;
	char sub[WALK_PATH_MAX];

	if (n->type != YAML_SEQUENCE_NODE) {
		struct config_server one;
		read_addr_list(w, n, path, CONFIG_FOLLOW, false, &b->servers, &b->n_servers);
		if (!b->n_servers)
			return;
		if (config_table_init(w->table, "backends[].servers[]", &one, w->cfg) < 0 ||
		    !(b->weights = calloc(b->n_servers, sizeof(*b->weights)))) {
			walk_oom(w);
			return;
		}
		for (size_t i = 0; i < b->n_servers; i++)
			b->weights[i] = one.weight;
		return;
	}
	size_t cnt = walk_len(n);
	if (cnt == 0) {
		walk_err(w, n, "%s: at least one address is required", path);
		return;
	}
	b->servers = calloc(cnt, sizeof(*b->servers));
	b->weights = calloc(cnt, sizeof(*b->weights));
	if (!b->servers || !b->weights) {
		walk_oom(w);
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = walk_item(w, n, i);
		struct config_server s = {0};
		walk_index(sub, sizeof(sub), path, i);
		if (!item)
			continue;
		if (config_table_init(w->table, "backends[].servers[]", &s, w->cfg) < 0)
			walk_oom(w);
		if (item->type == YAML_MAPPING_NODE)
			walk_section(w, item, "backends[].servers[]", sub, &s);
		else
			walk_addr(w, item, sub, CONFIG_FOLLOW, &s.address);
		if (!s.address.spec)
			continue;
		b->servers[b->n_servers] = s.address;
		b->weights[b->n_servers++] = s.weight;
	}
	check_duplicate_servers(w, n, path, b);
}

static void servers_release(const struct config_table *t, const struct config_row *row, void *base)
{
	struct config_backend *b = base;
	addrs_free(b->servers, b->n_servers);
	free(b->weights);
	b->servers = NULL;
	b->weights = NULL;
	b->n_servers = 0;
}

const struct config_ops read_servers_ops = {.read = servers_read, .release = servers_release};

/* ------------------------------------------------------------------------ */
/* cluster.peers                                                             */

/*
 * As backends[].servers without weights: an address or a list of them, a
 * "host:port" kept as a name for the resolver (CONFIG_FOLLOW). A member
 * listed twice is refused: it would be one member counted twice.
 */
static void peers_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
		       const char *path, void *base)
{
	struct config *cfg = base;
	char sub[WALK_PATH_MAX];

	read_addr_list(w, n, path, CONFIG_FOLLOW, false, &cfg->cluster.peers,
		       &cfg->cluster.n_peers);
	if (n->type != YAML_SEQUENCE_NODE || walk_len(n) != cfg->cluster.n_peers)
		return; /* one, or some failed to load: their errors are out already */
	for (size_t i = 1; i < cfg->cluster.n_peers; i++) {
		for (size_t j = 0; j < i; j++) {
			const struct config_addr *x = &cfg->cluster.peers[i];
			if (!config_addr_equal(x, &cfg->cluster.peers[j]))
				continue;
			yaml_node_t *item = walk_item(w, n, i);
			walk_index(sub, sizeof(sub), path, i);
			walk_err(w, item ? item : n, "%s: '%s' is listed again (first as %s[%zu])",
				 sub, x->spec, path, j);
			break;
		}
	}
}

static void peers_release(const struct config_table *t, const struct config_row *row, void *base)
{
	struct config *cfg = base;
	addrs_free(cfg->cluster.peers, cfg->cluster.n_peers);
	cfg->cluster.peers = NULL;
	cfg->cluster.n_peers = 0;
}

/* Absent (discovery alone finds the members): none. */
static bool peers_is_default(const struct config_row *row, const void *base)
{
	(void)row;
	return ((const struct config *)base)->cluster.n_peers == 0;
}

const struct config_ops read_peers_ops = {
    .read = peers_read, .release = peers_release, .is_default = peers_is_default};

/* ------------------------------------------------------------------------ */
/* resolver.servers                                                          */

/*
 * A DNS server: "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT" (port 53 when
 * none is given); numeric only, since names are what it resolves. A bare
 * IPv6 address ("::1") is taken too, as resolv.conf writes it.
 */
static bool read_resolver(struct walk *w, yaml_node_t *n, const char *path, struct config_addr *out)
{
	const char *s = walk_scalar(w, n, path, "a DNS server address (IP or IP:PORT)");
	const char *why;
	char buf[128];
	if (!s)
		return false;
	const char *colon = strchr(s, ':');
	/* value_parse_addr takes ":PORT" as any address, which a query
	 * cannot be sent to. */
	if (!*s || (s[0] == ':' && !strchr(s + 1, ':')) || !strncmp(s, "[]", 2)) {
		walk_err(w, n, "%s: invalid DNS server '%s': missing IP address", path, s);
		return false;
	}
	if (strlen(s) + 8 > sizeof(buf)) {
		walk_err(w, n, "%s: invalid DNS server '%s': too long", path, s);
		return false;
	}
	if (s[0] == '[' && s[strlen(s) - 1] == ']')
		snprintf(buf, sizeof(buf), "%s:53", s);
	else if (s[0] != '[' && colon && strchr(colon + 1, ':'))
		snprintf(buf, sizeof(buf), "[%s]:53", s); /* bare IPv6 */
	else if (!colon)
		snprintf(buf, sizeof(buf), "%s:53", s);
	else
		snprintf(buf, sizeof(buf), "%s", s);
	struct config_addr a;
	int rc = value_parse_addr_as(buf, ADDR_NUMERIC, &a, &why);
	if (rc == -ENOMEM)
		walk_oom(w);
	if (rc < 0) {
		walk_err(w, n, "%s: invalid DNS server '%s': %s", path, s, why);
		return false;
	}
	if (value_addr_port(&a) == 0) {
		walk_err(w, n, "%s: invalid DNS server '%s': port must be 1..65535", path, s);
		value_addr_free(&a);
		return false;
	}
	free(a.spec); /* as written, not as completed */
	if (!(a.spec = strdup(s))) {
		walk_oom(w);
		return false;
	}
	*out = a;
	return true;
}

static void resolvers_release(const struct config_table *t, const struct config_row *row,
			      void *base)
{
	struct config *cfg = base;
	addrs_free(cfg->resolver.servers, cfg->resolver.n_servers);
	cfg->resolver.servers = NULL;
	cfg->resolver.n_servers = 0;
}

/* One server or a list; an empty list is the default (/etc/resolv.conf). */
static void resolvers_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			   const char *path, void *base)
{
	struct config *cfg = base;
	char sub[WALK_PATH_MAX];
	bool list = n->type == YAML_SEQUENCE_NODE;
	if (!list && (n->type != YAML_SCALAR_NODE || walk_is_null(n))) {
		walk_err(w, n, "%s: expected a DNS server or a list of them, got %s", path,
			 walk_kind(n));
		return;
	}
	size_t cnt = list ? walk_len(n) : 1;
	resolvers_release(w->table, row, base);
	if (!cnt)
		return;
	struct config_addr *a = calloc(cnt, sizeof(*a));
	if (!a) {
		walk_oom(w);
		return;
	}
	size_t got = 0;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = list ? walk_item(w, n, i) : n;
		if (list)
			walk_index(sub, sizeof(sub), path, i);
		else
			snprintf(sub, sizeof(sub), "%s", path);
		if (item && read_resolver(w, item, sub, &a[got]))
			got++;
	}
	cfg->resolver.servers = a;
	cfg->resolver.n_servers = got;
}

static bool resolvers_is_default(const struct config_row *row, const void *base)
{
	return ((const struct config *)base)->resolver.n_servers == 0;
}

const struct config_ops read_resolver_ops = {
    .read = resolvers_read, .release = resolvers_release, .is_default = resolvers_is_default};

/* ------------------------------------------------------------------------ */
/* backends[].health_check                                                   */

/* True for a request-target a probe may send: "/" then visible ASCII. */
static bool probe_target_ok(const char *s)
{
	if (s[0] != '/')
		return false;
	for (; *s; s++) {
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

int read_check_probe_path(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	if (probe_target_ok(s))
		return 1;
	walk_err(w, n,
		 "%s: '%s' is not a request-target; expected a path starting with '/' and no "
		 "spaces, e.g. \"/healthz\"",
		 path, s);
	return -1;
}

int read_check_probe_host(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	if (*s && !strpbrk(s, " \t\r\n"))
		return 1;
	walk_err(w, n, "%s: '%s' is not a Host value (no spaces, not empty)", path, s);
	return -1;
}

/* A code or a list of 1 to CONFIG_EXPECT_MAX, each in the row's range. */
static void expect_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			const char *path, void *base)
{
	struct config_health *h = &((struct config_backend *)base)->health;
	char sub[WALK_PATH_MAX];
	bool list = n->type == YAML_SEQUENCE_NODE;
	size_t cnt = list ? walk_len(n) : 1;

	if (list && (cnt == 0 || cnt > CONFIG_EXPECT_MAX)) {
		walk_err(w, n, "%s: expected 1 to %d status codes, got %zu", path,
			 CONFIG_EXPECT_MAX, cnt);
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *it = list ? walk_item(w, n, i) : n;
		uint64_t x = 200;
		if (!it)
			continue;
		if (list)
			walk_index(sub, sizeof(sub), path, i);
		else
			snprintf(sub, sizeof(sub), "%s", path);
		walk_uint(w, it, sub, row->lo, row->hi, false, &x);
		h->expect[h->n_expect++] = (int)x;
	}
}

static bool expect_is_default(const struct config_row *row, const void *base)
{
	return ((const struct config_backend *)base)->health.n_expect == 0;
}

const struct config_ops read_expect_ops = {.read = expect_read, .is_default = expect_is_default};

/* ------------------------------------------------------------------------ */
/* compression.codings                                                       */

/* The coding S names exactly (lower case, no alias), or -1. */
static int coding_of(const char *s)
{
	int c = coding_parse(s, strlen(s));
	if (c <= CODING_IDENTITY || strcmp(s, coding_name((enum coding)c)) != 0)
		return -1;
	return c;
}

static void codings_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			 const char *path, void *base)
{
	struct config *cfg = base;
	char sub[WALK_PATH_MAX];

	if (n->type != YAML_SEQUENCE_NODE) {
		walk_err(w, n, "%s: expected a list such as [br, zstd, gzip], got %s", path,
			 walk_kind(n));
		return;
	}
	size_t cnt = walk_len(n);
	if (cnt == 0) {
		walk_err(w, n,
			 "%s: at least one coding is required (to turn compression off, set "
			 "enabled: false)",
			 path);
		return;
	}
	size_t k = 0;
	unsigned seen = 0;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = walk_item(w, n, i);
		walk_index(sub, sizeof(sub), path, i);
		const char *s = item ? walk_scalar(w, item, sub, "a coding") : NULL;
		if (!s)
			continue;
		int c = coding_of(s);
		if (c < 0) {
			walk_err(w, item, "%s: unknown coding '%s'; expected gzip, br or zstd", sub,
				 s);
			continue;
		}
		if (seen & (1u << c)) {
			walk_err(w, item, "%s: '%s' is listed twice", sub, s);
			continue;
		}
		seen |= 1u << c;
		cfg->compression.prefer[k++] = (enum coding)c;
	}
	cfg->compression.n_prefer = k;
}

static int codings_init(const struct config_row *row, void *base)
{
	struct config *cfg = base;
	size_t k = 0;
	for (; row->def_list[k]; k++)
		cfg->compression.prefer[k] = (enum coding)coding_of(row->def_list[k]);
	cfg->compression.n_prefer = k;
	return 0;
}

static bool codings_is_default(const struct config_row *row, const void *base)
{
	const struct config *cfg = base;
	size_t k = 0;
	for (; row->def_list[k]; k++) {
		if (k >= cfg->compression.n_prefer ||
		    cfg->compression.prefer[k] != (enum coding)coding_of(row->def_list[k]))
			return false;
	}
	return k == cfg->compression.n_prefer;
}

const struct config_ops read_codings_ops = {
    .read = codings_read, .init = codings_init, .is_default = codings_is_default};

/* ------------------------------------------------------------------------ */
/* compression.types                                                         */

/* "type/subtype", or a "type/" wildcard ending in "*"; tchar only, as
 * accept_type_matches expects. */
static bool valid_type_pattern(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/'))
		return false;
	bool star = !strcmp(slash + 1, "*"); /* "type/" then "*": check the type */
	for (const char *p = s; *p; p++) {
		if (p == slash)
			continue;
		if (star && p > slash)
			break;
		if (!(isalnum((unsigned char)*p) || strchr("!#$%&'*+-.^_`|~", *p)))
			return false;
	}
	return true;
}

static void types_release(const struct config_table *t, const struct config_row *row, void *base)
{
	struct config *cfg = base;
	for (size_t i = 0; i < cfg->compression.n_types; i++)
		free(cfg->compression.types[i]);
	free(cfg->compression.types);
	cfg->compression.types = NULL;
	cfg->compression.n_types = 0;
}

/* The list replaces the defaults. */
static void types_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
		       const char *path, void *base)
{
	struct config *cfg = base;
	char sub[WALK_PATH_MAX];

	if (n->type != YAML_SEQUENCE_NODE) {
		walk_err(w, n, "%s: expected a list of content types, got %s", path, walk_kind(n));
		return;
	}
	size_t cnt = walk_len(n);
	if (cnt == 0) {
		walk_err(w, n,
			 "%s: at least one content type (leave the key out for the defaults, or "
			 "set compression.enabled: false)",
			 path);
		return;
	}
	char **types = calloc(cnt, sizeof(*types));
	if (!types) {
		walk_oom(w);
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = walk_item(w, n, i);
		walk_index(sub, sizeof(sub), path, i);
		const char *s = item ? walk_scalar(w, item, sub, "a content type") : NULL;
		if (!s)
			continue;
		if (!valid_type_pattern(s)) {
			walk_err(w, item,
				 "%s: '%s' is not a content type pattern (expected e.g. "
				 "\"text/html\" or \"text/*\")",
				 sub, s);
			continue;
		}
		walk_dup(w, s, &types[k]);
		if (types[k])
			k++;
	}
	types_release(w->table, row, cfg);
	cfg->compression.types = types;
	cfg->compression.n_types = k;
}

static int types_init(const struct config_row *row, void *base)
{
	struct config *cfg = base;
	size_t n = 0;
	while (row->def_list[n])
		n++;
	if (!(cfg->compression.types = calloc(n, sizeof(char *))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!(cfg->compression.types[i] = strdup(row->def_list[i])))
			return -ENOMEM;
		cfg->compression.n_types++;
	}
	return 0;
}

static bool types_is_default(const struct config_row *row, const void *base)
{
	const struct config *cfg = base;
	size_t k = 0;
	for (; row->def_list[k]; k++) {
		if (k >= cfg->compression.n_types ||
		    strcmp(cfg->compression.types[k], row->def_list[k]) != 0)
			return false;
	}
	return k == cfg->compression.n_types;
}

const struct config_ops read_types_ops = {.read = types_read,
					  .init = types_init,
					  .release = types_release,
					  .is_default = types_is_default};

/* ------------------------------------------------------------------------ */
/* Networks: admin.allow, trusted_proxies                                    */

/* The list at the row's field: every network row stores a struct config_cidrs. */
struct cidrs {
	struct config_cidr **v;
	size_t *n;
};

static struct cidrs cidrs_of(const struct config_row *row, void *base)
{
	assert(row->size == sizeof(struct config_cidrs));
	struct config_cidrs *c = (struct config_cidrs *)((char *)base + row->offset);
	return (struct cidrs){&c->v, &c->n};
}

/* One network scalar into OUT; returns true on success. */
static bool read_cidr(struct walk *w, yaml_node_t *n, const char *path, struct config_cidr *out)
{
	const char *s = walk_scalar(w, n, path, "a network (ADDR/PREFIX)");
	const char *why;
	if (!s)
		return false;
	if (value_parse_cidr(s, out, &why) < 0) {
		walk_err(w, n, "%s: invalid network '%s': %s", path, s, why);
		return false;
	}
	return true;
}

static void cidrs_release(const struct config_table *t, const struct config_row *row, void *base)
{
	struct cidrs c = cidrs_of(row, base);
	free(*c.v);
	*c.v = NULL;
	*c.n = 0;
}

/*
 * A single network or a list of them, replacing the defaults; like
 * read_addr_list, bad entries are skipped. EMPTY_MSG: an empty list is an
 * error with this message (NULL: an empty list means none).
 */
static void read_cidrs(struct walk *w, const struct config_row *row, yaml_node_t *n,
		       const char *path, void *base, const char *empty_msg)
{
	struct cidrs c = cidrs_of(row, base);
	char sub[WALK_PATH_MAX];
	size_t cnt = 1;

	if (n->type == YAML_SEQUENCE_NODE) {
		cnt = walk_len(n);
		if (cnt == 0 && empty_msg) {
			walk_err(w, n, "%s: %s", path, empty_msg);
			return;
		}
	} else if (n->type != YAML_SCALAR_NODE || walk_is_null(n)) {
		walk_err(w, n, "%s: expected a network or a list of networks, got %s", path,
			 walk_kind(n));
		return;
	}
	cidrs_release(w->table, row, base);
	*c.v = calloc(cnt ? cnt : 1, sizeof(**c.v));
	if (!*c.v) {
		walk_oom(w);
		return;
	}
	if (n->type == YAML_SCALAR_NODE) {
		if (read_cidr(w, n, path, &(*c.v)[0]))
			*c.n = 1;
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = walk_item(w, n, i);
		walk_index(sub, sizeof(sub), path, i);
		if (item && read_cidr(w, item, sub, &(*c.v)[*c.n]))
			(*c.n)++;
	}
}

/*
 * Filled in as real entries (not "n_allow == 0 means loopback") so that
 * config_admin_allowed has one path.
 */
static int cidrs_init(const struct config_row *row, void *base)
{
	struct cidrs c = cidrs_of(row, base);
	const char *why;
	size_t n = 0;
	while (row->def_list[n])
		n++;
	if (!n)
		return 0;
	if (!(*c.v = calloc(n, sizeof(**c.v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (value_parse_cidr(row->def_list[i], &(*c.v)[i], &why) < 0)
			return -EINVAL; /* the table's own default: tests/unit/config_schema.c */
		(*c.n)++;
	}
	return 0;
}

static bool cidrs_is_default(const struct config_row *row, const void *base)
{
	struct cidrs c = cidrs_of(row, (void *)base);
	const char *why;
	size_t k = 0;
	for (; row->def_list[k]; k++) {
		struct config_cidr d;
		if (k >= *c.n || value_parse_cidr(row->def_list[k], &d, &why) < 0)
			return false;
		const struct config_cidr *x = &(*c.v)[k];
		if (x->family != d.family || x->prefix != d.prefix ||
		    memcmp(x->addr, d.addr, sizeof(d.addr)) != 0)
			return false;
	}
	return k == *c.n;
}

/* An empty list would lock everyone out of admin; more likely a mistake. */
static void allow_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
		       const char *path, void *base)
{
	read_cidrs(w, row, n, path, base, "at least one network is required");
}

static void trusted_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			 const char *path, void *base)
{
	read_cidrs(w, row, n, path, base, NULL);
}

const struct config_ops read_allow_ops = {.read = allow_read,
					  .init = cidrs_init,
					  .release = cidrs_release,
					  .is_default = cidrs_is_default};
const struct config_ops read_trusted_ops = {.read = trusted_read,
					    .init = cidrs_init,
					    .release = cidrs_release,
					    .is_default = cidrs_is_default};
/* Any other list of networks: one, a list, or an empty list (none). */
const struct config_ops read_networks_ops = {.read = trusted_read,
					     .init = cidrs_init,
					     .release = cidrs_release,
					     .is_default = cidrs_is_default};

/* ------------------------------------------------------------------------ */
/* Strings                                                                   */

/*
 * It is compared with what follows "Bearer " in a header, where spaces and
 * control characters cannot survive intact; such a token could never
 * match, so say so now.
 */
int read_check_token(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	if (!*s) {
		walk_err(w, n, "%s: must not be empty", path);
		return -1;
	}
	for (const char *p = s; *p; p++) {
		if (*p <= 0x20 || *p >= 0x7f) {
			walk_err(w, n, "%s: must contain only visible ASCII characters (no spaces)",
				 path);
			return -1;
		}
	}
	return 1;
}

/* The cluster's token is a header field value (FORWARD_HOP_FIELD, http/forward.h) that
 * stands between the members and anyone who can reach them: long enough
 * not to be guessed, and nothing a field value cannot carry intact. */
#define CLUSTER_TOKEN_MIN 16

/* A DNS name: labels of letters, digits, '-' and '_' (SRV-style names)
 * joined by dots, 253 bytes at most; a trailing dot is allowed. */
int read_check_dns_name(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	size_t len = strlen(s), label = 0;
	bool ok = len > 0 && len <= 253 && s[0] != '.';
	for (size_t i = 0; ok && i < len; i++) {
		char c = s[i];
		if (c == '.') {
			ok = label > 0;
			label = 0;
		} else {
			ok = (isalnum((unsigned char)c) || c == '-' || c == '_') && ++label <= 63;
		}
	}
	if (!ok) {
		walk_err(w, n, "%s: '%s' is not a DNS name", path, s);
		return -1;
	}
	return 1;
}

int read_check_cluster_token(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	if (read_check_token(w, n, path, s) < 0)
		return -1;
	if (strlen(s) < CLUSTER_TOKEN_MIN) {
		walk_err(w, n, "%s: must be at least %d characters long, got %zu", path,
			 CLUSTER_TOKEN_MIN, strlen(s));
		return -1;
	}
	return 1;
}

int read_check_redis_url(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	struct redis_url u;
	const char *why = NULL;
	if (!redis_url_parse(s, &u, &why)) {
		/* The password stays out of the message: what is before the
		 * last '@' after the scheme is not written. */
		const char *at = strrchr(s, '@');
		const char *scheme = strstr(s, "://");
		if (at && scheme && scheme < at)
			walk_err(w, n, "%s: '%.*s***%s': %s", path, (int)(scheme + 3 - s), s, at,
				 why);
		else
			walk_err(w, n, "%s: '%s': %s", path, s, why);
		return -1;
	}
	return 1;
}

int read_check_redis_key(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	size_t len = strlen(s);
	for (size_t i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~') {
			walk_err(w, n, "%s: visible ASCII only, no spaces", path);
			return -1;
		}
	if (!len || len > 200) {
		walk_err(w, n, "%s: 1 to 200 characters", path);
		return -1;
	}
	return 1;
}

/*
 * The file is not opened here: `ringcache -t` must not create it, and the
 * daemon opens it at start where it can say why it cannot.
 */
int read_check_access_log(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	if (!strcmp(s, "off"))
		return 0;
	if (!*s) {
		walk_err(w, n, "%s: must not be empty; give a file path, or \"off\"", path);
		return -1;
	}
	if (s[strlen(s) - 1] == '/') {
		walk_err(w, n, "%s: '%s' is a directory; give a file path, e.g. %saccess.log", path,
			 s, s);
		return -1;
	}
	return 1;
}

int read_check_disk_path(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	if (!*s) {
		walk_err(w, n, "%s: must not be empty; give a file or block device path", path);
		return -1;
	}
	if (s[strlen(s) - 1] == '/') {
		walk_err(w, n, "%s: '%s' is a directory; give a file path, e.g. %sstore", path, s,
			 s);
		return -1;
	}
	return 1;
}

/* ------------------------------------------------------------------------ */
/* Across keys                                                               */

/* The admin API on a proxy address would fail at start (address in use). */
static void check_admin_address(struct walk *w, yaml_node_t *root)
{
	const struct config *cfg = w->cfg;
	if (!cfg->admin.enabled || !cfg->admin.listen.spec)
		return;
	const struct config_addr *a = &cfg->admin.listen;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		if (!config_addr_equal(&cfg->listen[i], a) || value_addr_port(a) == 0)
			continue; /* port 0: each gets its own port */
		yaml_node_t *adm = walk_get(w, root, "admin");
		yaml_node_t *v = adm ? walk_get(w, adm, "listen") : NULL;
		walk_err(w, v ? v : root,
			 "admin.listen: '%s' is the same address as listen[%zu]; the admin API "
			 "needs its own port",
			 a->spec, i);
		return;
	}
}

void read_check_config(struct walk *w, yaml_node_t *root)
{
	check_admin_address(w, root);
}
