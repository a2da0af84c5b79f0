/*
 * table.h - what is done with the rows of a table in general: finding a
 * row, the defaults of a section, freeing it, comparing a row with its
 * default (table.c).
 *
 * A table is any array of rows (row.h); ringcache's one, a row per key, is
 * config_schema_table (schema.h). It is handed in rather than named, so
 * that the walker and the readers, which the table's rows name, can work
 * along it from below: load.c hands it to the walker (struct walk's
 * table), and the readers take it from there or from their release op.
 */
#ifndef RINGCACHE_CONFIG_TABLE_H
#define RINGCACHE_CONFIG_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "config/row.h"

struct config_table {
	const struct config_row *rows;
	size_t n;
};

/* The row of PATH ("cache.memory", "backends[].retries"), or NULL. */
const struct config_row *config_table_find(const struct config_table *t, const char *path);

/* The row directly under SECTION whose hint is K (from 1), or NULL. */
const struct config_row *config_table_hint(const struct config_table *t, const char *section,
					   unsigned k);

/*
 * Set the defaults of every row stored in SECTION's struct at BASE (see
 * config_row_stored_in); ROOT is the config being built, for rows that
 * inherit. 0, or -ENOMEM. String defaults are left to
 * config_table_given, since they apply only when their section is given.
 */
int config_table_init(const struct config_table *t, const char *section, void *base,
		      const struct config *root);

/* SECTION was given as a mapping: apply its string defaults. 0 or -ENOMEM. */
int config_table_given(const struct config_table *t, const char *section, void *base);

/* Free what the rows stored in SECTION's struct at BASE own. */
void config_table_release(const struct config_table *t, const char *section, void *base);

/* Does ROW's field at BASE hold the row's default? ROOT: as for init. */
bool config_table_is_default(const struct config_table *t, const struct config_row *row,
			     const void *base, const struct config *root);

#endif
