/*
 * values.h - the syntax of config values: whole numbers, sizes, durations,
 * socket addresses and networks (CIDR), and how ranges are written.
 *
 * Pure string functions: no YAML, no error lines. A parser that can fail
 * for more than one reason says why in *why (a static string), which the
 * walker puts into its message. The public wrappers (config_parse_size,
 * config_parse_duration, config_parse_addr, config_addr_equal,
 * config_admin_allowed, config_trusted_proxy) are declared in config.h.
 */
#ifndef RINGCACHE_CONFIG_VALUES_H
#define RINGCACHE_CONFIG_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"

#define NS_PER_US  1000ull
#define NS_PER_MS  1000000ull
#define NS_PER_S   1000000000ull
#define NS_PER_DAY (86400 * NS_PER_S)

/*
 * A run of decimal digits at S into *OUT, with overflow checking; returns
 * the first byte after them, or NULL (no digit, or more than uint64 holds).
 * No sign, no space, no 0x: strtoull takes all three, none belongs here.
 */
const char *value_digits(const char *s, uint64_t *out);

/* What an address with a host name becomes. */
enum value_addr_mode {
	ADDR_RESOLVE, /* resolved now with getaddrinfo, the first result (listen, admin) */
	ADDR_FOLLOW,  /* kept as a name (->host, ->port; salen 0) for the resolver */
	ADDR_NUMERIC, /* refused: numeric addresses only (resolver.servers) */
};

/*
 * "IP:PORT", "[IPv6]:PORT", ":PORT" (any IPv4 address) or "host:port"
 * (as MODE says). Returns 0 and fills OUT (which then owns a copy of S in
 * ->spec, and of the host in ->host), or -EINVAL / -ENOMEM with *why set
 * and OUT untouched. value_parse_addr is ADDR_RESOLVE.
 */
int value_parse_addr_as(const char *s, enum value_addr_mode mode, struct config_addr *out,
			const char **why);
int value_parse_addr(const char *s, struct config_addr *out, const char **why);
uint16_t value_addr_port(const struct config_addr *a);
void value_addr_free(struct config_addr *a); /* frees ->spec and ->host, and NULLs them */

/* A DNS host name: dot-separated labels of letters, digits, '-' and '_'
 * (1..63 bytes each, no '-' at either end), 253 bytes in all, a trailing
 * dot allowed. */
bool value_host_name_ok(const char *s);

/*
 * "ADDR/PREFIX" or a bare "ADDR" (one host: the full-length prefix), IPv4
 * or IPv6, numeric only. Host bits below the prefix are cleared. Returns 0,
 * or -EINVAL with *why set.
 */
int value_parse_cidr(const char *s, struct config_cidr *out, const char **why);

/* Is SA (AF_INET or AF_INET6; IPv4-mapped counts as IPv4) in one of LIST's networks? */
bool value_cidrs_match(const struct config_cidr *list, size_t n, const struct sockaddr *sa);

/*
 * A bound of a range as messages write it: 0 as "0", otherwise in the
 * largest unit that gives a whole number ("16KiB", "10ms", "3650d").
 */
void value_format_size(uint64_t bytes, char *buf, size_t len);
void value_format_duration(uint64_t ns, char *buf, size_t len);

#endif
