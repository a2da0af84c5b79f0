/*
 * config.h - the daemon's configuration, loaded from YAML (libyaml).
 *
 * src/config/: schema.c is the table of keys (one row each: path, type,
 * field, range, default, whether a reload applies it, help); row.c is what
 * one row says and table.c what is done with a table's rows (defaults,
 * freeing, comparing); walk.c reads a YAML document along the table;
 * values.c parses sizes, durations, addresses and networks; readers.c and
 * rules.c read the lists and cache rules; cluster.c makes the cluster's
 * backend; load.c holds the entry points; restart.c the reload rule below.
 *
 * A loaded config is immutable: the loader builds a whole new struct config,
 * validates it, and only then hands it out. Reload builds another one and
 * swaps it in; the old one is freed when nothing uses it any more.
 *
 * Errors are collected, not stopped at: every problem in the file is
 * reported as one "FILE:LINE:COL: message" line (1-based line and column of
 * the offending YAML node), so `ringcache -t` shows them all at once.
 *
 * Schema (sizes take B/KiB/MiB/GiB or KB/MB/GB; durations ms/s/m/h/d, a bare
 * number of a duration means seconds; booleans are true/false):
 *
 *   listen: ["127.0.0.1:8080"]      # string or list; "IP:PORT" or "[IPv6]:PORT"; an item
 *                                   # may be {address: "IP:PORT", proxy_protocol: true}:
 *                                   # connections start with a PROXY v1/v2 header,
 *                                   # taken only from trusted_proxies
 *   threads: 2                      # or "auto" (online CPUs)
 *   io:
 *     backend: auto                 # auto | io_uring | epoll (restart); auto: io_uring,
 *                                   # epoll (one warning) where it is refused
 *   backends:
 *     - name: app
 *       servers: ["127.0.0.1:9000"] # numeric IP:PORT, or host:port: a DNS name the
 *                                   # resolver follows (every address a server);
 *                                   # an item may be {address: "IP:PORT", weight: 3}
 *       balance: round_robin        # round_robin (by weight) | least_connections | hash
 *                                   # (consistent hashing on host + request-target)
 *       pool_size: 64               # idle keep-alive connections kept per server per thread
 *       connect_timeout: 3s
 *       first_byte_timeout: 30s
 *       between_bytes_timeout: 30s
 *       retries: 1                  # other servers to try when one fails before it
 *                                   # answers (0..16): connect errors for any request,
 *                                   # send errors, closes and timeouts before the
 *                                   # response head for idempotent ones without a body
 *       health_check:               # active probes; absent: none
 *         path: /healthz            # GET this (default "/")
 *         host: app.internal        # Host of the probe (default: the server as written)
 *         interval: 2s              # between probes (10ms..1h)
 *         timeout: 1s               # the whole probe: connect, send, status line
 *         rise: 2                   # good probes in a row to go back into rotation
 *         fall: 3                   # failed probes in a row to be taken out (1..100)
 *         expect_status: 200        # a code or a list (default: any 2xx or 3xx)
 *       max_fails: 1                # passive health (nginx's): this many failed real
 *       fail_window: 10s            # requests within fail_window take a server out of
 *       fail_timeout: 10s           # rotation for fail_timeout (0: off; a backend of
 *       fail_on_5xx: false          # one server never); true: a 5xx counts too
 *       proxy_protocol: false       # true: each connection starts with a PROXY v2
 *                                   # header naming the client (such connections are
 *                                   # not pooled: each is one client's)
 *       error_pages:                # bodies instead of the built-in text for this
 *         502: "<h1>down</h1>"      # backend's 5xx: a string, or {body | file,
 *                                   # content_type} (default text/html)
 *   resolver:                       # DNS for servers given as host:port (docs/routing.md)
 *     servers: ["127.0.0.1:53"]     # "IP", "IP:PORT" or "[IPv6]:PORT" (default: the
 *                                   # nameservers of /etc/resolv.conf)
 *     interval: 5s                  # between two lookups of a name (10ms..1h)
 *     timeout: 2s                   # a whole lookup, A and AAAA; a failed one keeps
 *                                   # the name's last good addresses
 *   cache:
 *     memory: 256MiB
 *     max_object_size: 32MiB       # bigger responses are streamed, not stored
 *     default_ttl: 0s              # lifetime when a cacheable response gives none
 *                                  # and heuristics do not apply (0: not stored)
 *     heuristic_percent: 10        # heuristic lifetime = % of (Date - Last-Modified)
 *                                  # (0..100; 0 turns heuristics off)
 *     heuristic_max: 1d            # cap on the heuristic lifetime
 *     heuristic_with_credentials: false  # true: heuristic and default lifetimes also
 *                                  # for responses to requests with Cookie or
 *                                  # Authorization (default: such a response is
 *                                  # stored only with explicit freshness or public)
 *     grace: 10s                   # serve stale this long past expiry when the
 *                                  # backend cannot be reached (errors, resets,
 *                                  # timeouts; not on a 5xx answer; not
 *                                  # past must-revalidate, proxy-revalidate,
 *                                  # no-cache or s-maxage; 0: only where
 *                                  # stale-if-error allows it)
 *     hit_for_miss: 60s            # remember an uncacheable response this long
 *                                  # (0: disabled)
 *     key:                         # default cache key options
 *       host: true                 # include the Host (lower-cased, port kept)
 *       query: true                # include the query string
 *       sort_query: false          # sort query parameters before keying
 *       normalize_path: false      # key /a%62c as /abc (%2F stays distinct)
 *     rules:                       # first match wins; host and path_prefix optional
 *       - name: static             # optional; what routes[].cache names
 *         host: "static.example.com"   # exact, or "*.example.com" for subdomains
 *                                  # (not example.com itself); any case, no port
 *         path_prefix: "/assets/"  # must start with "/"; case-sensitive
 *         ttl: 1h                  # override: lifetime regardless of the response
 *                                  # (0: zero lifetime, i.e. not stored)
 *         default_ttl: 10m         # lifetime when the response gives none
 *         bypass: false            # true: never look up or store (pass)
 *         max_object_size: 64MiB
 *         key: {query: false}      # key options for matching requests; options
 *                                  # not given inherit cache.key
 *                                  # a rule needs at least one of ttl, default_ttl,
 *                                  # bypass, max_object_size, key
 *     purge_allow: ["10.0.0.0/8"]  # clients that may send PURGE /path to the proxy
 *                                  # listener (Varnish's convention); default none:
 *                                  # PURGE is then a method like any other
 *     disk:                        # the disk tier (absent: memory only)
 *       path: /var/cache/ringcache/store  # a file (preallocated) or a block device;
 *                                  # one daemon per store (locked); restart
 *       size: 10GiB                # bytes of it to use (0: a whole block device); restart
 *       segment_size: 8MiB         # unit of writing and eviction (64KiB..16MiB);
 *                                  # restart; a new size reformats the store
 *       min_ttl: 60s               # written only with this much freshness left
 *                                  # (or validators to revalidate with)
 *       max_object_size: 4MiB      # bigger bodies stay in memory only (at most
 *                                  # what fits a segment)
 *       admit_hits: 1              # requests before an object goes to disk
 *                                  # (1: when first stored; 2: asked twice)
 *       page_cache: true           # reads through the page cache (writes stay
 *                                  # O_DIRECT); false: every read from the disk
 *   compression:                   # gzip, br and zstd on a pool of worker threads
 *     enabled: true                # on by default: a stored copy costs CPU once
 *     workers: auto                # compression threads; "auto": online CPUs (1..256)
 *     queue: 64                    # jobs waiting for a worker (1..65536); when it is
 *                                  # full, responses go out uncompressed (counted)
 *     min_size: 256B               # smaller bodies are sent as they are
 *     codings: [br, zstd, gzip]    # offered, in the server's order of preference
 *     levels: {gzip: 6, br: 4, zstd: 3}   # gzip 1..9, br 0..11, zstd 1..19
 *     types: ["text/html", "application/json"]  # Content-Types to compress;
 *                                  # exact "type/subtype", or "type/" and a star for any
 *                                  # subtype; the list replaces the defaults (text, JSON,
 *                                  # JS, XML, SVG, fonts, wasm)
 *     bench_on_loop: false         # benchmark only: run the codecs on the loop
 *                                  # threads, to show what the pool is for
 *   admin:
 *     listen: "127.0.0.1:9090"
 *     token: "secret"              # if set, purge/ban need "Authorization: Bearer secret"
 *     allow: ["127.0.0.0/8", "::1/128"]  # client networks allowed (default: loopback);
 *                                  # "ADDR/PREFIX" or a bare address (one host), IPv4
 *                                  # or IPv6; a string or a list
 *   trusted_proxies: ["10.0.0.0/8"] # clients whose forwarding fields (Forwarded,
 *                                  # X-Forwarded-Host/-Proto/...) are believed and keyed,
 *                                  # and whose override fields pass; from others they
 *                                  # are removed (default: none; see http/forward.h)
 *   underscores_in_headers: false   # true: keep request fields whose names contain '_'
 *                                  # (false, as nginx: removed, since many backends
 *                                  # read X_Forwarded_Host as X-Forwarded-Host)
 *   routes:                        # first match wins (docs/routing.md); none, or
 *                                  # no match: every request to backends[0]
 *     - name: api                  # for logs (default routes[N])
 *       match:                     # every test given must hold; none: all requests
 *         host: "api.example.com"  # exact or "*.suffix", no port, any case
 *         host_regex: "^v[0-9]+\\."  # PCRE2 on the lower-cased Host without port
 *         path: /exact             # on the normalised path (%-decoding of
 *         path_prefix: /api/       # unreserved bytes, "//" merged, dot segments
 *         path_regex: "^/u/(\\d+)$"  # refused); captures are ${1}..${9}
 *         method: [GET, HEAD]      # one or a list
 *         header: {name: X-Version, equals: "2"}   # or regex: R, or absent: true, or
 *                                  # just the name (present); a list: all must hold;
 *                                  # repeated lines are joined with ", "
 *         query: {name: debug, equals: "1"}        # the same, on the query string
 *         client: ["10.0.0.0/8"]   # the client's network
 *       backend: app               # action: one of backend, redirect, respond, deny
 *       redirect: {status: 301, location: "https://new.example.com${path}${query}"}
 *                                  # 301 | 302 | 303 | 307 | 308; location is a
 *                                  # template: ${host} ${path} ${query} ${uri}
 *                                  # ${method} ${scheme} ${client} ${request_id}
 *                                  # ${cache_status} ${1}..${9}
 *       respond:                   # a response made here
 *         status: 503
 *         body: "down\n"           # or body_file: /path (read at load, <= 1 MiB)
 *         body_file: /etc/ringcache/maintenance.html
 *         content_type: text/html  # default "text/plain; charset=utf-8"
 *         headers: {Retry-After: "120"}
 *       deny: true                 # 403, or a status 400..599
 *       cache: static              # a cache.rules name, or a rule's own keys:
 *         ttl: 1h                  # as cache.rules[]
 *         default_ttl: 10m
 *         bypass: false
 *         max_object_size: 64MiB
 *         key: {query: false}
 *       compression: false         # on or off for this route (default: compression.enabled)
 *       timeouts: {connect: 1s, first_byte: 5s, between_bytes: 5s}  # instead of the backend's
 *       backend_host: api.internal # Host sent to the backend (default: the client's)
 *       rewrite: {strip_prefix: /api}   # or {regex: "^/old/(.*)", replace: "/new/${1}"}
 *       cache_key: original        # original | rewritten: the path the cache key takes
 *       request_headers:           # before forwarding (remove, then set, then add):
 *         set: {X-Route: api}      # values are templates
 *         add: {X-Request-Id: "${request_id}"}
 *         remove: [Cookie]
 *       response_headers:          # before sending, hits included (never stored)
 *         set: {X-Served-By: ringcache}
 *       headers_inherit: true      # the global header rules apply first (default)
 *       websocket: true            # Upgrade: websocket may open a tunnel (default)
 *       rate_limit: {rate: 10, burst: 20}  # requests per second per client address;
 *                                  # over it: 429 with Retry-After (burst 0: = rate)
 *       error_pages: {502: "..."}  # as error_pages, for this route
 *   request_headers: {set: {}, add: {}, remove: []}    # global rules, before each route's
 *   response_headers: {set: {}, add: {}, remove: []}
 *   error_pages: {404: {file: /etc/ringcache/404.html, content_type: text/html}}
 *                                  # bodies of ringcache's own 4xx/5xx answers
 *   forwarded: false                # true: requests to backends get an RFC 7239
 *                                  # Forwarded element (for=client;proto=http) besides
 *                                  # X-Forwarded-For and X-Forwarded-Proto (always)
 *   timeouts:
 *     client_header: 10s            # whole request head must arrive within this
 *     client_body: 30s              # between request body bytes
 *     client_idle: 60s              # keep-alive idle wait for the next request
 *     send: 30s                     # any single send to a peer
 *     drain: 10s                    # SIGTERM: in-flight requests get this long (1s..1h)
 *     task_budget: 10ms             # longer runs between awaits are logged once
 *                                   # and counted (the starvation watchdog)
 *     tunnel: 1h                    # a WebSocket tunnel without a byte either way
 *                                   # is closed (1ms..24h)
 *   limits:
 *     max_header_size: 16KiB        # request or response head; over it -> 431 / 502
 *     max_headers: 100              # header field count
 *     max_connections: 10000        # client connections per daemon
 *     max_body_size: 1GiB           # request body; over it -> 413 (0: no limit)
 *   log:
 *     level: info                   # error | warn | info | debug
 *     access: /var/log/ringcache/access.log  # access log file (absent or "off": none);
 *                                   # opened at start, reopened on SIGUSR1; a change
 *                                   # needs a restart (see docs/accesslog.md)
 *     access_format: combined       # combined (NCSA + cache fields) | json
 *   cluster:                        # nodes that act as one cache (absent: none); each key
 *                                   # is owned by one member (rendezvous hashing), the
 *                                   # others forward its requests there
 *     self: "10.0.0.1:8080"         # this node as its peers reach it; numeric "IP:PORT"
 *                                   # or "[IPv6]:PORT" (not 0.0.0.0 or ::); required
 *                                   # unless discovery finds it among its addresses
 *     peers: ["10.0.0.1:8080", "10.0.0.2:8080"]  # the members, a string or a list;
 *                                   # "IP:PORT" or "host:port" (followed in DNS, as
 *                                   # backends[].servers); self among them or not;
 *                                   # peers, discovery or both
 *     discovery:                    # the members from DNS (absent: peers only)
 *       dns: "rc-headless.ns.svc.cluster.local"  # required: a name whose A and AAAA
 *                                   # records are the members (a headless Service)
 *       port: 8080                  # the members' listener port
 *       interval: 5s                # between lookups (the resolver's, if shorter)
 *       settle: 5s                  # a change is applied this long after it came,
 *                                   # with the ones that came meanwhile (0..10m)
 *     token: "a-shared-secret-of-16+-chars"  # required: sent in the Ringcache-Hop field;
 *                                   # 16+ visible ASCII characters, the same on every member
 *     near_cache:                   # local copies of objects other members own
 *       ttl: 10s                    # cap on a copy's lifetime (0..1h; 0: no copies kept)
 *       max_object_size: 1MiB       # bigger forwarded responses are not kept (1..1GiB)
 *     connect_timeout: 1s           # to a peer (short: failover is quick)
 *     first_byte_timeout: 60s       # a peer's answer, its own fetch included
 *     probe_interval: 1s            # health probes between members (100ms..1h); a member
 *                                   # is out after 2 failed ones or one failed request
 *                                   # (for 2 intervals); none of these needs a restart
 *     invalidation:                 # how purges, bans and tag purges reach the members
 *       redis: "redis://10.0.0.9:6379"  # a Redis Stream as the log (absent: HTTP to each
 *                                   # member); redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
 *                                   # or unix:/PATH[?db=DB]; a change needs a restart
 *       stream: "ringcache:invalidations"  # the stream's key (restart)
 *       max_len: 100000             # entries the stream keeps (16..100000000; restart)
 */
#ifndef RINGCACHE_CONFIG_H
#define RINGCACHE_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http/coding.h"

#define CONFIG_MAGIC 0x43464721u

struct config_addr {
	char *spec; /* as written in the file, e.g. "127.0.0.1:8080" */
	struct sockaddr_storage sa;
	socklen_t salen; /* 0: a name not resolved yet (HOST) */
	/*
	 * backends[].servers only: the DNS name of a "host:port" server. It is
	 * not resolved at load; the daemon's resolver follows it and each
	 * configuration generation has one server per address it has
	 * (backend/gen.h): in the config SA is unset (SALEN 0), in a
	 * generation's server it is that address. NULL: written as an address.
	 */
	char *host;
	uint16_t port;	     /* of HOST */
	bool proxy_protocol; /* listen: connections start with a PROXY header */
};

/* How a backend spreads requests over its servers. */
enum config_balance {
	BALANCE_ROUND_ROBIN,	   /* in proportion to the weights */
	BALANCE_LEAST_CONNECTIONS, /* fewest exchanges in progress per unit of weight */
	BALANCE_HASH,		   /* consistent hashing on the URL (host + target) */
};

#define CONFIG_EXPECT_MAX 8

/* Active health probes of a backend's servers (proxy/health.c). */
struct config_health {
	bool enabled; /* health_check given */
	char *path;   /* request-target of the probe */
	char *host;   /* Host of the probe; NULL: the server's address */
	uint64_t interval_ns;
	uint64_t timeout_ns; /* for the whole probe: connect, send, status line */
	unsigned rise, fall; /* good / failed probes in a row to go up / down */
	int expect[CONFIG_EXPECT_MAX];
	size_t n_expect; /* 0: any 2xx or 3xx */
};

/* A body ringcache sends instead of its own short text for STATUS. */
struct config_error_page {
	int status;
	char *body; /* inline or read from the file at load */
	size_t body_len;
	char *content_type;
};

struct config_error_pages {
	struct config_error_page *v;
	size_t n;
};

struct config_backend {
	char *name;
	struct config_addr *servers;
	uint32_t *weights; /* per server, 1..1000 (default 1) */
	size_t n_servers;
	enum config_balance balance;
	unsigned pool_size;
	uint64_t connect_timeout_ns;
	uint64_t first_byte_timeout_ns;
	uint64_t between_bytes_timeout_ns;
	unsigned retries;    /* other servers a failed request may try */
	bool proxy_protocol; /* a PROXY v2 header on each (never pooled) connection */
	unsigned max_fails;  /* passive health: failed requests in fail_window (0: off) */
	uint64_t fail_window_ns, fail_timeout_ns;
	bool fail_on_5xx; /* a 5xx answer counts as a failure too */
	struct config_health health;
	struct config_error_pages error_pages;
};

struct config_key {
	bool host;
	bool query;
	bool sort_query;
	bool normalize_path; /* RFC 3986 6.2.2.1-2 on the key's path */
};

/* A cache rule. Unset numeric fields are -1 (inherit); key_set tells
 * whether this rule has its own key options. When it does, key holds the
 * effective options: cache.key with the rule's own settings applied. */
struct config_rule {
	char *name;	   /* NULL: none; routes[].cache may name it */
	char *host;	   /* NULL: any; "*.example.com" matches subdomains */
	char *path_prefix; /* NULL: any */
	int64_t ttl_ns;
	int64_t default_ttl_ns;
	int64_t max_object_size;
	bool bypass;
	bool key_set;
	struct config_key key;
};

struct config_cidr {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; IPv4 uses the first 4; host bits zeroed */
	unsigned prefix;
};

/* A list of networks (admin.allow, trusted_proxies, routes[].match.client, ...). */
struct config_cidrs {
	struct config_cidr *v;
	size_t n;
};

struct template; /* http/template.h: a value with ${variables}, compiled at load */

/* The variables a template may use (docs/routing.md). */
enum config_tvar {
	TVAR_HOST,	   /* the Host without port, lower-cased */
	TVAR_PATH,	   /* the normalised path */
	TVAR_QUERY,	   /* "?" and the query as sent, or "" */
	TVAR_URI,	   /* the request-target as sent */
	TVAR_METHOD,	   /* GET, POST, ... */
	TVAR_SCHEME,	   /* "http" */
	TVAR_CLIENT,	   /* the client's address */
	TVAR_REQUEST_ID,   /* this request's id (also X-Request-Id when asked for) */
	TVAR_CACHE_STATUS, /* hit, miss, pass, ... (responses; "" for requests) */
	TVAR__N
};
extern const char *const config_tvar_names[TVAR__N];

/* A PCRE2 regular expression as written and compiled (JIT where the CPU
 * allows); re is a pcre2_code *, NULL when none was given. */
struct config_regex {
	char *src;
	void *re;
};

/*
 * A test of a request field in a route's match (routes[].match.header and
 * .query). Headers: the name in any case; a field given more than once is
 * tested as its lines joined with ", " (RFC 9110 5.3), so a second line
 * cannot make an "equals" true that the first makes false; values are
 * compared after the OWS around them is trimmed. Query parameters: the
 * name exactly, the first occurrence, its value as sent (not decoded).
 */
struct config_field_test {
	char *name;
	char *equals; /* NULL: not compared */
	struct config_regex regex;
	bool absent;		     /* the field must not be there */
	size_t name_len, equals_len; /* set at load, so matching takes no strlen */
};

struct config_field_tests {
	struct config_field_test *v;
	size_t n;
};

/* routes[].match: every test given must hold; none given matches all. */
struct config_match {
	char *host; /* exact or "*.suffix", compared without port and case */
	struct config_regex host_regex;
	char *path; /* the normalised path (route/match.h), exact */
	char *path_prefix;
	struct config_regex path_regex;
	uint64_t methods; /* bit (1 << llhttp method) per method; 0: any */
	struct config_field_tests headers, queries;
	struct config_cidrs clients; /* the real client address; empty: any */
};

/*
 * The tests of a route's match that most routes fail on, packed: one
 * array for all routes, built at load (routes_check), so that trying 20
 * routes reads 20 small records in a row, not 20 whole routes, and a
 * test is a length check and a memcmp (host lower-cased here).
 */
struct config_route_quick {
	uint64_t methods;
	const char *host, *path, *prefix; /* the match's; NULL: not tested */
	uint32_t host_len, path_len, prefix_len;
	bool more; /* client, header, query or regex tests too */
};

/* One field a header rule sets or adds: NAME: VALUE (a template). */
struct config_hdr_field {
	char *name;
	struct template *value;
};

struct config_hdr_fields {
	struct config_hdr_field *v;
	size_t n;
};

struct config_names {
	char **v;
	size_t n;
};

/* request_headers / response_headers: remove, then set (replacing every
 * line of the name), then add; the global rules first, then the route's. */
struct config_hdr_rules {
	struct config_names remove;
	struct config_hdr_fields set, add;
};

enum config_route_kind {
	ROUTE_BACKEND,	/* forward to a backend (through the cache) */
	ROUTE_REDIRECT, /* answer 3xx with a Location */
	ROUTE_RESPOND,	/* answer with a configured response */
	ROUTE_DENY,	/* answer 403 or the status given */
};

/* The loops' I/O backend (rt/loop.h's enum rt_backend, in this order). */
enum config_io_backend { IO_BACKEND_AUTO, IO_BACKEND_IO_URING, IO_BACKEND_EPOLL };

enum config_cache_key_from { KEY_FROM_ORIGINAL, KEY_FROM_REWRITTEN };

struct config_route {
	char *name; /* for logs; NULL: "routes[N]" */
	struct config_match match;
	enum config_route_kind kind;
	char *backend_name; /* ROUTE_BACKEND */
	unsigned backend;   /* its index, resolved at load */
	int redirect_status;
	struct template *location; /* REDIRECT */
	int respond_status;
	char *body; /* RESPOND: inline, or body_file read at load */
	size_t body_len;
	char *body_file;
	char *content_type;
	struct config_hdr_fields respond_headers;
	int deny_status;
	/* The cache rule for requests of this route: a named cache.rules entry
	 * or one of its own; neither: cache.rules apply as without routes. */
	char *cache_name;
	int cache_rule; /* index into cache.rules, -1 none */
	bool has_cache;
	struct config_rule cache;
	int compression; /* -1: as compression.enabled; 0 off; 1 on */
	struct {
		int64_t connect_ns, first_byte_ns, between_bytes_ns; /* -1: the backend's */
	} timeouts;
	char *backend_host; /* Host sent to the backend; NULL: the client's */
	struct {
		char *strip_prefix; /* removed from the start of the path */
		struct config_regex regex;
		struct template *replace; /* with ${1}.. the regex's captures */
	} rewrite;
	enum config_cache_key_from cache_key;
	struct config_hdr_rules req_headers, resp_headers;
	bool headers_inherit; /* also the global rules (default) */
	bool websocket;	      /* Upgrade: websocket may open a tunnel */
	bool rate_given;
	struct {
		uint32_t rate;	/* requests per second per client address */
		uint32_t burst; /* 0: as rate */
	} rate_limit;
	struct config_error_pages error_pages;
};

enum config_log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* log.access_format: how src/ops/accesslog.c writes each line. */
enum config_access_format {
	ACCESS_FORMAT_COMBINED, /* NCSA combined, then cache= rt= urt= ... */
	ACCESS_FORMAT_JSON,	/* one JSON object per line */
};

struct config {
	unsigned magic;
	/* References (config_hold): generations made for DNS changes share the
	 * config of the one before them. */
	_Atomic unsigned refs;
	char *path;

	struct config_addr *listen;
	size_t n_listen;
	unsigned threads; /* resolved: "auto" becomes the online CPU count */
	enum config_io_backend io_backend;

	struct config_backend *backends;
	size_t n_backends;

	struct {
		uint64_t memory; /* bytes */
		uint64_t max_object_size;
		uint64_t default_ttl_ns;
		uint32_t heuristic_percent;
		uint64_t heuristic_max_ns;
		uint64_t grace_ns;
		uint64_t hit_for_miss_ns;
		bool heuristic_with_credentials;
		struct config_key key;
		struct config_rule *rules;
		size_t n_rules;
		struct config_cidrs purge_allow; /* PURGE on the proxy listener from these */
		struct {
			int enabled;   /* cache.disk given */
			char *path;    /* store file or block device */
			uint64_t size; /* bytes (0: a whole block device) */
			uint64_t segment_size;
			uint64_t min_ttl_ns;	  /* freshness left for admission */
			uint64_t max_object_size; /* bodies bigger stay in memory only */
			uint32_t admit_hits;	  /* requests before an object is written */
			bool page_cache;	  /* record reads through the page cache */
		} disk;
	} cache;

	struct {
		bool enabled;
		unsigned workers;
		uint32_t queue;
		uint64_t min_size;
		char **types; /* patterns: "type/subtype", or "type/" then "*" */
		size_t n_types;
		int level[CODING__N];	       /* per enum coding; [CODING_IDENTITY] unused */
		enum coding prefer[CODING__N]; /* offered codings, best first */
		size_t n_prefer;
		bool bench_on_loop;
	} compression;

	struct {
		int enabled; /* admin.listen given */
		struct config_addr listen;
		char *token; /* NULL: no token required */
		/* Never empty after load: the loopback default is two real entries. */
		struct config_cidrs allow;
	} admin;

	struct {
		uint64_t client_header_ns;
		uint64_t client_body_ns;
		uint64_t client_idle_ns;
		uint64_t send_ns;
		uint64_t task_budget_ns; /* watchdog: longest run between awaits */
		uint64_t drain_ns;	 /* SIGTERM: how long in-flight requests may take */
		uint64_t tunnel_ns;	 /* a tunnel with no byte either way this long closes */
	} timeouts;

	struct {
		uint32_t max_header_size;
		uint32_t max_headers;
		uint32_t max_connections;
		uint64_t max_body_size; /* request body bytes; 0: no limit */
	} limits;

	struct {
		struct config_addr *servers; /* DNS servers; none: /etc/resolv.conf's */
		size_t n_servers;
		uint64_t interval_ns; /* between two lookups of a name */
		uint64_t timeout_ns;  /* a whole lookup */
	} resolver;

	struct config_cidrs trusted; /* trusted_proxies; empty: none */
	struct config_route *routes; /* first match wins; none: all to backends[0] */
	size_t n_routes;
	struct config_route_quick *route_quick;		   /* n_routes of them */
	struct config_hdr_rules req_headers, resp_headers; /* global rules */
	struct config_error_pages error_pages;		   /* global */

	/* "FILE:LINE:COL: warning: ..." lines of a config that loaded: what
	 * is allowed but likely wrong (a route that is never reached). */
	char **warnings;
	size_t n_warnings;
	bool underscores_in_headers; /* keep request fields with '_' in their names */
	bool forwarded;		     /* add an RFC 7239 Forwarded element */

	enum config_log_level log_level;
	char *log_access_path; /* NULL: no access log */
	enum config_access_format log_access_format;

	/* cluster: nodes that act as one cache, each key owned by one of them
	 * (backend/cluster.h). The loader makes a backend of the peers,
	 * backends[cluster.backend], named "cluster": its pools carry the
	 * forwarded requests, its health probes (CLUSTER_PROBE_PATH) say
	 * which members are up, the resolver follows its names. */
	struct {
		int enabled;		 /* cluster given */
		struct config_addr self; /* this node as its peers reach it (an address); spec NULL:
					  * found among discovery's addresses */
		struct config_addr *peers; /* members; self among them or not; names followed */
		size_t n_peers;
		char *token;	      /* the hop field's shared secret */
		uint64_t near_ttl_ns; /* near_cache.ttl: a copy of another's object; 0: none */
		uint64_t near_max_object_size;	/* bigger forwarded responses are not kept */
		uint64_t connect_timeout_ns;	/* to a peer: short, so failover is quick */
		uint64_t first_byte_timeout_ns; /* a peer's answer (its own fetch included) */
		uint64_t probe_interval_ns;	/* health probes between members */
		/* discovery: the members are the addresses of a DNS name (a
		 * Kubernetes headless Service), one more peer "dns:port" that
		 * the resolver follows every interval; a change of its set is
		 * applied once it has held for settle (daemon/resolve.h). */
		struct {
			int enabled; /* discovery given */
			char *dns;
			unsigned port;
			uint64_t interval_ns, settle_ns;
		} discovery;
		/* invalidation: how purges, bans and tag purges reach the
		 * members: a Redis Stream when redis is set (serve/cstream.h),
		 * else HTTP to each member (serve/cinval.h). Restart-only. */
		struct {
			char *redis;  /* redis://... or unix:/... (config/redisurl.h); NULL: HTTP */
			char *stream; /* the stream's key; its progress and epoch keys follow it */
			uint64_t max_len; /* entries the stream keeps (XADD MAXLEN) */
		} invalidation;
		size_t backend; /* index of the "cluster" backend in backends */
	} cluster;
};

/* The path a member's health probe asks its peers for: answered by the
 * peer itself (200), never forwarded or cached. */
#define CLUSTER_PROBE_PATH "/.well-known/ringcache/cluster"

/* One error line: "FILE:LINE:COL: message". */
struct config_errors {
	char **lines;
	size_t n;
};

/*
 * Load and validate PATH. On success returns a new config (caller owns it,
 * free with config_free) and leaves errs empty. On any error returns NULL and
 * fills errs with one line per problem (caller frees with
 * config_errors_clear). A missing or unreadable file is one error line
 * "FILE:0:0: cannot open: <strerror>".
 */
struct config *config_load(const char *path, struct config_errors *errs);

/* Same, from a string in memory; NAME is used as FILE in error lines. */
struct config *config_load_string(const char *name, const char *yaml, size_t len,
				  struct config_errors *errs);

/* Drop a reference to a config (the last one frees it) and NULL the
 * caller's pointer. Accepts *cfgp == NULL. */
void config_free(struct config **cfgp);

/* Another reference to CFG (any thread; atomic); returns CFG. */
struct config *config_hold(struct config *cfg);

void config_errors_clear(struct config_errors *errs);

/*
 * First rule matching HOST (no port, any case) and PATH, or NULL. A rule's
 * host matches exactly or, for "*.suffix", any host ending in ".suffix" with
 * at least one more label; its path_prefix is a case-sensitive byte prefix.
 * A NULL HOST matches only rules without host. No allocation: per request.
 */
const struct config_rule *config_rule_match(const struct config *cfg, const char *host, size_t hlen,
					    const char *path, size_t plen);

/*
 * Is the address in one of admin.allow's networks? AF_INET and AF_INET6
 * only (anything else: false); an IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * also matches IPv4 networks, and a plain IPv4 address IPv6 networks that
 * contain its mapped form.
 */
bool config_admin_allowed(const struct config *cfg, const struct sockaddr *sa);

/* Is the address in one of the networks of C? As config_admin_allowed. */
bool config_cidrs_match(const struct config_cidrs *c, const struct sockaddr *sa);

/* Is the address in one of trusted_proxies' networks? As config_admin_allowed. */
bool config_trusted_proxy(const struct config *cfg, const struct sockaddr *sa);

/* Parse helpers, exposed for tests and for other modules' use. Return 0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration(const char *s, uint64_t *out_ns);
int config_parse_addr(const char *s, struct config_addr *out); /* numeric or resolved host */

/* The same socket address (family, address and port; the spec aside); for
 * names not resolved yet, the same host (in any case) and port. */
bool config_addr_equal(const struct config_addr *a, const struct config_addr *b);

/*
 * Reload: the keys a reload does not apply keep their running values.
 * For every restart-only key (threads; compression.workers, .queue and
 * .bench_on_loop while compression is enabled in both; log.access and
 * log.access_format) whose value differs, RUNNING's value is put into NEXT
 * and WARN (if not NULL) is called once with a line such as
 * "reload: threads 2 -> 3 takes a restart; keeping 2". Call it on NEXT
 * before it is used. Returns 0, or -ENOMEM if a running string could not
 * be copied (NEXT then still holds its own value for that key: a caller
 * that cares discards NEXT and keeps running on RUNNING) or a warning line
 * could not be made (the value is kept, the line is lost).
 */
int config_keep_restart_keys(const struct config *running, struct config *next,
			     void (*warn)(void *ctx, const char *line), void *ctx);

#endif
