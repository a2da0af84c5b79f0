/* keys.c - the cache keys of requests: the rule's key options, and what an unsafe request
 * invalidates. */
#include "serve/keys.h"
#include "rt/obj.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/cluster.h"
#include "cache/dtier.h"
#include "cache/key.h"
#include "cache/store.h"
#include "route/match.h"
#include "rt/clock.h"
#include "serve/cinval.h"

#define KEY_MAX 8192

static unsigned opts_of(const struct config *cfg, const struct config_rule *rule)
{
	const struct config_key *k = rule && rule->key_set ? &rule->key : &cfg->cache.key;
	return (k->host ? KEY_HOST : 0) | (k->query ? KEY_QUERY : 0) |
	       (k->sort_query ? KEY_SORT_QUERY : 0) | (k->normalize_path ? KEY_NORMALIZE_PATH : 0);
}

int cache_key_under(const struct config *cfg, const struct config_rule *rule, const char *host,
		    size_t hlen, const char *target, size_t tlen, char *out, size_t cap,
		    uint32_t *host_len)
{
	return cache_key_build(opts_of(cfg, rule), host, hlen, target, tlen, out, cap, host_len);
}

/* The rule of a request for HOST and TARGET: its route's, or cache.rules'. */
static const struct config_rule *rule_for(const struct config *cfg, const struct config_route *rt,
					  const char *host, size_t hlen, const char *target,
					  size_t tlen)
{
	const char *q = memchr(target, '?', tlen);
	size_t plen = q ? (size_t)(q - target) : tlen;
	return route_cache_rule(cfg, rt, host, cache_key_host_len(host, hlen), target, plen);
}

int cache_key_for(const struct config *cfg, const char *host, size_t hlen, const char *target,
		  size_t tlen, char *out, size_t cap, uint32_t *host_len)
{
	return cache_key_under(cfg, rule_for(cfg, NULL, host, hlen, target, tlen), host, hlen,
			       target, tlen, out, cap, host_len);
}

/* N, less a trailing PORT (the scheme's default: RFC 9110 4.2.3 makes
 * "http://h:80/" and "http://h/" the same URI). */
static size_t without_port(const char *a, size_t n, const char *port)
{
	size_t pl = strlen(port);
	return n > pl && memcmp(a + n - pl, port, pl) == 0 ? n - pl : n;
}

/* URI (a Location or Content-Location value) as a path on HOST: an
 * absolute-path reference as it is, an absolute http(s) URI only on the
 * same host (its default port left out or not). NULL for anything else
 * (another host, a relative or network-path reference). */
static const char *path_on_host(const char *u, const char *host, size_t hlen)
{
	if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) {
		const bool tls = u[4] == 's';
		const char *h = u + (tls ? 8 : 7);
		size_t end = strcspn(h, "/?#");
		if (h[end] != '/' && h[end] != '\0')
			return NULL; /* a query or fragment on an empty path */
		size_t uhl = without_port(h, end, tls ? ":443" : ":80");
		size_t hl = without_port(host, hlen, ":80"); /* we listen for http */
		if (uhl != hl || strncasecmp(h, host, hl) != 0)
			return NULL;
		return h[end] ? h + end : "/";
	}
	return u[0] == '/' && u[1] != '/' ? u : NULL; /* "//host/p" is network-path */
}

/* Has REF (up to its end or a '?') a "." or ".." segment? Requests with
 * them are refused (req.c), so a reference with them names no key. */
static bool has_dot_segment(const char *ref)
{
	size_t end = strcspn(ref, "?");
	for (size_t i = 0; i < end;) {
		size_t n = strcspn(ref + i, "/?");
		if ((n == 1 && ref[i] == '.') || (n == 2 && ref[i] == '.' && ref[i + 1] == '.'))
			return true;
		i += n + 1;
	}
	return false;
}

/* A relative-path or query-only reference REF resolved against TARGET
 * (RFC 3986 5.2.2-5.2.3: the target's path up to its last '/', then REF;
 * or the target's path, then REF's query): malloc'd, or NULL when REF is
 * not one (a first segment with ':' would be a scheme, RFC 3986 4.2) or
 * has dot or fragment parts. */
static char *resolve_relative(const char *ref, const char *t, size_t tlen)
{
	size_t first = strcspn(ref, "/?");
	if (!ref[0] || memchr(ref, ':', first) || strchr(ref, '#') || has_dot_segment(ref))
		return NULL;
	const char *q = memchr(t, '?', tlen);
	size_t plen = q ? (size_t)(q - t) : tlen, keep = plen;
	if (ref[0] != '?') {
		while (keep && t[keep - 1] != '/')
			keep--;
	}
	size_t rl = strlen(ref);
	char *out = malloc(keep + rl + 1);
	if (out) {
		memcpy(out, t, keep);
		memcpy(out + keep, ref, rl + 1);
	}
	return out;
}

bool cache_uri_is_target(struct req *rq, const char *host, size_t hlen, const char *t, size_t tlen,
			 const char *uri)
{
	CHECK_OBJ_NOTNULL(rq, REQ_MAGIC);
	char *resolved = NULL;
	const char *u = path_on_host(uri, host, hlen);
	if (!u && strncmp(uri, "http:", 5) != 0 && strncmp(uri, "https:", 6) != 0 && uri[0] != '/')
		u = resolved = resolve_relative(uri, t, tlen);
	if (!u)
		return false;
	const struct config *cfg = rq->gen->cfg;
	const struct config_route *rt = rq->route.active ? rq->route.route : NULL;
	const struct config_rule *rule = rule_for(cfg, rt, host, hlen, t, tlen);
	char keys[KEY_MAX]; /* both, in halves: a longer key is not compared */
	char *a = keys, *b = keys + KEY_MAX / 2;
	uint32_t hl;
	int al = cache_key_under(cfg, rule, host, hlen, t, tlen, a, KEY_MAX / 2, &hl);
	int bl = cache_key_under(cfg, rule, host, hlen, u, strlen(u), b, KEY_MAX / 2, &hl);
	free(resolved);
	return al > 0 && al == bl && memcmp(a, b, (size_t)al) == 0;
}

void cache_invalidate_after_unsafe(struct req *rq, const char *host, size_t hlen)
{
	CHECK_OBJ_NOTNULL(rq, REQ_MAGIC);
	struct store *st = rq->w->sh->store;
	const struct config *cfg = rq->gen->cfg;
	char key[KEY_MAX];
	uint32_t hl;
	const char *uris[3] = {rq->req_target, rq->loc, rq->cloc};
	for (int i = 0; i < 3; i++) {
		const char *u = uris[i];
		if (!u || !u[0])
			continue;
		/* Absolute URIs count only for the same host. */
		if (!(u = path_on_host(u, host, hlen)))
			continue;
		size_t ulen = strlen(u);
		/* Under the key options the request's lookups used (its route's). */
		const struct config_route *rt = rq->route.active ? rq->route.route : NULL;
		int kl = cache_key_under(cfg, rule_for(cfg, rt, host, hlen, u, ulen), host, hlen, u,
					 ulen, key, sizeof(key), &hl);
		if (kl <= 0)
			continue;
		store_inval_begin(st); /* both tiers (store.h) */
		store_purge_key(st, key, (uint32_t)kl);
		if (rq->w->sh->disk)
			dtier_purge(rq->w->sh->disk, key, (uint32_t)kl, false);
		store_inval_end(st);
		/* And the owner's copy, when another member owns the key
		 * (cinval.h: near copies end within near_cache.ttl). */
		const struct gen *g = rq->gen;
		int owner;
		if (cluster_on(g) &&
		    cluster_order(g, cluster_key_hash(key, (size_t)kl), rt_clock_now(), &owner,
				  1) &&
		    owner != CLUSTER_SELF) {
			struct cinval_op op = {.kind = CINVAL_PURGE,
					       .a = key,
					       .alen = (size_t)kl,
					       .to = g->cluster.names[owner]};
			cinval_add(rq->w->sh->inval, &op, g);
		}
	}
}
