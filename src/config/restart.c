/*
 * restart.c - the keys a reload does not apply (config_keep_restart_keys,
 * config.h), driven by the schema rows flagged CONFIG_RESTART.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif

#include "config/config.h"
#include "rt/obj.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/row.h"
#include "config/schema.h"
#include "config/values.h"

static const char *string_at(const struct config_row *row, const struct config *cfg)
{
	return *(char *const *)((const char *)cfg + row->offset);
}

static bool same(const struct config_row *row, const struct config *a, const struct config *b)
{
	if (row->type != CONFIG_STRING)
		return config_row_get(row, a) == config_row_get(row, b);
	const char *x = string_at(row, a), *y = string_at(row, b);
	return x == y || (x && y && !strcmp(x, y));
}

/* ROW's value in CFG as the file would write it. */
static void format(const struct config_row *row, const struct config *cfg, char *buf, size_t len)
{
	uint64_t v = row->type == CONFIG_STRING ? 0 : config_row_get(row, cfg);

	if (row->flags & CONFIG_SECRET) {
		snprintf(buf, len, "%s", string_at(row, cfg) ? "(a value not shown)" : "off");
		return;
	}
	switch (row->type) {
	case CONFIG_STRING:
		/* NULL is "no value": log.access's "off". */
		snprintf(buf, len, "%s", string_at(row, cfg) ? string_at(row, cfg) : "off");
		return;
	case CONFIG_BOOL:
		snprintf(buf, len, "%s", v ? "true" : "false");
		return;
	case CONFIG_ENUM:
		snprintf(buf, len, "%s", row->choices->names[v]);
		return;
	case CONFIG_SIZE:
		value_format_size(v, buf, len);
		return;
	case CONFIG_DURATION:
		value_format_duration(v, buf, len);
		return;
	default:
		snprintf(buf, len, "%llu", (unsigned long long)v);
		return;
	}
}

/* Put RUNNING's value of ROW into NEXT. 0 or -ENOMEM (NEXT unchanged). */
static int keep(const struct config_row *row, const struct config *running, struct config *next)
{
	if (row->type != CONFIG_STRING) {
		config_row_set(row, next, config_row_get(row, running));
		return 0;
	}
	const char *s = string_at(row, running);
	char *copy = NULL;
	if (s && !(copy = strdup(s)))
		return -ENOMEM;
	char **field = (char **)((char *)next + row->offset);
	free(*field);
	*field = copy;
	return 0;
}

int config_keep_restart_keys(const struct config *running, struct config *next,
			     void (*warn)(void *ctx, const char *line), void *ctx)
{
	int rc = 0;

	CHECK_OBJ_NOTNULL(running, CONFIG_MAGIC);
	CHECK_OBJ_NOTNULL(next, CONFIG_MAGIC);
	for (size_t i = 0; i < config_schema_n; i++) {
		const struct config_row *row = &config_schema[i];
		if (!(row->flags & CONFIG_RESTART))
			continue;
		/* Only keys stored in struct config itself, not in a list's items. */
		assert(config_row_stored_in(row, "") && !strstr(row->path, "[]"));
		if (row->restart_when) {
			const struct config_row *when = config_schema_find(row->restart_when);
			assert(when && when->type == CONFIG_BOOL);
			if (!config_row_get(when, running) || !config_row_get(when, next))
				continue;
		}
		if (same(row, running, next))
			continue;
		char was[1024], now[1024], *line = NULL;
		format(row, running, was, sizeof(was));
		format(row, next, now, sizeof(now));
		if (keep(row, running, next) < 0) {
			rc = -ENOMEM;
			continue;
		}
		if (!warn)
			continue;
		if (asprintf(&line, "reload: %s %s -> %s takes a restart; keeping %s", row->path,
			     was, now, was) < 0) {
			rc = -ENOMEM;
			continue;
		}
		warn(ctx, line);
		free(line);
	}
	return rc;
}
