/*
 * Unit tests for src/config/schema.c, the table of config keys: every key
 * the loader accepts has a row and every row is reachable (a file setting
 * each row to a value other than its default loads, and each field holds
 * that value); each section's "expected one of" list is its rows; every
 * row's default lies inside its range and its range text matches its
 * numbers; an empty-but-valid file gives exactly the table's defaults;
 * conf/ringcache.yaml loads, sets every key it gives to the table's
 * default and mentions every key, as config.h's schema comment does.
 */
#include "config/config.h"
#include "config/schema.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MINIMAL                                                                                    \
	"listen: \":8080\"\n"                                                                      \
	"backends:\n"                                                                              \
	"  - name: app\n"                                                                          \
	"    servers: [\"127.0.0.1:9000\"]\n"

/* Values for rows without a default, or whose default is the structure around them. */
static const struct {
	const char *path, *value;
} examples[] = {
    {"listen", "\"127.0.0.1:18080\""},
    {"backends[].name", "app"},
    {"backends[].servers[].address", "\"127.0.0.1:19000\""},
    {"resolver.servers", "[\"127.0.0.1:5353\"]"},
    {"backends[].health_check.path", "/healthz"},
    {"backends[].health_check.host", "app.internal"},
    {"backends[].health_check.expect_status", "[200, 204]"},
    {"cache.rules[].host", "\"*.example.com\""},
    {"cache.rules[].path_prefix", "/static/"},
    {"compression.codings", "[gzip]"},
    {"compression.types", "[\"text/html\"]"},
    {"admin.token", "secret"},
    {"admin.allow", "[\"10.0.0.0/8\"]"},
    {"admin.listen", "\"127.0.0.1:19090\""},
    {"log.access", "/nonexistent-ringcache-dir/access.log"},
    {"cache.disk.path", "/nonexistent-ringcache-dir/store"},
    {"trusted_proxies", "[\"10.0.0.0/8\"]"},
    {"backends[].error_pages", "{502: \"down\"}"},
    {"cache.rules[].name", "static"},
    {"routes[].name", "api"},
    {"routes[].match.host", "\"*.example.com\""},
    {"routes[].match.host_regex", "\"^a\""},
    {"routes[].match.path", "/x"},
    {"routes[].match.path_prefix", "/"},
    {"routes[].match.path_regex", "\"^/(x)$\""},
    {"routes[].match.method", "[GET]"},
    {"routes[].match.header", "{name: X-A, equals: b}"},
    {"routes[].match.query", "{name: a}"},
    {"routes[].match.client", "[\"10.0.0.0/8\"]"},
    {"routes[].backend", "app"},
    {"routes[].redirect.location", "\"https://x${path}\""},
    {"routes[].respond.body", "hi"},
    {"routes[].respond.body_file", "/etc/hostname"},
    {"routes[].respond.headers", "{X-A: b}"},
    {"routes[].deny", "true"},
    {"routes[].compression", "true"},
    {"routes[].backend_host", "app.internal"},
    {"routes[].rewrite.strip_prefix", "/x"},
    {"routes[].rewrite.regex", "\"^/(x)\""},
    {"routes[].rewrite.replace", "\"/y/${1}\""},
    {"routes[].request_headers.set", "{X-A: b}"},
    {"routes[].request_headers.add", "{X-B: c}"},
    {"routes[].request_headers.remove", "[Cookie]"},
    {"routes[].response_headers.set", "{X-A: b}"},
    {"routes[].response_headers.add", "{X-B: c}"},
    {"routes[].response_headers.remove", "[Server]"},
    {"routes[].error_pages", "{502: \"down\"}"},
    {"request_headers.set", "{X-A: b}"},
    {"request_headers.add", "{X-B: c}"},
    {"request_headers.remove", "[Cookie]"},
    {"response_headers.set", "{X-A: b}"},
    {"response_headers.add", "{X-B: c}"},
    {"response_headers.remove", "[Server]"},
    {"error_pages", "{404: \"none\"}"},
    {"cache.purge_allow", "[\"10.0.0.0/8\"]"},
    {"cluster.self", "\"127.0.0.1:18081\""},
    {"cluster.peers", "[\"127.0.0.1:18081\", \"127.0.0.1:18082\"]"},
    {"cluster.token", "\"0123456789abcdef\""},
    {"cluster.discovery.dns", "\"ringcache-headless.default.svc.cluster.local\""},
    {"cluster.invalidation.redis", "\"redis://127.0.0.1:6379\""},
    {"cluster.invalidation.stream", "\"rc:invalidations\""},
};

/*
 * Rows that exclude others in one item, left out of the every-row file
 * (its route forwards to a backend, and rewrites with a regex) and
 * reached by exclusive_rows_are_reachable instead: a route's action is
 * one of backend, redirect, respond, deny; a body or a body file; a
 * prefix strip or a regex rewrite.
 */
static const char *const exclusive[] = {"routes[].redirect", "routes[].respond", "routes[].deny",
					"routes[].rewrite.strip_prefix"};

static bool is_exclusive(const struct config_row *r)
{
	for (size_t i = 0; i < sizeof(exclusive) / sizeof(exclusive[0]); i++) {
		size_t n = strlen(exclusive[i]);
		if (!strncmp(r->path, exclusive[i], n) && (!r->path[n] || r->path[n] == '.'))
			return true;
	}
	return false;
}

/* A custom row with rows of its own under it (routes[].cache): the rows make it. */
static bool has_children(const struct config_row *r)
{
	char prefix[256];
	snprintf(prefix, sizeof(prefix), "%s.", r->path);
	for (size_t i = 0; i < config_schema_n; i++) {
		if (!strncmp(config_schema[i].path, prefix, strlen(prefix)))
			return true;
	}
	return false;
}

/* conf/ringcache.yaml sets these to something else on purpose (the demo),
 * NULL-terminated; none since compression is on by default. */
static const char *const demo_values[] = {NULL};

static const char *example_of(const struct config_row *r)
{
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		if (!strcmp(examples[i].path, r->path))
			return examples[i].value;
	}
	return NULL;
}

static bool is_number(const struct config_row *r)
{
	return r->type == CONFIG_UINT || r->type == CONFIG_SIZE || r->type == CONFIG_DURATION ||
	       r->type == CONFIG_BOOL || r->type == CONFIG_ENUM;
}

/* A list row whose items are rows of their own (backends, servers, rules). */
static bool has_items(const struct config_row *r)
{
	char prefix[256];
	snprintf(prefix, sizeof(prefix), "%s[].", r->path);
	for (size_t i = 0; i < config_schema_n; i++) {
		if (!strncmp(config_schema[i].path, prefix, strlen(prefix)))
			return true;
	}
	return false;
}

static size_t n_names(const struct config_enum *e)
{
	size_t n = 0;
	while (e->names[n])
		n++;
	return n;
}

/* The path as messages write it: the first item of each list. */
static void actual_path(const char *path, char *buf, size_t len)
{
	size_t o = 0;
	for (const char *p = path; *p && o + 4 < len; p++) {
		if (p[0] == '[' && p[1] == ']') {
			memcpy(buf + o, "[0]", 3);
			o += 3;
			p++;
		} else {
			buf[o++] = *p;
		}
	}
	buf[o] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Building a YAML file from paths                                           */

struct tnode {
	char *key;
	char *value; /* a scalar or flow text; NULL: a mapping (or a list of one) */
	bool list;   /* "key[]": a list of one mapping, the children */
	struct tnode *kids[64];
	size_t n;
};

static struct tnode *tchild(struct tnode *t, const char *key, size_t klen, bool list)
{
	for (size_t i = 0; i < t->n; i++) {
		if (strlen(t->kids[i]->key) == klen && !strncmp(t->kids[i]->key, key, klen))
			return t->kids[i];
	}
	cr_assert_lt(t->n, 64);
	struct tnode *c = calloc(1, sizeof(*c));
	c->key = strndup(key, klen);
	c->list = list;
	t->kids[t->n++] = c;
	return c;
}

/* Set PATH ("a.b[].c") to VALUE in the tree. */
static void tset(struct tnode *t, const char *path, const char *value)
{
	const char *p = path;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		bool list = len > 2 && p[len - 2] == '[' && p[len - 1] == ']';
		t = tchild(t, p, list ? len - 2 : len, list);
		if (!dot)
			break;
		p = dot + 1;
	}
	free(t->value);
	t->value = value ? strdup(value) : NULL;
}

static void temit(FILE *f, const struct tnode *t, int indent)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct tnode *c = t->kids[i];
		if (c->value) {
			fprintf(f, "%*s%s: %s\n", indent, "", c->key, c->value);
		} else if (c->list) {
			fprintf(f, "%*s%s:\n%*s-\n", indent, "", c->key, indent + 2, "");
			temit(f, c, indent + 4);
		} else {
			fprintf(f, "%*s%s:\n", indent, "", c->key);
			temit(f, c, indent + 2);
		}
	}
}

static void tfree(struct tnode *t)
{
	for (size_t i = 0; i < t->n; i++) {
		tfree(t->kids[i]);
		free(t->kids[i]);
	}
	free(t->key);
	free(t->value);
}

static char *tyaml(const struct tnode *t)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	temit(f, t, 0);
	fclose(f);
	return buf;
}

/* V as the file writes it for ROW. */
static void number_text(const struct config_row *r, uint64_t v, char *buf, size_t len)
{
	if (r->type == CONFIG_BOOL)
		snprintf(buf, len, "%s", v ? "true" : "false");
	else if (r->type == CONFIG_ENUM)
		snprintf(buf, len, "%s", r->choices->names[v]);
	else if (r->type == CONFIG_DURATION) {
		cr_assert_eq(v % 1000, 0, "%s: %llu ns is not whole microseconds", r->path,
			     (unsigned long long)v);
		snprintf(buf, len, "%lluus", (unsigned long long)(v / 1000));
	} else
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

static uint64_t def_of(const struct config_row *r)
{
	if (r->inherit) {
		const struct config_row *src = config_schema_find(r->inherit);
		cr_assert_not_null(src, "%s inherits %s: no such row", r->path, r->inherit);
		return src->def;
	}
	return r->def;
}

/* A value in range other than the default (for inherited rows: other than
 * what the row it inherits from is given by other_value). */
static uint64_t other_value(const struct config_row *r)
{
	if (r->type == CONFIG_BOOL)
		return r->inherit ? def_of(r) : !r->def;
	if (r->type == CONFIG_ENUM)
		return (r->def + 1) % n_names(r->choices);
	if (r->flags & CONFIG_AUTO)
		return config_auto_cpus() != r->lo ? r->lo : r->hi;
	if (r->flags & CONFIG_UNSET)
		return r->lo;
	return r->def != r->lo ? r->lo : r->hi;
}

/* A list of the default items, in flow style. */
static void list_text(const char *const *items, char *buf, size_t len)
{
	size_t o = (size_t)snprintf(buf, len, "[");
	for (size_t i = 0; items[i]; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s\"%s\"", i ? ", " : "", items[i]);
	snprintf(buf + o, len - o, "]");
}

/*
 * A file with every row: OTHER false sets each to its default (rows with
 * no default but required get their example, the others are left out),
 * OTHER true to a value that is not the default.
 */
static void every_row_tree(bool other, struct tnode *root)
{
	char text[2048];

	for (size_t i = 0; i < config_schema_n; i++) {
		const struct config_row *r = &config_schema[i];
		if (r->type == CONFIG_SECTION || has_items(r) || has_children(r) || is_exclusive(r))
			continue; /* the rows under them make them */
		if (is_number(r)) {
			if (!other && (r->flags & CONFIG_UNSET))
				continue;
			if (!other && (r->flags & CONFIG_AUTO))
				snprintf(text, sizeof(text), "auto");
			else
				number_text(r, other ? other_value(r) : def_of(r), text,
					    sizeof(text));
			tset(root, r->path, text);
			continue;
		}
		const char *ex = example_of(r);
		cr_assert_not_null(ex, "%s: no default and no example in this test", r->path);
		/* A route needs its action even in the file of defaults. */
		if (other || (r->flags & CONFIG_REQUIRED) || !strcmp(r->path, "routes[].backend"))
			tset(root, r->path, ex);
		else if (r->type == CONFIG_STRING && r->def_str)
			tset(root, r->path, r->def_str);
		else if (r->type == CONFIG_CUSTOM && r->def_list) {
			list_text(r->def_list, text, sizeof(text));
			tset(root, r->path, text);
		}
	}
}

static char *every_row(bool other)
{
	struct tnode root = {0};
	every_row_tree(other, &root);
	char *y = tyaml(&root);
	tfree(&root);
	return y;
}

static const char *dump(const struct config_errors *e)
{
	static char buf[16384];
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < e->n && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "\n  %s", e->lines[i]);
	return buf;
}

static struct config *load_ok(const char *yaml)
{
	struct config_errors e = {0};
	struct config *cfg = config_load_string("t.yaml", yaml, strlen(yaml), &e);
	cr_assert_not_null(cfg, "errors:%s\nin:\n%s", dump(&e), yaml);
	return cfg;
}

/* The struct a row's field is in: the config, or the first item of its list. */
static const void *base_of(const struct config_row *r, const struct config *cfg)
{
	if (!strncmp(r->path, "backends[].servers[].", 21))
		return NULL; /* read into a scratch item, stored as servers[] and weights[] */
	if (!strncmp(r->path, "backends[].", 11))
		return cfg->n_backends ? &cfg->backends[0] : NULL;
	if (!strncmp(r->path, "cache.rules[].", 14))
		return cfg->cache.n_rules ? &cfg->cache.rules[0] : NULL;
	if (!strncmp(r->path, "routes[].", 9))
		return cfg->n_routes ? &cfg->routes[0] : NULL;
	cr_assert_null(strstr(r->path, "[]"), "%s: a list this test does not know", r->path);
	return cfg;
}

/* ------------------------------------------------------------------------ */

Test(config_schema, rows_are_well_formed)
{
	for (size_t i = 0; i < config_schema_n; i++) {
		const struct config_row *r = &config_schema[i];
		cr_assert_not_null(r->help, "%s: no help text", r->path);
		cr_assert_eq(config_schema_find(r->path), r, "%s: declared twice", r->path);
		const char *dot = strrchr(r->path, '.');
		if (dot) {
			char parent[256];
			snprintf(parent, sizeof(parent), "%.*s", (int)(dot - r->path), r->path);
			size_t pl = strlen(parent);
			if (pl > 2 && !strcmp(parent + pl - 2, "[]"))
				parent[pl - 2] = '\0';
			const struct config_row *p = config_schema_find(parent);
			cr_assert_not_null(p, "%s: no row for its parent %s", r->path, parent);
			cr_assert(p->type == CONFIG_SECTION || p->type == CONFIG_CUSTOM,
				  "%s: parent %s is not a section or list", r->path, parent);
			cr_assert_lt(p - config_schema, r - config_schema,
				     "%s: comes before its parent", r->path);
		}
		if (is_number(r) || (r->type == CONFIG_SECTION && (r->flags & CONFIG_GIVEN)))
			cr_assert(r->size == 1 || r->size == 4 || r->size == 8, "%s: size %zu",
				  r->path, r->size);
		if (r->type == CONFIG_BOOL)
			cr_assert_eq(r->size, sizeof(bool), "%s", r->path);
		if (r->type == CONFIG_ENUM)
			cr_assert(r->choices && r->what, "%s: enum without words", r->path);
		if (r->type == CONFIG_STRING)
			cr_assert_not_null(r->what, "%s: string without what", r->path);
		if (r->type == CONFIG_CUSTOM)
			cr_assert(r->ops && r->ops->read, "%s: custom without reader", r->path);
		if (r->inherit) {
			const struct config_row *src = config_schema_find(r->inherit);
			cr_assert(src && src->type == r->type && config_row_stored_in(src, ""),
				  "%s: inherits %s", r->path, r->inherit);
		}
		if (r->flags & CONFIG_RESTART) {
			cr_assert(config_row_stored_in(r, ""), "%s: restart-only in a list",
				  r->path);
			cr_assert(is_number(r) || r->type == CONFIG_STRING, "%s", r->path);
		}
		if (r->restart_when) {
			const struct config_row *when = config_schema_find(r->restart_when);
			cr_assert(when && when->type == CONFIG_BOOL, "%s: restart_when %s", r->path,
				  r->restart_when);
		}
	}
}

/* Each section's hints are 1..n, once each, and its unknown-key message lists them. */
Test(config_schema, every_section_lists_its_rows)
{
	/* Every parent of a row is a section; the top level is one too. */
	char *sections[64];
	size_t n_sections = 0;
	sections[n_sections++] = strdup("");
	for (size_t i = 0; i < config_schema_n; i++) {
		const char *path = config_schema[i].path, *dot = strrchr(path, '.');
		if (!dot)
			continue;
		char *parent = strndup(path, (size_t)(dot - path));
		bool seen = false;
		for (size_t j = 0; j < n_sections && !seen; j++)
			seen = !strcmp(sections[j], parent);
		if (seen)
			free(parent);
		else
			sections[n_sections++] = parent;
	}

	for (size_t s = 0; s < n_sections; s++) {
		const char *sec = sections[s];
		size_t n = 0;
		for (size_t i = 0; i < config_schema_n; i++)
			n += config_row_in(&config_schema[i], sec);
		char want[1024] = "";
		size_t o = 0;
		for (unsigned k = 1; k <= n; k++) {
			const struct config_row *hit = NULL;
			for (size_t i = 0; i < config_schema_n; i++) {
				const struct config_row *r = &config_schema[i];
				if (!config_row_in(r, sec) || r->hint != k)
					continue;
				cr_assert_null(hit, "section '%s': hint %u twice", sec, k);
				hit = r;
			}
			cr_assert_not_null(hit, "section '%s': no row with hint %u", sec, k);
			o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%s", k > 1 ? ", " : "",
					      config_row_name(hit));
		}

		/* A valid file with one unknown key in SEC: the loader names exactly these. */
		struct tnode all = {0};
		char key[256], path[256], line[2048];
		char *y;
		if (!strcmp(sec, "routes[].redirect") || !strcmp(sec, "routes[].respond")) {
			/* Actions of their own route (see exclusive[]). */
			bool redirect = !strcmp(sec, "routes[].redirect");
			cr_assert(asprintf(&y, MINIMAL "routes:\n  - %s: {%szzz_unknown: 1}\n",
					   redirect ? "redirect" : "respond",
					   redirect ? "location: \"/\", " : "") > 0);
		} else {
			every_row_tree(true, &all);
			snprintf(key, sizeof(key), "%s%szzz_unknown", sec, *sec ? "." : "");
			tset(&all, key, "1");
			y = tyaml(&all);
			tfree(&all);
		}
		struct config_errors e = {0};
		cr_assert_null(config_load_string("t.yaml", y, strlen(y), &e), "%s", y);
		actual_path(sec, path, sizeof(path));
		if (*sec)
			snprintf(line, sizeof(line),
				 "unknown key 'zzz_unknown' in %s; expected one of: %s", path,
				 want);
		else
			snprintf(line, sizeof(line),
				 "unknown key 'zzz_unknown' at top level; expected one of: %s",
				 want);
		cr_assert_eq(e.n, 1, "section '%s':%s", sec, dump(&e));
		cr_assert_not_null(strstr(e.lines[0], line), "section '%s': want\n  %s\ngot%s", sec,
				   line, dump(&e));
		config_errors_clear(&e);
		free(y);
	}
	for (size_t s = 0; s < n_sections; s++)
		free(sections[s]);
}

/* A file that sets every row to something other than its default loads, and each field has it. */
Test(config_schema, every_row_is_reachable)
{
	char *y = every_row(true);
	struct config *cfg = load_ok(y);
	/* app, and the cluster's own backend after it (cluster.c). */
	cr_assert_eq(cfg->n_backends, 2);
	cr_assert_eq(cfg->cluster.backend, 1);
	cr_assert_eq(cfg->cache.n_rules, 1);
	for (size_t i = 0; i < config_schema_n; i++) {
		const struct config_row *r = &config_schema[i];
		const void *base = base_of(r, cfg);
		if (!base || has_items(r) || is_exclusive(r))
			continue;
		if (r->type == CONFIG_SECTION && !(r->flags & CONFIG_GIVEN))
			continue;
		cr_assert_not(config_row_is_default(r, base, cfg), "%s: still the default\n%s",
			      r->path, y);
		if (is_number(r))
			cr_assert_eq(config_row_get(r, base), other_value(r), "%s: %llu", r->path,
				     (unsigned long long)config_row_get(r, base));
	}
	/* The servers[] item's rows land in servers[] and weights[]. */
	const struct config_row *w = config_schema_find("backends[].servers[].weight");
	cr_assert_eq(cfg->backends[0].n_servers, 1);
	cr_assert_eq(cfg->backends[0].weights[0], other_value(w));
	cr_assert_str_eq(cfg->backends[0].servers[0].spec, "127.0.0.1:19000");
	config_free(&cfg);
	free(y);
}

/* The exclusive rows, each in a route of its own kind, hold what it says. */
Test(config_schema, exclusive_rows_are_reachable)
{
	struct config *cfg = load_ok(
	    MINIMAL "routes:\n"
		    "  - redirect: {status: 308, location: \"https://x${path}\"}\n"
		    "  - respond: {status: 503, body_file: /etc/hostname, content_type: a/b,\n"
		    "              headers: {X-A: b}}\n"
		    "  - respond: {body: hi}\n"
		    "  - deny: 451\n"
		    "  - backend: app\n"
		    "    rewrite: {strip_prefix: /x}\n");
	cr_assert_eq(cfg->n_routes, 5);
	cr_assert_eq(cfg->routes[0].kind, ROUTE_REDIRECT);
	cr_assert_eq(cfg->routes[0].redirect_status, 308);
	cr_assert_not_null(cfg->routes[0].location);
	cr_assert_eq(cfg->routes[1].kind, ROUTE_RESPOND);
	cr_assert_eq(cfg->routes[1].respond_status, 503);
	cr_assert_not_null(cfg->routes[1].body);
	cr_assert_str_eq(cfg->routes[1].content_type, "a/b");
	cr_assert_eq(cfg->routes[1].respond_headers.n, 1);
	cr_assert_eq(cfg->routes[2].respond_status, 200);
	cr_assert_str_eq(cfg->routes[2].body, "hi");
	cr_assert_eq(cfg->routes[2].body_len, 2);
	cr_assert_str_eq(cfg->routes[2].content_type, "text/plain; charset=utf-8");
	cr_assert_eq(cfg->routes[3].kind, ROUTE_DENY);
	cr_assert_eq(cfg->routes[3].deny_status, 451);
	cr_assert_eq(cfg->routes[4].kind, ROUTE_BACKEND);
	cr_assert_str_eq(cfg->routes[4].rewrite.strip_prefix, "/x");
	config_free(&cfg);
}

/* Defaults lie inside their ranges; written as the file writes them, they load as defaults. */
Test(config_schema, defaults_inside_ranges)
{
	for (size_t i = 0; i < config_schema_n; i++) {
		const struct config_row *r = &config_schema[i];
		if (!is_number(r) || (r->flags & CONFIG_UNSET))
			continue;
		if (r->type == CONFIG_ENUM) {
			cr_assert_lt(r->def, n_names(r->choices), "%s", r->path);
			continue;
		}
		uint64_t d = (r->flags & CONFIG_AUTO) ? config_auto_cpus() : def_of(r);
		cr_assert(r->lo <= r->hi, "%s: empty range", r->path);
		/* "auto" is the online CPUs, which only threads' range is sure to hold. */
		if (r->flags & CONFIG_AUTO)
			cr_assert_geq(d, r->lo, "%s: auto %llu", r->path, (unsigned long long)d);
		else
			cr_assert(r->lo <= d && d <= r->hi, "%s: default %llu outside %llu..%llu",
				  r->path, (unsigned long long)d, (unsigned long long)r->lo,
				  (unsigned long long)r->hi);
	}
	/* Strings and lists: the defaults go through the readers without an error. */
	char *y = every_row(false);
	struct config *cfg = load_ok(y);
	for (size_t i = 0; i < config_schema_n; i++) {
		const struct config_row *r = &config_schema[i];
		const void *base = base_of(r, cfg);
		if (!base || has_items(r) || (r->flags & CONFIG_REQUIRED) ||
		    r->type == CONFIG_SECTION || has_children(r) ||
		    !strcmp(r->path, "routes[].backend"))
			continue;
		if (r->type == CONFIG_CUSTOM && !r->ops->is_default)
			continue;
		cr_assert(config_row_is_default(r, base, cfg), "%s: not the default\n%s", r->path,
			  y);
	}
	config_free(&cfg);
	free(y);
}

/* The range text messages use comes from the numbers, or matches them. */
Test(config_schema, range_texts_match_numbers)
{
	for (size_t i = 0; i < config_schema_n; i++) {
		const struct config_row *r = &config_schema[i];
		if (r->type != CONFIG_SIZE && r->type != CONFIG_DURATION)
			continue;
		char text[128], lo[64], hi[64];
		config_row_range(r, text, sizeof(text));
		if (!strcmp(text, "must be greater than 0")) {
			cr_assert_eq(r->lo, 1, "%s", r->path);
			continue;
		}
		const char *dots = strstr(text, "..");
		cr_assert_not_null(dots, "%s: range '%s'", r->path, text);
		size_t hl = strcspn(dots + 2, ";");
		snprintf(lo, sizeof(lo), "%.*s", (int)(dots - text), text);
		snprintf(hi, sizeof(hi), "%.*s", (int)hl, dots + 2);
		uint64_t a, b;
		int (*parse)(const char *, uint64_t *) =
		    r->type == CONFIG_SIZE ? config_parse_size : config_parse_duration;
		cr_assert_eq(parse(lo, &a), 0, "%s: '%s'", r->path, lo);
		cr_assert_eq(parse(hi, &b), 0, "%s: '%s'", r->path, hi);
		/* A bare duration is seconds: "0" is the one bare bound. */
		cr_assert(a == r->lo && b == r->hi, "%s: '%s' is not %llu..%llu", r->path, text,
			  (unsigned long long)r->lo, (unsigned long long)r->hi);
	}
}

/* Only listen and backends given: every other row holds its default. */
Test(config_schema, empty_config_gives_the_defaults)
{
	struct config *cfg = load_ok(MINIMAL);
	for (size_t i = 0; i < config_schema_n; i++) {
		const struct config_row *r = &config_schema[i];
		const void *base = base_of(r, cfg);
		if (!base || (r->flags & CONFIG_REQUIRED))
			continue;
		cr_assert(config_row_is_default(r, base, cfg), "%s: not the default", r->path);
	}
	/* A rule's unset rows are -1 and its key options those of cache.key. */
	config_free(&cfg);
	cfg = load_ok(MINIMAL "cache:\n  key: {query: false}\n  rules:\n    - bypass: true\n");
	const struct config_rule *rule = &cfg->cache.rules[0];
	cr_assert_eq(rule->ttl_ns, -1);
	cr_assert_eq(rule->default_ttl_ns, -1);
	cr_assert_eq(rule->max_object_size, -1);
	cr_assert_eq(rule->key.query, false);
	cr_assert_eq(rule->key.host, true);
	for (size_t i = 0; i < config_schema_n; i++) {
		const struct config_row *r = &config_schema[i];
		if (!strncmp(r->path, "cache.rules[].", 14) &&
		    strcmp(r->path, "cache.rules[].bypass"))
			cr_assert(config_row_is_default(r, rule, cfg), "%s", r->path);
	}
	config_free(&cfg);
}

/* ------------------------------------------------------------------------ */
/* conf/ringcache.yaml and config.h's schema comment                         */

/* The source tree, from this file's path as the build gave it. */
static void source_path(const char *rel, char *buf, size_t len)
{
	const char *me = __FILE__, *tail = strstr(me, "tests/unit/config_schema.c");
	const char *env = getenv("RINGCACHE_SOURCE_DIR");
	if (env)
		snprintf(buf, len, "%s/%s", env, rel);
	else if (tail)
		snprintf(buf, len, "%.*s%s", (int)(tail - me), me, rel);
	else
		snprintf(buf, len, "../%s", rel);
}

static char *slurp(const char *rel)
{
	char path[4096];
	source_path(rel, path, sizeof(path));
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot open %s (set RINGCACHE_SOURCE_DIR)", path);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, got, m);
	fclose(f);
	fclose(m);
	return buf;
}

/* Position after "NAME:" as a whole word in TEXT at or after FROM, or NULL. */
static const char *mention(const char *text, const char *from, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strstr(from, name); p; p = strstr(p + 1, name)) {
		bool start = p == text || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
		if (start && p[n] == ':')
			return p + n + 1;
	}
	return NULL;
}

/* Is PATH's each component mentioned, each after the one before? */
static bool mentions(const char *text, const char *path)
{
	const char *at = text;
	char comp[128];
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, ".");
		snprintf(comp, sizeof(comp), "%.*s", (int)len, p);
		size_t cl = strlen(comp);
		if (cl > 2 && !strcmp(comp + cl - 2, "[]"))
			comp[cl - 2] = '\0';
		if (!(at = mention(text, at, comp)))
			return false;
		p += len;
		if (*p == '.')
			p++;
	}
	return true;
}

static void check_mentions(const char *what, const char *text)
{
	for (size_t i = 0; i < config_schema_n; i++) {
		const struct config_row *r = &config_schema[i];
		/* A rule's key options are cache.key's, documented there. */
		const char *path = r->inherit ? r->inherit : r->path;
		cr_expect(mentions(text, path), "%s does not mention %s", what, path);
	}
}

Test(config_schema, shipped_conf_mentions_every_key)
{
	char *conf = slurp("conf/ringcache.yaml");
	check_mentions("conf/ringcache.yaml", conf);
	free(conf);
}

Test(config_schema, schema_comment_mentions_every_key)
{
	char *h = slurp("src/config/config.h");
	char *start = strstr(h, " * Schema");
	cr_assert_not_null(start, "config.h: no \" * Schema\" comment");
	char *end = strstr(start, "*/");
	cr_assert_not_null(end);
	*end = '\0';
	check_mentions("config.h's schema comment", start);
	free(h);
}

/* The keys a YAML file sets, as schema paths, with the item index of each list. */
struct set_key {
	char path[256];
	size_t item; /* index in the innermost list, for rows under one */
};

static void collect(yaml_document_t *d, yaml_node_t *n, const char *prefix, size_t item,
		    struct set_key *out, size_t *n_out, size_t cap)
{
	if (n->type != YAML_MAPPING_NODE)
		return;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		yaml_node_t *v = yaml_document_get_node(d, p->value);
		char path[256];
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
			 (const char *)k->data.scalar.value);
		cr_assert_lt(*n_out, cap);
		snprintf(out[*n_out].path, sizeof(out[*n_out].path), "%s", path);
		out[(*n_out)++].item = item;
		if (v->type == YAML_MAPPING_NODE) {
			collect(d, v, path, item, out, n_out, cap);
		} else if (v->type == YAML_SEQUENCE_NODE) {
			char lp[260];
			snprintf(lp, sizeof(lp), "%s[]", path);
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++)
				collect(d, yaml_document_get_node(d, *it), lp,
					(size_t)(it - v->data.sequence.items.start), out, n_out,
					cap);
		}
	}
}

Test(config_schema, shipped_conf_is_the_defaults)
{
	char path[4096];
	struct config_errors e = {0};
	source_path("conf/ringcache.yaml", path, sizeof(path));
	struct config *cfg = config_load(path, &e);
	cr_assert_not_null(cfg, "%s:%s", path, dump(&e));

	char *text = slurp("conf/ringcache.yaml");
	yaml_parser_t parser;
	yaml_document_t doc;
	cr_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	cr_assert(yaml_parser_load(&parser, &doc));
	static struct set_key keys[512];
	size_t n = 0;
	collect(&doc, yaml_document_get_root_node(&doc), "", 0, keys, &n, 512);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);

	size_t checked = 0;
	for (size_t i = 0; i < n; i++) {
		const struct config_row *r = config_schema_find(keys[i].path);
		cr_assert_not_null(r, "conf sets %s, which has no row", keys[i].path);
		bool demo = false;
		for (size_t j = 0; demo_values[j]; j++)
			demo |= !strcmp(demo_values[j], r->path);
		if (demo || (r->flags & CONFIG_REQUIRED) || r->type == CONFIG_SECTION ||
		    has_items(r))
			continue; /* the demo's own values, and what has no default */
		const void *base = cfg;
		if (!strncmp(r->path, "backends[].", 11))
			base = &cfg->backends[keys[i].item];
		else
			cr_assert_null(strstr(r->path, "[]"), "%s: a list this test does not know",
				       r->path);
		cr_expect(config_row_is_default(r, base, cfg),
			  "conf/ringcache.yaml: %s is not the default", r->path);
		checked++;
	}
	cr_assert_geq(checked, 30, "only %zu keys checked", checked);
	/* And the demo's own values are not the defaults (else drop them from the list). */
	for (size_t j = 0; demo_values[j]; j++) {
		const struct config_row *r = config_schema_find(demo_values[j]);
		cr_assert_not(config_row_is_default(r, cfg, cfg), "%s", demo_values[j]);
	}
	free(text);
	config_free(&cfg);
}
