/*
 * schema.h - the config schema: ringcache's table of rows, one per key
 * (schema.c).
 *
 * Each key the loader accepts is declared once, as a row (row.h): its
 * path, type, where it is stored, its range (and the range text messages
 * use), its default, whether a reload applies it, and its help text. The
 * walker (walk.c) reads a file along these rows; defaults, freeing, the
 * "expected one of" hints (table.c), the rule "a cache rule must do
 * something" (rules.c) and config_keep_restart_keys (restart.c) are all
 * driven by them; the unit test tests/unit/config_schema.c holds
 * conf/ringcache.yaml and config.h's schema comment against them. Redis's
 * standardConfig and nginx's ngx_command_t rows are the models.
 *
 * The table names the custom rows' ops and checks (readers.h), so it sits
 * above them and above the walker: those get it handed in (table.h) and
 * never include this header.
 */
#ifndef RINGCACHE_CONFIG_SCHEMA_H
#define RINGCACHE_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "config/row.h"
#include "config/table.h"

extern const struct config_row config_schema[];
extern const size_t config_schema_n;
/* The same rows, as the walker and table.c take them. */
extern const struct config_table config_schema_table;

/* The row of PATH ("cache.memory", "backends[].retries"), or NULL. */
const struct config_row *config_schema_find(const char *path);

/* Does ROW's field at BASE hold the row's default? ROOT: the config, for rows that inherit. */
bool config_row_is_default(const struct config_row *row, const void *base,
			   const struct config *root);

#endif
