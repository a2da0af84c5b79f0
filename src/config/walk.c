/*
 * walk.c - the YAML walker: error lines, node helpers, the readers of the
 * rows' generic types, and sections (walk.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf; CMake defines it, direct gcc runs may not */
#endif

#include "config/walk.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/table.h"
#include "config/values.h"

/* ------------------------------------------------------------------------ */
/* Error lines                                                               */

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
verr_at(struct walk *w, size_t line, size_t col, const char *fmt, va_list ap)
{
	char *msg = NULL, *line_s = NULL;

	w->n_failed++;
	if (vasprintf(&msg, fmt, ap) < 0) {
		w->oom = true;
		return;
	}
	/* One error, one line: a quoted value may hold a newline or other
	 * control bytes, which are shown as '?'. */
	for (char *c = msg; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	}
	if (asprintf(&line_s, "%s:%zu:%zu: %s", w->file, line, col, msg) < 0) {
		free(msg);
		w->oom = true;
		return;
	}
	free(msg);
	push_line(w->errs, line_s);
}

void walk_err_at(struct walk *w, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr_at(w, line, col, fmt, ap);
	va_end(ap);
}

void walk_err(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr_at(w, n->start_mark.line + 1, n->start_mark.column + 1, fmt, ap);
	va_end(ap);
}

void walk_warn(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
{
	char *msg = NULL, *line = NULL;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0 || asprintf(&line, "%s:%zu:%zu: warning: %s", w->file, n->start_mark.line + 1,
			      n->start_mark.column + 1, msg) < 0) {
		free(msg);
		w->oom = true;
		return;
	}
	free(msg);
	char **nl = realloc(w->cfg->warnings, (w->cfg->n_warnings + 1) * sizeof(*nl));
	if (!nl) {
		free(line);
		w->oom = true;
		return;
	}
	w->cfg->warnings = nl;
	w->cfg->warnings[w->cfg->n_warnings++] = line;
}

void walk_oom(struct walk *w)
{
	w->oom = true;
	w->n_failed++;
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
/* Nodes                                                                     */

yaml_node_t *walk_node(struct walk *w, int id)
{
	return yaml_document_get_node(w->doc, id);
}

bool walk_is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

const char *walk_kind(const yaml_node_t *n)
{
	if (walk_is_null(n))
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

size_t walk_len(const yaml_node_t *n)
{
	return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

yaml_node_t *walk_item(struct walk *w, const yaml_node_t *n, size_t i)
{
	return walk_node(w, n->data.sequence.items.start[i]);
}

yaml_node_t *walk_get(struct walk *w, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = walk_node(w, p->key);
		if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return walk_node(w, p->value);
	}
	return NULL;
}

const char *walk_scalar(struct walk *w, const yaml_node_t *n, const char *path, const char *what)
{
	if (n->type != YAML_SCALAR_NODE || walk_is_null(n)) {
		walk_err(w, n, "%s: expected %s, got %s", path, what, walk_kind(n));
		return NULL;
	}
	/* Quoted "\0" escapes would silently truncate every C-string use. */
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		walk_err(w, n, "%s: value contains a NUL character", path);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

bool walk_mapping(struct walk *w, yaml_node_t *n, const char *path)
{
	if (n->type == YAML_MAPPING_NODE)
		return true;
	if (!walk_is_null(n))
		walk_err(w, n, "%s: expected a mapping, got %s", path, walk_kind(n));
	return false;
}

void walk_dup(struct walk *w, const char *s, char **out)
{
	free(*out);
	if (!(*out = strdup(s)))
		walk_oom(w);
}

void walk_index(char *buf, size_t len, const char *path, size_t i)
{
	snprintf(buf, len, "%s[%zu]", path, i);
}

void walk_join(char *buf, size_t len, const char *path, const char *name)
{
	if (*path)
		snprintf(buf, len, "%s.%s", path, name);
	else
		snprintf(buf, len, "%s", name);
}

/* ------------------------------------------------------------------------ */
/* Keys of a section                                                         */

static bool known_key(const struct config_table *t, const char *section, const char *name)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct config_row *r = &t->rows[i];
		if (config_row_in(r, section) && !strcmp(config_row_name(r), name))
			return true;
	}
	return false;
}

/*
 * Report keys of MAP that are not rows of SECTION (the message lists those
 * in hint order), keys that are not plain strings, and keys given twice
 * (libyaml does not reject duplicates, and silently taking one of them
 * would hide a mistake).
 */
static void check_keys(struct walk *w, yaml_node_t *map, const char *where, const char *section)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;

	for (yaml_node_pair_t *p = start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = walk_node(w, p->key);
		if (!k)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			walk_err(w, k, "keys must be strings, got %s %s", walk_kind(k), where);
			continue;
		}
		const char *name = (const char *)k->data.scalar.value;
		if (!known_key(w->table, section, name)) {
			char hint[512];
			size_t off = 0;
			const struct config_row *r;
			hint[0] = '\0';
			for (unsigned i = 1;
			     (r = config_table_hint(w->table, section, i)) && off < sizeof(hint);
			     i++)
				off += (size_t)snprintf(hint + off, sizeof(hint) - off, "%s%s",
							i > 1 ? ", " : "", config_row_name(r));
			walk_err(w, k, "unknown key '%s' %s; expected one of: %s", name, where,
				 hint);
			continue;
		}
		for (yaml_node_pair_t *q = start; q < p; q++) {
			yaml_node_t *qk = walk_node(w, q->key);
			if (qk && qk->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)qk->data.scalar.value, name)) {
				walk_err(w, k, "duplicate key '%s' %s (first given at line %zu)",
					 name, where, qk->start_mark.line + 1);
				break;
			}
		}
	}
}

void walk_section(struct walk *w, yaml_node_t *map, const char *section, const char *path,
		  void *base)
{
	char where[WALK_PATH_MAX + 8], sub[WALK_PATH_MAX];

	if (*path)
		snprintf(where, sizeof(where), "in %s", path);
	else
		snprintf(where, sizeof(where), "at top level");
	check_keys(w, map, where, section);
	for (size_t i = 0; i < w->table->n; i++) {
		const struct config_row *r = &w->table->rows[i];
		if (!config_row_in(r, section))
			continue;
		const char *name = config_row_name(r);
		yaml_node_t *v = walk_get(w, map, name);
		if (v) {
			walk_join(sub, sizeof(sub), path, name);
			walk_value(w, r, v, sub, base);
		} else if ((r->flags & CONFIG_REQUIRED) && *path) {
			walk_err(w, map, "%s: missing required key '%s'", path, name);
		} else if (r->flags & CONFIG_REQUIRED) {
			walk_err(w, map, "missing required key '%s'", name);
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Generic types                                                             */

static bool read_uint(struct walk *w, const yaml_node_t *n, const char *path, const char *what,
		      uint64_t lo, uint64_t hi, bool takes_auto, uint64_t *out)
{
	const char *s = walk_scalar(w, n, path, what);
	uint64_t v;
	if (!s)
		return false;
	const char *end = value_digits(s, &v);
	if (!end && s[0] >= '0' && s[0] <= '9' && s[strspn(s, "0123456789")] == '\0') {
		/* All digits, too many of them. */
		walk_err(w, n, "%s: %s is out of range (%llu..%llu)", path, s,
			 (unsigned long long)lo, (unsigned long long)hi);
		return false;
	}
	if (!end || *end) {
		walk_err(w, n, "%s: '%s' is not a whole number%s", path, s,
			 takes_auto ? " or \"auto\"" : "");
		return false;
	}
	if (v < lo || v > hi) {
		walk_err(w, n, "%s: %s is out of range (%llu..%llu)", path, s,
			 (unsigned long long)lo, (unsigned long long)hi);
		return false;
	}
	*out = v;
	return true;
}

bool walk_uint(struct walk *w, const yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi,
	       bool takes_auto, uint64_t *out)
{
	return read_uint(w, n, path, "a number", lo, hi, takes_auto, out);
}

static bool read_duration(struct walk *w, const yaml_node_t *n, const char *path,
			  const struct config_row *row, uint64_t *out)
{
	const char *s = walk_scalar(w, n, path, row->what ? row->what : "a duration");
	char range[64];
	uint64_t v;
	if (!s)
		return false;
	if (config_parse_duration(s, &v) < 0) {
		walk_err(w, n,
			 "%s: invalid duration '%s' (expected e.g. 250ms, 30s, 2m, 1h; units us, "
			 "ms, s, m, h, d)",
			 path, s);
		return false;
	}
	if (v < row->lo || v > row->hi) {
		config_row_range(row, range, sizeof(range));
		walk_err(w, n, "%s: duration '%s' is out of range (%s)", path, s, range);
		return false;
	}
	*out = v;
	return true;
}

static bool read_size(struct walk *w, const yaml_node_t *n, const char *path,
		      const struct config_row *row, uint64_t *out)
{
	const char *s = walk_scalar(w, n, path, row->what ? row->what : "a size");
	char range[64];
	uint64_t v;
	if (!s)
		return false;
	if (config_parse_size(s, &v) < 0) {
		walk_err(w, n, "%s: invalid size '%s' (expected e.g. 4096, 16KiB, 256MiB, 10MB)",
			 path, s);
		return false;
	}
	if (v < row->lo || v > row->hi) {
		config_row_range(row, range, sizeof(range));
		walk_err(w, n, "%s: size '%s' is out of range (%s)", path, s, range);
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
static bool read_bool(struct walk *w, const yaml_node_t *n, const char *path, uint64_t *out)
{
	const char *s = walk_scalar(w, n, path, "true or false");
	if (!s)
		return false;
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
		*out = 1;
		return true;
	}
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
		*out = 0;
		return true;
	}
	walk_err(w, n, "%s: expected true or false, got '%s'", path, s);
	return false;
}

/* "a, b or c" or "one of: a, b, c", from the enum's names. */
static void enum_expected(const struct config_enum *e, char *buf, size_t len)
{
	size_t n = 0, off = 0;
	while (e->names[n])
		n++;
	off = (size_t)snprintf(buf, len, "%s", e->or_list ? "" : "one of: ");
	for (size_t i = 0; i < n && off < len; i++) {
		const char *sep = i == 0 ? "" : (e->or_list && i == n - 1) ? " or " : ", ";
		off += (size_t)snprintf(buf + off, len - off, "%s%s", sep, e->names[i]);
	}
}

static bool read_enum(struct walk *w, const yaml_node_t *n, const char *path,
		      const struct config_row *row, uint64_t *out)
{
	const char *s = walk_scalar(w, n, path, row->what);
	char expected[256];
	if (!s)
		return false;
	for (size_t i = 0; row->choices->names[i]; i++) {
		if (!strcmp(s, row->choices->names[i])) {
			*out = i;
			return true;
		}
	}
	enum_expected(row->choices, expected, sizeof(expected));
	walk_err(w, n, "%s: unknown %s '%s'; expected %s", path, row->choices->noun, s, expected);
	return false;
}

bool walk_addr(struct walk *w, const yaml_node_t *n, const char *path, unsigned flags,
	       struct config_addr *out)
{
	const char *s = walk_scalar(w, n, path, "an address (HOST:PORT)");
	const char *why;
	struct config_addr a = {0};
	bool port0 = flags & CONFIG_PORT0;
	if (!s)
		return false;
	enum value_addr_mode mode = flags & CONFIG_FOLLOW    ? ADDR_FOLLOW
				    : flags & CONFIG_NUMERIC ? ADDR_NUMERIC
							     : ADDR_RESOLVE;
	int rc = value_parse_addr_as(s, mode, &a, &why);
	if (rc == -ENOMEM)
		w->oom = true;
	if (rc < 0) {
		walk_err(w, n, "%s: invalid address '%s': %s", path, s, why);
		return false;
	}
	if (!port0 && value_addr_port(&a) == 0) {
		walk_err(w, n, "%s: invalid address '%s': port must be 1..65535", path, s);
		value_addr_free(&a);
		return false;
	}
	*out = a;
	return true;
}

void walk_value(struct walk *w, const struct config_row *row, yaml_node_t *n, const char *path,
		void *base)
{
	void *field = (char *)base + row->offset;
	bool takes_auto = row->flags & CONFIG_AUTO;
	uint64_t v;

	switch (row->type) {
	case CONFIG_SECTION:
		if (!walk_mapping(w, n, path))
			return;
		if (row->flags & CONFIG_GIVEN)
			config_row_set(row, base, 1);
		walk_section(w, n, row->path, path, base);
		if (config_table_given(w->table, row->path, base) < 0)
			walk_oom(w);
		return;
	case CONFIG_UINT:
		/* "auto" is the default already. */
		if (takes_auto && n->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)n->data.scalar.value, "auto"))
			return;
		if (read_uint(w, n, path, row->what ? row->what : "a number", row->lo, row->hi,
			      takes_auto, &v))
			config_row_set(row, base, v);
		return;
	case CONFIG_SIZE:
		if (read_size(w, n, path, row, &v))
			config_row_set(row, base, v);
		return;
	case CONFIG_DURATION:
		if (read_duration(w, n, path, row, &v))
			config_row_set(row, base, v);
		return;
	case CONFIG_BOOL:
		if (read_bool(w, n, path, &v))
			config_row_set(row, base, v);
		return;
	case CONFIG_ENUM:
		if (read_enum(w, n, path, row, &v))
			config_row_set(row, base, v);
		return;
	case CONFIG_STRING: {
		const char *s = walk_scalar(w, n, path, row->what);
		if (s && (!row->check || row->check(w, n, path, s) > 0))
			walk_dup(w, s, field);
		return;
	}
	case CONFIG_ADDR: {
		struct config_addr a;
		if (walk_addr(w, n, path,
			      row->flags & (CONFIG_PORT0 | CONFIG_FOLLOW | CONFIG_NUMERIC), &a)) {
			value_addr_free(field);
			*(struct config_addr *)field = a;
		}
		return;
	}
	case CONFIG_CUSTOM:
		row->ops->read(w, row, n, path, base);
		return;
	}
	assert(!"walk_value: a row of a known type");
}
