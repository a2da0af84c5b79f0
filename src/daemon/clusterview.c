/* clusterview.c - GET /cluster's JSON (clusterview.h). */
#include "daemon/clusterview.h"

#include <stdbool.h>
#include <string.h>

#include "backend/cluster.h"
#include "http/hbuf.h"
#include "rt/clock.h"
#include "serve/keys.h"

bool clusterview_split_url(const char *url, const char **host, size_t *hl, const char **target)
{
	if (url[0] == '/') {
		*host = url;
		*hl = 0;
		*target = url;
		return true;
	}
	const char *p = strstr(url, "://");
	if (!p || (size_t)(p - url) > 5)
		return false;
	p += 3;
	const char *slash = strchr(p, '/');
	if (!slash || slash == p)
		return false;
	*host = p;
	*hl = (size_t)(slash - p);
	*target = slash;
	return true;
}

/* A member's name as the JSON string it is (member names are addresses). */
static const char *member_name(const struct gen *g, int who)
{
	return who == CLUSTER_SELF ? g->cluster.self_name : g->cluster.names[who];
}

size_t clusterview_render(const struct gen *g, const char *host, size_t hl, const char *target,
			  size_t tl, char *out, size_t cap)
{
	if (!cluster_on(g))
		return 0;
	const struct config_backend *cb = g->backends[g->cluster.backend].cfg;
	uint64_t now = rt_clock_now();
	struct hbuf b;
	hbuf_init(&b, out, cap);
	hbuf_printf(&b, "{\"self\": \"%s\", \"generation\": %llu, \"members\": [",
		    g->cluster.self_name, (unsigned long long)g->id);
	hbuf_printf(&b, "{\"address\": \"%s\", \"self\": true, \"up\": true}",
		    g->cluster.self_name);
	for (size_t i = 0; i < cb->n_servers; i++) {
		/* The server's spec names the peer as configured ("name:port
		 * (ip)" for a name), the address as every member names it. */
		hbuf_printf(
		    &b, ", {\"address\": \"%s\", \"self\": false, \"up\": %s, \"server\": \"",
		    g->cluster.names[i], cluster_peer_live(g, (unsigned)i, now) ? "true" : "false");
		for (const char *c = cb->servers[i].spec; *c; c++) {
			if (*c == '"' || *c == '\\')
				hbuf_put(&b, "\\", 1);
			if ((unsigned char)*c >= 0x20)
				hbuf_put(&b, c, 1);
		}
		hbuf_puts(&b, "\"}");
	}
	hbuf_puts(&b, "]");
	if (target) {
		char key[8192];
		uint32_t khl;
		int kl = cache_key_for(g->cfg, host, hl, target, tl, key, sizeof(key), &khl);
		if (kl > 0) {
			int order[CLUSTER_CHOICES];
			size_t n = cluster_order(g, cluster_key_hash(key, (size_t)kl), now, order,
						 CLUSTER_CHOICES);
			hbuf_printf(&b, ", \"owner\": \"%s\", \"order\": [",
				    member_name(g, order[0]));
			for (size_t i = 0; i < n; i++)
				hbuf_printf(&b, "%s\"%s\"", i ? ", " : "",
					    member_name(g, order[i]));
			hbuf_puts(&b, "]");
		}
	}
	hbuf_puts(&b, "}\n");
	return b.overflow ? 0 : b.len;
}
