/*
 * walk.h - the YAML walker: reads a libyaml document along a table of
 * rows, collecting "FILE:LINE:COL: message" lines (walk.c).
 *
 * Internal to src/config: load.c starts it with the schema's table
 * (struct walk's table), and the custom readers (readers.c, rules.c),
 * which that table names, read with it; so the walker takes the table
 * handed to it and never names it.
 *
 * The walker never recurses generically over the YAML tree, only along the
 * schema (root -> section -> list -> scalar). libyaml's document API
 * resolves aliases into shared node ids and even allows cyclic ones
 * ("&a [*a]"); a generic recursion could loop forever on such input.
 *
 * Every problem is recorded and the walk goes on, so one run of
 * `ringcache -t` lists everything that is wrong; the load fails if
 * anything was recorded.
 */
#ifndef RINGCACHE_CONFIG_WALK_H
#define RINGCACHE_CONFIG_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "config/config.h"
#include "config/row.h"

/* Paths in messages ("backends[3].servers[0].address") fit in this. */
#define WALK_PATH_MAX 192

struct walk {
	const char *file;
	yaml_document_t *doc;
	struct config_errors *errs;
	const struct config_table *table; /* the rows it reads along: config_schema_table */
	struct config *cfg;		  /* the config being built */
	/*
	 * Counted separately from errs->n: if recording an error line itself
	 * fails for lack of memory, the load must still fail.
	 */
	size_t n_failed;
	bool oom;
};

/* An error at YAML node N (libyaml marks are 0-based, lines and columns 1-based). */
void walk_err(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error at an explicit 1-based position (0:0 = no position). */
void walk_err_at(struct walk *w, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A warning at N: kept with the config (config->warnings); the load goes on. */
void walk_warn(struct walk *w, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Out of memory: the load fails (one "out of memory" line if nothing else). */
void walk_oom(struct walk *w);

yaml_node_t *walk_node(struct walk *w, int id);
/* An empty value ("key:" with nothing after it, "~", "null"). */
bool walk_is_null(const yaml_node_t *n);
/* "a scalar", "a list", "a mapping", "an empty value", for messages. */
const char *walk_kind(const yaml_node_t *n);
/* The number of items of sequence N, and item I (NULL if it has none). */
size_t walk_len(const yaml_node_t *n);
yaml_node_t *walk_item(struct walk *w, const yaml_node_t *n, size_t i);
/* The value of KEY in mapping MAP (its first occurrence), or NULL. */
yaml_node_t *walk_get(struct walk *w, yaml_node_t *map, const char *key);

/*
 * The text of N if it is a non-empty scalar without NUL bytes, else NULL
 * after an error "PATH: expected WHAT, got ...".
 */
const char *walk_scalar(struct walk *w, const yaml_node_t *n, const char *path, const char *what);

/* N must be a mapping; an empty value counts as absent (false, no error). */
bool walk_mapping(struct walk *w, yaml_node_t *n, const char *path);

/* strdup S into *OUT (freeing what was there); a failure is out of memory. */
void walk_dup(struct walk *w, const char *s, char **out);

/*
 * The keys of mapping MAP at PATH (SECTION in the table's terms:
 * "backends[]" for PATH "backends[2]") against the rows of SECTION, then
 * each row present read into BASE, in row order; absent required rows are
 * reported. PATH "" is the top level.
 */
void walk_section(struct walk *w, yaml_node_t *map, const char *section, const char *path,
		  void *base);

/* One row's value N (present), at PATH, into BASE. */
void walk_value(struct walk *w, const struct config_row *row, yaml_node_t *n, const char *path,
		void *base);

/* A whole number of N in LO..HI into *OUT (left alone on error); true if set. */
bool walk_uint(struct walk *w, const yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi,
	       bool takes_auto, uint64_t *out);

/* One address of N into OUT; true on success. FLAGS: CONFIG_PORT0 (port 0
 * allowed), CONFIG_FOLLOW (a host name is kept, not resolved), CONFIG_NUMERIC
 * (a host name is refused). */
bool walk_addr(struct walk *w, const yaml_node_t *n, const char *path, unsigned flags,
	       struct config_addr *out);

/* "PATH[I]" into BUF. */
void walk_index(char *buf, size_t len, const char *path, size_t i);
/* "PATH.NAME" (or NAME at the top level) into BUF. */
void walk_join(char *buf, size_t len, const char *path, const char *name);

#endif
