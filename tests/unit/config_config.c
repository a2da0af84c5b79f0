/*
 * Unit tests for the config loader (src/config/, through config.h: load.c,
 * walk.c, readers.c, rules.c, values.c): schema, defaults, error lines with
 * exact FILE:LINE:COL positions, and the size/duration/address parse helpers.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S  1000000000ull
#define MS 1000000ull

/* Minimal valid prefix for tests that only care about one other key. */
#define MINIMAL                                                                                    \
	"listen: \":8080\"\n"                                                                      \
	"backends:\n"                                                                              \
	"  - name: app\n"                                                                          \
	"    servers: [\"127.0.0.1:9000\"]\n"

static struct config *load(const char *yaml, struct config_errors *errs)
{
	return config_load_string("t.yaml", yaml, strlen(yaml), errs);
}

/* All error lines joined, for assertion messages. */
static const char *dump(const struct config_errors *e)
{
	static char buf[8192];
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < e->n && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "\n  %s", e->lines[i]);
	return buf;
}

static int has_line(const struct config_errors *e, const char *line)
{
	for (size_t i = 0; i < e->n; i++) {
		if (!strcmp(e->lines[i], line))
			return 1;
	}
	return 0;
}

/* YAML must fail to load with exactly the single error line LINE. */
static void expect_one_error(const char *yaml, const char *line)
{
	struct config_errors e = {0};
	struct config *cfg = load(yaml, &e);
	cr_assert_null(cfg, "expected failure for:\n%s", yaml);
	cr_assert_eq(e.n, 1, "expected 1 error, got %zu:%s", e.n, dump(&e));
	cr_assert_str_eq(e.lines[0], line);
	config_errors_clear(&e);
}

static struct config *expect_ok(const char *yaml)
{
	struct config_errors e = {0};
	struct config *cfg = load(yaml, &e);
	cr_assert_not_null(cfg, "unexpected errors:%s", dump(&e));
	cr_assert_eq(e.n, 0);
	cr_assert_eq(cfg->magic, CONFIG_MAGIC);
	return cfg;
}

static void check_in4(const struct config_addr *a, const char *spec, const char *ip, unsigned port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
	char buf[INET_ADDRSTRLEN];
	cr_assert_str_eq(a->spec, spec);
	cr_assert_eq(sin->sin_family, AF_INET, "%s not AF_INET", spec);
	cr_assert_eq(a->salen, sizeof(struct sockaddr_in));
	cr_assert_str_eq(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)), ip);
	cr_assert_eq(ntohs(sin->sin_port), port);
}

static void check_in6(const struct config_addr *a, const char *spec, const char *ip, unsigned port)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;
	char buf[INET6_ADDRSTRLEN];
	cr_assert_str_eq(a->spec, spec);
	cr_assert_eq(sin6->sin6_family, AF_INET6, "%s not AF_INET6", spec);
	cr_assert_eq(a->salen, sizeof(struct sockaddr_in6));
	cr_assert_str_eq(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)), ip);
	cr_assert_eq(ntohs(sin6->sin6_port), port);
}

static void check_key(const struct config_key *k, bool host, bool query, bool sort_query)
{
	cr_assert_eq(k->host, host);
	cr_assert_eq(k->query, query);
	cr_assert_eq(k->sort_query, sort_query);
}

static void check_cidr(const struct config_cidr *c, int family, const char *ip, unsigned prefix)
{
	char buf[INET6_ADDRSTRLEN];
	cr_assert_eq(c->family, family, "%s: family", ip);
	cr_assert_str_eq(inet_ntop(family, c->addr, buf, sizeof(buf)), ip);
	cr_assert_eq(c->prefix, prefix, "%s: prefix %u", ip, c->prefix);
}

/* ------------------------------------------------------------------------ */

Test(config, full_file_every_value)
{
	struct config *cfg =
	    expect_ok("listen:\n"
		      "  - \"127.0.0.1:8080\"\n"
		      "  - \"[::1]:8443\"\n"
		      "  - \":8081\"\n"
		      "threads: 3\n"
		      "backends:\n"
		      "  - name: app\n"
		      "    servers: [\"127.0.0.1:9000\", \"10.0.0.2:9001\"]\n"
		      "    pool_size: 8\n"
		      "    connect_timeout: 250ms\n"
		      "    first_byte_timeout: 2m\n"
		      "    between_bytes_timeout: 5\n"
		      "  - name: static\n"
		      "    servers: \"localhost:9100\"\n"
		      "    pool_size: 0\n"
		      "cache:\n"
		      "  memory: 1GiB\n"
		      "  max_object_size: 64MiB\n"
		      "  default_ttl: 5m\n"
		      "  heuristic_percent: 20\n"
		      "  heuristic_max: 2d\n"
		      "  grace: 0s\n"
		      "  hit_for_miss: 0\n"
		      "  key: {host: false, query: true, sort_query: true}\n"
		      "  rules:\n"
		      "    - host: \"static.example.com\"\n"
		      "      path_prefix: \"/assets/\"\n"
		      "      ttl: 1h\n"
		      "      default_ttl: 10m\n"
		      "      bypass: false\n"
		      "      max_object_size: 128MiB\n"
		      "      key: {query: false}\n"
		      "    - host: \"*.Example.ORG\"\n"
		      "      bypass: TRUE\n"
		      "    - path_prefix: /tmp/\n"
		      "      ttl: 0\n"
		      "admin:\n"
		      "  listen: \"127.0.0.1:0\"\n"
		      "  token: \"s3cr3t-T0ken/=\"\n"
		      "  allow: [\"10.1.2.3/8\", \"2001:db8::/32\", \"192.0.2.1\", \"::1\"]\n"
		      "timeouts:\n"
		      "  client_header: 5s\n"
		      "  client_body: 1m\n"
		      "  client_idle: 1h\n"
		      "  send: 1500ms\n"
		      "limits:\n"
		      "  max_header_size: 32KiB\n"
		      "  max_headers: 50\n"
		      "  max_connections: 2000\n"
		      "log:\n"
		      "  level: debug\n");

	cr_assert_str_eq(cfg->path, "t.yaml");
	cr_assert_eq(cfg->n_listen, 3);
	check_in4(&cfg->listen[0], "127.0.0.1:8080", "127.0.0.1", 8080);
	check_in6(&cfg->listen[1], "[::1]:8443", "::1", 8443);
	check_in4(&cfg->listen[2], ":8081", "0.0.0.0", 8081);
	cr_assert_eq(cfg->threads, 3);

	cr_assert_eq(cfg->n_backends, 2);
	const struct config_backend *b = &cfg->backends[0];
	cr_assert_str_eq(b->name, "app");
	cr_assert_eq(b->n_servers, 2);
	check_in4(&b->servers[0], "127.0.0.1:9000", "127.0.0.1", 9000);
	check_in4(&b->servers[1], "10.0.0.2:9001", "10.0.0.2", 9001);
	cr_assert_eq(b->pool_size, 8);
	cr_assert_eq(b->connect_timeout_ns, 250 * MS);
	cr_assert_eq(b->first_byte_timeout_ns, 120 * S);
	cr_assert_eq(b->between_bytes_timeout_ns, 5 * S);

	b = &cfg->backends[1];
	cr_assert_str_eq(b->name, "static");
	cr_assert_eq(b->n_servers, 1);
	/* A name is not resolved at load: the daemon's resolver follows it. */
	cr_assert_str_eq(b->servers[0].spec, "localhost:9100");
	cr_assert_str_eq(b->servers[0].host, "localhost");
	cr_assert_eq(b->servers[0].port, 9100);
	cr_assert_eq(b->servers[0].salen, 0);
	cr_assert_eq(b->pool_size, 0);
	cr_assert_eq(b->connect_timeout_ns, 3 * S);
	cr_assert_eq(b->first_byte_timeout_ns, 30 * S);
	cr_assert_eq(b->between_bytes_timeout_ns, 30 * S);

	cr_assert_eq(cfg->cache.memory, 1ull << 30);
	cr_assert_eq(cfg->cache.max_object_size, 64ull << 20);
	cr_assert_eq(cfg->cache.default_ttl_ns, 300 * S);
	cr_assert_eq(cfg->cache.heuristic_percent, 20);
	cr_assert_eq(cfg->cache.heuristic_max_ns, 2 * 86400 * S);
	cr_assert_eq(cfg->cache.grace_ns, 0);
	cr_assert_eq(cfg->cache.hit_for_miss_ns, 0);
	check_key(&cfg->cache.key, false, true, true);

	cr_assert_eq(cfg->cache.n_rules, 3);
	const struct config_rule *r = &cfg->cache.rules[0];
	cr_assert_str_eq(r->host, "static.example.com");
	cr_assert_str_eq(r->path_prefix, "/assets/");
	cr_assert_eq(r->ttl_ns, 3600 * (int64_t)S);
	cr_assert_eq(r->default_ttl_ns, 600 * (int64_t)S);
	cr_assert_eq(r->bypass, false);
	cr_assert_eq(r->max_object_size, 128ll << 20);
	cr_assert_eq(r->key_set, true);
	check_key(&r->key, false, false, true); /* query from the rule, the rest inherited */
	r = &cfg->cache.rules[1];
	cr_assert_str_eq(r->host, "*.Example.ORG");
	cr_assert_null(r->path_prefix);
	cr_assert_eq(r->ttl_ns, -1);
	cr_assert_eq(r->default_ttl_ns, -1);
	cr_assert_eq(r->bypass, true);
	cr_assert_eq(r->max_object_size, -1);
	cr_assert_eq(r->key_set, false);
	r = &cfg->cache.rules[2];
	cr_assert_null(r->host);
	cr_assert_str_eq(r->path_prefix, "/tmp/");
	cr_assert_eq(r->ttl_ns, 0);
	cr_assert_eq(r->default_ttl_ns, -1);
	cr_assert_eq(r->bypass, false);
	cr_assert_eq(r->max_object_size, -1);
	cr_assert_eq(r->key_set, false);

	cr_assert_eq(cfg->admin.enabled, 1);
	check_in4(&cfg->admin.listen, "127.0.0.1:0", "127.0.0.1", 0);
	cr_assert_str_eq(cfg->admin.token, "s3cr3t-T0ken/=");
	cr_assert_eq(cfg->admin.allow.n, 4);
	check_cidr(&cfg->admin.allow.v[0], AF_INET, "10.0.0.0", 8); /* host bits cleared */
	check_cidr(&cfg->admin.allow.v[1], AF_INET6, "2001:db8::", 32);
	check_cidr(&cfg->admin.allow.v[2], AF_INET, "192.0.2.1", 32);
	check_cidr(&cfg->admin.allow.v[3], AF_INET6, "::1", 128);
	cr_assert_eq(cfg->timeouts.client_header_ns, 5 * S);
	cr_assert_eq(cfg->timeouts.client_body_ns, 60 * S);
	cr_assert_eq(cfg->timeouts.client_idle_ns, 3600 * S);
	cr_assert_eq(cfg->timeouts.send_ns, 1500 * MS);
	cr_assert_eq(cfg->limits.max_header_size, 32 * 1024);
	cr_assert_eq(cfg->limits.max_headers, 50);
	cr_assert_eq(cfg->limits.max_connections, 2000);
	cr_assert_eq(cfg->log_level, LOG_LEVEL_DEBUG);

	config_free(&cfg);
	cr_assert_null(cfg);
}

Test(config, defaults)
{
	struct config *cfg = expect_ok(MINIMAL);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	cr_assert_eq(cfg->n_listen, 1);
	check_in4(&cfg->listen[0], ":8080", "0.0.0.0", 8080);
	cr_assert_eq(cfg->threads, (unsigned)(cpus < 1 ? 1 : cpus));
	cr_assert_eq(cfg->n_backends, 1);
	cr_assert_eq(cfg->backends[0].pool_size, 64);
	cr_assert_eq(cfg->backends[0].connect_timeout_ns, 3 * S);
	cr_assert_eq(cfg->backends[0].first_byte_timeout_ns, 30 * S);
	cr_assert_eq(cfg->backends[0].between_bytes_timeout_ns, 30 * S);
	cr_assert_eq(cfg->cache.memory, 256ull << 20);
	cr_assert_eq(cfg->cache.max_object_size, 32ull << 20);
	cr_assert_eq(cfg->cache.default_ttl_ns, 0);
	cr_assert_eq(cfg->cache.heuristic_percent, 10);
	cr_assert_eq(cfg->cache.heuristic_max_ns, 86400 * S);
	cr_assert_eq(cfg->cache.grace_ns, 10 * S);
	cr_assert_eq(cfg->cache.hit_for_miss_ns, 60 * S);
	check_key(&cfg->cache.key, true, true, false);
	cr_assert_eq(cfg->cache.n_rules, 0);
	cr_assert_null(cfg->cache.rules);
	cr_assert_eq(cfg->admin.enabled, 0);
	cr_assert_null(cfg->admin.listen.spec);
	cr_assert_null(cfg->admin.token);
	cr_assert_eq(cfg->admin.allow.n, 2);
	check_cidr(&cfg->admin.allow.v[0], AF_INET, "127.0.0.0", 8);
	check_cidr(&cfg->admin.allow.v[1], AF_INET6, "::1", 128);
	cr_assert_eq(cfg->timeouts.client_header_ns, 10 * S);
	cr_assert_eq(cfg->timeouts.client_body_ns, 30 * S);
	cr_assert_eq(cfg->timeouts.client_idle_ns, 60 * S);
	cr_assert_eq(cfg->timeouts.send_ns, 30 * S);
	cr_assert_eq(cfg->limits.max_header_size, 16 * 1024);
	cr_assert_eq(cfg->limits.max_headers, 100);
	cr_assert_eq(cfg->limits.max_connections, 10000);
	cr_assert_eq(cfg->log_level, LOG_LEVEL_INFO);
	config_free(&cfg);
}

Test(config, empty_sections_mean_defaults)
{
	struct config *cfg = expect_ok(MINIMAL "cache:\n"
					       "timeouts:\n"
					       "limits: {}\n"
					       "log: ~\n");
	cr_assert_eq(cfg->cache.memory, 256ull << 20);
	cr_assert_eq(cfg->timeouts.send_ns, 30 * S);
	cr_assert_eq(cfg->limits.max_headers, 100);
	cr_assert_eq(cfg->log_level, LOG_LEVEL_INFO);
	config_free(&cfg);
}

Test(config, threads_auto)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct config *cfg = expect_ok(MINIMAL "threads: auto\n");
	cr_assert_eq(cfg->threads, (unsigned)(cpus < 1 ? 1 : cpus));
	config_free(&cfg);
	cfg = expect_ok(MINIMAL "threads: \"auto\"\n");
	cr_assert_eq(cfg->threads, (unsigned)(cpus < 1 ? 1 : cpus));
	config_free(&cfg);
	cfg = expect_ok(MINIMAL "threads: 1024\n");
	cr_assert_eq(cfg->threads, 1024);
	config_free(&cfg);
}

Test(config, listen_string_vs_list)
{
	struct config *cfg = expect_ok("listen: 127.0.0.1:80\n"
				       "backends: [{name: a, servers: 127.0.0.1:1}]\n");
	cr_assert_eq(cfg->n_listen, 1);
	check_in4(&cfg->listen[0], "127.0.0.1:80", "127.0.0.1", 80);
	cr_assert_eq(cfg->backends[0].n_servers, 1);
	check_in4(&cfg->backends[0].servers[0], "127.0.0.1:1", "127.0.0.1", 1);
	config_free(&cfg);

	cfg = expect_ok("listen: [\"127.0.0.1:80\", \"0.0.0.0:81\"]\n"
			"backends: [{name: a, servers: [\"127.0.0.1:1\"]}]\n");
	cr_assert_eq(cfg->n_listen, 2);
	check_in4(&cfg->listen[0], "127.0.0.1:80", "127.0.0.1", 80);
	check_in4(&cfg->listen[1], "0.0.0.0:81", "0.0.0.0", 81);
	config_free(&cfg);
}

Test(config, listen_ipv6)
{
	struct config *cfg = expect_ok("listen:\n"
				       "  - \"[::]:8080\"\n"
				       "  - \"[2001:db8::1]:443\"\n"
				       "backends: [{name: a, servers: \"[::1]:9000\"}]\n");
	cr_assert_eq(cfg->n_listen, 2);
	check_in6(&cfg->listen[0], "[::]:8080", "::", 8080);
	check_in6(&cfg->listen[1], "[2001:db8::1]:443", "2001:db8::1", 443);
	check_in6(&cfg->backends[0].servers[0], "[::1]:9000", "::1", 9000);
	config_free(&cfg);
}

Test(config, aliases_are_followed)
{
	struct config *cfg = expect_ok("listen: &l \":8080\"\n"
				       "backends:\n"
				       "  - name: a\n"
				       "    servers: &s [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n"
				       "  - name: b\n"
				       "    servers: *s\n");
	cr_assert_eq(cfg->backends[1].n_servers, 2);
	check_in4(&cfg->backends[1].servers[1], "127.0.0.1:2", "127.0.0.1", 2);
	config_free(&cfg);
}

/* ------------------------------------------------------------------------ */
/* Errors, each with its exact position.                                     */

Test(config_errors, unknown_key_in_backend)
{
	expect_one_error("listen: \":8080\"\n"
			 "backends:\n"
			 "  - name: app\n"
			 "    foo: 1\n"
			 "    servers: [\"127.0.0.1:9000\"]\n",
			 "t.yaml:4:5: unknown key 'foo' in backends[0]; expected one of: name, "
			 "servers, balance, pool_size, connect_timeout, first_byte_timeout, "
			 "between_bytes_timeout, retries, health_check, error_pages, "
			 "proxy_protocol, max_fails, fail_window, fail_timeout, fail_on_5xx");
}

Test(config_errors, unknown_key_line3_col5)
{
	expect_one_error(MINIMAL "cache:\n"
				 "  memory: 1MiB\n"
				 "  mem: 1\n",
			 "t.yaml:7:3: unknown key 'mem' in cache; expected one of: memory, "
			 "max_object_size, default_ttl, heuristic_percent, heuristic_max, grace, "
			 "hit_for_miss, key, rules, heuristic_with_credentials, purge_allow, disk");
	expect_one_error("listen: \":8080\"\n"
			 "timeouts:\n"
			 "    sned: 1s\n"
			 "backends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
			 "t.yaml:3:5: unknown key 'sned' in timeouts; expected one of: "
			 "client_header, client_body, client_idle, send, task_budget, drain, "
			 "tunnel");
}

Test(config_errors, unknown_top_level_key)
{
	expect_one_error(MINIMAL "listn: x\n",
			 "t.yaml:5:1: unknown key 'listn' at top level; expected one of: listen, "
			 "threads, cache, backends, compression, admin, timeouts, limits, log, "
			 "trusted_proxies, underscores_in_headers, routes, request_headers, "
			 "response_headers, error_pages, forwarded, resolver, io, cluster");
}

Test(config_errors, unknown_keys_other_sections)
{
	expect_one_error(
	    MINIMAL "admin: {listen: \":9090\", port: 1}\n",
	    "t.yaml:5:26: unknown key 'port' in admin; expected one of: listen, token, "
	    "allow");
	expect_one_error(MINIMAL "limits:\n  max_body: 1\n",
			 "t.yaml:6:3: unknown key 'max_body' in limits; expected one of: "
			 "max_header_size, max_headers, max_connections, max_body_size");
	expect_one_error(MINIMAL "log:\n  file: x\n",
			 "t.yaml:6:3: unknown key 'file' in log; expected one of: level, "
			 "access, access_format");
}

Test(config_errors, duplicate_key)
{
	expect_one_error(
	    MINIMAL "threads: 2\n"
		    "threads: 3\n",
	    "t.yaml:6:1: duplicate key 'threads' at top level (first given at line 5)");
}

Test(config_errors, threads_wrong_type_and_range)
{
	expect_one_error(MINIMAL "threads: {a: 1}\n",
			 "t.yaml:5:10: threads: expected a number or \"auto\", got a mapping");
	expect_one_error(MINIMAL "threads: [1]\n",
			 "t.yaml:5:10: threads: expected a number or \"auto\", got a list");
	expect_one_error(MINIMAL "threads:\n",
			 "t.yaml:5:9: threads: expected a number or \"auto\", got an empty value");
	expect_one_error(MINIMAL "threads: many\n",
			 "t.yaml:5:10: threads: 'many' is not a whole number or \"auto\"");
	expect_one_error(MINIMAL "threads: -1\n",
			 "t.yaml:5:10: threads: '-1' is not a whole number or \"auto\"");
	expect_one_error(MINIMAL "threads: 0\n",
			 "t.yaml:5:10: threads: 0 is out of range (1..1024)");
	expect_one_error(MINIMAL "threads: 1025\n",
			 "t.yaml:5:10: threads: 1025 is out of range (1..1024)");
	expect_one_error(MINIMAL "threads: 99999999999999999999999\n",
			 "t.yaml:5:10: threads: 99999999999999999999999 is out of range (1..1024)");
}

Test(config_errors, missing_required)
{
	expect_one_error("backends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
			 "t.yaml:1:1: missing required key 'listen'");
	expect_one_error("listen: \":80\"\n", "t.yaml:1:1: missing required key 'backends'");
	expect_one_error("listen: \":80\"\nbackends: []\n",
			 "t.yaml:2:11: backends: at least one backend is required");
	expect_one_error("listen: []\nbackends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
			 "t.yaml:1:9: listen: at least one address is required");
	expect_one_error("listen: \":80\"\n"
			 "backends:\n"
			 "  - servers: \"127.0.0.1:1\"\n",
			 "t.yaml:3:5: backends[0]: missing required key 'name'");
	expect_one_error("listen: \":80\"\n"
			 "backends:\n"
			 "  - name: a\n",
			 "t.yaml:3:5: backends[0]: missing required key 'servers'");
	expect_one_error("listen: \":80\"\n"
			 "backends:\n"
			 "  - name: a\n"
			 "    servers: []\n",
			 "t.yaml:4:14: backends[0].servers: at least one address is required");
	expect_one_error("listen: \":80\"\n"
			 "backends:\n"
			 "  - name:\n"
			 "    servers: \"127.0.0.1:1\"\n",
			 "t.yaml:3:10: backends[0].name: expected a name, got an empty value");
	expect_one_error(MINIMAL "admin: {}\n", "t.yaml:5:8: admin: missing required key 'listen'");
}

Test(config_errors, missing_both)
{
	struct config_errors e = {0};
	cr_assert_null(load("threads: 2\n", &e));
	cr_assert_eq(e.n, 2, "%s", dump(&e));
	cr_assert(has_line(&e, "t.yaml:1:1: missing required key 'listen'"), "%s", dump(&e));
	cr_assert(has_line(&e, "t.yaml:1:1: missing required key 'backends'"), "%s", dump(&e));
	config_errors_clear(&e);
}

Test(config_errors, wrong_shapes)
{
	expect_one_error("listen: \":80\"\nbackends: {name: a}\n",
			 "t.yaml:2:11: backends: expected a list of backends, got a mapping");
	expect_one_error("listen: \":80\"\nbackends: [app]\n",
			 "t.yaml:2:12: backends[0]: expected a mapping, got a scalar");
	expect_one_error("listen: {a: b}\nbackends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
			 "t.yaml:1:9: listen: expected an address or a list of addresses, got a "
			 "mapping");
	expect_one_error("listen: [[\":80\"]]\nbackends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
			 "t.yaml:1:10: listen[0]: expected an address (HOST:PORT), got a list");
	expect_one_error(MINIMAL "cache: 1GiB\n",
			 "t.yaml:5:8: cache: expected a mapping, got a scalar");
	expect_one_error("- a\n- b\n", "t.yaml:1:1: top level: expected a mapping, got a list");
	expect_one_error(MINIMAL "? [a]\n: 1\n",
			 "t.yaml:5:3: keys must be strings, got a list at top level");
}

Test(config_errors, duplicate_backend_name)
{
	expect_one_error(
	    "listen: \":80\"\n"
	    "backends:\n"
	    "  - name: app\n"
	    "    servers: \"127.0.0.1:1\"\n"
	    "  - name: app\n"
	    "    servers: \"127.0.0.1:2\"\n",
	    "t.yaml:5:11: backends[1].name: duplicate backend name 'app' (first used by "
	    "backends[0] at line 3)");
}

Test(config_errors, addresses)
{
	expect_one_error("listen: \":80\"\n"
			 "backends:\n"
			 "  - name: a\n"
			 "    servers: [\"127.0.0.1:1\", \"127.0.0.1:0\"]\n",
			 "t.yaml:4:30: backends[0].servers[1]: invalid address '127.0.0.1:0': port "
			 "must be 1..65535");
	expect_one_error("listen: \"127.0.0.1\"\nbackends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
			 "t.yaml:1:9: listen: invalid address '127.0.0.1': missing port (expected "
			 "HOST:PORT)");
	expect_one_error("listen: \"::1:80\"\nbackends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
			 "t.yaml:1:9: listen: invalid address '::1:80': IPv6 addresses must be in "
			 "brackets, e.g. [::1]:8080");
	expect_one_error("listen: \":65536\"\nbackends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
			 "t.yaml:1:9: listen: invalid address ':65536': invalid port (expected "
			 "0..65535)");
	expect_one_error(
	    "listen: \"10.0.0.256:80\"\n"
	    "backends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
	    "t.yaml:1:9: listen: invalid address '10.0.0.256:80': invalid IPv4 address");
	expect_one_error("listen: \"[::1:80\"\nbackends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
			 "t.yaml:1:9: listen: invalid address '[::1:80': missing ']' after IPv6 "
			 "address");
	expect_one_error("listen: \"[zz::1]:80\"\n"
			 "backends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
			 "t.yaml:1:9: listen: invalid address '[zz::1]:80': invalid IPv6 address");
	expect_one_error("listen: [\":80\", \"0.0.0.0:80\"]\n"
			 "backends: [{name: a, servers: \"127.0.0.1:1\"}]\n",
			 "t.yaml:1:17: listen[1]: '0.0.0.0:80' is the same address as ':80'");
	/* Port 0 (ephemeral) is fine for listen and admin. */
	struct config *cfg = expect_ok("listen: [\":0\", \":0\"]\n"
				       "admin: {listen: \"[::1]:0\"}\n"
				       "backends: [{name: a, servers: \"127.0.0.1:1\"}]\n");
	cr_assert_eq(cfg->n_listen, 2);
	check_in6(&cfg->admin.listen, "[::1]:0", "::1", 0);
	config_free(&cfg);
}

/* A server name that does not resolve loads: it is looked up while the
 * daemon runs (and `ringcache -t` needs no DNS). A listener's name is
 * still resolved at load: it is bound at start. */
Test(config_errors, unresolvable_host)
{
	struct config *cfg =
	    expect_ok("listen: \":80\"\n"
		      "backends: [{name: a, servers: \"no-such-host.invalid:80\"}]\n");
	const struct config_addr *a = &cfg->backends[0].servers[0];
	cr_assert_str_eq(a->host, "no-such-host.invalid");
	cr_assert_eq(a->port, 80);
	cr_assert_eq(a->salen, 0);
	config_free(&cfg);

	struct config_errors e = {0};
	const char *y = "listen: \"no-such-host.invalid:80\"\n"
			"backends: [{name: a, servers: \"127.0.0.1:80\"}]\n";
	cr_assert_null(load(y, &e));
	cr_assert_eq(e.n, 1, "%s", dump(&e));
	const char *want = "t.yaml:1:9: listen: invalid address 'no-such-host.invalid:80': ";
	cr_assert(!strncmp(e.lines[0], want, strlen(want)), "got:%s", dump(&e));
	config_errors_clear(&e);
}

Test(config_errors, server_names)
{
	/* Names, with weights, beside addresses; case does not make two. */
	struct config *cfg =
	    expect_ok("listen: \":80\"\n"
		      "backends:\n"
		      "  - name: a\n"
		      "    servers:\n"
		      "      - \"api.internal:8000\"\n"
		      "      - {address: \"web_1.svc.cluster.local.:80\", weight: 3}\n"
		      "      - \"10.0.0.1:8000\"\n"
		      "      - \"api.internal:8001\"\n");
	const struct config_backend *b = &cfg->backends[0];
	cr_assert_eq(b->n_servers, 4);
	cr_assert_str_eq(b->servers[0].host, "api.internal");
	cr_assert_eq(b->servers[0].port, 8000);
	cr_assert_str_eq(b->servers[1].host, "web_1.svc.cluster.local.");
	cr_assert_eq(b->weights[1], 3);
	cr_assert_null(b->servers[2].host);
	check_in4(&b->servers[2], "10.0.0.1:8000", "10.0.0.1", 8000);
	config_free(&cfg);

	expect_one_error(
	    "listen: \":80\"\n"
	    "backends: [{name: a, servers: [\"Api.Internal:80\", \"api.internal:80\"]}]\n",
	    "t.yaml:2:51: backends[0].servers[1]: 'api.internal:80' is listed again (first "
	    "as backends[0].servers[0]); give the server a weight instead");
	static const char *const bad[] = {"-api:80", "api-:80", "a..b:80",  "a b:80",
					  "a/b:80",  "x.y-:80", "a.-b.c:80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char y[256], want[256];
		snprintf(y, sizeof(y), "listen: \":80\"\nbackends: [{name: a, servers: \"%s\"}]\n",
			 bad[i]);
		snprintf(
		    want, sizeof(want),
		    "t.yaml:2:31: backends[0].servers: invalid address '%s': invalid host name "
		    "(dot-separated labels of letters, digits, '-' and '_')",
		    bad[i]);
		expect_one_error(y, want);
	}
	char label[80], y[256];
	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(y, sizeof(y), "listen: \":80\"\nbackends: [{name: a, servers: \"%s:80\"}]\n",
		 label);
	struct config_errors e = {0};
	cr_assert_null(load(y, &e), "a 64-byte label loaded");
	config_errors_clear(&e);
}

Test(config, resolver)
{
	struct config *cfg =
	    expect_ok(MINIMAL "resolver:\n"
			      "  servers: [\"127.0.0.1\", \"10.0.0.2:5353\", \"::1\",\n"
			      "            \"[fd00::53]:5300\", \"[fd00::54]\"]\n"
			      "  interval: 250ms\n"
			      "  timeout: 1s\n");
	cr_assert_eq(cfg->resolver.n_servers, 5);
	check_in4(&cfg->resolver.servers[0], "127.0.0.1", "127.0.0.1", 53);
	check_in4(&cfg->resolver.servers[1], "10.0.0.2:5353", "10.0.0.2", 5353);
	check_in6(&cfg->resolver.servers[2], "::1", "::1", 53);
	check_in6(&cfg->resolver.servers[3], "[fd00::53]:5300", "fd00::53", 5300);
	check_in6(&cfg->resolver.servers[4], "[fd00::54]", "fd00::54", 53);
	cr_assert_eq(cfg->resolver.interval_ns, 250 * MS);
	cr_assert_eq(cfg->resolver.timeout_ns, 1 * S);
	config_free(&cfg);

	cfg = expect_ok(MINIMAL "resolver: {servers: \"127.0.0.53\"}\n");
	cr_assert_eq(cfg->resolver.n_servers, 1);
	cr_assert_eq(cfg->resolver.interval_ns, 5 * S);
	cr_assert_eq(cfg->resolver.timeout_ns, 2 * S);
	config_free(&cfg);

	expect_one_error(MINIMAL "resolver: {servers: [\"dns.example:53\"]}\n",
			 "t.yaml:5:22: resolver.servers[0]: invalid DNS server 'dns.example:53': "
			 "expected a numeric address (IP:PORT or [IPv6]:PORT)");
	expect_one_error(MINIMAL "resolver: {servers: [\"127.0.0.1:0\"]}\n",
			 "t.yaml:5:22: resolver.servers[0]: invalid DNS server '127.0.0.1:0': port "
			 "must be 1..65535");
	expect_one_error(MINIMAL "resolver: {servers: {a: 1}}\n",
			 "t.yaml:5:21: resolver.servers: expected a DNS server or a list of them, "
			 "got a mapping");
	expect_one_error(
	    MINIMAL "resolver: {interval: 1ms}\n",
	    "t.yaml:5:22: resolver.interval: duration '1ms' is out of range (10ms..1h)");
	expect_one_error(MINIMAL "resolver: {timeout: 2m}\n",
			 "t.yaml:5:21: resolver.timeout: duration '2m' is out of range (10ms..1m)");
}

/* Config references: the last config_free frees. */
Test(config, hold_and_free)
{
	struct config *cfg = expect_ok(MINIMAL);
	struct config *two = config_hold(cfg);
	cr_assert_eq(two, cfg);
	config_free(&cfg);
	cr_assert_null(cfg);
	cr_assert_str_eq(two->backends[0].name, "app");
	config_free(&two);
	cr_assert_null(two);
}

Test(config_errors, values_out_of_range)
{
	expect_one_error(MINIMAL "limits: {max_header_size: 512}\n",
			 "t.yaml:5:27: limits.max_header_size: size '512' is out of range "
			 "(1KiB..1MiB)");
	expect_one_error(MINIMAL "limits: {max_header_size: 2MiB}\n",
			 "t.yaml:5:27: limits.max_header_size: size '2MiB' is out of range "
			 "(1KiB..1MiB)");
	expect_one_error(MINIMAL "limits: {max_headers: 0}\n",
			 "t.yaml:5:23: limits.max_headers: 0 is out of range (1..1000)");
	expect_one_error(MINIMAL "limits: {max_headers: 1001}\n",
			 "t.yaml:5:23: limits.max_headers: 1001 is out of range (1..1000)");
	expect_one_error(MINIMAL "limits: {max_connections: 1000001}\n",
			 "t.yaml:5:27: limits.max_connections: 1000001 is out of range "
			 "(1..1000000)");
	expect_one_error(MINIMAL "cache: {memory: 0}\n",
			 "t.yaml:5:17: cache.memory: size '0' is out of range (must be greater "
			 "than 0)");
	expect_one_error(MINIMAL "cache: {memory: lots}\n",
			 "t.yaml:5:17: cache.memory: invalid size 'lots' (expected e.g. 4096, "
			 "16KiB, 256MiB, 10MB)");
	expect_one_error(MINIMAL "timeouts: {send: 5 parsecs}\n",
			 "t.yaml:5:18: timeouts.send: invalid duration '5 parsecs' (expected e.g. "
			 "250ms, 30s, 2m, 1h; units us, ms, s, m, h, d)");
	expect_one_error(MINIMAL "timeouts: {send: 0}\n",
			 "t.yaml:5:18: timeouts.send: duration '0' is out of range (1ms..24h)");
	expect_one_error(MINIMAL "timeouts: {client_idle: 25h}\n",
			 "t.yaml:5:25: timeouts.client_idle: duration '25h' is out of range "
			 "(1ms..24h)");
	expect_one_error(MINIMAL "log: {level: verbose}\n",
			 "t.yaml:5:14: log.level: unknown level 'verbose'; expected one of: error, "
			 "warn, info, debug");
	expect_one_error("listen: \":80\"\n"
			 "backends:\n"
			 "  - name: a\n"
			 "    servers: \"127.0.0.1:1\"\n"
			 "    pool_size: 10001\n",
			 "t.yaml:5:16: backends[0].pool_size: 10001 is out of range (0..10000)");
}

Test(config_errors, log_levels)
{
	static const struct {
		const char *s;
		enum config_log_level l;
	} t[] = {{"error", LOG_LEVEL_ERROR},
		 {"warn", LOG_LEVEL_WARN},
		 {"info", LOG_LEVEL_INFO},
		 {"debug", LOG_LEVEL_DEBUG}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char y[512];
		snprintf(y, sizeof(y), MINIMAL "log: {level: %s}\n", t[i].s);
		struct config *cfg = expect_ok(y);
		cr_assert_eq(cfg->log_level, t[i].l, "%s", t[i].s);
		config_free(&cfg);
	}
}

Test(config_errors, many_errors_reported_together)
{
	struct config_errors e = {0};
	struct config *cfg = load("listen: [\"127.0.0.1\", \":8080\"]\n" /* 1 */
				  "threads: zero\n"			 /* 2 */
				  "bogus: 1\n"				 /* 3 */
				  "backends:\n"				 /* 4 */
				  "  - name: a\n"			 /* 5 */
				  "    servers: \"127.0.0.1:0\"\n"	 /* 6 */
				  "    connect_timeout: soon\n"		 /* 7 */
				  "  - servers: [\"127.0.0.1:1\"]\n"	 /* 8 */
				  "    extra: yes\n"			 /* 9 */
				  "cache:\n"				 /* 10 */
				  "  memory: 1.5MiB\n"			 /* 11 */
				  "log:\n"				 /* 12 */
				  "  level: loud\n",			 /* 13 */
				  &e);
	cr_assert_null(cfg);
	static const char *const want[] = {
	    "t.yaml:3:1: unknown key 'bogus' at top level; expected one of: listen, threads, "
	    "cache, backends, compression, admin, timeouts, limits, log, trusted_proxies, "
	    "underscores_in_headers, routes, request_headers, response_headers, error_pages, "
	    "forwarded, resolver, io, cluster",
	    "t.yaml:1:10: listen[0]: invalid address '127.0.0.1': missing port (expected "
	    "HOST:PORT)",
	    "t.yaml:2:10: threads: 'zero' is not a whole number or \"auto\"",
	    "t.yaml:6:14: backends[0].servers: invalid address '127.0.0.1:0': port must be "
	    "1..65535",
	    "t.yaml:7:22: backends[0].connect_timeout: invalid duration 'soon' (expected e.g. "
	    "250ms, 30s, 2m, 1h; units us, ms, s, m, h, d)",
	    "t.yaml:9:5: unknown key 'extra' in backends[1]; expected one of: name, servers, "
	    "balance, pool_size, connect_timeout, first_byte_timeout, between_bytes_timeout, "
	    "retries, health_check, error_pages, proxy_protocol, max_fails, fail_window, "
	    "fail_timeout, fail_on_5xx",
	    "t.yaml:8:5: backends[1]: missing required key 'name'",
	    "t.yaml:11:11: cache.memory: invalid size '1.5MiB' (expected e.g. 4096, 16KiB, "
	    "256MiB, 10MB)",
	    "t.yaml:13:10: log.level: unknown level 'loud'; expected one of: error, warn, "
	    "info, debug",
	};
	cr_assert_eq(e.n, sizeof(want) / sizeof(want[0]), "got:%s", dump(&e));
	for (size_t i = 0; i < e.n; i++)
		cr_assert_str_eq(e.lines[i], want[i]);
	config_errors_clear(&e);
	cr_assert_eq(e.n, 0);
	cr_assert_null(e.lines);
}

Test(config_errors, yaml_syntax_error)
{
	expect_one_error("listen: \":80\"\n"
			 "backends:\n"
			 "  - name: a\n"
			 "   servers: x\n",
			 "t.yaml:4:4: YAML syntax error: did not find expected '-' indicator while "
			 "parsing a block collection (started at line 3 column 3)");
	expect_one_error("listen: [\":80\"\n"
			 "backends: []\n",
			 "t.yaml:2:1: YAML syntax error: did not find expected ',' or ']' while "
			 "parsing a flow sequence (started at line 1 column 9)");
	expect_one_error("listen: \":80\"\n"
			 "\tthreads: 1\n",
			 "t.yaml:2:1: YAML syntax error: found character that cannot start any "
			 "token while scanning for the next token (started at line 2 column 1)");
	expect_one_error("listen: *nope\n", "t.yaml:1:9: YAML syntax error: found undefined alias");
}

Test(config_errors, yaml_encoding_error)
{
	expect_one_error("listen: \":80\"\nthreads: \xff\n",
			 "t.yaml:2:10: YAML error: invalid leading UTF-8 octet");
}

Test(config_errors, empty_and_multi_document)
{
	expect_one_error("", "t.yaml:1:1: empty configuration; need at least 'listen' and "
			     "'backends'");
	expect_one_error("# just a comment\n",
			 "t.yaml:1:1: empty configuration; need at least 'listen' and 'backends'");
	expect_one_error(MINIMAL "---\nthreads: 2\n",
			 "t.yaml:5:1: only one YAML document is allowed");
}

Test(config_errors, embedded_nul)
{
	static const char y[] = MINIMAL "log: {level: \"info\\0x\"}\n";
	expect_one_error(y, "t.yaml:5:14: log.level: value contains a NUL character");
}

Test(config_errors, null_errs_allowed)
{
	cr_assert_null(config_load_string("t.yaml", "x: 1\n", 5, NULL));
	struct config *cfg = config_load_string("t.yaml", MINIMAL, strlen(MINIMAL), NULL);
	cr_assert_not_null(cfg);
	config_free(&cfg);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */

Test(config_file, missing_file)
{
	struct config_errors e = {0};
	cr_assert_null(config_load("/nonexistent/ringcache.yaml", &e));
	cr_assert_eq(e.n, 1);
	cr_assert_str_eq(e.lines[0],
			 "/nonexistent/ringcache.yaml:0:0: cannot open: No such file or directory");
	config_errors_clear(&e);
}

Test(config_file, directory)
{
	struct config_errors e = {0};
	cr_assert_null(config_load("/tmp", &e));
	cr_assert_eq(e.n, 1);
	cr_assert_str_eq(e.lines[0], "/tmp:0:0: cannot open: Is a directory");
	config_errors_clear(&e);
}

Test(config_file, load_from_file)
{
	char path[] = "/tmp/ringcache-config-test-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	/* Bigger than one read chunk, to exercise the growing buffer. */
	FILE *f = fdopen(fd, "w");
	fputs(MINIMAL, f);
	for (int i = 0; i < 500; i++)
		fprintf(f, "# padding comment line %d .................................\n", i);
	fputs("threads: 2\nbad: 1\n", f);
	fclose(f);

	struct config_errors e = {0};
	struct config *cfg = config_load(path, &e);
	cr_assert_null(cfg);
	cr_assert_eq(e.n, 1, "%s", dump(&e));
	char want[512];
	snprintf(want, sizeof(want),
		 "%s:506:1: unknown key 'bad' at top level; expected one of: listen, threads, "
		 "cache, backends, compression, admin, timeouts, limits, log, trusted_proxies, "
		 "underscores_in_headers, routes, request_headers, response_headers, error_pages, "
		 "forwarded, resolver, io, cluster",
		 path);
	cr_assert_str_eq(e.lines[0], want);
	config_errors_clear(&e);

	/* Now the same file without the bad key. */
	f = fopen(path, "w");
	fputs(MINIMAL "threads: 2\n", f);
	fclose(f);
	cfg = config_load(path, &e);
	cr_assert_not_null(cfg, "%s", dump(&e));
	cr_assert_str_eq(cfg->path, path);
	cr_assert_eq(cfg->threads, 2);
	config_free(&cfg);
	unlink(path);
}

Test(config_file, free_null)
{
	struct config *cfg = NULL;
	config_free(&cfg);
	config_free(NULL);
	config_errors_clear(NULL);
}

/* ------------------------------------------------------------------------ */
/* Parse helpers                                                             */

Test(config_parse, sizes)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} t[] = {
	    {"0", 0, 0},
	    {"100", 0, 100},
	    {"100B", 0, 100},
	    {"16KiB", 0, 16384},
	    {"256MiB", 0, 256ull << 20},
	    {"1GiB", 0, 1ull << 30},
	    {"10KB", 0, 10000},
	    {"3MB", 0, 3000000},
	    {"2GB", 0, 2000000000},
	    {"256 MiB", 0, 256ull << 20},
	    {"18446744073709551615", 0, UINT64_MAX},
	    {"18446744073709551616", -EINVAL, 0},
	    {"17179869184GiB", -EINVAL, 0},
	    {"1.5MiB", -EINVAL, 0},
	    {"", -EINVAL, 0},
	    {"MiB", -EINVAL, 0},
	    {"-1", -EINVAL, 0},
	    {"+1", -EINVAL, 0},
	    {" 1", -EINVAL, 0},
	    {"1 ", -EINVAL, 0},
	    {"0x10", -EINVAL, 0},
	    {"1kib", -EINVAL, 0},
	    {"1TiB", -EINVAL, 0},
	    {"1MiBs", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t v = 12345;
		int rc = config_parse_size(t[i].s, &v);
		cr_assert_eq(rc, t[i].rc, "'%s': rc %d", t[i].s, rc);
		cr_assert_eq(v, t[i].rc ? 12345 : t[i].v, "'%s': %llu", t[i].s,
			     (unsigned long long)v);
	}
	uint64_t v;
	cr_assert_eq(config_parse_size(NULL, &v), -EINVAL);
}

Test(config_parse, durations)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} t[] = {
	    {"0", 0, 0},
	    {"10", 0, 10 * S},
	    {"5s", 0, 5 * S},
	    {"250ms", 0, 250 * MS},
	    {"2m", 0, 120 * S},
	    {"1h", 0, 3600 * S},
	    {"0ms", 0, 0},
	    {"30 s", 0, 30 * S},
	    {"18446744074s", -EINVAL, 0}, /* > 2^64 ns */
	    {"18446744073709551615ms", -EINVAL, 0},
	    {"1.5s", -EINVAL, 0},
	    {"5sec", -EINVAL, 0},
	    {"5S", -EINVAL, 0},
	    {"1d", 0, 86400 * S},
	    {"30d", 0, 30 * 86400 * S},
	    {"213503d", 0, 213503ull * 86400 * S}, /* just under 2^64 ns */
	    {"213504d", -EINVAL, 0},
	    {"1D", -EINVAL, 0},
	    {"1w", -EINVAL, 0},
	    {"-5s", -EINVAL, 0},
	    {"s", -EINVAL, 0},
	    {"", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t v = 12345;
		int rc = config_parse_duration(t[i].s, &v);
		cr_assert_eq(rc, t[i].rc, "'%s': rc %d", t[i].s, rc);
		cr_assert_eq(v, t[i].rc ? 12345 : t[i].v, "'%s': %llu", t[i].s,
			     (unsigned long long)v);
	}
}

Test(config_parse, addrs)
{
	struct config_addr a = {0};

	cr_assert_eq(config_parse_addr("192.168.1.2:65535", &a), 0);
	check_in4(&a, "192.168.1.2:65535", "192.168.1.2", 65535);
	free(a.spec);

	cr_assert_eq(config_parse_addr(":0", &a), 0);
	check_in4(&a, ":0", "0.0.0.0", 0);
	free(a.spec);

	cr_assert_eq(config_parse_addr("[fe80::1]:80", &a), 0);
	check_in6(&a, "[fe80::1]:80", "fe80::1", 80);
	free(a.spec);

	cr_assert_eq(config_parse_addr("localhost:8080", &a), 0);
	cr_assert_str_eq(a.spec, "localhost:8080");
	free(a.spec);

	static const char *const bad[] = {
	    "",
	    "127.0.0.1",
	    "127.0.0.1:",
	    "127.0.0.1:x",
	    "127.0.0.1:-1",
	    "1.2.3.4:65536",
	    "127.1:80",
	    "1.2.3.4.5:80",
	    "::1:80",
	    "[::1]",
	    "[::1]80",
	    "[]:80",
	    "[1.2.3.4]:80",
	    "[::1:80",
	    "host:80:",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&a, 0, sizeof(a));
		cr_assert_eq(config_parse_addr(bad[i], &a), -EINVAL, "'%s' accepted", bad[i]);
		cr_assert_null(a.spec);
	}
	cr_assert_eq(config_parse_addr(NULL, &a), -EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Cache section: rules and key options                                      */

Test(config_cache, empty_rules_and_key)
{
	struct config *cfg = expect_ok(MINIMAL "cache:\n"
					       "  rules: []\n"
					       "  key: {}\n");
	cr_assert_eq(cfg->cache.n_rules, 0);
	check_key(&cfg->cache.key, true, true, false);
	config_free(&cfg);
	cfg = expect_ok(MINIMAL "cache:\n"
				"  rules:\n"
				"  key:\n");
	cr_assert_eq(cfg->cache.n_rules, 0);
	check_key(&cfg->cache.key, true, true, false);
	config_free(&cfg);
}

Test(config_cache, rule_key_inherits_cache_key)
{
	/* Rules come before key in the file on purpose: inheritance must not depend on order. */
	struct config *cfg = expect_ok(MINIMAL "cache:\n"
					       "  rules:\n"
					       "    - key: {sort_query: true}\n"
					       "    - path_prefix: /x\n"
					       "      key: {query: false}\n"
					       "  key: {host: false}\n");
	cr_assert_eq(cfg->cache.n_rules, 2);
	for (size_t i = 0; i < 2; i++)
		cr_assert(cfg->cache.rules[i].key_set, "rule %zu", i);
	check_key(&cfg->cache.rules[0].key, false, true, true);
	check_key(&cfg->cache.rules[1].key, false, false, false);
	config_free(&cfg);
}

Test(config_cache, normalize_path_default_set_and_inherited)
{
	struct config *cfg = expect_ok(MINIMAL "cache:\n"
					       "  rules:\n"
					       "    - key: {query: false}\n"
					       "    - path_prefix: /raw\n"
					       "      key: {normalize_path: false}\n"
					       "  key: {normalize_path: true}\n");
	cr_assert(cfg->cache.key.normalize_path);
	cr_assert(cfg->cache.rules[0].key.normalize_path, "inherits cache.key");
	cr_assert_not(cfg->cache.rules[1].key.normalize_path, "its own setting");
	config_free(&cfg);
	cfg = expect_ok(MINIMAL);
	cr_assert_not(cfg->cache.key.normalize_path, "off by default");
	config_free(&cfg);
	expect_one_error(MINIMAL "cache: {key: {normalize_path: 1}}\n",
			 "t.yaml:5:31: cache.key.normalize_path: expected true or false, got '1'");
	expect_one_error(MINIMAL "cache: {rules: [{key: {normalize_path: on}}]}\n",
			 "t.yaml:5:40: cache.rules[0].key.normalize_path: expected true or false, "
			 "got 'on'");
}

Test(config_cache, empty_rule_key_does_nothing)
{
	/* It would match every request and shadow every later rule. */
	expect_one_error(
	    MINIMAL "cache:\n"
		    "  rules:\n"
		    "    - key: {}\n"
		    "    - path_prefix: /x\n"
		    "      ttl: 1h\n",
	    "t.yaml:7:7: cache.rules[0]: rule does nothing; give at least one of: ttl, "
	    "default_ttl, bypass, max_object_size, key");
}

Test(config_cache, zero_allowed_where_documented)
{
	struct config *cfg = expect_ok(MINIMAL "cache:\n"
					       "  default_ttl: 0\n"
					       "  heuristic_percent: 0\n"
					       "  grace: 0ms\n"
					       "  hit_for_miss: 0s\n"
					       "  heuristic_max: 3650d\n"
					       "  rules: [{ttl: 0, default_ttl: 0}]\n");
	cr_assert_eq(cfg->cache.default_ttl_ns, 0);
	cr_assert_eq(cfg->cache.heuristic_percent, 0);
	cr_assert_eq(cfg->cache.grace_ns, 0);
	cr_assert_eq(cfg->cache.hit_for_miss_ns, 0);
	cr_assert_eq(cfg->cache.heuristic_max_ns, 3650ull * 86400 * S);
	cr_assert_eq(cfg->cache.rules[0].ttl_ns, 0);
	cr_assert_eq(cfg->cache.rules[0].default_ttl_ns, 0);
	config_free(&cfg);
	/* "1d" is also a valid timeout now: it is exactly the 24h maximum. */
	cfg = expect_ok(MINIMAL "timeouts: {client_idle: 1d}\n");
	cr_assert_eq(cfg->timeouts.client_idle_ns, 86400 * S);
	config_free(&cfg);
}

Test(config_cache_errors, cache_values)
{
	expect_one_error(MINIMAL "cache: {max_object_size: 0}\n",
			 "t.yaml:5:26: cache.max_object_size: size '0' is out of range (must be "
			 "greater than 0)");
	expect_one_error(MINIMAL "cache: {default_ttl: -1}\n",
			 "t.yaml:5:22: cache.default_ttl: invalid duration '-1' (expected e.g. "
			 "250ms, 30s, 2m, 1h; units us, ms, s, m, h, d)");
	expect_one_error(MINIMAL "cache: {default_ttl: 3651d}\n",
			 "t.yaml:5:22: cache.default_ttl: duration '3651d' is out of range "
			 "(0..3650d)");
	expect_one_error(MINIMAL "cache: {heuristic_percent: 101}\n",
			 "t.yaml:5:28: cache.heuristic_percent: 101 is out of range (0..100)");
	expect_one_error(MINIMAL "cache: {heuristic_percent: 10%}\n",
			 "t.yaml:5:28: cache.heuristic_percent: '10%' is not a whole number");
	expect_one_error(MINIMAL "cache: {heuristic_max: 0}\n",
			 "t.yaml:5:24: cache.heuristic_max: duration '0' is out of range "
			 "(1ms..3650d)");
	expect_one_error(MINIMAL "cache: {grace: soon}\n",
			 "t.yaml:5:16: cache.grace: invalid duration 'soon' (expected e.g. 250ms, "
			 "30s, 2m, 1h; units us, ms, s, m, h, d)");
	expect_one_error(MINIMAL "cache: {hit_for_miss: 3651d}\n",
			 "t.yaml:5:23: cache.hit_for_miss: duration '3651d' is out of range "
			 "(0..3650d)");
	expect_one_error(MINIMAL "cache: {key: {query: 1}}\n",
			 "t.yaml:5:22: cache.key.query: expected true or false, got '1'");
	expect_one_error(MINIMAL "cache: {key: {sort_query: yes}}\n",
			 "t.yaml:5:27: cache.key.sort_query: expected true or false, got 'yes'");
	expect_one_error(MINIMAL "cache: {key: {host: }}\n",
			 "t.yaml:5:21: cache.key.host: expected true or false, got an empty value");
	expect_one_error(MINIMAL "cache: {key: [host]}\n",
			 "t.yaml:5:14: cache.key: expected a mapping, got a list");
	expect_one_error(MINIMAL "cache:\n"
				 "  key:\n"
				 "    hots: false\n",
			 "t.yaml:7:5: unknown key 'hots' in cache.key; expected one of: host, "
			 "query, sort_query, normalize_path");
}

Test(config_cache_errors, rule_shapes)
{
	expect_one_error(MINIMAL "cache: {rules: {ttl: 1}}\n",
			 "t.yaml:5:16: cache.rules: expected a list of rules, got a mapping");
	expect_one_error(MINIMAL "cache: {rules: [x]}\n",
			 "t.yaml:5:17: cache.rules[0]: expected a mapping, got a scalar");
	expect_one_error(MINIMAL "cache:\n"
				 "  rules:\n"
				 "    - path_prefix: /a\n"
				 "      ttl: 1h\n"
				 "      tll: 2h\n",
			 "t.yaml:9:7: unknown key 'tll' in cache.rules[0]; expected one of: host, "
			 "path_prefix, ttl, default_ttl, bypass, max_object_size, key, name");
	expect_one_error(MINIMAL "cache:\n"
				 "  rules:\n"
				 "    - ttl: 1h\n"
				 "    - host: a.example.com\n"
				 "      path_prefix: /x\n",
			 "t.yaml:8:7: cache.rules[1]: rule does nothing; give at least one of: "
			 "ttl, default_ttl, bypass, max_object_size, key");
	expect_one_error(MINIMAL "cache: {rules: [{}]}\n",
			 "t.yaml:5:17: cache.rules[0]: rule does nothing; give at least one of: "
			 "ttl, default_ttl, bypass, max_object_size, key");
	expect_one_error(MINIMAL "cache:\n"
				 "  rules:\n"
				 "    - path_prefix: /x\n"
				 "      path_prefix: /y\n"
				 "      bypass: true\n",
			 "t.yaml:8:7: duplicate key 'path_prefix' in cache.rules[0] (first given "
			 "at line 7)");
}

Test(config_cache_errors, rule_values)
{
	expect_one_error(MINIMAL "cache: {rules: [{path_prefix: assets, ttl: 1}]}\n",
			 "t.yaml:5:31: cache.rules[0].path_prefix: 'assets' must start with '/'");
	expect_one_error(MINIMAL "cache: {rules: [{path_prefix: \"\", ttl: 1}]}\n",
			 "t.yaml:5:31: cache.rules[0].path_prefix: '' must start with '/'");
	expect_one_error(MINIMAL "cache: {rules: [{path_prefix: , ttl: 1}]}\n",
			 "t.yaml:5:31: cache.rules[0].path_prefix: expected a path, got an empty "
			 "value");
	expect_one_error(MINIMAL "cache: {rules: [{bypass: yes}]}\n",
			 "t.yaml:5:26: cache.rules[0].bypass: expected true or false, got 'yes'");
	expect_one_error(MINIMAL "cache: {rules: [{max_object_size: 0}]}\n",
			 "t.yaml:5:35: cache.rules[0].max_object_size: size '0' is out of range "
			 "(must be greater than 0)");
	expect_one_error(MINIMAL "cache: {rules: [{ttl: 3651d}]}\n",
			 "t.yaml:5:23: cache.rules[0].ttl: duration '3651d' is out of range "
			 "(0..3650d)");
	expect_one_error(MINIMAL "cache: {rules: [{default_ttl: forever}]}\n",
			 "t.yaml:5:31: cache.rules[0].default_ttl: invalid duration 'forever' "
			 "(expected e.g. 250ms, 30s, 2m, 1h; units us, ms, s, m, h, d)");
	expect_one_error(MINIMAL "cache: {rules: [{key: {path: true}}]}\n",
			 "t.yaml:5:24: unknown key 'path' in cache.rules[0].key; expected one of: "
			 "host, query, sort_query, normalize_path");
	expect_one_error(MINIMAL "cache: {rules: [{key: {query: no}}]}\n",
			 "t.yaml:5:31: cache.rules[0].key.query: expected true or false, got 'no'");
	expect_one_error(MINIMAL "cache: {rules: [{key: off}]}\n",
			 "t.yaml:5:23: cache.rules[0].key: expected a mapping, got a scalar");
}

Test(config_cache_errors, rule_host_patterns)
{
	static const char *const bad[] = {
	    "*",
	    "*.",
	    "**.example.com",
	    "a.*.com",
	    "*example.com",
	    "example.com:8080",
	    ".example.com",
	    "example.com.",
	    "a..b",
	    "[zz::1]",
	    "[::1]:80",
	    "ex ample.com",
	    "exa/mple",
	    "[]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char y[512], want[512];
		snprintf(y, sizeof(y), MINIMAL "cache: {rules: [{host: \"%s\", ttl: 1}]}\n",
			 bad[i]);
		snprintf(want, sizeof(want),
			 "t.yaml:5:24: cache.rules[0].host: invalid host pattern '%s' (expected a "
			 "host name without port, or \"*.example.com\" for its subdomains)",
			 bad[i]);
		expect_one_error(y, want);
	}
	static const char *const good[] = {"example.com", "*.example.com",  "localhost",
					   "10.0.0.1",	  "[::1]",	    "[2001:DB8::1]",
					   "*.co",	  "under_score.a-b"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char y[512];
		snprintf(y, sizeof(y), MINIMAL "cache: {rules: [{host: \"%s\", ttl: 1}]}\n",
			 good[i]);
		struct config *cfg = expect_ok(y);
		cr_assert_str_eq(cfg->cache.rules[0].host, good[i]);
		config_free(&cfg);
	}
}

Test(config_cache_errors, rule_errors_reported_together)
{
	struct config_errors e = {0};
	struct config *cfg = load(MINIMAL "cache:\n"		   /* 5 */
					  "  rules:\n"		   /* 6 */
					  "    - host: \"*\"\n"	   /* 7 */
					  "      path_prefix: x\n" /* 8 */
					  "      ttl: -1\n"	   /* 9 */
					  "    - hots: a.com\n"	   /* 10 */
					  "    - bypass: true\n",  /* 11 */
				  &e);
	cr_assert_null(cfg);
	static const char *const want[] = {
	    "t.yaml:7:13: cache.rules[0].host: invalid host pattern '*' (expected a host name "
	    "without port, or \"*.example.com\" for its subdomains)",
	    "t.yaml:8:20: cache.rules[0].path_prefix: 'x' must start with '/'",
	    "t.yaml:9:12: cache.rules[0].ttl: invalid duration '-1' (expected e.g. 250ms, 30s, "
	    "2m, 1h; units us, ms, s, m, h, d)",
	    "t.yaml:10:7: unknown key 'hots' in cache.rules[1]; expected one of: host, "
	    "path_prefix, ttl, default_ttl, bypass, max_object_size, key, name",
	    "t.yaml:10:7: cache.rules[1]: rule does nothing; give at least one of: ttl, "
	    "default_ttl, bypass, max_object_size, key",
	};
	cr_assert_eq(e.n, sizeof(want) / sizeof(want[0]), "got:%s", dump(&e));
	for (size_t i = 0; i < e.n; i++)
		cr_assert_str_eq(e.lines[i], want[i]);
	config_errors_clear(&e);
}

/* ------------------------------------------------------------------------ */
/* Rule matching                                                             */

Test(config_rules, match_table)
{
	struct config *cfg = expect_ok(MINIMAL "cache:\n"
					       "  rules:\n"
					       "    - host: static.example.com\n" /* 0 */
					       "      path_prefix: /assets/\n"
					       "      ttl: 1h\n"
					       "    - host: \"*.example.com\"\n" /* 1 */
					       "      ttl: 5m\n"
					       "    - path_prefix: /api/\n" /* 2 */
					       "      bypass: true\n"
					       "    - host: EXAMPLE.org\n" /* 3 */
					       "      default_ttl: 1m\n"
					       "    - host: \"[::1]\"\n" /* 4 */
					       "      ttl: 0\n"
					       "    - host: \"*.Example.NET\"\n" /* 5 */
					       "      path_prefix: /\n"
					       "      ttl: 1\n");
	static const struct {
		const char *host; /* NULL: no Host */
		const char *path;
		int want; /* rule index, -1: none */
	} t[] = {
	    {"static.example.com", "/assets/app.css", 0},
	    {"STATIC.Example.COM", "/assets/x", 0}, /* host: any case */
	    {"static.example.com", "/assets/", 0},  /* prefix equal to the path */
	    {"static.example.com", "/Assets/x", 1}, /* path: case-sensitive, falls through */
	    {"static.example.com", "/assets", 1},   /* shorter than the prefix */
	    {"static.example.com", "/other", 1},    /* wildcard catches the rest */
	    {"a.example.com", "/", 1},		    /* wildcard: one label */
	    {"a.b.EXAMPLE.com", "/x", 1},	    /* wildcard: several labels, any case */
	    {"a.example.com", "/api/v1", 1},	    /* first match wins over rule 2 */
	    {"example.com", "/api/v1", 2},	    /* wildcard excludes the bare suffix */
	    {"example.com", "/", -1},
	    {"xexample.com", "/", -1},	   /* suffix must follow a dot */
	    {"example.com.evil", "/", -1}, /* no partial host matches */
	    {"static.example.co", "/assets/x", -1},
	    {"example.org", "/", 3},	 /* pattern written in upper case */
	    {"Example.Org", "/api/", 2}, /* first match wins over rule 3 */
	    {"a.example.org", "/", -1},	 /* exact host: no subdomains */
	    {"[::1]", "/", 4},
	    {"foo.example.net", "/", 5},
	    {"other.com", "/api", -1}, /* "/api" is not under "/api/" */
	    {"other.com", "/ap", -1},
	    {NULL, "/api/x", 2}, /* no Host: host-less rules only */
	    {NULL, "/assets/x", -1},
	    {"", "/", -1},
	    {"other.com", "", -1},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct config_rule *r =
		    config_rule_match(cfg, t[i].host, t[i].host ? strlen(t[i].host) : 0, t[i].path,
				      strlen(t[i].path));
		int got = r ? (int)(r - cfg->cache.rules) : -1;
		cr_assert_eq(got, t[i].want, "%s %s: rule %d, want %d",
			     t[i].host ? t[i].host : "(null)", t[i].path, got, t[i].want);
	}

	/* Lengths are honoured: neither argument needs to be NUL-terminated. */
	const char *hp = "static.example.com:8080";
	cr_assert_eq(config_rule_match(cfg, hp, 18, "/assets/x", 9), &cfg->cache.rules[0]);
	cr_assert_eq(config_rule_match(cfg, hp, 18, "/assets/x", 7), &cfg->cache.rules[1]);
	cr_assert_eq(config_rule_match(cfg, "a.example.comX", 13, "/", 1), &cfg->cache.rules[1]);
	cr_assert_null(config_rule_match(cfg, "example.comX", 11, "/", 1));
	cr_assert_null(config_rule_match(NULL, "a.example.com", 13, "/", 1));
	config_free(&cfg);

	/* No rules at all. */
	cfg = expect_ok(MINIMAL);
	cr_assert_null(config_rule_match(cfg, "example.com", 11, "/", 1));
	config_free(&cfg);

	/* A rule without host or path matches everything, including no Host. */
	cfg = expect_ok(MINIMAL "cache: {rules: [{bypass: true}]}\n");
	cr_assert_eq(config_rule_match(cfg, "x", 1, "/y", 2), &cfg->cache.rules[0]);
	cr_assert_eq(config_rule_match(cfg, NULL, 0, "/", 1), &cfg->cache.rules[0]);
	config_free(&cfg);
}

/* ------------------------------------------------------------------------ */
/* admin.token and admin.allow                                               */

Test(config_admin, token_and_allow_forms)
{
	struct config *cfg = expect_ok(MINIMAL "admin:\n"
					       "  listen: \":9090\"\n"
					       "  token: 12345\n"
					       "  allow: 10.0.0.0/8\n");
	cr_assert_str_eq(cfg->admin.token, "12345");
	cr_assert_eq(cfg->admin.allow.n, 1);
	check_cidr(&cfg->admin.allow.v[0], AF_INET, "10.0.0.0", 8);
	config_free(&cfg);
}

Test(config_admin, errors)
{
	expect_one_error(MINIMAL "admin: {listen: \":9090\", token: \"\"}\n",
			 "t.yaml:5:33: admin.token: must not be empty");
	expect_one_error(MINIMAL "admin: {listen: \":9090\", token: \"a b\"}\n",
			 "t.yaml:5:33: admin.token: must contain only visible ASCII characters "
			 "(no spaces)");
	expect_one_error(MINIMAL "admin: {listen: \":9090\", token: \"caf\xc3\xa9\"}\n",
			 "t.yaml:5:33: admin.token: must contain only visible ASCII characters "
			 "(no spaces)");
	expect_one_error(MINIMAL "admin:\n"
				 "  listen: \":9090\"\n"
				 "  token:\n",
			 "t.yaml:7:9: admin.token: expected a string, got an empty value");
	expect_one_error(MINIMAL "admin: {listen: \":9090\", token: [a]}\n",
			 "t.yaml:5:33: admin.token: expected a string, got a list");
	expect_one_error(MINIMAL "admin: {listen: \":9090\", allow: []}\n",
			 "t.yaml:5:33: admin.allow: at least one network is required");
	expect_one_error(MINIMAL "admin: {listen: \":9090\", allow: {a: b}}\n",
			 "t.yaml:5:33: admin.allow: expected a network or a list of networks, got "
			 "a mapping");
	expect_one_error(MINIMAL
			 "admin: {listen: \":9090\", allow: [\"10.0.0.0/8\", \"::1/129\"]}\n",
			 "t.yaml:5:48: admin.allow[1]: invalid network '::1/129': invalid prefix "
			 "length (expected 0..128)");
	expect_one_error(MINIMAL "admin: {listen: \":9090\", allow: [[\"::1\"]]}\n",
			 "t.yaml:5:34: admin.allow[0]: expected a network (ADDR/PREFIX), got a "
			 "list");
	/* allow without listen still needs listen. */
	expect_one_error(MINIMAL "admin: {allow: \"::1\"}\n",
			 "t.yaml:5:8: admin: missing required key 'listen'");

	static const struct {
		const char *s, *why;
	} bad[] = {
	    {"10.0.0.0/33", "invalid prefix length (expected 0..32)"},
	    {"10.0.0.0/", "invalid prefix length (expected 0..32)"},
	    {"10.0.0.0/-1", "invalid prefix length (expected 0..32)"},
	    {"10.0.0.0/8/8", "invalid prefix length (expected 0..32)"},
	    {"10.0.0.0/ 8", "invalid prefix length (expected 0..32)"},
	    {"10.0.0.0/99999999999999999999", "invalid prefix length (expected 0..32)"},
	    {"::/129", "invalid prefix length (expected 0..128)"},
	    {"1.2.3", "invalid IP address"},
	    {"127.1", "invalid IP address"},
	    {"256.0.0.0/8", "invalid IP address"},
	    {"/8", "invalid IP address"},
	    {"fe80::1%eth0", "invalid IP address"},
	    {"[::1]", "invalid IP address"},
	    {"localhost", "invalid IP address"},
	    {" 10.0.0.0/8", "invalid IP address"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char y[512], want[512];
		snprintf(y, sizeof(y), MINIMAL "admin: {listen: \":9090\", allow: \"%s\"}\n",
			 bad[i].s);
		snprintf(want, sizeof(want), "t.yaml:5:33: admin.allow: invalid network '%s': %s",
			 bad[i].s, bad[i].why);
		expect_one_error(y, want);
	}
}

static bool allowed(const struct config *cfg, const char *ip)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else {
		cr_assert_eq(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1, "bad test address %s",
			     ip);
		sin6->sin6_family = AF_INET6;
	}
	return config_admin_allowed(cfg, (const struct sockaddr *)&ss);
}

static void check_allow_table(const char *allow, const char *const *yes, size_t n_yes,
			      const char *const *no, size_t n_no)
{
	char y[512];
	struct config *cfg;

	if (allow)
		snprintf(y, sizeof(y), MINIMAL "admin: {listen: \":9090\", allow: %s}\n", allow);
	else
		snprintf(y, sizeof(y), MINIMAL);
	cfg = expect_ok(y);
	for (size_t i = 0; i < n_yes; i++)
		cr_assert(allowed(cfg, yes[i]), "allow %s: %s refused", allow ? allow : "default",
			  yes[i]);
	for (size_t i = 0; i < n_no; i++)
		cr_assert(!allowed(cfg, no[i]), "allow %s: %s allowed", allow ? allow : "default",
			  no[i]);
	config_free(&cfg);
}

#define TABLE(...)  ((const char *const[]){__VA_ARGS__})
#define NTABLE(...) (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))
#define CHECK_ALLOW(allow, YES, NO)                                                                \
	check_allow_table(allow, TABLE YES, NTABLE YES, TABLE NO, NTABLE NO)

Test(config_admin, cidr_match_table)
{
	/* Default: loopback only, also as seen through a dual-stack socket. */
	CHECK_ALLOW(NULL, ("127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1"),
		    ("10.0.0.1", "128.0.0.1", "::2", "::", "::ffff:10.0.0.1", "0.0.0.0"));

	/* IPv4 networks, host bits in the config cleared, odd prefixes. */
	CHECK_ALLOW("[\"10.0.0.0/8\", \"192.168.1.7\", \"172.16.5.4/12\", \"192.0.2.2/31\"]",
		    ("10.0.0.0", "10.1.2.3", "10.255.255.255", "192.168.1.7", "172.16.0.0",
		     "172.31.255.255", "192.0.2.2", "192.0.2.3", "::ffff:10.9.9.9",
		     "::ffff:192.168.1.7"),
		    ("9.255.255.255", "11.0.0.0", "192.168.1.6", "192.168.1.8", "172.15.255.255",
		     "172.32.0.0", "192.0.2.1", "192.0.2.4", "::ffff:11.0.0.1", "::a00:1", "::1",
		     "127.0.0.1"));

	/* /32 and a bare address are the same thing. */
	CHECK_ALLOW("[\"1.2.3.4/32\"]", ("1.2.3.4", "::ffff:1.2.3.4"), ("1.2.3.5", "1.2.3.3"));
	CHECK_ALLOW("\"1.2.3.4\"", ("1.2.3.4"), ("1.2.3.5"));

	/* IPv6 networks, including a prefix that is not a multiple of 8. */
	CHECK_ALLOW("[\"2001:db8::/32\", \"fe80::1\", \"2001:db9:8000::/33\", \"::1/128\"]",
		    ("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::1",
		     "2001:db9:8000::1", "2001:db9:ffff::", "::1"),
		    ("2001:db7:ffff::", "2001:db9:7fff:ffff::", "fe80::2", "::2", "127.0.0.1",
		     "::ffff:127.0.0.1"));

	/* /0: everything of that family (and IPv4 through its mapped form). */
	CHECK_ALLOW("\"0.0.0.0/0\"", ("0.0.0.0", "255.255.255.255", "::ffff:8.8.8.8"),
		    ("::1", "2001:db8::1"));
	CHECK_ALLOW("\"::/0\"", ("::", "::1", "ffff::1", "10.0.0.1"), ());

	/* A mapped network in the config matches plain IPv4 peers too. */
	CHECK_ALLOW("\"::ffff:10.0.0.0/104\"", ("10.1.1.1", "::ffff:10.2.2.2"),
		    ("11.0.0.1", "::10.0.0.1"));
}

Test(config_admin, allowed_other_families)
{
	struct config *cfg =
	    expect_ok(MINIMAL "admin: {listen: \":9090\", allow: \"0.0.0.0/0\"}\n");
	struct sockaddr_storage ss = {0};
	ss.ss_family = AF_UNIX;
	cr_assert(!config_admin_allowed(cfg, (const struct sockaddr *)&ss));
	cr_assert(!config_admin_allowed(cfg, NULL));
	config_free(&cfg);
	ss.ss_family = AF_INET;
	cr_assert(!config_admin_allowed(NULL, (const struct sockaddr *)&ss));
}

static bool trusted(const struct config *cfg, const char *ip)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else {
		cr_assert_eq(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return config_trusted_proxy(cfg, (const struct sockaddr *)&ss);
}

Test(config_trusted, default_none_and_forms)
{
	/* None by default, loopback included: every client's forwarding
	 * fields are removed until the operator names its proxies. */
	struct config *cfg = expect_ok(MINIMAL);
	cr_assert_eq(cfg->trusted.n, 0);
	cr_assert(!trusted(cfg, "127.0.0.1"));
	cr_assert(!trusted(cfg, "::1"));
	cr_assert_not(cfg->cache.heuristic_with_credentials);
	cr_assert_not(cfg->underscores_in_headers);
	config_free(&cfg);
	cfg = expect_ok(MINIMAL "underscores_in_headers: true\n");
	cr_assert(cfg->underscores_in_headers);
	config_free(&cfg);
	cfg = expect_ok(MINIMAL "trusted_proxies: []\n");
	cr_assert_eq(cfg->trusted.n, 0);
	config_free(&cfg);
	cfg = expect_ok(MINIMAL "trusted_proxies: \"10.1.2.3/8\"\n");
	cr_assert_eq(cfg->trusted.n, 1);
	check_cidr(&cfg->trusted.v[0], AF_INET, "10.0.0.0", 8);
	cr_assert(trusted(cfg, "10.200.0.1"));
	cr_assert(trusted(cfg, "::ffff:10.0.0.9"));
	cr_assert(!trusted(cfg, "11.0.0.1"));
	cr_assert(!trusted(cfg, "127.0.0.1"));
	config_free(&cfg);
	cfg = expect_ok(MINIMAL "trusted_proxies: [\"127.0.0.0/8\", \"2001:db8::/32\"]\n"
				"cache: {heuristic_with_credentials: true}\n");
	cr_assert_eq(cfg->trusted.n, 2);
	cr_assert(trusted(cfg, "127.0.0.1"));
	cr_assert(trusted(cfg, "2001:db8::7"));
	cr_assert(!trusted(cfg, "2001:db9::7"));
	cr_assert(cfg->cache.heuristic_with_credentials);
	/* admin.allow is its own list. */
	cr_assert(config_admin_allowed(cfg, NULL) == false);
	config_free(&cfg);
	cr_assert(!config_trusted_proxy(NULL, NULL));
}

/* ------------------------------------------------------------------------ */
/* compression                                                               */

Test(config_compression, defaults)
{
	struct config *cfg = expect_ok(MINIMAL);
	cr_assert(cfg->compression.enabled, "on by default");
	cr_assert_geq(cfg->compression.workers, 1);
	cr_assert_eq(cfg->compression.queue, 64);
	cr_assert_eq(cfg->compression.min_size, 256);
	cr_assert_eq(cfg->compression.n_prefer, 3);
	cr_assert_eq(cfg->compression.prefer[0], CODING_BR);
	cr_assert_eq(cfg->compression.prefer[1], CODING_ZSTD);
	cr_assert_eq(cfg->compression.prefer[2], CODING_GZIP);
	cr_assert_eq(cfg->compression.level[CODING_GZIP], 6);
	cr_assert_eq(cfg->compression.level[CODING_BR], 4);
	cr_assert_eq(cfg->compression.level[CODING_ZSTD], 3);
	cr_assert_gt(cfg->compression.n_types, 5);
	cr_assert_str_eq(cfg->compression.types[0], "text/*");
	cr_assert_not(cfg->compression.bench_on_loop);
	config_free(&cfg);
}

Test(config_compression, every_key)
{
	struct config *cfg = expect_ok(MINIMAL "compression:\n"
					       "  enabled: true\n"
					       "  workers: 3\n"
					       "  queue: 16\n"
					       "  min_size: 1KiB\n"
					       "  codings: [gzip, zstd]\n"
					       "  levels: {gzip: 9, br: 11, zstd: 19}\n"
					       "  types: [\"text/html\", \"application/*\"]\n"
					       "  bench_on_loop: true\n");
	cr_assert(cfg->compression.enabled);
	cr_assert_eq(cfg->compression.workers, 3);
	cr_assert_eq(cfg->compression.queue, 16);
	cr_assert_eq(cfg->compression.min_size, 1024);
	cr_assert_eq(cfg->compression.n_prefer, 2);
	cr_assert_eq(cfg->compression.prefer[0], CODING_GZIP);
	cr_assert_eq(cfg->compression.prefer[1], CODING_ZSTD);
	cr_assert_eq(cfg->compression.level[CODING_GZIP], 9);
	cr_assert_eq(cfg->compression.level[CODING_BR], 11);
	cr_assert_eq(cfg->compression.level[CODING_ZSTD], 19);
	cr_assert_eq(cfg->compression.n_types, 2);
	cr_assert_str_eq(cfg->compression.types[1], "application/*");
	cr_assert(cfg->compression.bench_on_loop);
	config_free(&cfg);
	cfg = expect_ok(MINIMAL "compression: {workers: auto}\n");
	cr_assert_geq(cfg->compression.workers, 1);
	config_free(&cfg);
}

Test(config_compression, errors)
{
	expect_one_error(MINIMAL "compression: {enabled: yes}\n",
			 "t.yaml:5:24: compression.enabled: expected true or false, got 'yes'");
	expect_one_error(MINIMAL "compression: {workers: 0}\n",
			 "t.yaml:5:24: compression.workers: 0 is out of range (1..256)");
	expect_one_error(MINIMAL "compression: {queue: 100000}\n",
			 "t.yaml:5:22: compression.queue: 100000 is out of range (1..65536)");
	expect_one_error(MINIMAL "compression: {codings: [gzip, deflate]}\n",
			 "t.yaml:5:31: compression.codings[1]: unknown coding 'deflate'; expected "
			 "gzip, br or zstd");
	expect_one_error(MINIMAL "compression: {codings: [gzip, gzip]}\n",
			 "t.yaml:5:31: compression.codings[1]: 'gzip' is listed twice");
	expect_one_error(MINIMAL "compression: {codings: []}\n",
			 "t.yaml:5:24: compression.codings: at least one coding is required (to "
			 "turn compression off, set enabled: false)");
	expect_one_error(MINIMAL "compression: {levels: {br: 12}}\n",
			 "t.yaml:5:28: compression.levels.br: 12 is out of range (0..11)");
	expect_one_error(MINIMAL "compression: {levels: {lzma: 1}}\n",
			 "t.yaml:5:24: unknown key 'lzma' in compression.levels; expected one of: "
			 "gzip, br, zstd");
	expect_one_error(MINIMAL "compression: {types: [\"html\"]}\n",
			 "t.yaml:5:23: compression.types[0]: 'html' is not a content type pattern "
			 "(expected e.g. \"text/html\" or \"text/*\")");
	expect_one_error(MINIMAL "compression: {types: \"text/html\"}\n",
			 "t.yaml:5:22: compression.types: expected a list of content types, got a "
			 "scalar");
	expect_one_error(
	    MINIMAL "compression: {gzip: true}\n",
	    "t.yaml:5:15: unknown key 'gzip' in compression; expected one of: enabled, "
	    "workers, queue, min_size, codings, levels, types, bench_on_loop");
}

/* ------------------------------------------------------------------------ */
/* backend weights and balancing                                             */

Test(config_backends, weights_and_balance)
{
	struct config *cfg = expect_ok("listen: \":8080\"\n"
				       "backends:\n"
				       "  - name: app\n"
				       "    balance: hash\n"
				       "    servers:\n"
				       "      - \"127.0.0.1:9001\"\n"
				       "      - {address: \"127.0.0.1:9002\", weight: 3}\n");
	cr_assert_eq(cfg->backends[0].n_servers, 2);
	cr_assert_eq(cfg->backends[0].weights[0], 1);
	cr_assert_eq(cfg->backends[0].weights[1], 3);
	cr_assert_eq(cfg->backends[0].balance, BALANCE_HASH);
	config_free(&cfg);
	cfg = expect_ok(MINIMAL);
	cr_assert_eq(cfg->backends[0].balance, BALANCE_ROUND_ROBIN);
	cr_assert_eq(cfg->backends[0].weights[0], 1);
	config_free(&cfg);
}

Test(config_backends, errors)
{
	expect_one_error("listen: \":8080\"\nbackends:\n  - name: app\n    balance: random\n"
			 "    servers: [\"127.0.0.1:9000\"]\n",
			 "t.yaml:4:14: backends[0].balance: unknown method 'random'; expected "
			 "round_robin, least_connections or hash");
	expect_one_error("listen: \":8080\"\nbackends:\n  - name: app\n"
			 "    servers: [{address: \"127.0.0.1:9000\", weight: 0}]\n",
			 "t.yaml:4:51: backends[0].servers[0].weight: 0 is out of range (1..1000)");
	expect_one_error("listen: \":8080\"\nbackends:\n  - name: app\n"
			 "    servers: [{weight: 2}]\n",
			 "t.yaml:4:15: backends[0].servers[0]: missing required key 'address'");
}

/* An empty key does not make a rule act, nor stop the rule's other keys from doing so. */
Test(config_rules, empty_key_beside_an_action)
{
	struct config *cfg = expect_ok(MINIMAL "cache:\n"
					       "  rules:\n"
					       "    - ttl: 1h\n"
					       "      key: {}\n");
	cr_assert_eq(cfg->cache.n_rules, 1);
	cr_assert_eq(cfg->cache.rules[0].ttl_ns, 3600 * (int64_t)S);
	cr_assert_eq(cfg->cache.rules[0].key_set, true);
	config_free(&cfg);
	expect_one_error(MINIMAL "cache:\n"
				 "  rules:\n"
				 "    - key: {}\n",
			 "t.yaml:7:7: cache.rules[0]: rule does nothing; give at least one of: "
			 "ttl, default_ttl, bypass, max_object_size, key");
}

/* ------------------------------------------------------------------------ */
/* cluster                                                                   */

#define CL_SELF	 "  self: \"127.0.0.1:8081\"\n"			       /* line 6 */
#define CL_PEERS "  peers: [\"127.0.0.1:8081\", \"127.0.0.1:8082\"]\n" /* line 7 */
#define CL_TOKEN "  token: \"0123456789abcdef\"\n"		       /* line 8 */
/* A valid cluster section at lines 5..8; more of its keys may follow. */
#define CLUSTER MINIMAL "cluster:\n" CL_SELF CL_PEERS CL_TOKEN

Test(config_cluster, loads_with_its_backend)
{
	struct config *cfg = expect_ok(
	    MINIMAL "cluster:\n"
		    "  self: \"127.0.0.1:8081\"\n"
		    "  peers: [\"127.0.0.1:8081\", \"127.0.0.1:8082\", \"10.0.0.3:8080\",\n"
		    "          \"ringcache-headless.ns.svc:8080\"]\n"
		    "  token: \"a-shared-secret-of-16+-chars\"\n"
		    "  near_cache: {ttl: 5s, max_object_size: 2MiB}\n"
		    "  connect_timeout: 250ms\n"
		    "  first_byte_timeout: 20s\n"
		    "  probe_interval: 500ms\n");
	cr_assert_eq(cfg->cluster.enabled, 1);
	check_in4(&cfg->cluster.self, "127.0.0.1:8081", "127.0.0.1", 8081);
	cr_assert_eq(cfg->cluster.n_peers, 4);
	cr_assert_str_eq(cfg->cluster.peers[3].host, "ringcache-headless.ns.svc");
	cr_assert_str_eq(cfg->cluster.token, "a-shared-secret-of-16+-chars");
	cr_assert_eq(cfg->cluster.near_ttl_ns, 5 * S);
	cr_assert_eq(cfg->cluster.near_max_object_size, 2u << 20);
	cr_assert_eq(cfg->cluster.connect_timeout_ns, 250 * MS);
	cr_assert_eq(cfg->cluster.first_byte_timeout_ns, 20 * S);
	cr_assert_eq(cfg->cluster.probe_interval_ns, 500 * MS);

	/* The user's backend first, the cluster's after it. */
	cr_assert_eq(cfg->n_backends, 2);
	cr_assert_str_eq(cfg->backends[0].name, "app");
	cr_assert_eq(cfg->cluster.backend, 1);
	const struct config_backend *b = &cfg->backends[cfg->cluster.backend];
	cr_assert_str_eq(b->name, "cluster");
	/* The peers without self; the name stays a name for the resolver. */
	cr_assert_eq(b->n_servers, 3);
	check_in4(&b->servers[0], "127.0.0.1:8082", "127.0.0.1", 8082);
	check_in4(&b->servers[1], "10.0.0.3:8080", "10.0.0.3", 8080);
	cr_assert_str_eq(b->servers[2].spec, "ringcache-headless.ns.svc:8080");
	cr_assert_str_eq(b->servers[2].host, "ringcache-headless.ns.svc");
	cr_assert_eq(b->servers[2].port, 8080);
	cr_assert_eq(b->servers[2].salen, 0);
	cr_assert_neq(b->servers[2].host, cfg->cluster.peers[3].host, "a copy, not shared");
	for (size_t i = 0; i < b->n_servers; i++)
		cr_assert_eq(b->weights[i], 1);
	cr_assert_eq(b->balance, BALANCE_HASH);
	cr_assert_eq(b->retries, 0);
	cr_assert_eq(b->pool_size, 64);
	cr_assert_eq(b->connect_timeout_ns, 250 * MS);
	cr_assert_eq(b->first_byte_timeout_ns, 20 * S);
	cr_assert_eq(b->between_bytes_timeout_ns, 30 * S);
	cr_assert_eq(b->proxy_protocol, false);
	cr_assert_eq(b->max_fails, 1);
	cr_assert_eq(b->fail_window_ns, 10 * S);
	cr_assert_eq(b->fail_timeout_ns, 1 * S);
	cr_assert_eq(b->fail_on_5xx, false);
	cr_assert_eq(b->health.enabled, true);
	cr_assert_str_eq(b->health.path, CLUSTER_PROBE_PATH);
	cr_assert_null(b->health.host);
	cr_assert_eq(b->health.interval_ns, 500 * MS);
	cr_assert_eq(b->health.timeout_ns, 500 * MS);
	cr_assert_eq(b->health.rise, 1);
	cr_assert_eq(b->health.fall, 2);
	cr_assert_eq(b->health.n_expect, 1);
	cr_assert_eq(b->health.expect[0], 200);
	cr_assert_eq(b->error_pages.n, 0);
	config_free(&cfg);
}

Test(config_cluster, defaults_and_absent)
{
	struct config *cfg = expect_ok(MINIMAL);
	cr_assert_eq(cfg->cluster.enabled, 0);
	cr_assert_eq(cfg->n_backends, 1);
	cr_assert_null(cfg->cluster.token);
	cr_assert_eq(cfg->cluster.n_peers, 0);
	config_free(&cfg);
	/* An empty value is an absent section, as for cache.disk. */
	cfg = expect_ok(MINIMAL "cluster:\n");
	cr_assert_eq(cfg->cluster.enabled, 0);
	cr_assert_eq(cfg->n_backends, 1);
	config_free(&cfg);

	cfg = expect_ok(CLUSTER);
	cr_assert_eq(cfg->cluster.near_ttl_ns, 10 * S);
	cr_assert_eq(cfg->cluster.near_max_object_size, 1u << 20);
	cr_assert_eq(cfg->cluster.connect_timeout_ns, 1 * S);
	cr_assert_eq(cfg->cluster.first_byte_timeout_ns, 60 * S);
	cr_assert_eq(cfg->cluster.probe_interval_ns, 1 * S);
	const struct config_backend *b = &cfg->backends[cfg->cluster.backend];
	cr_assert_eq(cfg->cluster.backend, 1);
	cr_assert_eq(b->n_servers, 1);
	check_in4(&b->servers[0], "127.0.0.1:8082", "127.0.0.1", 8082);
	cr_assert_eq(b->connect_timeout_ns, 1 * S);
	cr_assert_eq(b->first_byte_timeout_ns, 60 * S);
	cr_assert_eq(b->health.interval_ns, 1 * S);
	cr_assert_eq(b->health.timeout_ns, 1 * S);
	cr_assert_eq(b->fail_timeout_ns, 2 * S);
	config_free(&cfg);

	/* A probe gets at most 1s, however far apart they are; 0 keeps no copies. */
	cfg = expect_ok(CLUSTER "  probe_interval: 1m\n  near_cache: {ttl: 0}\n");
	b = &cfg->backends[cfg->cluster.backend];
	cr_assert_eq(b->health.interval_ns, 60 * S);
	cr_assert_eq(b->health.timeout_ns, 1 * S);
	cr_assert_eq(b->fail_timeout_ns, 120 * S);
	cr_assert_eq(cfg->cluster.near_ttl_ns, 0);
	config_free(&cfg);
}

/* Only self among the peers (here as a string): a backend without servers. */
Test(config_cluster, one_node)
{
	struct config *cfg = expect_ok(MINIMAL "cluster:\n"
					       "  self: \"127.0.0.1:8081\"\n"
					       "  peers: \"127.0.0.1:8081\"\n"
					       "  token: \"0123456789abcdef\"\n");
	cr_assert_eq(cfg->cluster.n_peers, 1);
	cr_assert_eq(cfg->n_backends, 2);
	const struct config_backend *b = &cfg->backends[cfg->cluster.backend];
	cr_assert_str_eq(b->name, "cluster");
	cr_assert_eq(b->n_servers, 0);
	cr_assert_eq(b->health.enabled, true);
	config_free(&cfg);
	/* And peers without self at all: every one a server. */
	cfg = expect_ok(MINIMAL "cluster:\n"
				"  self: \"[::1]:8081\"\n"
				"  peers: [\"[::1]:8082\", \"127.0.0.1:8081\"]\n"
				"  token: \"0123456789abcdef\"\n");
	cr_assert_eq(cfg->backends[cfg->cluster.backend].n_servers, 2);
	config_free(&cfg);
	cfg = expect_ok(MINIMAL "cluster:\n"
				"  self: \"[::1]:8081\"\n"
				"  peers: [\"[::1]:8082\", \"[0:0::1]:8081\"]\n"
				"  token: \"0123456789abcdef\"\n");
	cr_assert_eq(cfg->backends[cfg->cluster.backend].n_servers, 1);
	cr_assert_str_eq(cfg->backends[cfg->cluster.backend].servers[0].spec, "[::1]:8082");
	config_free(&cfg);
}

Test(config_cluster, missing_keys)
{
	expect_one_error(MINIMAL "cluster:\n" CL_PEERS CL_TOKEN,
			 "t.yaml:6:3: cluster: missing required key 'self'");
	expect_one_error(MINIMAL "cluster:\n" CL_SELF CL_TOKEN,
			 "t.yaml:6:3: cluster: missing required key 'peers'");
	expect_one_error(MINIMAL "cluster:\n" CL_SELF CL_PEERS,
			 "t.yaml:6:3: cluster: missing required key 'token'");
	struct config_errors e = {0};
	cr_assert_null(load(MINIMAL "cluster: {}\n", &e));
	cr_assert_eq(e.n, 3, "%s", dump(&e));
	cr_assert(has_line(&e, "t.yaml:5:10: cluster: missing required key 'self'"), "%s",
		  dump(&e));
	cr_assert(has_line(&e, "t.yaml:5:10: cluster: missing required key 'peers'"), "%s",
		  dump(&e));
	cr_assert(has_line(&e, "t.yaml:5:10: cluster: missing required key 'token'"), "%s",
		  dump(&e));
	config_errors_clear(&e);
	expect_one_error(MINIMAL "cluster: [a]\n",
			 "t.yaml:5:10: cluster: expected a mapping, got a list");
}

Test(config_cluster, self_and_peers_errors)
{
	expect_one_error(MINIMAL "cluster:\n  self: \"node1:8081\"\n" CL_PEERS CL_TOKEN,
			 "t.yaml:6:9: cluster.self: invalid address 'node1:8081': expected a "
			 "numeric address (IP:PORT or [IPv6]:PORT)");
	expect_one_error(MINIMAL "cluster:\n  self: localhost:8081\n" CL_PEERS CL_TOKEN,
			 "t.yaml:6:9: cluster.self: invalid address 'localhost:8081': expected a "
			 "numeric address (IP:PORT or [IPv6]:PORT)");
	expect_one_error(MINIMAL "cluster:\n  self: \"127.0.0.1\"\n" CL_PEERS CL_TOKEN,
			 "t.yaml:6:9: cluster.self: invalid address '127.0.0.1': missing port "
			 "(expected HOST:PORT)");
	expect_one_error(MINIMAL "cluster:\n  self: \"127.0.0.1:0\"\n" CL_PEERS CL_TOKEN,
			 "t.yaml:6:9: cluster.self: invalid address '127.0.0.1:0': port must be "
			 "1..65535");
	expect_one_error(MINIMAL "cluster:\n  self: \"0.0.0.0:8081\"\n" CL_PEERS CL_TOKEN,
			 "t.yaml:6:9: cluster.self: '0.0.0.0:8081' is not an address peers can "
			 "reach; give this node's own address, e.g. \"10.0.0.1:8080\"");
	expect_one_error(MINIMAL "cluster:\n  self: \"[::]:8081\"\n" CL_PEERS CL_TOKEN,
			 "t.yaml:6:9: cluster.self: '[::]:8081' is not an address peers can "
			 "reach; give this node's own address, e.g. \"10.0.0.1:8080\"");
	expect_one_error(MINIMAL "cluster:\n" CL_SELF "  peers: []\n" CL_TOKEN,
			 "t.yaml:7:10: cluster.peers: at least one address is required");
	expect_one_error(MINIMAL "cluster:\n" CL_SELF "  peers: {a: b}\n" CL_TOKEN,
			 "t.yaml:7:10: cluster.peers: expected an address or a list of "
			 "addresses, got a mapping");
	expect_one_error(MINIMAL "cluster:\n" CL_SELF
				 "  peers: [\"127.0.0.1:8082\", \"bad name:1\"]\n" CL_TOKEN,
			 "t.yaml:7:29: cluster.peers[1]: invalid address 'bad name:1': invalid "
			 "host name (dot-separated labels of letters, digits, '-' and '_')");
	expect_one_error(MINIMAL "cluster:\n" CL_SELF
				 "  peers: [{address: \"127.0.0.1:8082\"}]\n" CL_TOKEN,
			 "t.yaml:7:11: cluster.peers[0]: expected an address (HOST:PORT), got a "
			 "mapping");
	expect_one_error(
	    MINIMAL "cluster:\n" CL_SELF
		    "  peers: [\"a.example:80\", \"127.0.0.1:8082\", \"A.example:80\"]\n" CL_TOKEN,
	    "t.yaml:7:45: cluster.peers[2]: 'A.example:80' is listed again (first as "
	    "cluster.peers[0])");
}

Test(config_cluster, token_errors)
{
	expect_one_error(MINIMAL "cluster:\n" CL_SELF CL_PEERS "  token: short\n",
			 "t.yaml:8:10: cluster.token: must be at least 16 characters long, got 5");
	expect_one_error(MINIMAL "cluster:\n" CL_SELF CL_PEERS "  token: \"\"\n",
			 "t.yaml:8:10: cluster.token: must not be empty");
	expect_one_error(MINIMAL "cluster:\n" CL_SELF CL_PEERS "  token: \"0123456789 abcdef\"\n",
			 "t.yaml:8:10: cluster.token: must contain only visible ASCII characters "
			 "(no spaces)");
	expect_one_error(MINIMAL "cluster:\n" CL_SELF CL_PEERS "  token: \"0123456789\\tabcdef\"\n",
			 "t.yaml:8:10: cluster.token: must contain only visible ASCII characters "
			 "(no spaces)");
	expect_one_error(MINIMAL "cluster:\n" CL_SELF CL_PEERS
				 "  token: \"0123456789abcdef\\u00e9\"\n",
			 "t.yaml:8:10: cluster.token: must contain only visible ASCII characters "
			 "(no spaces)");
	expect_one_error(MINIMAL "cluster:\n" CL_SELF CL_PEERS "  token: [a]\n",
			 "t.yaml:8:10: cluster.token: expected a string, got a list");
	/* Exactly 16 is enough. */
	struct config *cfg = expect_ok(CLUSTER);
	cr_assert_str_eq(cfg->cluster.token, "0123456789abcdef");
	config_free(&cfg);
}

Test(config_cluster, range_errors)
{
	expect_one_error(CLUSTER "  near_cache: {ttl: 2h}\n",
			 "t.yaml:9:21: cluster.near_cache.ttl: duration '2h' is out of range "
			 "(0..1h)");
	expect_one_error(CLUSTER "  near_cache: {max_object_size: 0}\n",
			 "t.yaml:9:33: cluster.near_cache.max_object_size: size '0' is out of "
			 "range (1B..1GiB)");
	expect_one_error(CLUSTER "  near_cache: {max_object_size: 2GiB}\n",
			 "t.yaml:9:33: cluster.near_cache.max_object_size: size '2GiB' is out of "
			 "range (1B..1GiB)");
	expect_one_error(CLUSTER "  connect_timeout: 0\n",
			 "t.yaml:9:20: cluster.connect_timeout: duration '0' is out of range "
			 "(1ms..24h)");
	expect_one_error(CLUSTER "  first_byte_timeout: 2d\n",
			 "t.yaml:9:23: cluster.first_byte_timeout: duration '2d' is out of range "
			 "(1ms..24h)");
	expect_one_error(CLUSTER "  probe_interval: 50ms\n",
			 "t.yaml:9:19: cluster.probe_interval: duration '50ms' is out of range "
			 "(100ms..1h)");
	expect_one_error(CLUSTER "  probe_interval: 2h\n",
			 "t.yaml:9:19: cluster.probe_interval: duration '2h' is out of range "
			 "(100ms..1h)");
	expect_one_error(CLUSTER "  probe_intervall: 1s\n",
			 "t.yaml:9:3: unknown key 'probe_intervall' in cluster; expected one of: "
			 "self, peers, token, near_cache, connect_timeout, first_byte_timeout, "
			 "probe_interval, discovery, invalidation");
}

/* The name is the cluster's while cluster: is set; routes never reach its backend. */
Test(config_cluster, reserved_name_and_routes)
{
	expect_one_error("listen: \":8080\"\n"
			 "backends:\n"
			 "  - name: app\n"
			 "    servers: [\"127.0.0.1:9000\"]\n"
			 "  - name: cluster\n"
			 "    servers: [\"127.0.0.1:9001\"]\n"
			 "cluster:\n" CL_SELF CL_PEERS CL_TOKEN,
			 "t.yaml:5:11: backends[1].name: 'cluster' is reserved while cluster: is "
			 "set (it names the cluster's own backend)");
	/* Without cluster: it is a name like any other. */
	struct config *cfg = expect_ok("listen: \":8080\"\n"
				       "backends:\n"
				       "  - name: cluster\n"
				       "    servers: [\"127.0.0.1:9000\"]\n"
				       "routes:\n"
				       "  - backend: cluster\n");
	cr_assert_eq(cfg->n_backends, 1);
	cr_assert_eq(cfg->routes[0].backend, 0);
	config_free(&cfg);
	expect_one_error(CLUSTER "routes:\n"
				 "  - backend: cluster\n",
			 "t.yaml:10:14: routes[0].backend: unknown backend 'cluster'; the "
			 "cluster's own backend is not one a route may name (backends: app)");
	expect_one_error(MINIMAL "routes:\n"
				 "  - backend: cluster\n",
			 "t.yaml:6:14: routes[0].backend: unknown backend 'cluster' (backends: "
			 "app)");
	/* A route to a user backend still resolves beside the cluster's. */
	cfg = expect_ok(CLUSTER "routes:\n"
				"  - backend: app\n");
	cr_assert_eq(cfg->routes[0].backend, 0);
	cr_assert_eq(cfg->cluster.backend, 1);
	config_free(&cfg);
}

/* A failed load builds no backend; the errors of the rest come out with the cluster's. */
Test(config_cluster, errors_reported_together)
{
	struct config_errors e = {0};
	cr_assert_null(load(MINIMAL "cluster:\n"
				    "  self: \"0.0.0.0:1\"\n"
				    "  peers: []\n"
				    "  token: x\n"
				    "  probe_interval: 0\n"
				    "limits: {max_headers: 0}\n",
			    &e));
	cr_assert_eq(e.n, 5, "%s", dump(&e));
	cr_assert(has_line(&e, "t.yaml:7:10: cluster.peers: at least one address is required"),
		  "%s", dump(&e));
	cr_assert(has_line(&e, "t.yaml:6:9: cluster.self: '0.0.0.0:1' is not an address peers "
			       "can reach; give this node's own address, e.g. \"10.0.0.1:8080\""),
		  "%s", dump(&e));
	config_errors_clear(&e);
}

/* Discovery: the members from a DNS name; self may be left to it. */
Test(config_cluster, discovery_is_one_more_peer_name_and_self_may_be_left_out)
{
	struct config *cfg =
	    expect_ok(MINIMAL "cluster:\n"
			      "  token: \"0123456789abcdef\"\n"
			      "  discovery:\n"
			      "    dns: \"rc-headless.default.svc.cluster.local\"\n"
			      "    port: 8081\n"
			      "    interval: 2s\n"
			      "    settle: 3s\n");
	cr_assert(cfg->cluster.discovery.enabled);
	cr_assert_str_eq(cfg->cluster.discovery.dns, "rc-headless.default.svc.cluster.local");
	cr_assert_eq(cfg->cluster.discovery.port, 8081);
	cr_assert_eq(cfg->cluster.discovery.interval_ns, 2 * 1000000000ull);
	cr_assert_eq(cfg->cluster.discovery.settle_ns, 3 * 1000000000ull);
	cr_assert_null(cfg->cluster.self.spec, "found among the name's addresses at run time");
	const struct config_backend *b = &cfg->backends[cfg->cluster.backend];
	cr_assert_eq(b->n_servers, 1);
	cr_assert_str_eq(b->servers[0].spec, "rc-headless.default.svc.cluster.local:8081");
	cr_assert_str_eq(b->servers[0].host, "rc-headless.default.svc.cluster.local");
	cr_assert_eq(b->servers[0].port, 8081);
	cr_assert_eq(b->servers[0].salen, 0, "a name the resolver follows");
	config_free(&cfg);
	/* Defaults, and discovery beside static peers and self. */
	cfg = expect_ok(CLUSTER "  discovery: {dns: rc.test}\n");
	cr_assert_eq(cfg->cluster.discovery.port, 8080);
	cr_assert_eq(cfg->cluster.discovery.interval_ns, 5 * 1000000000ull);
	cr_assert_eq(cfg->cluster.discovery.settle_ns, 5 * 1000000000ull);
	cr_assert_eq(cfg->backends[cfg->cluster.backend].n_servers, 2, "a peer and the name");
	config_free(&cfg);
}

Test(config_cluster, discovery_errors)
{
	expect_one_error(CLUSTER "  discovery: {port: 80}\n",
			 "t.yaml:9:14: cluster.discovery: missing required key 'dns'");
	expect_one_error(CLUSTER "  discovery: {dns: \"bad name\"}\n",
			 "t.yaml:9:20: cluster.discovery.dns: 'bad name' is not a DNS name");
	expect_one_error(CLUSTER "  discovery: {dns: \"a..b\"}\n",
			 "t.yaml:9:20: cluster.discovery.dns: 'a..b' is not a DNS name");
	expect_one_error(CLUSTER "  discovery: {dns: rc.test, port: 0}\n",
			 "t.yaml:9:35: cluster.discovery.port: 0 is out of range (1..65535)");
	expect_one_error(CLUSTER "  discovery: {dns: rc.test, settle: 11m}\n",
			 "t.yaml:9:37: cluster.discovery.settle: duration '11m' is out of range "
			 "(0..10m)");
	/* Without discovery, peers and self are required. */
	expect_one_error(MINIMAL "cluster:\n" CL_SELF CL_TOKEN,
			 "t.yaml:6:3: cluster: missing required key 'peers'");
}

Test(config_cluster, invalidation_through_redis)
{
	struct config *cfg = expect_ok(CLUSTER "  invalidation:\n"
					       "    redis: \"redis://:pw@10.0.0.9:6380/2\"\n");
	cr_assert_str_eq(cfg->cluster.invalidation.redis, "redis://:pw@10.0.0.9:6380/2");
	cr_assert_str_eq(cfg->cluster.invalidation.stream, "ringcache:invalidations");
	cr_assert_eq(cfg->cluster.invalidation.max_len, 100000);
	config_free(&cfg);
	cfg = expect_ok(CLUSTER "  invalidation: {redis: \"unix:/run/redis/redis.sock\", "
				"stream: \"rc:inv\", max_len: 16}\n");
	cr_assert_str_eq(cfg->cluster.invalidation.stream, "rc:inv");
	cr_assert_eq(cfg->cluster.invalidation.max_len, 16);
	config_free(&cfg);
	/* Absent: HTTP to each member. */
	cfg = expect_ok(CLUSTER);
	cr_assert_null(cfg->cluster.invalidation.redis);
	config_free(&cfg);
}

Test(config_cluster, invalidation_errors)
{
	expect_one_error(CLUSTER "  invalidation: {redis: \"http://r:6379\"}\n",
			 "t.yaml:9:25: cluster.invalidation.redis: 'http://r:6379': expected "
			 "redis://[:PASSWORD@]HOST[:PORT][/DB] or unix:/PATH");
	expect_one_error(CLUSTER "  invalidation: {redis: \"redis://r:0\"}\n",
			 "t.yaml:9:25: cluster.invalidation.redis: 'redis://r:0': the port must "
			 "be a number from 1 to 65535");
	/* A password stays out of the message. */
	expect_one_error(CLUSTER "  invalidation: {redis: \"redis://:hunter2@r:0\"}\n",
			 "t.yaml:9:25: cluster.invalidation.redis: 'redis://***@r:0': the port "
			 "must be a number from 1 to 65535");
	expect_one_error(CLUSTER "  invalidation: {redis: \"unix:run/r.sock\"}\n",
			 "t.yaml:9:25: cluster.invalidation.redis: 'unix:run/r.sock': a Unix "
			 "socket's path must be absolute: unix:/run/redis/redis.sock");
	expect_one_error(CLUSTER "  invalidation: {redis: \"redis://r\", stream: \"a b\"}\n",
			 "t.yaml:9:46: cluster.invalidation.stream: visible ASCII only, no spaces");
	expect_one_error(CLUSTER "  invalidation: {redis: \"redis://r\", max_len: 15}\n",
			 "t.yaml:9:47: cluster.invalidation.max_len: 15 is out of range "
			 "(16..100000000)");
}
