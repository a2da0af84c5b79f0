/*
 * schema.c - the config schema table, one row per key (schema.h). What is
 * done with rows in general (defaults, freeing, comparing) is table.c's;
 * the custom rows' ops and checks are readers.c's and rules.c's.
 *
 * To add a key: add its field to struct config (config.h), a row here in
 * the place of its section where it is to be read, the key to the schema
 * comment in config.h and to conf/ringcache.yaml (tests/unit/config_schema.c
 * checks both), and tests of its errors.
 */
#include "config/schema.h"

#include <stddef.h>
#include <stdint.h>

#include "config/readers.h"
#include "config/values.h"

/* Where a row's field is: in struct config, or in its list's item. */
// clang-format off
#define AT(type, member) .offset = offsetof(type, member), .size = sizeof(((type *)0)->member)
#define CFG(member)      AT(struct config, member)
#define BACKEND(member)  AT(struct config_backend, member)
#define SERVER(member)   AT(struct config_server, member)
#define RULE(member)     AT(struct config_rule, member)
#define ROUTE(member)    AT(struct config_route, member)

#define US(n)   ((uint64_t)(n) * NS_PER_US)
#define MS(n)   ((uint64_t)(n) * NS_PER_MS)
#define SEC(n)  ((uint64_t)(n) * NS_PER_S)
#define MIN_(n) ((uint64_t)(n) * 60 * NS_PER_S)
#define HOUR(n) ((uint64_t)(n) * 3600 * NS_PER_S)
#define DAY(n)  ((uint64_t)(n) * NS_PER_DAY)
#define KIB(n)  ((uint64_t)(n) << 10)
#define MIB(n)  ((uint64_t)(n) << 20)
#define GIB(n)  ((uint64_t)(n) << 30)

/* One macro per type: path, hint, field, then the range and default where the type has them. */
#define SECTION(p, h, ...)  {.path = p, .type = CONFIG_SECTION, .hint = h, __VA_ARGS__}
#define UINT(p, h, at, lo_, hi_, def_, ...) \
	{.path = p, .type = CONFIG_UINT, .hint = h, at, .lo = lo_, .hi = hi_, .def = def_, \
	 __VA_ARGS__}
#define SIZE(p, h, at, lo_, hi_, def_, ...) \
	{.path = p, .type = CONFIG_SIZE, .hint = h, at, .lo = lo_, .hi = hi_, .def = def_, \
	 __VA_ARGS__}
#define DURATION(p, h, at, lo_, hi_, def_, ...) \
	{.path = p, .type = CONFIG_DURATION, .hint = h, at, .lo = lo_, .hi = hi_, .def = def_, \
	 __VA_ARGS__}
#define BOOL(p, h, at, def_, ...) \
	{.path = p, .type = CONFIG_BOOL, .hint = h, at, .lo = 0, .hi = 1, .def = def_, __VA_ARGS__}
#define ENUM(p, h, at, choices_, def_, ...) \
	{.path = p, .type = CONFIG_ENUM, .hint = h, at, .choices = choices_, .def = def_, \
	 __VA_ARGS__}
#define STRING(p, h, at, ...) {.path = p, .type = CONFIG_STRING, .hint = h, at, __VA_ARGS__}
#define ADDR(p, h, at, ...)   {.path = p, .type = CONFIG_ADDR, .hint = h, at, __VA_ARGS__}
#define CUSTOM(p, h, at, ops_, ...) \
	{.path = p, .type = CONFIG_CUSTOM, .hint = h, at, .ops = ops_, __VA_ARGS__}

/*
 * Timeouts must be non-zero (a zero deadline would fire immediately, and
 * nothing in the contract says 0 means "no timeout") and at most a day, which
 * keeps "now + timeout" far away from uint64 overflow in every consumer.
 */
#define TIMEOUT(p, h, at, def_, ...) \
	{.path = p, .type = CONFIG_DURATION, .hint = h, at, .lo = MS(1), .hi = HOUR(24), \
	 .range = "1ms..24h", .def = def_, __VA_ARGS__}
// clang-format on
/*
 * Cache lifetimes: 3650 days is far beyond any real max-age (a year is the
 * customary "forever") yet keeps "now + lifetime" and "lifetime + grace"
 * nowhere near uint64/int64 overflow in the cache code.
 */
#define LIFETIME_MAX DAY(3650)

static const struct config_enum balance_enum = {
    .noun = "method",
    .or_list = true,
    .names = (const char *const[]){[BALANCE_ROUND_ROBIN] = "round_robin",
				   [BALANCE_LEAST_CONNECTIONS] = "least_connections",
				   [BALANCE_HASH] = "hash",
				   NULL},
};

static const struct config_enum cache_key_enum = {
    .noun = "key source",
    .or_list = true,
    .names =
	(const char *const[]){
	    [KEY_FROM_ORIGINAL] = "original", [KEY_FROM_REWRITTEN] = "rewritten", NULL},
};

static const struct config_enum io_backend_enum = {
    .noun = "backend",
    .or_list = true,
    .names = (const char *const[]){[IO_BACKEND_AUTO] = "auto",
				   [IO_BACKEND_IO_URING] = "io_uring",
				   [IO_BACKEND_EPOLL] = "epoll",
				   NULL},
};

static const struct config_enum level_enum = {
    .noun = "level",
    .names = (const char *const[]){[LOG_LEVEL_ERROR] = "error",
				   [LOG_LEVEL_WARN] = "warn",
				   [LOG_LEVEL_INFO] = "info",
				   [LOG_LEVEL_DEBUG] = "debug",
				   NULL},
};

static const struct config_enum access_format_enum = {
    .noun = "format",
    .names =
	(const char *const[]){
	    [ACCESS_FORMAT_COMBINED] = "combined", [ACCESS_FORMAT_JSON] = "json", NULL},
};

/* What nginx's and Cloudflare's lists have in common: text and the text-like
 * application types; images, video and archives are compressed already. */
static const char *const default_types[] = {
    "text/*",
    "application/javascript",
    "application/json",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/manifest+json",
    "application/ld+json",
    "application/wasm",
    "image/svg+xml",
    "image/x-icon",
    "font/ttf",
    "font/otf",
    NULL,
};

const struct config_row config_schema[] = {
    CUSTOM("listen", 1, CFG(listen), &read_listen_ops, .flags = CONFIG_REQUIRED,
	   .help = "listeners, \"IP:PORT\" or \"[IPv6]:PORT\"; a string or a list"),
    /* "auto" stands for at most CONFIG_AUTO_MAX loops: the top. */
    UINT("threads", 2, CFG(threads), 1, CONFIG_AUTO_MAX, 0, .flags = CONFIG_AUTO | CONFIG_RESTART,
	 .what = "a number or \"auto\"", .help = "loop threads; \"auto\": online CPUs"),

    CUSTOM("backends", 4, CFG(backends), &read_backends_ops, .flags = CONFIG_REQUIRED,
	   .help = "the backends (only the first one receives traffic today)"),
    STRING("backends[].name", 1, BACKEND(name), .flags = CONFIG_REQUIRED, .what = "a name",
	   .check = read_check_name, .help = "what routes and stats call it; unique"),
    CUSTOM("backends[].servers", 2, BACKEND(servers), &read_servers_ops, .flags = CONFIG_REQUIRED,
	   .help = "\"IP:PORT\", \"host:port\" (every address a server; followed in DNS), or "
		   "{address, weight}"),
    /* An item's weight is read before its address, which may be missing. */
    UINT("backends[].servers[].weight", 2, SERVER(weight), 1, 1000, 1,
	 .help = "its share of the requests"),
    ADDR("backends[].servers[].address", 1, SERVER(address),
	 .flags = CONFIG_REQUIRED | CONFIG_FOLLOW, .help = "\"IP:PORT\" or \"host:port\""),
    ENUM("backends[].balance", 3, BACKEND(balance), &balance_enum, BALANCE_ROUND_ROBIN,
	 .what = "a balancing method",
	 .help = "round_robin (by weight) | least_connections | hash (Host + target)"),
    UINT("backends[].pool_size", 4, BACKEND(pool_size), 0, 10000, 64,
	 .help = "idle keep-alive connections kept per server per loop"),
    TIMEOUT("backends[].connect_timeout", 5, BACKEND(connect_timeout_ns), SEC(3),
	    .help = "connecting to a server"),
    TIMEOUT("backends[].first_byte_timeout", 6, BACKEND(first_byte_timeout_ns), SEC(30),
	    .help = "request sent -> first response byte"),
    TIMEOUT("backends[].between_bytes_timeout", 7, BACKEND(between_bytes_timeout_ns), SEC(30),
	    .help = "between response reads"),
    UINT("backends[].retries", 8, BACKEND(retries), 0, 16, 1,
	 .help = "other servers a failed attempt may try"),
    SECTION("backends[].health_check", 9, BACKEND(health.enabled), .flags = CONFIG_GIVEN,
	    .help = "active probes (absent: none)"),
    STRING("backends[].health_check.path", 1, BACKEND(health.path), .def_str = "/",
	   .what = "a request path", .check = read_check_probe_path,
	   .help = "GET this on a fresh connection"),
    STRING("backends[].health_check.host", 2, BACKEND(health.host), .what = "a host name",
	   .check = read_check_probe_host,
	   .help = "Host of the probe (default: the server as written)"),
    DURATION("backends[].health_check.interval", 3, BACKEND(health.interval_ns), MS(10), HOUR(1),
	     SEC(2), .help = "between probes"),
    TIMEOUT("backends[].health_check.timeout", 4, BACKEND(health.timeout_ns), SEC(1),
	    .help = "the whole probe: connect, send, status line"),
    UINT("backends[].health_check.rise", 5, BACKEND(health.rise), 1, 100, 2,
	 .help = "good probes in a row to come back"),
    UINT("backends[].health_check.fall", 6, BACKEND(health.fall), 1, 100, 3,
	 .help = "failed probes in a row to go out of rotation"),
    CUSTOM("backends[].health_check.expect_status", 7, BACKEND(health.expect), &read_expect_ops,
	   .lo = 100, .hi = 599, .help = "a code or a list (default: any 2xx or 3xx)"),
    UINT("backends[].max_fails", 12, BACKEND(max_fails), 0, 1000, 1,
	 .help = "failed requests within fail_window that take a server out (0: off)"),
    DURATION("backends[].fail_window", 13, BACKEND(fail_window_ns), MS(1), HOUR(24), SEC(10),
	     .range = "1ms..24h", .help = "the window max_fails counts in"),
    DURATION("backends[].fail_timeout", 14, BACKEND(fail_timeout_ns), MS(1), HOUR(24), SEC(10),
	     .range = "1ms..24h", .help = "how long a server stays out"),
    BOOL("backends[].fail_on_5xx", 15, BACKEND(fail_on_5xx), false,
	 .help = "a 5xx answer counts as a failed request"),
    BOOL("backends[].proxy_protocol", 11, BACKEND(proxy_protocol), false,
	 .help = "a PROXY v2 header naming the client first on each connection (not pooled)"),
    CUSTOM("backends[].error_pages", 10, BACKEND(error_pages), &route_error_pages_ops,
	   .help =
	       "bodies for 502, 503, 504 of this backend: {502: \"...\" or {file, content_type}}"),

    /* Looked up while the daemon runs (daemon/resolve.c), never at load. */
    SECTION("io", 18, .help = "the loops' I/O"),
    ENUM("io.backend", 1, CFG(io_backend), &io_backend_enum, IO_BACKEND_AUTO,
	 .flags = CONFIG_RESTART, .what = "an I/O backend",
	 .help = "auto | io_uring | epoll; auto: io_uring, epoll where it is refused"),
    SECTION("resolver", 17, .help = "DNS for servers given as host:port"),
    CUSTOM("resolver.servers", 1, CFG(resolver.servers), &read_resolver_ops,
	   .def_list = (const char *const[]){NULL},
	   .help = "DNS servers, \"IP\" or \"IP:PORT\" (default: /etc/resolv.conf's)"),
    DURATION("resolver.interval", 2, CFG(resolver.interval_ns), MS(10), HOUR(1), SEC(5),
	     .help = "between two lookups of a name"),
    DURATION("resolver.timeout", 3, CFG(resolver.timeout_ns), MS(10), SEC(60), SEC(2),
	     .help = "a whole lookup; a failed one keeps the last good addresses"),

    SECTION("cache", 3, .help = "the object store and how long things stay in it"),
    /* 0 is refused: nothing says it means "no cache", and sizing code divides by it. */
    SIZE("cache.memory", 1, CFG(cache.memory), 1, UINT64_MAX, MIB(256),
	 .range = "must be greater than 0", .help = "budget for stored objects"),
    /* 0 would store nothing at all; "bypass" rules are the explicit way to do that. */
    SIZE("cache.max_object_size", 2, CFG(cache.max_object_size), 1, INT64_MAX, MIB(32),
	 .range = "must be greater than 0", .help = "bigger responses stream through, unstored"),
    /* 0 has a meaning here: responses without freshness information are not stored. */
    DURATION("cache.default_ttl", 3, CFG(cache.default_ttl_ns), 0, LIFETIME_MAX, 0,
	     .help = "lifetime when a cacheable response gives none"),
    /* 0 is the way to turn heuristics off. */
    UINT("cache.heuristic_percent", 4, CFG(cache.heuristic_percent), 0, 100, 10,
	 .help = "heuristic lifetime: % of (Date - Last-Modified)"),
    DURATION("cache.heuristic_max", 5, CFG(cache.heuristic_max_ns), MS(1), LIFETIME_MAX, DAY(1),
	     .help = "cap on the heuristic lifetime"),
    BOOL("cache.heuristic_with_credentials", 10, CFG(cache.heuristic_with_credentials), false,
	 .help = "heuristic and default lifetimes also with Cookie or Authorization"),
    /* RFC 9111 4.2.4 lets a disconnected cache serve stale (a 5xx answer
     * is not a disconnection); 10 s is Varnish's default. must-revalidate, proxy-revalidate,
     * no-cache and s-maxage still forbid it (policy_stale_on_error). */
    DURATION("cache.grace", 6, CFG(cache.grace_ns), 0, LIFETIME_MAX, SEC(10),
	     .help = "serve stale this long when the backend cannot be reached (0: never)"),
    DURATION("cache.hit_for_miss", 7, CFG(cache.hit_for_miss_ns), 0, LIFETIME_MAX, SEC(60),
	     .help = "remember uncacheable keys this long (0: off)"),
    /* Before the rules: they inherit it. */
    SECTION("cache.key", 8, .help = "default cache key options"),
    BOOL("cache.key.host", 1, CFG(cache.key.host), true, .help = "Host (lower-cased) in the key"),
    BOOL("cache.key.query", 2, CFG(cache.key.query), true, .help = "query string in the key"),
    BOOL("cache.key.sort_query", 3, CFG(cache.key.sort_query), false,
	 .help = "sort query parameters first"),
    /* Off by default: it makes spellings share an object that an origin
     * not following RFC 3986 6.2.2 may answer differently. */
    BOOL("cache.key.normalize_path", 4, CFG(cache.key.normalize_path), false,
	 .help = "decode %-encoded unreserved characters in the path (%2F stays)"),
    CUSTOM("cache.rules", 9, CFG(cache.rules), &rules_ops,
	   .help = "first match wins; host and path_prefix optional"),
    STRING("cache.rules[].name", 8, RULE(name), .what = "a name", .check = read_check_name,
	   .help = "what routes[].cache calls it; unique"),
    STRING("cache.rules[].host", 1, RULE(host), .what = "a host name", .check = rules_check_host,
	   .help = "exact, or \"*.example.com\" for subdomains"),
    STRING("cache.rules[].path_prefix", 2, RULE(path_prefix), .what = "a path",
	   .check = rules_check_path, .help = "starts with \"/\"; case-sensitive"),
    DURATION("cache.rules[].ttl", 3, RULE(ttl_ns), 0, LIFETIME_MAX, 0,
	     .flags = CONFIG_UNSET | CONFIG_ACTION,
	     .help = "lifetime regardless of the response (0: not stored)"),
    DURATION("cache.rules[].default_ttl", 4, RULE(default_ttl_ns), 0, LIFETIME_MAX, 0,
	     .flags = CONFIG_UNSET | CONFIG_ACTION,
	     .help = "lifetime when the response gives none"),
    BOOL("cache.rules[].bypass", 5, RULE(bypass), false, .flags = CONFIG_ACTION,
	 .help = "true: never look up or store"),
    /* An int64_t field: -1 is "unset", so the top is INT64_MAX. */
    SIZE("cache.rules[].max_object_size", 6, RULE(max_object_size), 1, INT64_MAX, 0,
	 .flags = CONFIG_UNSET | CONFIG_ACTION, .range = "must be greater than 0",
	 .help = "bigger responses stream through, unstored"),
    SECTION("cache.rules[].key", 7, .flags = CONFIG_ACTION,
	    .help = "key options for matching requests; the others inherit cache.key"),
    BOOL("cache.rules[].key.host", 1, RULE(key.host), false, .inherit = "cache.key.host",
	 .help = "as cache.key.host"),
    BOOL("cache.rules[].key.query", 2, RULE(key.query), false, .inherit = "cache.key.query",
	 .help = "as cache.key.query"),
    BOOL("cache.rules[].key.sort_query", 3, RULE(key.sort_query), false,
	 .inherit = "cache.key.sort_query", .help = "as cache.key.sort_query"),
    BOOL("cache.rules[].key.normalize_path", 4, RULE(key.normalize_path), false,
	 .inherit = "cache.key.normalize_path", .help = "as cache.key.normalize_path"),

    CUSTOM("cache.purge_allow", 11, CFG(cache.purge_allow), &read_networks_ops,
	   .def_list = (const char *const[]){NULL},
	   .help = "networks that may send PURGE to the proxy listener (default: none)"),
    /* The store is opened once, at start (dstore_open on the main thread):
     * a reload keeps the running tier; its admission rule follows the file. */
    SECTION("cache.disk", 12, CFG(cache.disk.enabled), .flags = CONFIG_GIVEN,
	    .help = "the disk tier under the memory tier (absent: memory only)"),
    STRING("cache.disk.path", 1, CFG(cache.disk.path), .flags = CONFIG_REQUIRED | CONFIG_RESTART,
	   .what = "a file or block device path", .check = read_check_disk_path,
	   .help = "store file (preallocated) or block device; one daemon per store"),
    SIZE("cache.disk.size", 2, CFG(cache.disk.size), 0, GIB(1024) * 1024, 0,
	 .flags = CONFIG_RESTART, .help = "bytes of it to use (0: a whole block device)"),
    /* dindex keeps offsets and lengths in 21 bits of 8-byte units. */
    SIZE("cache.disk.segment_size", 3, CFG(cache.disk.segment_size), KIB(64), MIB(16), MIB(8),
	 .flags = CONFIG_RESTART,
	 .help = "unit of writing and eviction; a new size reformats the store"),
    DURATION("cache.disk.min_ttl", 4, CFG(cache.disk.min_ttl_ns), 0, LIFETIME_MAX, SEC(60),
	     .help = "written only with this much freshness left (or validators)"),
    SIZE("cache.disk.max_object_size", 5, CFG(cache.disk.max_object_size), 1, GIB(1), MIB(4),
	 .range = "must be greater than 0",
	 .help = "bigger bodies stay in memory only (at most what fits a segment)"),
    UINT("cache.disk.admit_hits", 6, CFG(cache.disk.admit_hits), 1, 15, 1,
	 .help = "requests before an object goes to disk (1: at store)"),
    BOOL("cache.disk.page_cache", 7, CFG(cache.disk.page_cache), true, .flags = CONFIG_RESTART,
	 .help = "record reads through the page cache (writes stay O_DIRECT)"),

    SECTION("compression", 5, .help = "gzip, br and zstd on a pool of worker threads"),
    BOOL("compression.enabled", 1, CFG(compression.enabled), true,
	 .help = "on by default: a stored copy costs CPU once"),
    /* The pool is made once; while it runs, a reload cannot resize it. */
    UINT("compression.workers", 2, CFG(compression.workers), 1, 256, 0,
	 .flags = CONFIG_AUTO | CONFIG_RESTART, .restart_when = "compression.enabled",
	 .help = "compression threads; \"auto\": online CPUs"),
    UINT("compression.queue", 3, CFG(compression.queue), 1, 65536, 64, .flags = CONFIG_RESTART,
	 .restart_when = "compression.enabled",
	 .help = "jobs waiting for a worker; beyond it, responses go out uncompressed"),
    SIZE("compression.min_size", 4, CFG(compression.min_size), 0, GIB(1), 256,
	 .help = "smaller bodies are sent as they are"),
    CUSTOM("compression.codings", 5, CFG(compression.prefer), &read_codings_ops,
	   .def_list = (const char *const[]){"br", "zstd", "gzip", NULL},
	   .help = "offered, best first"),
    SECTION("compression.levels", 6, .help = "per coding"),
    UINT("compression.levels.gzip", 1, CFG(compression.level[CODING_GZIP]), 1, 9, 6,
	 .help = "gzip level"),
    /* 4 is what CDNs use on the fly: 5 and up cost twice as much. */
    UINT("compression.levels.br", 2, CFG(compression.level[CODING_BR]), 0, 11, 4,
	 .help = "brotli quality"),
    UINT("compression.levels.zstd", 3, CFG(compression.level[CODING_ZSTD]), 1, 19, 3,
	 .help = "zstd level"),
    CUSTOM("compression.types", 7, CFG(compression.types), &read_types_ops,
	   .def_list = default_types,
	   .help = "Content-Types to compress; \"type/subtype\" or \"type/*\""),
    BOOL("compression.bench_on_loop", 8, CFG(compression.bench_on_loop), false,
	 .flags = CONFIG_RESTART, .restart_when = "compression.enabled",
	 .help = "benchmark only: run the codecs on the loop threads"),

    SECTION("admin", 6, CFG(admin.enabled), .flags = CONFIG_GIVEN,
	    .help = "the admin API: metrics, stats, reload, purge, ban"),
    STRING("admin.token", 2, CFG(admin.token), .what = "a string", .check = read_check_token,
	   .help = "if set, every admin request needs \"Authorization: Bearer TOKEN\""),
    CUSTOM("admin.allow", 3, CFG(admin.allow), &read_allow_ops,
	   .def_list = (const char *const[]){"127.0.0.0/8", "::1/128", NULL},
	   .help = "client networks allowed, \"ADDR/PREFIX\" or an address"),
    /* Last: an admin section that enables nothing is almost surely a mistake. */
    ADDR("admin.listen", 1, CFG(admin.listen), .flags = CONFIG_REQUIRED | CONFIG_PORT0,
	 .help = "\"IP:PORT\" of the admin API"),

    SECTION("timeouts", 7, .help = "client, send and tunnel timeouts"),
    TIMEOUT("timeouts.client_header", 1, CFG(timeouts.client_header_ns), SEC(10),
	    .help = "the whole request head"),
    TIMEOUT("timeouts.client_body", 2, CFG(timeouts.client_body_ns), SEC(30),
	    .help = "between request body reads"),
    TIMEOUT("timeouts.client_idle", 3, CFG(timeouts.client_idle_ns), SEC(60),
	    .help = "keep-alive wait for the next request"),
    TIMEOUT("timeouts.send", 4, CFG(timeouts.send_ns), SEC(30),
	    .help = "any single send to a peer"),
    /* A run time, not a peer timeout: microseconds make sense (tracing a
     * latency problem, and the tests). */
    DURATION("timeouts.task_budget", 5, CFG(timeouts.task_budget_ns), US(1), SEC(60), MS(10),
	     .range = "1us..60s", .help = "starvation watchdog: longest run between awaits"),
    DURATION("timeouts.drain", 6, CFG(timeouts.drain_ns), SEC(1), HOUR(1), SEC(10),
	     .help = "SIGTERM: how long in-flight requests may take"),
    TIMEOUT("timeouts.tunnel", 7, CFG(timeouts.tunnel_ns), HOUR(1),
	    .help = "a WebSocket tunnel without a byte either way is closed"),

    SECTION("limits", 8, .help = "sizes and counts"),
    /* 1 GiB; nginx's 1 MiB breaks uploads. */
    SIZE("limits.max_body_size", 4, CFG(limits.max_body_size), 0, GIB(1024), GIB(1),
	 .range = "0..1024GiB; 0: no limit", .help = "request body; over it -> 413 (0: no limit)"),
    SIZE("limits.max_header_size", 1, CFG(limits.max_header_size), KIB(1), MIB(1), KIB(16),
	 .help = "request or response head; over it -> 431 / 502"),
    UINT("limits.max_headers", 2, CFG(limits.max_headers), 1, 1000, 100,
	 .help = "header field count"),
    UINT("limits.max_connections", 3, CFG(limits.max_connections), 1, 1000000, 10000,
	 .help = "client connections; accepting pauses at this many"),

    SECTION("log", 9, .help = "the error log and the access log"),
    ENUM("log.level", 1, CFG(log_level), &level_enum, LOG_LEVEL_INFO, .what = "a log level",
	 .help = "error | warn | info | debug"),
    /* The file is opened at start (and on SIGUSR1), not here. */
    STRING("log.access", 2, CFG(log_access_path), .flags = CONFIG_RESTART,
	   .what = "a file path or \"off\"", .check = read_check_access_log,
	   .help = "access log file (absent or \"off\": none)"),
    ENUM("log.access_format", 3, CFG(log_access_format), &access_format_enum,
	 ACCESS_FORMAT_COMBINED, .flags = CONFIG_RESTART, .what = "an access log format",
	 .help = "combined (NCSA + cache fields) | json"),

    /* Empty (or absent): no client is a trusted proxy. */
    CUSTOM("trusted_proxies", 10, CFG(trusted), &read_trusted_ops,
	   .def_list = (const char *const[]){NULL},
	   .help = "clients whose forwarding fields are believed and keyed"),
    /* As nginx's underscores_in_headers off: X_Forwarded_Host is
     * X-Forwarded-Host to CGI-style backends, not to the cache. */
    BOOL("underscores_in_headers", 11, CFG(underscores_in_headers), false,
	 .help = "keep request fields whose names contain '_'"),
    BOOL("forwarded", 16, CFG(forwarded), false,
	 .help = "add an RFC 7239 Forwarded element (for, proto) to forwarded requests"),

    CUSTOM("routes", 12, CFG(routes), &routes_ops,
	   .help = "first match wins; none: every request to the first backend"),
    STRING("routes[].name", 1, ROUTE(name), .what = "a name", .check = read_check_name,
	   .help = "what logs call it (default: routes[N])"),
    SECTION("routes[].match", 2, .help = "every test given must hold; none: every request"),
    STRING("routes[].match.host", 1, ROUTE(match.host), .what = "a host name",
	   .check = rules_check_host, .help = "exact, or \"*.example.com\" for subdomains"),
    CUSTOM("routes[].match.host_regex", 2, ROUTE(match.host_regex), &route_regex_ops,
	   .help = "PCRE2, on the Host lower-cased without its port"),
    STRING("routes[].match.path", 3, ROUTE(match.path), .what = "a path", .check = rules_check_path,
	   .help = "the normalised path, exactly"),
    STRING("routes[].match.path_prefix", 4, ROUTE(match.path_prefix), .what = "a path",
	   .check = rules_check_path, .help = "the normalised path starts with it"),
    CUSTOM("routes[].match.path_regex", 5, ROUTE(match.path_regex), &route_regex_ops,
	   .help = "PCRE2, on the normalised path; captures are ${1}..${9}"),
    CUSTOM("routes[].match.method", 6, ROUTE(match.methods), &route_methods_ops,
	   .help = "a method or a list"),
    CUSTOM("routes[].match.header", 7, ROUTE(match.headers), &route_field_tests_ops,
	   .help = "{name, and equals, regex or absent: true}, or a list (all must hold)"),
    CUSTOM("routes[].match.query", 8, ROUTE(match.queries), &route_field_tests_ops,
	   .help = "a query parameter, as header"),
    CUSTOM("routes[].match.client", 9, ROUTE(match.clients), &read_networks_ops,
	   .def_list = (const char *const[]){NULL}, .help = "client networks, \"ADDR/PREFIX\""),
    STRING("routes[].backend", 3, ROUTE(backend_name), .what = "a backend name",
	   .check = read_check_name, .help = "action: forward to this backend"),
    SECTION("routes[].redirect", 4, .help = "action: answer with a redirect"),
    UINT("routes[].redirect.status", 1, ROUTE(redirect_status), 301, 308, 302,
	 .help = "301, 302, 303, 307 or 308"),
    CUSTOM("routes[].redirect.location", 2, ROUTE(location), &route_template_ops,
	   .flags = CONFIG_REQUIRED, .help = "a template: ${host} ${path} ${query} ${1}"),
    SECTION("routes[].respond", 5, .help = "action: answer with this response"),
    UINT("routes[].respond.status", 1, ROUTE(respond_status), 200, 599, 200, .help = "its status"),
    STRING("routes[].respond.body", 2, ROUTE(body), .what = "a string", .help = "its body"),
    STRING("routes[].respond.body_file", 3, ROUTE(body_file), .what = "a file path",
	   .help = "or its body from this file, read at load (at most 1 MiB)"),
    STRING("routes[].respond.content_type", 4, ROUTE(content_type),
	   .def_str = "text/plain; charset=utf-8", .what = "a media type",
	   .help = "its Content-Type"),
    CUSTOM("routes[].respond.headers", 5, ROUTE(respond_headers), &route_hdr_fields_ops,
	   .help = "more fields: {Name: template}"),
    CUSTOM("routes[].deny", 6, ROUTE(deny_status), &route_deny_ops,
	   .help = "action: true (403) or a status 400..599"),
    CUSTOM("routes[].cache", 7, ROUTE(cache_name), &route_cache_ops,
	   .help = "a cache rule's name, or a rule's own keys (none: cache.rules apply)"),
    DURATION("routes[].cache.ttl", 1, ROUTE(cache.ttl_ns), 0, LIFETIME_MAX, 0,
	     .flags = CONFIG_UNSET, .help = "as cache.rules[].ttl"),
    DURATION("routes[].cache.default_ttl", 2, ROUTE(cache.default_ttl_ns), 0, LIFETIME_MAX, 0,
	     .flags = CONFIG_UNSET, .help = "as cache.rules[].default_ttl"),
    BOOL("routes[].cache.bypass", 3, ROUTE(cache.bypass), false, .help = "as cache.rules[].bypass"),
    SIZE("routes[].cache.max_object_size", 4, ROUTE(cache.max_object_size), 1, INT64_MAX, 0,
	 .flags = CONFIG_UNSET, .range = "must be greater than 0",
	 .help = "as cache.rules[].max_object_size"),
    SECTION("routes[].cache.key", 5, .help = "as cache.rules[].key"),
    BOOL("routes[].cache.key.host", 1, ROUTE(cache.key.host), false, .inherit = "cache.key.host",
	 .help = "as cache.key.host"),
    BOOL("routes[].cache.key.query", 2, ROUTE(cache.key.query), false, .inherit = "cache.key.query",
	 .help = "as cache.key.query"),
    BOOL("routes[].cache.key.sort_query", 3, ROUTE(cache.key.sort_query), false,
	 .inherit = "cache.key.sort_query", .help = "as cache.key.sort_query"),
    BOOL("routes[].cache.key.normalize_path", 4, ROUTE(cache.key.normalize_path), false,
	 .inherit = "cache.key.normalize_path", .help = "as cache.key.normalize_path"),
    CUSTOM("routes[].compression", 8, ROUTE(compression), &route_tristate_ops,
	   .help = "true or false (absent: as compression.enabled)"),
    SECTION("routes[].timeouts", 9, .help = "instead of the backend's"),
    DURATION("routes[].timeouts.connect", 1, ROUTE(timeouts.connect_ns), MS(1), HOUR(24), 0,
	     .flags = CONFIG_UNSET, .range = "1ms..24h", .help = "as backends[].connect_timeout"),
    DURATION("routes[].timeouts.first_byte", 2, ROUTE(timeouts.first_byte_ns), MS(1), HOUR(24), 0,
	     .flags = CONFIG_UNSET, .range = "1ms..24h",
	     .help = "as backends[].first_byte_timeout"),
    DURATION("routes[].timeouts.between_bytes", 3, ROUTE(timeouts.between_bytes_ns), MS(1),
	     HOUR(24), 0, .flags = CONFIG_UNSET, .range = "1ms..24h",
	     .help = "as backends[].between_bytes_timeout"),
    STRING("routes[].backend_host", 10, ROUTE(backend_host), .what = "a host name",
	   .check = read_check_probe_host,
	   .help = "Host sent to the backend (default: the client's)"),
    SECTION("routes[].rewrite", 11, .help = "the path sent to the backend"),
    STRING("routes[].rewrite.strip_prefix", 1, ROUTE(rewrite.strip_prefix), .what = "a path",
	   .check = rules_check_path, .help = "removed from the start of the path"),
    CUSTOM("routes[].rewrite.regex", 2, ROUTE(rewrite.regex), &route_regex_ops,
	   .help = "PCRE2 on the normalised path, replaced by replace"),
    CUSTOM("routes[].rewrite.replace", 3, ROUTE(rewrite.replace), &route_template_ops,
	   .help = "a template with ${1}..${9}"),
    ENUM("routes[].cache_key", 12, ROUTE(cache_key), &cache_key_enum, KEY_FROM_ORIGINAL,
	 .what = "original or rewritten",
	 .help = "the path the cache key takes: original | rewritten"),
    SECTION("routes[].request_headers", 13, .help = "before forwarding; after the global rules"),
    CUSTOM("routes[].request_headers.set", 1, ROUTE(req_headers.set), &route_hdr_fields_ops,
	   .help = "{Name: template}: replaces every line of the name"),
    CUSTOM("routes[].request_headers.add", 2, ROUTE(req_headers.add), &route_hdr_fields_ops,
	   .help = "{Name: template}: one more line"),
    CUSTOM("routes[].request_headers.remove", 3, ROUTE(req_headers.remove), &route_names_ops,
	   .help = "field names"),
    SECTION("routes[].response_headers", 14,
	    .help = "before sending, hits too (never stored); after the global rules"),
    CUSTOM("routes[].response_headers.set", 1, ROUTE(resp_headers.set), &route_hdr_fields_ops,
	   .help = "{Name: template}: replaces every line of the name"),
    CUSTOM("routes[].response_headers.add", 2, ROUTE(resp_headers.add), &route_hdr_fields_ops,
	   .help = "{Name: template}: one more line"),
    CUSTOM("routes[].response_headers.remove", 3, ROUTE(resp_headers.remove), &route_names_ops,
	   .help = "field names"),
    BOOL("routes[].headers_inherit", 15, ROUTE(headers_inherit), true,
	 .help = "the global header rules apply too, before the route's"),
    BOOL("routes[].websocket", 16, ROUTE(websocket), true,
	 .help = "Upgrade: websocket requests may open a tunnel"),
    SECTION("routes[].rate_limit", 17, ROUTE(rate_given), .flags = CONFIG_GIVEN,
	    .help = "requests per second per client address (absent: none)"),
    UINT("routes[].rate_limit.rate", 1, ROUTE(rate_limit.rate), 1, 1000000, 10,
	 .help = "requests per second"),
    UINT("routes[].rate_limit.burst", 2, ROUTE(rate_limit.burst), 0, 1000000, 0,
	 .help = "requests at once above the rate (0: the rate)"),
    CUSTOM("routes[].error_pages", 18, ROUTE(error_pages), &route_error_pages_ops,
	   .help = "as error_pages, for this route"),

    SECTION("request_headers", 13, .help = "header rules for every forwarded request"),
    CUSTOM("request_headers.set", 1, CFG(req_headers.set), &route_hdr_fields_ops,
	   .help = "{Name: template}: replaces every line of the name"),
    CUSTOM("request_headers.add", 2, CFG(req_headers.add), &route_hdr_fields_ops,
	   .help = "{Name: template}: one more line"),
    CUSTOM("request_headers.remove", 3, CFG(req_headers.remove), &route_names_ops,
	   .help = "field names"),
    SECTION("response_headers", 14, .help = "header rules for every response"),
    CUSTOM("response_headers.set", 1, CFG(resp_headers.set), &route_hdr_fields_ops,
	   .help = "{Name: template}: replaces every line of the name"),
    CUSTOM("response_headers.add", 2, CFG(resp_headers.add), &route_hdr_fields_ops,
	   .help = "{Name: template}: one more line"),
    CUSTOM("response_headers.remove", 3, CFG(resp_headers.remove), &route_names_ops,
	   .help = "field names"),
    CUSTOM("error_pages", 15, CFG(error_pages), &route_error_pages_ops,
	   .help = "bodies instead of the built-in text: {502: \"...\" or {file, content_type}}"),

    /* Nodes that act as one cache (backend/cluster.h). Nothing here is
     * restart-only: a reload's generation gets the new members. After the
     * walk, cluster_check (cluster.c) appends its backend, "cluster", to
     * backends[]. */
    SECTION("cluster", 19, CFG(cluster.enabled), .flags = CONFIG_GIVEN,
	    .help = "nodes that act as one cache, each key owned by one (absent: none)"),
    /* Required unless discovery finds it (cluster_check says so). */
    ADDR("cluster.self", 1, CFG(cluster.self), .flags = CONFIG_NUMERIC,
	 .help = "this node as its peers reach it: \"IP:PORT\" or \"[IPv6]:PORT\""),
    /* Required unless discovery is given (cluster_check). */
    CUSTOM("cluster.peers", 2, CFG(cluster.peers), &read_peers_ops,
	   .help = "the members, \"IP:PORT\" or \"host:port\" (followed in DNS); self or not"),
    SECTION("cluster.discovery", 8, CFG(cluster.discovery.enabled), .flags = CONFIG_GIVEN,
	    .help = "the members from DNS: every address of a name (a headless Service)"),
    STRING("cluster.discovery.dns", 1, CFG(cluster.discovery.dns), .flags = CONFIG_REQUIRED,
	   .what = "a DNS name", .check = read_check_dns_name,
	   .help = "e.g. \"ringcache-headless.NAMESPACE.svc.cluster.local\" (A and AAAA)"),
    UINT("cluster.discovery.port", 2, CFG(cluster.discovery.port), 1, 65535, 8080,
	 .help = "the members' listener port"),
    DURATION("cluster.discovery.interval", 3, CFG(cluster.discovery.interval_ns), MS(100), HOUR(1),
	     SEC(5), .help = "between two lookups of the name"),
    DURATION("cluster.discovery.settle", 4, CFG(cluster.discovery.settle_ns), 0, MIN_(10), SEC(5),
	     .help = "a new address set is applied once it held this long"),
    STRING("cluster.token", 3, CFG(cluster.token), .flags = CONFIG_REQUIRED, .what = "a string",
	   .check = read_check_cluster_token,
	   .help = "shared secret of the hop field (16+ visible ASCII characters)"),
    SECTION("cluster.near_cache", 4, .help = "local copies of other members' objects"),
    DURATION("cluster.near_cache.ttl", 1, CFG(cluster.near_ttl_ns), 0, HOUR(1), SEC(10),
	     .help = "cap on a local copy's lifetime (0: no copies kept)"),
    SIZE("cluster.near_cache.max_object_size", 2, CFG(cluster.near_max_object_size), 1, GIB(1),
	 MIB(1), .help = "bigger forwarded responses are not kept"),
    TIMEOUT("cluster.connect_timeout", 5, CFG(cluster.connect_timeout_ns), SEC(1),
	    .help = "connecting to a peer (short: failover is quick)"),
    TIMEOUT("cluster.first_byte_timeout", 6, CFG(cluster.first_byte_timeout_ns), SEC(60),
	    .help = "request sent to a peer -> first response byte (its own fetch included)"),
    DURATION("cluster.probe_interval", 7, CFG(cluster.probe_interval_ns), MS(100), HOUR(1), SEC(1),
	     .help = "between health probes of the members"),
    /* Read once at start (serve/cstream.h): its threads and connections
     * are made then. */
    SECTION("cluster.invalidation", 9,
	    .help = "how purges, bans and tag purges reach the members (absent: HTTP)"),
    STRING("cluster.invalidation.redis", 1, CFG(cluster.invalidation.redis),
	   .flags = CONFIG_RESTART | CONFIG_SECRET, .what = "a Redis URL",
	   .check = read_check_redis_url,
	   .help = "a Redis Stream as the log: redis://[:PASSWORD@]HOST[:PORT][/DB] or "
		   "unix:/PATH"),
    STRING("cluster.invalidation.stream", 2, CFG(cluster.invalidation.stream),
	   .flags = CONFIG_RESTART, .def_str = "ringcache:invalidations", .what = "a key",
	   .check = read_check_redis_key, .help = "the stream's key"),
    UINT("cluster.invalidation.max_len", 3, CFG(cluster.invalidation.max_len), 16, 100000000,
	 100000, .flags = CONFIG_RESTART, .help = "entries the stream keeps (XADD MAXLEN)"),
};

const size_t config_schema_n = sizeof(config_schema) / sizeof(config_schema[0]);

const struct config_table config_schema_table = {
    .rows = config_schema,
    .n = sizeof(config_schema) / sizeof(config_schema[0]),
};

const struct config_row *config_schema_find(const char *path)
{
	return config_table_find(&config_schema_table, path);
}

bool config_row_is_default(const struct config_row *row, const void *base,
			   const struct config *root)
{
	return config_table_is_default(&config_schema_table, row, base, root);
}
