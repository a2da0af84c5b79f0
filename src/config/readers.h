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
extern const struct config_ops read_expect_ops;	  /* backends[].health_check.expect_status */
extern const struct config_ops read_codings_ops;  /* compression.codings */
extern const struct config_ops read_types_ops;	  /* compression.types */
extern const struct config_ops read_allow_ops;	  /* admin.allow */
extern const struct config_ops read_trusted_ops;  /* trusted_proxies */

config_check_fn read_check_name;       /* backends[].name: not empty */
config_check_fn read_check_probe_path; /* a request-target: "/" and visible ASCII */
config_check_fn read_check_probe_host; /* a Host value: no spaces, not empty */
config_check_fn read_check_token;      /* admin.token: visible ASCII */
config_check_fn read_check_access_log; /* log.access: a file path, or "off" */

/* Checks across keys, once the whole file is read (ROOT: the top mapping). */
void read_check_config(struct walk *w, yaml_node_t *root);

/* rules.c */
extern const struct config_ops rules_ops; /* cache.rules */
config_check_fn rules_check_host;	  /* a host pattern: "example.com", "*.example.com" */
config_check_fn rules_check_path;	  /* a path prefix: starts with "/" */

#endif
