/*
 * values.c - config value syntax: numbers, sizes, durations, addresses,
 * networks (values.h).
 */
#include "config/values.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------ */
/* Numbers with units                                                        */

const char *value_digits(const char *s, uint64_t *out)
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

	if (!s || !(p = value_digits(s, &v)))
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

/*
 * The bound of a range in the largest unit that divides it. Ranges are
 * chosen to be round, so this is exact; a value that is not would show as
 * plain bytes or nanoseconds (and the schema test would catch the text).
 */
static void format_unit(uint64_t v, const struct unit *table, size_t n, char *buf, size_t len)
{
	if (v == 0) {
		snprintf(buf, len, "0");
		return;
	}
	for (size_t i = n; i-- > 0;) {
		if (v % table[i].mult == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(v / table[i].mult),
				 table[i].name);
			return;
		}
	}
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

void value_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const struct unit units[] = {
	    {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}};
	format_unit(bytes, units, sizeof(units) / sizeof(units[0]), buf, len);
}

void value_format_duration(uint64_t ns, char *buf, size_t len)
{
	static const struct unit units[] = {
	    {"ns", 1},	      {"us", NS_PER_US},    {"ms", NS_PER_MS},
	    {"s", NS_PER_S},  {"m", 60 * NS_PER_S}, {"h", 3600 * NS_PER_S},
	    {"d", NS_PER_DAY}};
	format_unit(ns, units, sizeof(units) / sizeof(units[0]), buf, len);
}

/* ------------------------------------------------------------------------ */
/* Socket addresses                                                          */

static bool all_digits_and_dots(const char *s)
{
	for (; *s; s++) {
		if (!((*s >= '0' && *s <= '9') || *s == '.'))
			return false;
	}
	return true;
}

bool value_host_name_ok(const char *s)
{
	size_t len = strlen(s);
	if (len && s[len - 1] == '.')
		len--; /* the root: "api.internal." is absolute */
	if (len == 0 || len > 253)
		return false;
	size_t label = 0;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '.';
		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && c != '_' && (c != '-' || label == 0))
			return false;
		label++;
	}
	return true;
}

int value_parse_addr(const char *s, struct config_addr *out, const char **why)
{
	return value_parse_addr_as(s, ADDR_RESOLVE, out, why);
}

int value_parse_addr_as(const char *s, enum value_addr_mode mode, struct config_addr *out,
			const char **why)
{
	char *follow = NULL;
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
	const char *end = value_digits(port_s, &port);
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
	} else if (!bracketed && mode == ADDR_NUMERIC) {
		*why = "expected a numeric address (IP:PORT or [IPv6]:PORT)";
		return -EINVAL;
	} else if (!bracketed && mode == ADDR_FOLLOW) {
		/* Looked up by the resolver while the daemon runs, never here:
		 * `ringcache -t` needs no DNS, and a name whose container is not
		 * up yet does not stop the start. */
		if (!value_host_name_ok(host)) {
			*why = "invalid host name (dot-separated labels of letters, digits, '-' "
			       "and '_')";
			return -EINVAL;
		}
		if (!(follow = strdup(host))) {
			*why = "out of memory";
			return -ENOMEM;
		}
		ss.ss_family = AF_UNSPEC;
		sslen = 0;
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
	else if (ss.ss_family == AF_INET6)
		sin6->sin6_port = htons((uint16_t)port);

	char *spec = strdup(s);
	if (!spec) {
		free(follow);
		*why = "out of memory";
		return -ENOMEM;
	}
	out->spec = spec;
	out->sa = ss;
	out->salen = sslen;
	out->host = follow;
	out->port = (uint16_t)port;
	return 0;
}

bool config_addr_equal(const struct config_addr *a, const struct config_addr *b)
{
	if (!a->salen || !b->salen) /* a name not resolved: the same name */
		return !a->salen && !b->salen && a->host && b->host && a->port == b->port &&
		       strcasecmp(a->host, b->host) == 0;
	return a->salen == b->salen && memcmp(&a->sa, &b->sa, a->salen) == 0;
}

int config_parse_addr(const char *s, struct config_addr *out)
{
	const char *why;
	int rc = value_parse_addr(s, out, &why);
	/* The contract promises 0 or -EINVAL; ENOMEM folds into the latter. */
	return rc < 0 ? -EINVAL : 0;
}

uint16_t value_addr_port(const struct config_addr *a)
{
	if (!a->salen)
		return a->port;
	if (a->sa.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
}

void value_addr_free(struct config_addr *a)
{
	free(a->spec);
	free(a->host);
	a->spec = NULL;
	a->host = NULL;
}

/* ------------------------------------------------------------------------ */
/* Networks (admin.allow, trusted_proxies)                                   */

/*
 * inet_pton is strict on purpose: it refuses "127.1" and scope ids, neither
 * of which means anything as a network. Host bits below the prefix are
 * cleared rather than refused ("10.1.2.3/8" is 10.0.0.0/8), as most ACL
 * syntaxes do, so matching can compare the stored bytes directly.
 */
int value_parse_cidr(const char *s, struct config_cidr *out, const char **why)
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
		const char *end = value_digits(slash + 1, &p);
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

bool value_cidrs_match(const struct config_cidr *list, size_t n, const struct sockaddr *sa)
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
	return cfg && value_cidrs_match(cfg->admin.allow.v, cfg->admin.allow.n, sa);
}

bool config_trusted_proxy(const struct config *cfg, const struct sockaddr *sa)
{
	return cfg && value_cidrs_match(cfg->trusted.v, cfg->trusted.n, sa);
}

bool config_cidrs_match(const struct config_cidrs *c, const struct sockaddr *sa)
{
	return value_cidrs_match(c->v, c->n, sa);
}
