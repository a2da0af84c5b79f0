/*
 * readers.h - the readers and checks that schema rows name for what the
 * generic types do not cover: lists, servers with weights, status codes,
 * codings, content types, networks, and strings with their own rules
 * (readers.c; the cache rules in rules.c). Internal to src/config.
 *
 * The table (schema.c) names these, so they do not name it back: they
 * read with the walker (walk.h), and default, read and free a list's
 * items along the table they are handed (table.h).
 */
#ifndef RINGCACHE_CONFIG_READERS_H
#define RINGCACHE_CONFIG_READERS_H

#include <yaml.h>

#include "config/config.h"
#include "config/row.h"

struct walk;

/* One item of backends[].servers while it is read ("backends[].servers[]" rows). */
struct config_server {
	struct config_addr address;
	uint32_t weight;
};

/* readers.c */
extern const struct config_ops read_listen_ops;	  /* listen */
extern const struct config_ops read_backends_ops; /* backends, and each one's rows */
extern const struct config_ops read_servers_ops;  /* backends[].servers */
extern const struct config_ops read_resolver_ops; /* resolver.servers */
extern const struct config_ops read_expect_ops;	  /* backends[].health_check.expect_status */
extern const struct config_ops read_codings_ops;  /* compression.codings */
extern const struct config_ops read_types_ops;	  /* compression.types */
extern const struct config_ops read_allow_ops;	  /* admin.allow */
extern const struct config_ops read_trusted_ops;  /* trusted_proxies */
extern const struct config_ops read_networks_ops; /* other lists of networks */
extern const struct config_ops read_peers_ops;	  /* cluster.peers */

config_check_fn read_check_name;	  /* backends[].name: not empty */
config_check_fn read_check_dns_name;	  /* cluster.discovery.dns: a host name */
config_check_fn read_check_probe_path;	  /* a request-target: "/" and visible ASCII */
config_check_fn read_check_probe_host;	  /* a Host value: no spaces, not empty */
config_check_fn read_check_token;	  /* admin.token: visible ASCII */
config_check_fn read_check_access_log;	  /* log.access: a file path, or "off" */
config_check_fn read_check_disk_path;	  /* cache.disk.path: a file or device path */
config_check_fn read_check_cluster_token; /* cluster.token: 16+ visible ASCII */
config_check_fn read_check_redis_url;	  /* cluster.invalidation.redis (redisurl.h) */
config_check_fn read_check_redis_key;	  /* cluster.invalidation.stream: visible ASCII */

/* Checks across keys, once the whole file is read (ROOT: the top mapping). */
void read_check_config(struct walk *w, yaml_node_t *root);

/* routes.c */
extern const struct config_ops routes_ops;	      /* routes */
extern const struct config_ops route_regex_ops;	      /* a PCRE2 regex: struct config_regex */
extern const struct config_ops route_template_ops;    /* a template: struct template * */
extern const struct config_ops route_methods_ops;     /* a method or a list: bits */
extern const struct config_ops route_field_tests_ops; /* match.header, match.query */
extern const struct config_ops route_hdr_fields_ops;  /* {Name: template, ...} */
extern const struct config_ops route_names_ops;	      /* a field name or a list */
extern const struct config_ops route_error_pages_ops; /* {502: page, ...} */
extern const struct config_ops route_deny_ops;	      /* true or a status */
extern const struct config_ops route_tristate_ops;    /* true / false / absent (-1) */
extern const struct config_ops route_cache_ops;	      /* a rule's name or its keys */
void config_regex_free(struct config_regex *r);
/* Across keys, after the walk: backend and cache rule names, unreachable routes. */
void routes_check(struct walk *w, yaml_node_t *root);

/* cluster.c */
/*
 * After routes_check (routes name user backends only): the checks of the
 * cluster section across keys, then its backend appended to backends[]
 * (cfg->cluster.backend), named "cluster".
 */
void cluster_check(struct walk *w, yaml_node_t *root);

/* rules.c */
extern const struct config_ops rules_ops; /* cache.rules */
config_check_fn rules_check_host;	  /* a host pattern: "example.com", "*.example.com" */
config_check_fn rules_check_path;	  /* a path prefix: starts with "/" */

#endif
