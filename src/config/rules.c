/*
 * rules.c - cache.rules: reading the rules (readers.h) and matching a
 * request against them (config_rule_match, config.h).
 */
#include "config/readers.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/table.h"
#include "config/walk.h"

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

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */

int rules_check_host(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	if (valid_host_pattern(s))
		return 1;
	walk_err(w, n,
		 "%s: invalid host pattern '%s' (expected a host name without port, or "
		 "\"*.example.com\" for its subdomains)",
		 path, s);
	return -1;
}

int rules_check_path(struct walk *w, const yaml_node_t *n, const char *path, const char *s)
{
	if (s[0] == '/')
		return 1;
	walk_err(w, n, "%s: '%s' must start with '/'", path, s);
	return -1;
}

/* Does the present row value V make a rule do something? An empty key does not. */
static bool acts(const struct config_row *row, const yaml_node_t *v)
{
	if (row->type != CONFIG_SECTION)
		return true;
	return !walk_is_null(v) && (v->type != YAML_MAPPING_NODE ||
				    v->data.mapping.pairs.top != v->data.mapping.pairs.start);
}

/*
 * A rule with only match keys would silently shadow later rules: it needs
 * one of the CONFIG_ACTION rows, which the message lists in hint order.
 */
static void check_rule_acts(struct walk *w, yaml_node_t *n, const char *path)
{
	char list[256];
	size_t off = 0;

	list[0] = '\0';
	for (unsigned k = 1;; k++) {
		const struct config_row *row = config_table_hint(w->table, "cache.rules[]", k);
		if (!row)
			break;
		if (!(row->flags & CONFIG_ACTION))
			continue;
		yaml_node_t *v = walk_get(w, n, config_row_name(row));
		if (v && acts(row, v))
			return;
		if (off < sizeof(list))
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
						off ? ", " : "", config_row_name(row));
	}
	walk_err(w, n, "%s: rule does nothing; give at least one of: %s", path, list);
}

static void rule_read(struct walk *w, yaml_node_t *n, size_t idx, struct config_rule *r)
{
	char path[WALK_PATH_MAX];

	walk_index(path, sizeof(path), "cache.rules", idx);
	if (n->type != YAML_MAPPING_NODE) {
		walk_err(w, n, "%s: expected a mapping, got %s", path, walk_kind(n));
		return;
	}
	/*
	 * ttl 0 is a zero lifetime, i.e. matching responses are not stored;
	 * bypass is the way to skip the cache entirely (no lookup either).
	 */
	walk_section(w, n, "cache.rules[]", path, r);
	r->key_set = walk_get(w, n, "key") != NULL; /* unset options inherit cache.key */
	check_rule_acts(w, n, path);
}

/* After cache.key: the rules' defaults inherit it. */
static void rules_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
		       const char *path, void *base)
{
	struct config *cfg = base;

	if (walk_is_null(n))
		return; /* "rules:" with nothing: no rules, like an empty list */
	if (n->type != YAML_SEQUENCE_NODE) {
		walk_err(w, n, "%s: expected a list of rules, got %s", path, walk_kind(n));
		return;
	}
	size_t cnt = walk_len(n);
	if (cnt == 0)
		return;
	cfg->cache.rules = calloc(cnt, sizeof(*cfg->cache.rules));
	if (!cfg->cache.rules) {
		walk_oom(w);
		return;
	}
	cfg->cache.n_rules = cnt;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = walk_item(w, n, i);
		struct config_rule *r = &cfg->cache.rules[i];
		if (config_table_init(w->table, "cache.rules[]", r, cfg) < 0)
			walk_oom(w);
		if (item)
			rule_read(w, item, i, r);
	}
}

static void rules_release(const struct config_table *t, const struct config_row *row, void *base)
{
	struct config *cfg = base;
	for (size_t i = 0; i < cfg->cache.n_rules; i++)
		config_table_release(t, "cache.rules[]", &cfg->cache.rules[i]);
	free(cfg->cache.rules);
	cfg->cache.rules = NULL;
	cfg->cache.n_rules = 0;
}

static bool rules_is_default(const struct config_row *row, const void *base)
{
	return ((const struct config *)base)->cache.n_rules == 0;
}

const struct config_ops rules_ops = {
    .read = rules_read, .release = rules_release, .is_default = rules_is_default};

/* ------------------------------------------------------------------------ */
/* Matching                                                                  */

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
