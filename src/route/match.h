/*
 * match.h - which route a request takes (match.c): routes[] of the
 * configuration tried in order, the first whose every test holds.
 *
 * Per request, and so: no allocation, no regex unless a route has one
 * (compiled at load, run with the loop's match data), no locale. What is
 * matched (docs/routing.md):
 *  - host: the Host lower-cased without its port, exactly or as
 *    "*.suffix"; host_regex on the same text;
 *  - path, path_prefix, path_regex: the normalised path (http/path.h),
 *    which the caller has made;
 *  - method: the request line's method;
 *  - header: every line of the name (any case) joined with ", " after
 *    the fields named in Connection, fields with "_" and untrusted
 *    forwarding fields were removed (serve/req.c), so duplicates, case
 *    and whitespace cannot steer a request into another route;
 *  - query: the first parameter of the name, its value as sent;
 *  - client: the real client address (the peer, or what a trusted PROXY
 *    header or X-Forwarded-For says).
 * A request no route matches goes to the first backend, as without routes
 * (Varnish's default backend); a last route without match says otherwise.
 */
#ifndef RINGCACHE_ROUTE_MATCH_H
#define RINGCACHE_ROUTE_MATCH_H

#include <stddef.h>
#include <sys/socket.h>

#include "config/config.h"
#include "http/msg.h"
#include "http/template.h"

/* ${0} (the whole match) .. ${9}. */
#define ROUTE_CAPS 10

/* A loop's scratch for matching: PCRE2 match data and room to join the
 * lines of a field. Never shared between threads. */
struct route_scratch;

/* FIELD_CAP: the longest value of a field sent on several lines that is
 * tested, joined (longer: no match; one line is tested in place). NULL:
 * out of memory. */
struct route_scratch *route_scratch_new(size_t field_cap);
void route_scratch_free(struct route_scratch *s);

struct route_req {
	const struct hmsg *m; /* validated and cleaned */
	unsigned method;      /* what method tests see: the request's (a PURGE: GET's) */
	const char *host;     /* lower-cased, no port; "" when the request has none */
	size_t host_len;
	const char *path; /* normalised */
	size_t path_len;
	const char *query; /* after "?", NULL when none */
	size_t query_len;
	const struct sockaddr *client;
};

struct route_match {
	const struct config_route *route; /* NULL: none matched */
	/* The captures of the route's path_regex, else its host_regex, into
	 * the caller's strings; n_caps 0 when it has neither. */
	struct tvalue caps[ROUTE_CAPS];
	unsigned n_caps;
};

/* The first route of CFG that Q matches, into OUT (route NULL if none). */
const struct config_route *route_find(const struct config *cfg, const struct route_req *q,
				      struct route_scratch *s, struct route_match *out);

/* Run a route's REGEX on SUBJECT[0..LEN), captures into CAPS (may be NULL);
 * the number of captures set (at least 1) on a match, 0 on none. */
unsigned route_regex_run(const struct config_regex *regex, const char *subject, size_t len,
			 struct route_scratch *s, struct tvalue caps[ROUTE_CAPS]);

/* The cache rule a request follows: R's own (routes[].cache), the one R
 * names, else the first of cache.rules matching HOST and PATH. */
const struct config_rule *route_cache_rule(const struct config *cfg, const struct config_route *r,
					   const char *host, size_t hlen, const char *path,
					   size_t plen);

#endif
