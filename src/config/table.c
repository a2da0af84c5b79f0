/*
 * table.c - what is done with the rows of a table in general: finding,
 * defaults, freeing, comparing (table.h).
 */
#include "config/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/values.h"

const struct config_row *config_table_find(const struct config_table *t, const char *path)
{
	for (size_t i = 0; i < t->n; i++) {
		if (!strcmp(t->rows[i].path, path))
			return &t->rows[i];
	}
	return NULL;
}

const struct config_row *config_table_hint(const struct config_table *t, const char *section,
					   unsigned k)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->rows[i].hint == k && config_row_in(&t->rows[i], section))
			return &t->rows[i];
	}
	return NULL;
}

static bool is_number(const struct config_row *row)
{
	return row->type == CONFIG_UINT || row->type == CONFIG_SIZE ||
	       row->type == CONFIG_DURATION || row->type == CONFIG_BOOL || row->type == CONFIG_ENUM;
}

/* The default of a number row, as its field stores it. */
static uint64_t number_default(const struct config_table *t, const struct config_row *row,
			       const struct config *root)
{
	uint64_t v = row->def;
	if (row->flags & CONFIG_AUTO)
		v = config_auto_cpus();
	else if (row->flags & CONFIG_UNSET)
		v = UINT64_MAX; /* -1 in an int64_t field */
	else if (row->inherit)
		v = config_row_get(config_table_find(t, row->inherit), root);
	if (row->size < 8)
		v &= (1ull << (row->size * 8)) - 1;
	return v;
}

int config_table_init(const struct config_table *t, const char *section, void *base,
		      const struct config *root)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct config_row *r = &t->rows[i];
		if (!config_row_stored_in(r, section))
			continue;
		if (is_number(r)) {
			config_row_set(r, base, number_default(t, r, root));
		} else if (r->type == CONFIG_CUSTOM && r->ops->init) {
			int rc = r->ops->init(r, base);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

int config_table_given(const struct config_table *t, const char *section, void *base)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct config_row *r = &t->rows[i];
		if (r->type != CONFIG_STRING || !r->def_str || !config_row_in(r, section))
			continue;
		char **field = (char **)((char *)base + r->offset);
		if (!*field && !(*field = strdup(r->def_str)))
			return -ENOMEM;
	}
	return 0;
}

void config_table_release(const struct config_table *t, const char *section, void *base)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct config_row *r = &t->rows[i];
		if (!config_row_stored_in(r, section))
			continue;
		void *field = (char *)base + r->offset;
		if (r->type == CONFIG_STRING) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else if (r->type == CONFIG_ADDR) {
			value_addr_free(field);
		} else if (r->type == CONFIG_CUSTOM && r->ops->release) {
			r->ops->release(t, r, base);
		}
	}
}

bool config_table_is_default(const struct config_table *t, const struct config_row *row,
			     const void *base, const struct config *root)
{
	const void *field = (const char *)base + row->offset;

	if (is_number(row))
		return config_row_get(row, base) == number_default(t, row, root);
	switch (row->type) {
	case CONFIG_SECTION:
		/* A section has no value; a flag says whether it was given. */
		return !(row->flags & CONFIG_GIVEN) || config_row_get(row, base) == 0;
	case CONFIG_STRING: {
		/* A string default applies when its section is given: NULL before. */
		const char *s = *(char *const *)field;
		return !s || (row->def_str && !strcmp(s, row->def_str));
	}
	case CONFIG_ADDR:
		return ((const struct config_addr *)field)->spec == NULL;
	case CONFIG_CUSTOM:
		return row->ops->is_default && row->ops->is_default(row, base);
	default:
		return false;
	}
}
