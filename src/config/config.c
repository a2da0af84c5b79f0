/*
 * config.c - YAML configuration loader (libyaml document API).
 *
 * The whole file is parsed into a libyaml document first, then walked with a
 * fixed-depth schema walker. Every problem is recorded as one
 * "FILE:LINE:COL: message" line and the walk keeps going, so a single run of
 * `ringcache -t` lists everything that is wrong. Only when no error at all was
 * recorded is the config handed out; otherwise it is freed and NULL returned.
 *
 * The walker never recurses generically over the YAML tree, only along the
 * schema (root -> section -> list -> scalar). That matters because libyaml's
 * document API resolves aliases into shared node ids and even allows cyclic
 * ones ("&a [*a]"); a generic recursion could loop forever on such input.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf; CMake defines it, direct gcc runs may not */
#endif

#include "config/config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

/* Defaults, as documented in config.h. */
#define NS_PER_MS  1000000ull
#define NS_PER_S   1000000000ull
#define NS_PER_DAY (86400 * NS_PER_S)

#define DEF_POOL_SIZE		  64u
#define DEF_CONNECT_TIMEOUT_NS	  (3 * NS_PER_S)
#define DEF_FIRST_BYTE_TIMEOUT_NS (30 * NS_PER_S)
#define DEF_BETWEEN_BYTES_NS	  (30 * NS_PER_S)
#define DEF_CACHE_MEMORY	  (256ull << 20)
#define DEF_MAX_OBJECT_SIZE	  (32ull << 20)
#define DEF_DEFAULT_TTL_NS	  0ull
#define DEF_HEURISTIC_PERCENT	  10u
#define DEF_HEURISTIC_MAX_NS	  (NS_PER_DAY)
#define DEF_GRACE_NS		  0 /* RFC 9111 4.2.4: no stale unless the origin allows it */
#define DEF_HIT_FOR_MISS_NS	  (60 * NS_PER_S)
#define DEF_CLIENT_HEADER_NS	  (10 * NS_PER_S)
#define DEF_CLIENT_BODY_NS	  (30 * NS_PER_S)
#define DEF_CLIENT_IDLE_NS	  (60 * NS_PER_S)
#define DEF_SEND_NS		  (30 * NS_PER_S)
#define DEF_MAX_HEADER_SIZE	  (16u << 10)
#define DEF_MAX_HEADERS		  100u
#define DEF_MAX_CONNECTIONS	  10000u

#define DEF_COMPRESS_QUEUE    64u
#define DEF_COMPRESS_MIN_SIZE 256u

/* Accepted ranges. */
#define THREADS_MAX   1024u
#define POOL_SIZE_MAX 10000u
/*
 * Timeouts must be non-zero (a zero deadline would fire immediately, and
 * nothing in the contract says 0 means "no timeout") and at most a day, which
 * keeps "now + timeout" far away from uint64 overflow in every consumer.
 */
#define TIMEOUT_MIN_NS	    NS_PER_MS
#define TIMEOUT_MAX_NS	    (24ull * 3600 * NS_PER_S)
#define MAX_HEADER_SIZE_MIN (1u << 10)
#define MAX_HEADER_SIZE_MAX (1u << 20)
#define MAX_HEADERS_MAX	    1000u
#define MAX_CONNECTIONS_MAX 1000000u
/*
 * Cache lifetimes: 3650 days is far beyond any real max-age (a year is the
 * customary "forever") yet keeps "now + lifetime" and "lifetime + grace"
 * nowhere near uint64/int64 overflow in the cache code.
 */
#define CACHE_DURATION_MAX_NS (3650 * NS_PER_DAY)
#define HEURISTIC_PERCENT_MAX 100u
/* Refuse absurd inputs (e.g. -c /dev/zero) instead of reading forever. */
#define CONFIG_FILE_MAX (16u << 20)

/* ------------------------------------------------------------------------ */
/* Error collection                                                          */

struct loader {
	const char *file;
	yaml_document_t *doc;
	struct config_errors *errs;
	/*
	 * Counted separately from errs->n: if recording an error line itself
	 * fails for lack of memory, the load must still fail.
	 */
	size_t n_failed;
	bool oom;
};

static void push_line(struct config_errors *errs, char *line)
{
	char **nl = realloc(errs->lines, (errs->n + 1) * sizeof(*nl));
	if (!nl) {
		free(line);
		return;
	}
	errs->lines = nl;
	errs->lines[errs->n++] = line;
}

static void __attribute__((format(printf, 4, 0)))
verr_at(struct loader *ld, size_t line, size_t col, const char *fmt, va_list ap)
{
	char *msg = NULL, *line_s = NULL;

	ld->n_failed++;
	if (vasprintf(&msg, fmt, ap) < 0) {
		ld->oom = true;
		return;
	}
	/* One error, one line: a quoted value may hold a newline or other
	 * control bytes, which are shown as '?'. */
	for (char *c = msg; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	}
	if (asprintf(&line_s, "%s:%zu:%zu: %s", ld->file, line, col, msg) < 0) {
		free(msg);
		ld->oom = true;
		return;
	}
	free(msg);
	push_line(ld->errs, line_s);
}

/* An error at an explicit 1-based position (0:0 = no position). */
static void __attribute__((format(printf, 4, 5)))
err_at(struct loader *ld, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr_at(ld, line, col, fmt, ap);
	va_end(ap);
}

/* An error at a YAML node; libyaml marks are 0-based, ours are 1-based. */
static void __attribute__((format(printf, 3, 4)))
err_node(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr_at(ld, n->start_mark.line + 1, n->start_mark.column + 1, fmt, ap);
	va_end(ap);
}

void config_errors_clear(struct config_errors *errs)
{
	if (!errs)
		return;
	for (size_t i = 0; i < errs->n; i++)
		free(errs->lines[i]);
	free(errs->lines);
	errs->lines = NULL;
	errs->n = 0;
}

/* ------------------------------------------------------------------------ */
/* Scalar parse helpers (public)                                             */

/*
 * Parse a run of decimal digits with overflow checking. strtoull is not used
 * because it accepts leading whitespace, signs ("-1" wraps to 2^64-1) and
 * hex/octal prefixes, none of which belong in a config value.
 */
static const char *parse_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return NULL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
			return NULL;
	}
	*out = v;
	return p;
}

struct unit {
	const char *name;
	uint64_t mult;
};

/* NUMBER [spaces] [UNIT] with UNIT from TABLE; "" in TABLE is the bare number. */
static int parse_with_unit(const char *s, const struct unit *table, size_t n, uint64_t *out)
{
	uint64_t v, r;
	const char *p;

	if (!s || !(p = parse_digits(s, &v)))
		return -EINVAL;
	/* "256 MiB" reads naturally; allow spaces, but only before a unit. */
	if (*p == ' ') {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(p, table[i].name) != 0)
			continue;
		if (__builtin_mul_overflow(v, table[i].mult, &r))
			return -EINVAL;
		*out = r;
		return 0;
	}
	return -EINVAL;
}

int config_parse_size(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
	    {"", 1},
	    {"B", 1},
	    {"KiB", 1ull << 10},
	    {"MiB", 1ull << 20},
	    {"GiB", 1ull << 30},
	    {"KB", 1000ull},
	    {"MB", 1000ull * 1000},
	    {"GB", 1000ull * 1000 * 1000},
	};
	return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), out);
}

/*
 * Durations: us, ms, s, m, h or d (days; cache lifetimes such as heuristic_max
 * are naturally given in days). A bare number means seconds. Only range
 * overflow of the uint64 nanosecond result is rejected here; each key checks
 * its own range.
 */
int config_parse_duration(const char *s, uint64_t *out_ns)
{
	static const struct unit units[] = {
	    {"", NS_PER_S}, /* a bare number means seconds */
	    {"us", 1000},	  {"ms", NS_PER_MS},	  {"s", NS_PER_S},
	    {"m", 60 * NS_PER_S}, {"h", 3600 * NS_PER_S}, {"d", NS_PER_DAY},
	};
	return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), out_ns);
}

static bool all_digits_and_dots(const char *s)
{
	for (; *s; s++) {
		if (!((*s >= '0' && *s <= '9') || *s == '.'))
			return false;
	}
	return true;
}

/*
 * Parse "IP:PORT", "[IPv6]:PORT", ":PORT" (any IPv4 address) or "host:port"
 * (resolved now, first result wins). On failure *why says what was wrong and
 * OUT is untouched; on success OUT owns a copy of S.
 */
static int parse_addr(const char *s, struct config_addr *out, const char **why)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *colon, *port_s;
	char host[256];
	size_t host_len;
	bool bracketed = false;
	uint64_t port;

	*why = "invalid address";
	if (!s || !*s) {
		*why = "empty address";
		return -EINVAL;
	}
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb) {
			*why = "missing ']' after IPv6 address";
			return -EINVAL;
		}
		if (rb[1] != ':') {
			*why = "missing port (expected [IPv6]:PORT)";
			return -EINVAL;
		}
		bracketed = true;
		host_len = (size_t)(rb - (s + 1));
		if (host_len == 0 || host_len >= sizeof(host)) {
			*why = "invalid IPv6 address";
			return -EINVAL;
		}
		memcpy(host, s + 1, host_len);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			*why = "missing port (expected HOST:PORT)";
			return -EINVAL;
		}
		host_len = (size_t)(colon - s);
		if (memchr(s, ':', host_len)) {
			*why = "IPv6 addresses must be in brackets, e.g. [::1]:8080";
			return -EINVAL;
		}
		if (host_len >= sizeof(host)) {
			*why = "host name too long";
			return -EINVAL;
		}
		memcpy(host, s, host_len);
	}
	host[host_len] = '\0';

	port_s = colon + 1;
	const char *end = parse_digits(port_s, &port);
	if (!end || *end || port > 65535) {
		*why = "invalid port (expected 0..65535)";
		return -EINVAL;
	}

	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	if (host_len == 0) {
		if (bracketed) {
			*why = "invalid IPv6 address";
			return -EINVAL;
		}
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sslen = sizeof(*sin);
	} else if (!bracketed && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sslen = sizeof(*sin);
	} else if (!bracketed && all_digits_and_dots(host)) {
		/*
		 * Without this, "10.0.0.256" or "127.1" would be sent to the
		 * resolver (or inet_aton's legacy forms) and maybe "work".
		 */
		*why = "invalid IPv4 address";
		return -EINVAL;
	} else {
		/*
		 * Bracketed: numeric IPv6 only, via getaddrinfo so that scope
		 * ids ("fe80::1%eth0") work. Otherwise a host name, resolved
		 * now: loading runs at startup/reload, never on an event loop.
		 * No AI_ADDRCONFIG: glibc ignores loopback for it, so
		 * "localhost" would fail in a network namespace with only lo.
		 */
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
		hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
		hints.ai_flags = bracketed ? AI_NUMERICHOST : 0;
		int rc = getaddrinfo(host, NULL, &hints, &res);
		if (rc != 0 || !res) {
			if (bracketed)
				*why = "invalid IPv6 address";
			else
				*why = rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
			if (res)
				freeaddrinfo(res);
			return -EINVAL;
		}
		if (res->ai_addrlen > sizeof(ss) ||
		    (res->ai_family != AF_INET && res->ai_family != AF_INET6)) {
			freeaddrinfo(res);
			*why = "unsupported address family";
			return -EINVAL;
		}
		memcpy(&ss, res->ai_addr, res->ai_addrlen);
		sslen = res->ai_addrlen;
		freeaddrinfo(res);
	}

	if (ss.ss_family == AF_INET)
		sin->sin_port = htons((uint16_t)port);
	else
		sin6->sin6_port = htons((uint16_t)port);

	char *spec = strdup(s);
	if (!spec) {
		*why = "out of memory";
		return -ENOMEM;
	}
	out->spec = spec;
	out->sa = ss;
	out->salen = sslen;
	return 0;
}

bool config_addr_equal(const struct config_addr *a, const struct config_addr *b)
{
	return a->salen == b->salen && memcmp(&a->sa, &b->sa, a->salen) == 0;
}

int config_parse_addr(const char *s, struct config_addr *out)
{
	const char *why;
	int rc = parse_addr(s, out, &why);
	/* The contract promises 0 or -EINVAL; ENOMEM folds into the latter. */
	return rc < 0 ? -EINVAL : 0;
}

static uint16_t addr_port(const struct config_addr *a)
{
	if (a->sa.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
}

/* ------------------------------------------------------------------------ */
/* Networks (admin.allow)                                                    */

/*
 * Parse "ADDR/PREFIX" or a bare "ADDR" (a single host: full-length prefix).
 * inet_pton is strict on purpose: it refuses "127.1" and scope ids, neither
 * of which means anything as a network. Host bits below the prefix are
 * cleared rather than refused ("10.1.2.3/8" is 10.0.0.0/8), as most ACL
 * syntaxes do, so matching can compare the stored bytes directly.
 */
static int parse_cidr(const char *s, struct config_cidr *out, const char **why)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	struct config_cidr c = {0};
	unsigned max;

	*why = "invalid IP address";
	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		c.family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	c.prefix = max;
	if (slash) {
		uint64_t p;
		const char *end = parse_digits(slash + 1, &p);
		if (!end || *end || p > max) {
			*why = max == 32 ? "invalid prefix length (expected 0..32)"
					 : "invalid prefix length (expected 0..128)";
			return -EINVAL;
		}
		c.prefix = (unsigned)p;
	}
	for (unsigned bit = c.prefix; bit < max; bit++)
		c.addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	*out = c;
	return 0;
}

/* Do the first C->prefix bits of ADDR (in C's family) equal C's? */
static bool cidr_contains(const struct config_cidr *c, const uint8_t *addr)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(c->addr, addr, full) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (addr[full] & mask) == c->addr[full];
}

static bool cidr_list_match(const struct config_cidr *list, size_t n, const struct sockaddr *sa)
{
	static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	uint8_t v4[4], v6[16];
	bool has_v4 = false;

	if (!sa)
		return false;
	/*
	 * Both forms of an IPv4 client are checked: a dual-stack listener
	 * reports IPv4 peers as ::ffff:a.b.c.d, and those must match the IPv4
	 * networks (the loopback default above all); likewise a plain IPv4
	 * peer matches a "::ffff:0:0/96" style entry.
	 */
	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		memcpy(v6, mapped_prefix, 12);
		memcpy(v6 + 12, v4, 4);
		has_v4 = true;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(v6, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		if (!memcmp(v6, mapped_prefix, 12)) {
			memcpy(v4, v6 + 12, 4);
			has_v4 = true;
		}
	} else {
		return false; /* unix sockets and the like: not a network peer */
	}
	for (size_t i = 0; i < n; i++) {
		const struct config_cidr *c = &list[i];
		if (c->family == AF_INET ? has_v4 && cidr_contains(c, v4) : cidr_contains(c, v6))
			return true;
	}
	return false;
}

bool config_admin_allowed(const struct config *cfg, const struct sockaddr *sa)
{
	return cfg && cidr_list_match(cfg->admin.allow, cfg->admin.n_allow, sa);
}

bool config_trusted_proxy(const struct config *cfg, const struct sockaddr *sa)
{
	return cfg && cidr_list_match(cfg->trusted, cfg->n_trusted, sa);
}

/* ------------------------------------------------------------------------ */
/* Cache rules                                                               */

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive ASCII compare; strncasecmp would depend on the locale. */
static bool ascii_case_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	}
	return true;
}

/*
 * A rule host pattern: a host name or IPv4 address ("example.com"), a
 * bracketed IPv6 literal as it appears in Host ("[::1]"), or "*." followed
 * by a host name. Labels must be non-empty so that "*.com." or "a..b", which
 * can never match a real Host, are caught at load time.
 */
static bool valid_host_pattern(const char *s)
{
	size_t len = strlen(s);

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		char buf[INET6_ADDRSTRLEN];
		struct in6_addr a6;
		if (len - 2 >= sizeof(buf))
			return false;
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1;
	}
	if (s[0] == '*' && s[1] == '.')
		s += 2;
	if (!*s)
		return false;
	bool label_start = true;
	for (; *s; s++) {
		char c = *s;
		if (c == '.') {
			if (label_start)
				return false;
			label_start = true;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
		label_start = false;
	}
	return !label_start; /* no trailing dot */
}

static bool rule_host_matches(const char *pat, const char *host, size_t hlen)
{
	if (pat[0] == '*') {
		/* "*.example.com": at least one label before ".example.com". */
		const char *suffix = pat + 1;
		size_t slen = strlen(suffix);
		return hlen > slen && ascii_case_eq(host + hlen - slen, suffix, slen);
	}
	size_t plen = strlen(pat);
	return hlen == plen && ascii_case_eq(host, pat, plen);
}

/* Called per request: no allocation, no locale, linear in the rule count. */
const struct config_rule *config_rule_match(const struct config *cfg, const char *host, size_t hlen,
					    const char *path, size_t plen)
{
	if (!cfg)
		return NULL;
	if (!host)
		hlen = 0; /* e.g. an HTTP/1.0 request without Host: only host-less rules match */
	if (!path)
		plen = 0;
	for (size_t i = 0; i < cfg->cache.n_rules; i++) {
		const struct config_rule *r = &cfg->cache.rules[i];
		if (r->host && !rule_host_matches(r->host, host ? host : "", hlen))
			continue;
		if (r->path_prefix) {
			size_t len = strlen(r->path_prefix);
			if (plen < len || memcmp(path, r->path_prefix, len) != 0)
				continue;
		}
		return r;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Freeing                                                                   */

static void addr_free(struct config_addr *a)
{
	free(a->spec);
	a->spec = NULL;
}

static void addrs_free(struct config_addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		addr_free(&a[i]);
	free(a);
}

static void config_destroy(struct config *cfg)
{
	free(cfg->path);
	addrs_free(cfg->listen, cfg->n_listen);
	for (size_t i = 0; i < cfg->n_backends; i++) {
		free(cfg->backends[i].name);
		free(cfg->backends[i].weights);
		free(cfg->backends[i].health.path);
		free(cfg->backends[i].health.host);
		addrs_free(cfg->backends[i].servers, cfg->backends[i].n_servers);
	}
	free(cfg->backends);
	for (size_t i = 0; i < cfg->cache.n_rules; i++) {
		free(cfg->cache.rules[i].host);
		free(cfg->cache.rules[i].path_prefix);
	}
	free(cfg->cache.rules);
	for (size_t i = 0; i < cfg->compression.n_types; i++)
		free(cfg->compression.types[i]);
	free(cfg->compression.types);
	addr_free(&cfg->admin.listen);
	free(cfg->admin.token);
	free(cfg->admin.allow);
	free(cfg->trusted);
	free(cfg->log_access_path);
	cfg->magic = 0; /* a stale pointer to freed memory fails the assert */
	free(cfg);
}

void config_free(struct config **cfgp)
{
	if (!cfgp || !*cfgp)
		return;
	assert((*cfgp)->magic == CONFIG_MAGIC);
	config_destroy(*cfgp);
	*cfgp = NULL;
}

/* ------------------------------------------------------------------------ */
/* YAML node helpers                                                         */

static yaml_node_t *node(struct loader *ld, int id)
{
	return yaml_document_get_node(ld->doc, id);
}

/* An empty value ("key:" with nothing after it, "~", "null"). */
static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static const char *kind(const yaml_node_t *n)
{
	if (is_null(n))
		return "an empty value";
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/*
 * The scalar text of N, or NULL (with an error) if N is not a non-empty
 * scalar. WHAT describes what was expected, for the message.
 */
static const char *scalar(struct loader *ld, const yaml_node_t *n, const char *path,
			  const char *what)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		err_node(ld, n, "%s: expected %s, got %s", path, what, kind(n));
		return NULL;
	}
	/* Quoted "\0" escapes would silently truncate every C-string use. */
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		err_node(ld, n, "%s: value contains a NUL character", path);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* Find KEY in mapping MAP; returns the value node (first occurrence) or NULL. */
static yaml_node_t *map_get(struct loader *ld, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node(ld, p->key);
		if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return node(ld, p->value);
	}
	return NULL;
}

/*
 * Report keys of MAP that are not in ALLOWED, keys that are not plain
 * strings, and keys given twice (libyaml does not reject duplicates, and
 * silently taking one of them would hide a mistake).
 */
static void check_keys(struct loader *ld, yaml_node_t *map, const char *where,
		       const char *const *allowed, size_t n_allowed)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;

	for (yaml_node_pair_t *p = start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(ld, p->key);
		if (!k)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			err_node(ld, k, "keys must be strings, got %s %s", kind(k), where);
			continue;
		}
		const char *name = (const char *)k->data.scalar.value;
		bool known = false;
		for (size_t i = 0; i < n_allowed && !known; i++)
			known = !strcmp(name, allowed[i]);
		if (!known) {
			/* Build "a, b, c" for the hint. */
			char hint[512];
			size_t off = 0;
			hint[0] = '\0';
			for (size_t i = 0; i < n_allowed && off < sizeof(hint); i++)
				off += (size_t)snprintf(hint + off, sizeof(hint) - off, "%s%s",
							i ? ", " : "", allowed[i]);
			err_node(ld, k, "unknown key '%s' %s; expected one of: %s", name, where,
				 hint);
			continue;
		}
		for (yaml_node_pair_t *q = start; q < p; q++) {
			yaml_node_t *qk = node(ld, q->key);
			if (qk && qk->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)qk->data.scalar.value, name)) {
				err_node(ld, k, "duplicate key '%s' %s (first given at line %zu)",
					 name, where, qk->start_mark.line + 1);
				break;
			}
		}
	}
}

/* N must be a mapping; an empty value counts as an empty mapping (absent). */
static bool want_mapping(struct loader *ld, yaml_node_t *n, const char *path)
{
	if (n->type == YAML_MAPPING_NODE)
		return true;
	if (!is_null(n))
		err_node(ld, n, "%s: expected a mapping, got %s", path, kind(n));
	return false;
}

/* Keys that also take "auto": their messages say so. */
static bool takes_auto(const char *path)
{
	return !strcmp(path, "threads") || !strcmp(path, "compression.workers");
}

static void get_uint(struct loader *ld, yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi,
		     uint64_t *out)
{
	const char *s = scalar(ld, n, path, "a number");
	uint64_t v;
	if (!s)
		return;
	const char *end = parse_digits(s, &v);
	if (!end && s[0] >= '0' && s[0] <= '9' && s[strspn(s, "0123456789")] == '\0') {
		/* All digits, too many of them. */
		err_node(ld, n, "%s: %s is out of range (%llu..%llu)", path, s,
			 (unsigned long long)lo, (unsigned long long)hi);
		return;
	}
	if (!end || *end) {
		err_node(ld, n, "%s: '%s' is not a whole number%s", path, s,
			 takes_auto(path) ? " or \"auto\"" : "");
		return;
	}
	if (v < lo || v > hi) {
		err_node(ld, n, "%s: %s is out of range (%llu..%llu)", path, s,
			 (unsigned long long)lo, (unsigned long long)hi);
		return;
	}
	*out = v;
}

/* A duration in LO..HI (RANGE describes it for the message); true if *OUT was set. */
static bool get_duration(struct loader *ld, yaml_node_t *n, const char *path, uint64_t lo,
			 uint64_t hi, const char *range, uint64_t *out)
{
	const char *s = scalar(ld, n, path, "a duration");
	uint64_t v;
	if (!s)
		return false;
	if (config_parse_duration(s, &v) < 0) {
		err_node(
		    ld, n,
		    "%s: invalid duration '%s' (expected e.g. 250ms, 30s, 2m, 1h; units us, ms, "
		    "s, m, h, d)",
		    path, s);
		return false;
	}
	if (v < lo || v > hi) {
		err_node(ld, n, "%s: duration '%s' is out of range (%s)", path, s, range);
		return false;
	}
	*out = v;
	return true;
}

static void get_timeout(struct loader *ld, yaml_node_t *n, const char *path, uint64_t *out)
{
	get_duration(ld, n, path, TIMEOUT_MIN_NS, TIMEOUT_MAX_NS, "1ms..24h", out);
}

/* True if *OUT was set. */
static bool get_size(struct loader *ld, yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi,
		     const char *range, uint64_t *out)
{
	const char *s = scalar(ld, n, path, "a size");
	uint64_t v;
	if (!s)
		return false;
	if (config_parse_size(s, &v) < 0) {
		err_node(ld, n, "%s: invalid size '%s' (expected e.g. 4096, 16KiB, 256MiB, 10MB)",
			 path, s);
		return false;
	}
	if (v < lo || v > hi) {
		err_node(ld, n, "%s: size '%s' is out of range (%s)", path, s, range);
		return false;
	}
	*out = v;
	return true;
}

/*
 * true/false only (any case of YAML 1.2's core schema spellings). YAML 1.1's
 * yes/no/on/off are refused: they are a well-known source of surprises
 * ("NO" as a country code) and nothing here needs them.
 */
static bool get_bool(struct loader *ld, yaml_node_t *n, const char *path, bool *out)
{
	const char *s = scalar(ld, n, path, "true or false");
	if (!s)
		return false;
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
		*out = false;
		return true;
	}
	err_node(ld, n, "%s: expected true or false, got '%s'", path, s);
	return false;
}

/* strdup S into *OUT, counting a failure as an (out of memory) error. */
static void dup_into(struct loader *ld, const char *s, char **out)
{
	if (!(*out = strdup(s))) {
		ld->oom = true;
		ld->n_failed++;
	}
}

/* One address scalar into OUT; returns true on success. */
static bool get_addr(struct loader *ld, yaml_node_t *n, const char *path, bool allow_port0,
		     struct config_addr *out)
{
	const char *s = scalar(ld, n, path, "an address (HOST:PORT)");
	const char *why;
	struct config_addr a;
	if (!s)
		return false;
	int rc = parse_addr(s, &a, &why);
	if (rc == -ENOMEM)
		ld->oom = true;
	if (rc < 0) {
		err_node(ld, n, "%s: invalid address '%s': %s", path, s, why);
		return false;
	}
	if (!allow_port0 && addr_port(&a) == 0) {
		err_node(ld, n, "%s: invalid address '%s': port must be 1..65535", path, s);
		addr_free(&a);
		return false;
	}
	*out = a;
	return true;
}

/*
 * A single address string or a list of them. Entries that fail are reported
 * and skipped; the caller notices the error count anyway.
 */
static void get_addr_list(struct loader *ld, yaml_node_t *n, const char *path, bool allow_port0,
			  bool unique, struct config_addr **out, size_t *n_out)
{
	char sub[160];

	if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
		struct config_addr *a = calloc(1, sizeof(*a));
		if (!a) {
			ld->oom = true;
			ld->n_failed++;
			return;
		}
		if (get_addr(ld, n, path, allow_port0, a)) {
			*out = a;
			*n_out = 1;
		} else {
			free(a);
		}
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		err_node(ld, n, "%s: expected an address or a list of addresses, got %s", path,
			 kind(n));
		return;
	}
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cnt == 0) {
		err_node(ld, n, "%s: at least one address is required", path);
		return;
	}
	struct config_addr *a = calloc(cnt, sizeof(*a));
	if (!a) {
		ld->oom = true;
		ld->n_failed++;
		return;
	}
	size_t got = 0;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = node(ld, n->data.sequence.items.start[i]);
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (!item || !get_addr(ld, item, sub, allow_port0, &a[got]))
			continue;
		/*
		 * Two listeners on one address would only fail later, at bind
		 * time, with EADDRINUSE. (Port 0 binds are all distinct.)
		 * Repeated servers are left alone: they may be deliberate.
		 */
		size_t dup = got;
		for (size_t j = 0; unique && addr_port(&a[got]) != 0 && j < got; j++) {
			if (config_addr_equal(&a[j], &a[got]))
				dup = j;
		}
		if (dup != got) {
			err_node(ld, item, "%s: '%s' is the same address as '%s'", sub, a[got].spec,
				 a[dup].spec);
			addr_free(&a[got]);
			continue;
		}
		got++;
	}
	*out = a;
	*n_out = got;
}

/* ------------------------------------------------------------------------ */
/* Sections                                                                  */

/*
 * A backend's servers: an address or a list whose items are addresses or
 * {address: ..., weight: N} mappings. Weights default to 1.
 */
static void load_servers(struct loader *ld, yaml_node_t *n, const char *path,
			 struct config_backend *b)
{
	char sub[160], sub2[176];
	if (n->type != YAML_SEQUENCE_NODE) {
		get_addr_list(ld, n, path, false, false, &b->servers, &b->n_servers);
	} else {
		size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
		if (cnt == 0) {
			err_node(ld, n, "%s: at least one address is required", path);
			return;
		}
		b->servers = calloc(cnt, sizeof(*b->servers));
		b->weights = calloc(cnt, sizeof(*b->weights));
		if (!b->servers || !b->weights) {
			ld->oom = true;
			ld->n_failed++;
			return;
		}
		for (size_t i = 0; i < cnt; i++) {
			yaml_node_t *item = node(ld, n->data.sequence.items.start[i]);
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if (!item)
				continue;
			uint64_t weight = 1;
			yaml_node_t *addr = item;
			if (item->type == YAML_MAPPING_NODE) {
				static const char *const keys[] = {"address", "weight"};
				snprintf(sub2, sizeof(sub2), "in %s", sub);
				check_keys(ld, item, sub2, keys, 2);
				yaml_node_t *w = map_get(ld, item, "weight");
				if (w) {
					snprintf(sub2, sizeof(sub2), "%s.weight", sub);
					get_uint(ld, w, sub2, 1, 1000, &weight);
				}
				if (!(addr = map_get(ld, item, "address"))) {
					err_node(ld, item, "%s: missing required key 'address'",
						 sub);
					continue;
				}
				snprintf(sub2, sizeof(sub2), "%s.address", sub);
				if (!get_addr(ld, addr, sub2, false, &b->servers[b->n_servers]))
					continue;
			} else if (!get_addr(ld, addr, sub, false, &b->servers[b->n_servers])) {
				continue;
			}
			b->weights[b->n_servers++] = (uint32_t)weight;
		}
		return;
	}
	if (b->n_servers) {
		b->weights = calloc(b->n_servers, sizeof(*b->weights));
		if (!b->weights) {
			ld->oom = true;
			ld->n_failed++;
			return;
		}
		for (size_t i = 0; i < b->n_servers; i++)
			b->weights[i] = 1;
	}
}

/*
 * The same address twice in one backend would be one server with two
 * entries in every count (and a retry could go to it again): say to give
 * it a weight instead.
 */
static void check_duplicate_servers(struct loader *ld, yaml_node_t *list, const char *path,
				    const struct config_backend *b)
{
	if (list->type != YAML_SEQUENCE_NODE)
		return;
	size_t cnt = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	if (cnt != b->n_servers)
		return; /* some failed to load: their errors are out already */
	for (size_t i = 1; i < cnt; i++) {
		for (size_t j = 0; j < i; j++) {
			const struct config_addr *x = &b->servers[i], *y = &b->servers[j];
			if (!config_addr_equal(x, y))
				continue;
			yaml_node_t *item = node(ld, list->data.sequence.items.start[i]);
			err_node(
			    ld, item ? item : list,
			    "%s[%zu]: '%s' is listed again (first as %s[%zu]); give the server "
			    "a weight instead",
			    path, i, x->spec, path, j);
			break;
		}
	}
}

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

/* backends[i].health_check: active probes (proxy/health.c). */
static void load_health(struct loader *ld, yaml_node_t *n, const char *path,
			struct config_health *h)
{
	static const char *const keys[] = {"path", "host", "interval",	   "timeout",
					   "rise", "fall", "expect_status"};
	char where[160], sub[160];
	yaml_node_t *v;
	if (!want_mapping(ld, n, path))
		return;
	snprintf(where, sizeof(where), "in %s", path);
	check_keys(ld, n, where, keys, sizeof(keys) / sizeof(keys[0]));
	h->enabled = true;
	if ((v = map_get(ld, n, "path"))) {
		snprintf(sub, sizeof(sub), "%s.path", path);
		const char *s = scalar(ld, v, sub, "a request path");
		if (s && !probe_target_ok(s)) {
			err_node(ld, v,
				 "%s: '%s' is not a request-target; expected a path starting with "
				 "'/' and no spaces, e.g. \"/healthz\"",
				 sub, s);
		} else if (s) {
			free(h->path);
			if (!(h->path = strdup(s)))
				ld->oom = true;
		}
	}
	if ((v = map_get(ld, n, "host"))) {
		snprintf(sub, sizeof(sub), "%s.host", path);
		const char *s = scalar(ld, v, sub, "a host name");
		if (s && (!*s || strpbrk(s, " \t\r\n"))) {
			err_node(ld, v, "%s: '%s' is not a Host value (no spaces, not empty)", sub,
				 s);
		} else if (s && !(h->host = strdup(s))) {
			ld->oom = true;
		}
	}
	if ((v = map_get(ld, n, "interval"))) {
		snprintf(sub, sizeof(sub), "%s.interval", path);
		get_duration(ld, v, sub, 10 * 1000000ull, 3600 * 1000000000ull, "10ms..1h",
			     &h->interval_ns);
	}
	if ((v = map_get(ld, n, "timeout"))) {
		snprintf(sub, sizeof(sub), "%s.timeout", path);
		get_timeout(ld, v, sub, &h->timeout_ns);
	}
	uint64_t x;
	if ((v = map_get(ld, n, "rise"))) {
		snprintf(sub, sizeof(sub), "%s.rise", path);
		x = h->rise;
		get_uint(ld, v, sub, 1, 100, &x);
		h->rise = (unsigned)x;
	}
	if ((v = map_get(ld, n, "fall"))) {
		snprintf(sub, sizeof(sub), "%s.fall", path);
		x = h->fall;
		get_uint(ld, v, sub, 1, 100, &x);
		h->fall = (unsigned)x;
	}
	if ((v = map_get(ld, n, "expect_status"))) {
		snprintf(sub, sizeof(sub), "%s.expect_status", path);
		yaml_node_t *one[1] = {v};
		yaml_node_t **items = one;
		size_t cnt = 1;
		if (v->type == YAML_SEQUENCE_NODE) {
			cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
			if (cnt == 0 || cnt > CONFIG_EXPECT_MAX) {
				err_node(ld, v, "%s: expected 1 to %d status codes, got %zu", sub,
					 CONFIG_EXPECT_MAX, cnt);
				return;
			}
			items = NULL;
		}
		for (size_t i = 0; i < cnt; i++) {
			yaml_node_t *it =
			    items ? items[i] : node(ld, v->data.sequence.items.start[i]);
			if (!it)
				continue;
			char isub[192];
			if (items)
				snprintf(isub, sizeof(isub), "%s", sub);
			else
				snprintf(isub, sizeof(isub), "%s[%zu]", sub, i);
			x = 200;
			get_uint(ld, it, isub, 100, 599, &x);
			h->expect[h->n_expect++] = (int)x;
		}
	}
}

static void load_backend(struct loader *ld, yaml_node_t *n, size_t idx, struct config_backend *b)
{
	static const char *const keys[] = {"name",
					   "servers",
					   "balance",
					   "pool_size",
					   "connect_timeout",
					   "first_byte_timeout",
					   "between_bytes_timeout",
					   "retries",
					   "health_check"};
	char path[64], where[80], sub[128];
	yaml_node_t *v;

	b->pool_size = DEF_POOL_SIZE;
	b->connect_timeout_ns = DEF_CONNECT_TIMEOUT_NS;
	b->first_byte_timeout_ns = DEF_FIRST_BYTE_TIMEOUT_NS;
	b->between_bytes_timeout_ns = DEF_BETWEEN_BYTES_NS;
	b->retries = 1;
	b->health.interval_ns = 2 * 1000000000ull;
	b->health.timeout_ns = 1000000000ull;
	b->health.rise = 2;
	b->health.fall = 3;

	snprintf(path, sizeof(path), "backends[%zu]", idx);
	if (n->type != YAML_MAPPING_NODE) {
		err_node(ld, n, "%s: expected a mapping, got %s", path, kind(n));
		return;
	}
	snprintf(where, sizeof(where), "in %s", path);
	check_keys(ld, n, where, keys, sizeof(keys) / sizeof(keys[0]));

	if ((v = map_get(ld, n, "name"))) {
		snprintf(sub, sizeof(sub), "%s.name", path);
		const char *s = scalar(ld, v, sub, "a name");
		if (s && !*s) {
			err_node(ld, v, "%s: must not be empty", sub);
			s = NULL;
		}
		if (s && !(b->name = strdup(s))) {
			ld->oom = true;
			ld->n_failed++;
		}
	} else {
		err_node(ld, n, "%s: missing required key 'name'", path);
	}

	if ((v = map_get(ld, n, "servers"))) {
		snprintf(sub, sizeof(sub), "%s.servers", path);
		load_servers(ld, v, sub, b);
		check_duplicate_servers(ld, v, sub, b);
	} else {
		err_node(ld, n, "%s: missing required key 'servers'", path);
	}
	if ((v = map_get(ld, n, "balance"))) {
		static const char *const names[] = {"round_robin", "least_connections", "hash"};
		snprintf(sub, sizeof(sub), "%s.balance", path);
		const char *bs = scalar(ld, v, sub, "a balancing method");
		size_t i = 0;
		while (bs && i < 3 && strcmp(bs, names[i]))
			i++;
		if (bs && i == 3)
			err_node(ld, v,
				 "%s: unknown method '%s'; expected round_robin, "
				 "least_connections or hash",
				 sub, bs);
		else if (bs)
			b->balance = (enum config_balance)i;
	}

	if ((v = map_get(ld, n, "pool_size"))) {
		uint64_t x = b->pool_size;
		snprintf(sub, sizeof(sub), "%s.pool_size", path);
		get_uint(ld, v, sub, 0, POOL_SIZE_MAX, &x);
		b->pool_size = (unsigned)x;
	}
	if ((v = map_get(ld, n, "connect_timeout"))) {
		snprintf(sub, sizeof(sub), "%s.connect_timeout", path);
		get_timeout(ld, v, sub, &b->connect_timeout_ns);
	}
	if ((v = map_get(ld, n, "first_byte_timeout"))) {
		snprintf(sub, sizeof(sub), "%s.first_byte_timeout", path);
		get_timeout(ld, v, sub, &b->first_byte_timeout_ns);
	}
	if ((v = map_get(ld, n, "between_bytes_timeout"))) {
		snprintf(sub, sizeof(sub), "%s.between_bytes_timeout", path);
		get_timeout(ld, v, sub, &b->between_bytes_timeout_ns);
	}
	if ((v = map_get(ld, n, "retries"))) {
		uint64_t x = b->retries;
		snprintf(sub, sizeof(sub), "%s.retries", path);
		get_uint(ld, v, sub, 0, 16, &x);
		b->retries = (unsigned)x;
	}
	if ((v = map_get(ld, n, "health_check"))) {
		snprintf(sub, sizeof(sub), "%s.health_check", path);
		load_health(ld, v, sub, &b->health);
		if (b->health.enabled && !b->health.path && !(b->health.path = strdup("/")))
			ld->oom = true;
	}
}

static void load_backends(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	if (n->type != YAML_SEQUENCE_NODE) {
		err_node(ld, n, "backends: expected a list of backends, got %s", kind(n));
		return;
	}
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cnt == 0) {
		err_node(ld, n, "backends: at least one backend is required");
		return;
	}
	cfg->backends = calloc(cnt, sizeof(*cfg->backends));
	if (!cfg->backends) {
		ld->oom = true;
		ld->n_failed++;
		return;
	}
	cfg->n_backends = cnt;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = node(ld, n->data.sequence.items.start[i]);
		if (!item)
			continue;
		load_backend(ld, item, i, &cfg->backends[i]);
		if (!cfg->backends[i].name)
			continue;
		/* Names are how routes and stats refer to backends: keep them unique. */
		for (size_t j = 0; j < i; j++) {
			if (!cfg->backends[j].name ||
			    strcmp(cfg->backends[j].name, cfg->backends[i].name) != 0)
				continue;
			yaml_node_t *nn = map_get(ld, item, "name");
			yaml_node_t *first =
			    map_get(ld, node(ld, n->data.sequence.items.start[j]), "name");
			err_node(ld, nn ? nn : item,
				 "backends[%zu].name: duplicate backend name '%s' (first used by "
				 "backends[%zu] at line %zu)",
				 i, cfg->backends[i].name, j,
				 first ? first->start_mark.line + 1 : 0);
			break;
		}
	}
}

static void load_threads(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	if (n->type == YAML_SCALAR_NODE && !strcmp((const char *)n->data.scalar.value, "auto"))
		return; /* the default already is "auto" */
	if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		err_node(ld, n, "threads: expected a number or \"auto\", got %s", kind(n));
		return;
	}
	uint64_t x = cfg->threads;
	get_uint(ld, n, "threads", 1, THREADS_MAX, &x);
	cfg->threads = (unsigned)x;
}

/* Key options in mapping N over the values already in *KEY (defaults or inherited). */
static void load_key(struct loader *ld, yaml_node_t *n, const char *path, struct config_key *key)
{
	static const char *const keys[] = {"host", "query", "sort_query"};
	bool *dst[] = {&key->host, &key->query, &key->sort_query};
	char where[96], sub[128];

	if (!want_mapping(ld, n, path))
		return;
	snprintf(where, sizeof(where), "in %s", path);
	check_keys(ld, n, where, keys, 3);
	for (size_t i = 0; i < 3; i++) {
		yaml_node_t *v = map_get(ld, n, keys[i]);
		snprintf(sub, sizeof(sub), "%s.%s", path, keys[i]);
		if (v)
			get_bool(ld, v, sub, dst[i]);
	}
}

static void load_rule(struct loader *ld, yaml_node_t *n, size_t idx, const struct config_key *def,
		      struct config_rule *r)
{
	static const char *const keys[] = {"host",   "path_prefix",	"ttl", "default_ttl",
					   "bypass", "max_object_size", "key"};
	char path[64], where[80], sub[128];
	yaml_node_t *v;
	uint64_t x;
	bool acts = false;

	r->ttl_ns = -1;
	r->default_ttl_ns = -1;
	r->max_object_size = -1;
	r->key = *def;

	snprintf(path, sizeof(path), "cache.rules[%zu]", idx);
	if (n->type != YAML_MAPPING_NODE) {
		err_node(ld, n, "%s: expected a mapping, got %s", path, kind(n));
		return;
	}
	snprintf(where, sizeof(where), "in %s", path);
	check_keys(ld, n, where, keys, sizeof(keys) / sizeof(keys[0]));

	if ((v = map_get(ld, n, "host"))) {
		snprintf(sub, sizeof(sub), "%s.host", path);
		const char *s = scalar(ld, v, sub, "a host name");
		if (s && !valid_host_pattern(s))
			err_node(ld, v,
				 "%s: invalid host pattern '%s' (expected a host name without "
				 "port, or \"*.example.com\" for its subdomains)",
				 sub, s);
		else if (s)
			dup_into(ld, s, &r->host);
	}
	if ((v = map_get(ld, n, "path_prefix"))) {
		snprintf(sub, sizeof(sub), "%s.path_prefix", path);
		const char *s = scalar(ld, v, sub, "a path");
		if (s && s[0] != '/')
			err_node(ld, v, "%s: '%s' must start with '/'", sub, s);
		else if (s)
			dup_into(ld, s, &r->path_prefix);
	}

	/*
	 * ttl 0 is a zero lifetime, i.e. matching responses are not stored;
	 * bypass is the way to skip the cache entirely (no lookup either).
	 */
	if ((v = map_get(ld, n, "ttl"))) {
		acts = true;
		snprintf(sub, sizeof(sub), "%s.ttl", path);
		if (get_duration(ld, v, sub, 0, CACHE_DURATION_MAX_NS, "0..3650d", &x))
			r->ttl_ns = (int64_t)x;
	}
	if ((v = map_get(ld, n, "default_ttl"))) {
		acts = true;
		snprintf(sub, sizeof(sub), "%s.default_ttl", path);
		if (get_duration(ld, v, sub, 0, CACHE_DURATION_MAX_NS, "0..3650d", &x))
			r->default_ttl_ns = (int64_t)x;
	}
	if ((v = map_get(ld, n, "bypass"))) {
		acts = true;
		snprintf(sub, sizeof(sub), "%s.bypass", path);
		get_bool(ld, v, sub, &r->bypass);
	}
	if ((v = map_get(ld, n, "max_object_size"))) {
		acts = true;
		snprintf(sub, sizeof(sub), "%s.max_object_size", path);
		/* int64_t field: -1 is "unset", so the top is INT64_MAX. */
		if (get_size(ld, v, sub, 1, INT64_MAX, "must be greater than 0", &x))
			r->max_object_size = (int64_t)x;
	}
	if ((v = map_get(ld, n, "key"))) {
		/* An empty key changes nothing: it does not make a rule act. */
		acts = !is_null(v) && (v->type != YAML_MAPPING_NODE ||
				       v->data.mapping.pairs.top != v->data.mapping.pairs.start);
		r->key_set = true; /* unset options inherit cache.key */
		snprintf(sub, sizeof(sub), "%s.key", path);
		load_key(ld, v, sub, &r->key);
	}
	/* A rule with only match keys would silently shadow later rules. */
	if (!acts)
		err_node(ld, n,
			 "%s: rule does nothing; give at least one of: ttl, default_ttl, bypass, "
			 "max_object_size, key",
			 path);
}

static void load_rules(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	if (is_null(n))
		return; /* "rules:" with nothing: no rules, like an empty list */
	if (n->type != YAML_SEQUENCE_NODE) {
		err_node(ld, n, "cache.rules: expected a list of rules, got %s", kind(n));
		return;
	}
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cnt == 0)
		return;
	cfg->cache.rules = calloc(cnt, sizeof(*cfg->cache.rules));
	if (!cfg->cache.rules) {
		ld->oom = true;
		ld->n_failed++;
		return;
	}
	cfg->cache.n_rules = cnt;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = node(ld, n->data.sequence.items.start[i]);
		struct config_rule *r = &cfg->cache.rules[i];
		if (item) {
			load_rule(ld, item, i, &cfg->cache.key, r);
		} else {
			r->ttl_ns = r->default_ttl_ns = r->max_object_size = -1;
			r->key = cfg->cache.key;
		}
	}
}

static void load_cache(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	static const char *const keys[] = {"memory",	    "max_object_size",
					   "default_ttl",   "heuristic_percent",
					   "heuristic_max", "grace",
					   "hit_for_miss",  "key",
					   "rules",	    "heuristic_with_credentials"};
	yaml_node_t *v;
	uint64_t x;

	if (!want_mapping(ld, n, "cache"))
		return;
	check_keys(ld, n, "in cache", keys, sizeof(keys) / sizeof(keys[0]));
	/* 0 is refused: nothing says it means "no cache", and sizing code divides by it. */
	if ((v = map_get(ld, n, "memory")))
		get_size(ld, v, "cache.memory", 1, UINT64_MAX, "must be greater than 0",
			 &cfg->cache.memory);
	/* 0 would store nothing at all; "bypass" rules are the explicit way to do that. */
	if ((v = map_get(ld, n, "max_object_size")))
		get_size(ld, v, "cache.max_object_size", 1, INT64_MAX, "must be greater than 0",
			 &cfg->cache.max_object_size);
	/* 0 has a meaning here: responses without freshness information are not stored. */
	if ((v = map_get(ld, n, "default_ttl")))
		get_duration(ld, v, "cache.default_ttl", 0, CACHE_DURATION_MAX_NS, "0..3650d",
			     &cfg->cache.default_ttl_ns);
	if ((v = map_get(ld, n, "heuristic_percent"))) {
		x = cfg->cache.heuristic_percent;
		get_uint(ld, v, "cache.heuristic_percent", 0, HEURISTIC_PERCENT_MAX, &x);
		cfg->cache.heuristic_percent = (uint32_t)x;
	}
	/* heuristic_percent: 0 is the way to turn heuristics off. */
	if ((v = map_get(ld, n, "heuristic_max")))
		get_duration(ld, v, "cache.heuristic_max", NS_PER_MS, CACHE_DURATION_MAX_NS,
			     "1ms..3650d", &cfg->cache.heuristic_max_ns);
	if ((v = map_get(ld, n, "heuristic_with_credentials")))
		get_bool(ld, v, "cache.heuristic_with_credentials",
			 &cfg->cache.heuristic_with_credentials);
	/* grace 0: never serve stale; hit_for_miss 0: do not remember uncacheable objects. */
	if ((v = map_get(ld, n, "grace")))
		get_duration(ld, v, "cache.grace", 0, CACHE_DURATION_MAX_NS, "0..3650d",
			     &cfg->cache.grace_ns);
	if ((v = map_get(ld, n, "hit_for_miss")))
		get_duration(ld, v, "cache.hit_for_miss", 0, CACHE_DURATION_MAX_NS, "0..3650d",
			     &cfg->cache.hit_for_miss_ns);
	/* key first: rules inherit it. */
	if ((v = map_get(ld, n, "key")))
		load_key(ld, v, "cache.key", &cfg->cache.key);
	if ((v = map_get(ld, n, "rules")))
		load_rules(ld, v, cfg);
}

/* ------------------------------------------------------------------------ */
/* compression                                                               */

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
};

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

static void load_types(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	if (n->type != YAML_SEQUENCE_NODE) {
		err_node(ld, n, "compression.types: expected a list of content types, got %s",
			 kind(n));
		return;
	}
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cnt == 0) {
		err_node(ld, n,
			 "compression.types: at least one content type (leave the key out for the "
			 "defaults, or set compression.enabled: false)");
		return;
	}
	char **types = calloc(cnt, sizeof(*types));
	if (!types) {
		ld->oom = true;
		ld->n_failed++;
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = node(ld, n->data.sequence.items.start[i]);
		char sub[64];
		snprintf(sub, sizeof(sub), "compression.types[%zu]", i);
		const char *s = item ? scalar(ld, item, sub, "a content type") : NULL;
		if (!s)
			continue;
		if (!valid_type_pattern(s)) {
			err_node(ld, item,
				 "%s: '%s' is not a content type pattern (expected e.g. "
				 "\"text/html\" or \"text/*\")",
				 sub, s);
			continue;
		}
		dup_into(ld, s, &types[k]);
		if (types[k])
			k++;
	}
	for (size_t i = 0; i < cfg->compression.n_types; i++)
		free(cfg->compression.types[i]);
	free(cfg->compression.types);
	cfg->compression.types = types;
	cfg->compression.n_types = k;
}

static void load_codings(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	if (n->type != YAML_SEQUENCE_NODE) {
		err_node(ld, n,
			 "compression.codings: expected a list such as [br, zstd, gzip], got %s",
			 kind(n));
		return;
	}
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (cnt == 0) {
		err_node(
		    ld, n,
		    "compression.codings: at least one coding is required (to turn compression "
		    "off, set enabled: false)");
		return;
	}
	size_t k = 0;
	unsigned seen = 0;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = node(ld, n->data.sequence.items.start[i]);
		char sub[64];
		snprintf(sub, sizeof(sub), "compression.codings[%zu]", i);
		const char *s = item ? scalar(ld, item, sub, "a coding") : NULL;
		if (!s)
			continue;
		int c = coding_parse(s, strlen(s));
		if (c <= CODING_IDENTITY || strcmp(s, coding_name((enum coding)c)) != 0) {
			err_node(ld, item, "%s: unknown coding '%s'; expected gzip, br or zstd",
				 sub, s);
			continue;
		}
		if (seen & (1u << c)) {
			err_node(ld, item, "%s: '%s' is listed twice", sub, s);
			continue;
		}
		seen |= 1u << c;
		cfg->compression.prefer[k++] = (enum coding)c;
	}
	cfg->compression.n_prefer = k;
}

static void load_levels(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	static const char *const keys[] = {"gzip", "br", "zstd"};
	static const enum coding codes[] = {CODING_GZIP, CODING_BR, CODING_ZSTD};
	static const uint64_t lo[] = {1, 0, 1}, hi[] = {9, 11, 19};
	if (!want_mapping(ld, n, "compression.levels"))
		return;
	check_keys(ld, n, "in compression.levels", keys, 3);
	for (size_t i = 0; i < 3; i++) {
		yaml_node_t *v = map_get(ld, n, keys[i]);
		char sub[64];
		snprintf(sub, sizeof(sub), "compression.levels.%s", keys[i]);
		if (!v)
			continue;
		uint64_t x = (uint64_t)cfg->compression.level[codes[i]];
		get_uint(ld, v, sub, lo[i], hi[i], &x);
		cfg->compression.level[codes[i]] = (int)x;
	}
}

static void load_compression(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	static const char *const keys[] = {"enabled", "workers", "queue", "min_size",
					   "codings", "levels",	 "types", "bench_on_loop"};
	yaml_node_t *v;
	uint64_t x;

	if (!want_mapping(ld, n, "compression"))
		return;
	check_keys(ld, n, "in compression", keys, sizeof(keys) / sizeof(keys[0]));
	if ((v = map_get(ld, n, "enabled")))
		get_bool(ld, v, "compression.enabled", &cfg->compression.enabled);
	if ((v = map_get(ld, n, "workers")) &&
	    !(v->type == YAML_SCALAR_NODE && !strcmp((const char *)v->data.scalar.value, "auto"))) {
		x = cfg->compression.workers;
		get_uint(ld, v, "compression.workers", 1, 256, &x);
		cfg->compression.workers = (unsigned)x;
	}
	if ((v = map_get(ld, n, "queue"))) {
		x = cfg->compression.queue;
		get_uint(ld, v, "compression.queue", 1, 65536, &x);
		cfg->compression.queue = (uint32_t)x;
	}
	if ((v = map_get(ld, n, "min_size")))
		get_size(ld, v, "compression.min_size", 0, 1ull << 30, "0..1GiB",
			 &cfg->compression.min_size);
	if ((v = map_get(ld, n, "codings")))
		load_codings(ld, v, cfg);
	if ((v = map_get(ld, n, "levels")))
		load_levels(ld, v, cfg);
	if ((v = map_get(ld, n, "types")))
		load_types(ld, v, cfg);
	if ((v = map_get(ld, n, "bench_on_loop")))
		get_bool(ld, v, "compression.bench_on_loop", &cfg->compression.bench_on_loop);
}

static void default_compression(struct loader *ld, struct config *cfg)
{
	if (cfg->compression.types)
		return;
	size_t n = sizeof(default_types) / sizeof(default_types[0]);
	cfg->compression.types = calloc(n, sizeof(char *));
	if (!cfg->compression.types) {
		ld->oom = true;
		ld->n_failed++;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		dup_into(ld, default_types[i], &cfg->compression.types[i]);
		if (cfg->compression.types[i])
			cfg->compression.n_types++;
	}
}

/* One network scalar into OUT; returns true on success. */
static bool get_cidr(struct loader *ld, yaml_node_t *n, const char *path, struct config_cidr *out)
{
	const char *s = scalar(ld, n, path, "a network (ADDR/PREFIX)");
	const char *why;
	if (!s)
		return false;
	if (parse_cidr(s, out, &why) < 0) {
		err_node(ld, n, "%s: invalid network '%s': %s", path, s, why);
		return false;
	}
	return true;
}

/*
 * A single network or a list of them into *OUT / *N_OUT; like
 * get_addr_list, bad entries are skipped. EMPTY_MSG: an empty list is an
 * error with this message (NULL: an empty list means none).
 */
static void load_cidrs(struct loader *ld, yaml_node_t *n, const char *path, const char *empty_msg,
		       struct config_cidr **out, size_t *n_out)
{
	char sub[64];
	size_t cnt = 1;

	if (n->type == YAML_SEQUENCE_NODE) {
		cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
		if (cnt == 0 && empty_msg) {
			err_node(ld, n, "%s: %s", path, empty_msg);
			return;
		}
	} else if (n->type != YAML_SCALAR_NODE || is_null(n)) {
		err_node(ld, n, "%s: expected a network or a list of networks, got %s", path,
			 kind(n));
		return;
	}
	*out = calloc(cnt ? cnt : 1, sizeof(**out));
	if (!*out) {
		ld->oom = true;
		ld->n_failed++;
		return;
	}
	if (n->type == YAML_SCALAR_NODE) {
		if (get_cidr(ld, n, path, &(*out)[0]))
			*n_out = 1;
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = node(ld, n->data.sequence.items.start[i]);
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (item && get_cidr(ld, item, sub, &(*out)[*n_out]))
			(*n_out)++;
	}
}

static void load_allow(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	/* An empty list would lock everyone out of admin; more likely a mistake. */
	load_cidrs(ld, n, "admin.allow", "at least one network is required", &cfg->admin.allow,
		   &cfg->admin.n_allow);
}

static void load_admin(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	static const char *const keys[] = {"listen", "token", "allow"};
	yaml_node_t *v;

	if (!want_mapping(ld, n, "admin"))
		return;
	check_keys(ld, n, "in admin", keys, 3);
	if ((v = map_get(ld, n, "token"))) {
		const char *s = scalar(ld, v, "admin.token", "a string");
		bool ok = s && *s;
		/*
		 * It is compared with what follows "Bearer " in a header, where
		 * spaces and control characters cannot survive intact; such a
		 * token could never match, so say so now.
		 */
		for (const char *p = s; ok && *p; p++)
			ok = *p > 0x20 && *p < 0x7f;
		if (s && !*s)
			err_node(ld, v, "admin.token: must not be empty");
		else if (s && !ok)
			err_node(ld, v,
				 "admin.token: must contain only visible ASCII characters (no "
				 "spaces)");
		else if (s)
			dup_into(ld, s, &cfg->admin.token);
	}
	if ((v = map_get(ld, n, "allow")))
		load_allow(ld, v, cfg);
	if (!(v = map_get(ld, n, "listen"))) {
		/* An admin section that enables nothing is almost surely a mistake. */
		err_node(ld, n, "admin: missing required key 'listen'");
		return;
	}
	if (get_addr(ld, v, "admin.listen", true, &cfg->admin.listen))
		cfg->admin.enabled = 1;
}

/* The admin API on a proxy address would fail at start (address in use). */
static void check_admin_address(struct loader *ld, yaml_node_t *root, struct config *cfg)
{
	if (!cfg->admin.enabled)
		return;
	const struct config_addr *a = &cfg->admin.listen;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct config_addr *l = &cfg->listen[i];
		if (!config_addr_equal(l, a))
			continue;
		if (a->sa.ss_family == AF_INET &&
		    ((const struct sockaddr_in *)&a->sa)->sin_port == 0)
			continue; /* port 0: each gets its own port */
		if (a->sa.ss_family == AF_INET6 &&
		    ((const struct sockaddr_in6 *)&a->sa)->sin6_port == 0)
			continue;
		yaml_node_t *adm = map_get(ld, root, "admin");
		yaml_node_t *v = adm ? map_get(ld, adm, "listen") : NULL;
		err_node(ld, v ? v : root,
			 "admin.listen: '%s' is the same address as listen[%zu]; the admin API "
			 "needs its own port",
			 a->spec, i);
		return;
	}
}

/*
 * Loopback only unless admin.allow says otherwise. Filled in as real entries
 * (not "n_allow == 0 means loopback") so config_admin_allowed has one path.
 */
static void default_allow(struct loader *ld, struct config *cfg)
{
	static const struct config_cidr loopback[] = {
	    {.family = AF_INET, .addr = {127}, .prefix = 8},
	    {.family = AF_INET6, .addr = {[15] = 1}, .prefix = 128},
	};
	if (cfg->admin.allow)
		return;
	cfg->admin.allow = malloc(sizeof(loopback));
	if (!cfg->admin.allow) {
		ld->oom = true;
		ld->n_failed++;
		return;
	}
	memcpy(cfg->admin.allow, loopback, sizeof(loopback));
	cfg->admin.n_allow = 2;
}

static void load_timeouts(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	static const char *const keys[] = {"client_header", "client_body", "client_idle",
					   "send",	    "task_budget", "drain"};
	uint64_t *dst[] = {&cfg->timeouts.client_header_ns, &cfg->timeouts.client_body_ns,
			   &cfg->timeouts.client_idle_ns, &cfg->timeouts.send_ns,
			   &cfg->timeouts.task_budget_ns};
	char path[64];

	if (!want_mapping(ld, n, "timeouts"))
		return;
	check_keys(ld, n, "in timeouts", keys, 6);
	for (size_t i = 0; i < 4; i++) {
		yaml_node_t *v = map_get(ld, n, keys[i]);
		snprintf(path, sizeof(path), "timeouts.%s", keys[i]);
		if (v)
			get_timeout(ld, v, path, dst[i]);
	}
	/* The watchdog's budget is a run time, not a peer timeout: microseconds
	 * make sense (tracing a latency problem, and the tests). */
	yaml_node_t *v = map_get(ld, n, "task_budget");
	if (v)
		get_duration(ld, v, "timeouts.task_budget", 1000, 60 * NS_PER_S, "1us..60s",
			     dst[4]);
	if ((v = map_get(ld, n, "drain")))
		get_duration(ld, v, "timeouts.drain", NS_PER_S, 3600 * NS_PER_S, "1s..1h",
			     &cfg->timeouts.drain_ns);
}

static void load_limits(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	static const char *const keys[] = {"max_header_size", "max_headers", "max_connections",
					   "max_body_size"};
	yaml_node_t *v;
	uint64_t x;

	if (!want_mapping(ld, n, "limits"))
		return;
	check_keys(ld, n, "in limits", keys, 4);
	if ((v = map_get(ld, n, "max_body_size")))
		get_size(ld, v, "limits.max_body_size", 0, 1ull << 40, "0..1024GiB; 0: no limit",
			 &cfg->limits.max_body_size);
	if ((v = map_get(ld, n, "max_header_size"))) {
		x = cfg->limits.max_header_size;
		get_size(ld, v, "limits.max_header_size", MAX_HEADER_SIZE_MIN, MAX_HEADER_SIZE_MAX,
			 "1KiB..1MiB", &x);
		cfg->limits.max_header_size = (uint32_t)x;
	}
	if ((v = map_get(ld, n, "max_headers"))) {
		x = cfg->limits.max_headers;
		get_uint(ld, v, "limits.max_headers", 1, MAX_HEADERS_MAX, &x);
		cfg->limits.max_headers = (uint32_t)x;
	}
	if ((v = map_get(ld, n, "max_connections"))) {
		x = cfg->limits.max_connections;
		get_uint(ld, v, "limits.max_connections", 1, MAX_CONNECTIONS_MAX, &x);
		cfg->limits.max_connections = (uint32_t)x;
	}
}

static void load_log_level(struct loader *ld, yaml_node_t *v, struct config *cfg)
{
	static const char *const levels[] = {
	    [LOG_LEVEL_ERROR] = "error",
	    [LOG_LEVEL_WARN] = "warn",
	    [LOG_LEVEL_INFO] = "info",
	    [LOG_LEVEL_DEBUG] = "debug",
	};
	const char *s = scalar(ld, v, "log.level", "a log level");
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (!strcmp(s, levels[i])) {
			cfg->log_level = (enum config_log_level)i;
			return;
		}
	}
	err_node(ld, v, "log.level: unknown level '%s'; expected one of: error, warn, info, debug",
		 s);
}

/*
 * The file is not opened here: `ringcache -t` must not create it, and the
 * daemon opens it at start where it can say why it cannot.
 */
static void load_log_access(struct loader *ld, yaml_node_t *v, struct config *cfg)
{
	const char *s = scalar(ld, v, "log.access", "a file path or \"off\"");
	if (!s || !strcmp(s, "off"))
		return;
	if (!*s) {
		err_node(ld, v, "log.access: must not be empty; give a file path, or \"off\"");
		return;
	}
	if (s[strlen(s) - 1] == '/') {
		err_node(ld, v,
			 "log.access: '%s' is a directory; give a file path, e.g. %saccess.log", s,
			 s);
		return;
	}
	dup_into(ld, s, &cfg->log_access_path);
}

static void load_log(struct loader *ld, yaml_node_t *n, struct config *cfg)
{
	static const char *const keys[] = {"level", "access", "access_format"};
	static const char *const formats[] = {
	    [ACCESS_FORMAT_COMBINED] = "combined",
	    [ACCESS_FORMAT_JSON] = "json",
	};
	yaml_node_t *v;

	if (!want_mapping(ld, n, "log"))
		return;
	check_keys(ld, n, "in log", keys, sizeof(keys) / sizeof(keys[0]));
	if ((v = map_get(ld, n, "level")))
		load_log_level(ld, v, cfg);
	if ((v = map_get(ld, n, "access")))
		load_log_access(ld, v, cfg);
	if (!(v = map_get(ld, n, "access_format")))
		return;
	const char *s = scalar(ld, v, "log.access_format", "an access log format");
	if (!s)
		return;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (!strcmp(s, formats[i])) {
			cfg->log_access_format = (enum config_access_format)i;
			return;
		}
	}
	err_node(ld, v, "log.access_format: unknown format '%s'; expected one of: combined, json",
		 s);
}

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > (long)THREADS_MAX ? THREADS_MAX : (unsigned)n;
}

static void set_defaults(struct config *cfg)
{
	cfg->threads = online_cpus();
	cfg->cache.memory = DEF_CACHE_MEMORY;
	cfg->cache.max_object_size = DEF_MAX_OBJECT_SIZE;
	cfg->cache.default_ttl_ns = DEF_DEFAULT_TTL_NS;
	cfg->cache.heuristic_percent = DEF_HEURISTIC_PERCENT;
	cfg->cache.heuristic_max_ns = DEF_HEURISTIC_MAX_NS;
	cfg->cache.grace_ns = DEF_GRACE_NS;
	cfg->cache.hit_for_miss_ns = DEF_HIT_FOR_MISS_NS;
	cfg->cache.key = (struct config_key){.host = true, .query = true, .sort_query = false};
	cfg->timeouts.client_header_ns = DEF_CLIENT_HEADER_NS;
	cfg->timeouts.client_body_ns = DEF_CLIENT_BODY_NS;
	cfg->timeouts.client_idle_ns = DEF_CLIENT_IDLE_NS;
	cfg->timeouts.send_ns = DEF_SEND_NS;
	cfg->timeouts.task_budget_ns = 10 * NS_PER_MS; /* the starvation watchdog's budget */
	cfg->timeouts.drain_ns = 10 * NS_PER_S;
	cfg->limits.max_header_size = DEF_MAX_HEADER_SIZE;
	cfg->limits.max_headers = DEF_MAX_HEADERS;
	cfg->limits.max_connections = DEF_MAX_CONNECTIONS;
	cfg->limits.max_body_size = 1ull << 30; /* 1 GiB; nginx's 1 MiB breaks uploads */
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->log_access_format = ACCESS_FORMAT_COMBINED; /* log_access_path NULL: no access log */
	cfg->compression.workers = online_cpus();
	cfg->compression.queue = DEF_COMPRESS_QUEUE;
	cfg->compression.min_size = DEF_COMPRESS_MIN_SIZE;
	cfg->compression.level[CODING_GZIP] = 6;
	cfg->compression.level[CODING_BR] = 4; /* what CDNs use on the fly: 5+ costs 2x */
	cfg->compression.level[CODING_ZSTD] = 3;
	cfg->compression.prefer[0] = CODING_BR;
	cfg->compression.prefer[1] = CODING_ZSTD;
	cfg->compression.prefer[2] = CODING_GZIP;
	cfg->compression.n_prefer = 3;
}

static void load_root(struct loader *ld, yaml_node_t *root, struct config *cfg)
{
	static const char *const keys[] = {"listen",	  "threads",	    "cache",	"backends",
					   "compression", "admin",	    "timeouts", "limits",
					   "log",	  "trusted_proxies", "underscores_in_headers"};
	yaml_node_t *v;

	if (root->type != YAML_MAPPING_NODE) {
		err_node(ld, root, "top level: expected a mapping, got %s", kind(root));
		return;
	}
	check_keys(ld, root, "at top level", keys, sizeof(keys) / sizeof(keys[0]));

	if ((v = map_get(ld, root, "listen")))
		get_addr_list(ld, v, "listen", true, true, &cfg->listen, &cfg->n_listen);
	else
		err_node(ld, root, "missing required key 'listen'");

	if ((v = map_get(ld, root, "threads")))
		load_threads(ld, v, cfg);
	if ((v = map_get(ld, root, "backends")))
		load_backends(ld, v, cfg);
	else
		err_node(ld, root, "missing required key 'backends'");
	if ((v = map_get(ld, root, "cache")))
		load_cache(ld, v, cfg);
	if ((v = map_get(ld, root, "compression")))
		load_compression(ld, v, cfg);
	default_compression(ld, cfg);
	if ((v = map_get(ld, root, "admin")))
		load_admin(ld, v, cfg);
	if ((v = map_get(ld, root, "timeouts")))
		load_timeouts(ld, v, cfg);
	if ((v = map_get(ld, root, "limits")))
		load_limits(ld, v, cfg);
	if ((v = map_get(ld, root, "log")))
		load_log(ld, v, cfg);
	if ((v = map_get(ld, root, "underscores_in_headers")))
		get_bool(ld, v, "underscores_in_headers", &cfg->underscores_in_headers);
	/* Empty (or absent): no client is a trusted proxy. */
	if ((v = map_get(ld, root, "trusted_proxies")))
		load_cidrs(ld, v, "trusted_proxies", NULL, &cfg->trusted, &cfg->n_trusted);
	default_allow(ld, cfg);
	check_admin_address(ld, root, cfg);
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                              */

/* Line and column (1-based) of byte OFF in BUF, for reader errors that carry no mark. */
static void offset_pos(const char *buf, size_t len, size_t off, size_t *line, size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static void report_parser_error(struct loader *ld, yaml_parser_t *p, const char *buf, size_t len)
{
	size_t line, col;
	const char *problem = p->problem ? p->problem : "unknown error";

	if (p->error == YAML_MEMORY_ERROR) {
		ld->oom = true;
		err_at(ld, 0, 0, "out of memory while parsing");
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		/* Encoding errors: libyaml gives a byte offset, not a mark. */
		offset_pos(buf, len, p->problem_offset, &line, &col);
		err_at(ld, line, col, "YAML error: %s", problem);
		return;
	}
	line = p->problem_mark.line + 1;
	col = p->problem_mark.column + 1;
	if (p->context)
		err_at(ld, line, col, "YAML syntax error: %s %s (started at line %zu column %zu)",
		       problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1);
	else
		err_at(ld, line, col, "YAML syntax error: %s", problem);
}

struct config *config_load_string(const char *name, const char *yaml, size_t len,
				  struct config_errors *errs)
{
	struct config_errors scratch = {0};
	yaml_parser_t parser;
	yaml_document_t doc;
	struct loader ld = {
	    .file = name ? name : "<string>",
	    .doc = &doc,
	    .errs = errs ? errs : &scratch, /* callers that only want yes/no may pass NULL */
	};
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg || !yaml_parser_initialize(&parser)) {
		free(cfg);
		err_at(&ld, 0, 0, "out of memory");
		config_errors_clear(&scratch);
		return NULL;
	}
	cfg->magic = CONFIG_MAGIC;
	set_defaults(cfg);
	if (!(cfg->path = strdup(ld.file))) {
		ld.oom = true;
		ld.n_failed++;
	}

	yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""),
				     yaml ? len : 0);
	if (!yaml_parser_load(&parser, &doc)) {
		report_parser_error(&ld, &parser, yaml ? yaml : "", yaml ? len : 0);
	} else {
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (!root)
			err_at(&ld, 1, 1,
			       "empty configuration; need at least 'listen' and "
			       "'backends'");
		else
			load_root(&ld, root, cfg);

		/* A second document would be silently ignored otherwise. */
		if (root) {
			yaml_document_t extra;
			if (!yaml_parser_load(&parser, &extra)) {
				report_parser_error(&ld, &parser, yaml ? yaml : "", len);
			} else {
				yaml_node_t *r2 = yaml_document_get_root_node(&extra);
				if (r2)
					err_at(&ld, extra.start_mark.line + 1,
					       extra.start_mark.column + 1,
					       "only one YAML document is allowed");
				yaml_document_delete(&extra);
			}
		}
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);

	if (ld.oom && (!errs || errs->n == 0))
		err_at(&ld, 0, 0, "out of memory");
	config_errors_clear(&scratch);
	if (ld.n_failed) {
		config_destroy(cfg);
		return NULL;
	}
	return cfg;
}

struct config *config_load(const char *path, struct config_errors *errs)
{
	struct config_errors scratch = {0};
	struct loader ld = {.file = path ? path : "(null)", .errs = errs ? errs : &scratch};
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int err = 0;
	FILE *f;

	if (!path || !(f = fopen(path, "rb"))) {
		err_at(&ld, 0, 0, "cannot open: %s", strerror(path ? errno : EINVAL));
		config_errors_clear(&scratch);
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= CONFIG_FILE_MAX) {
				err = EFBIG;
				break;
			}
			cap = cap ? cap * 2 : 4096;
			char *nb = realloc(buf, cap);
			if (!nb) {
				err = ENOMEM;
				break;
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0) {
			/* errno is fread's (e.g. EISDIR for a directory) on error. */
			err = ferror(f) ? (errno ? errno : EIO) : 0;
			break;
		}
	}
	fclose(f);
	if (err) {
		err_at(&ld, 0, 0, "cannot open: %s", strerror(err));
		free(buf);
		config_errors_clear(&scratch);
		return NULL;
	}
	struct config *cfg = config_load_string(path, buf ? buf : "", len, errs);
	free(buf);
	return cfg;
}
