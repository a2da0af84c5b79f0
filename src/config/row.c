/*
 * row.c - what one schema row says about itself: its name and section,
 * its field's value, its range as messages write it, and what "auto"
 * stands for (row.h).
 */
#include "config/row.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/values.h"

/* ------------------------------------------------------------------------ */
/* Paths                                                                     */

const char *config_row_name(const struct config_row *row)
{
	const char *dot = strrchr(row->path, '.');
	return dot ? dot + 1 : row->path;
}

/* The rest of ROW's path below SECTION, or NULL if it is not below it. */
static const char *below(const struct config_row *row, const char *section)
{
	size_t n = strlen(section);
	if (!n)
		return row->path;
	if (strncmp(row->path, section, n) != 0 || row->path[n] != '.')
		return NULL;
	return row->path + n + 1;
}

bool config_row_in(const struct config_row *row, const char *section)
{
	const char *rest = below(row, section);
	return rest && !strchr(rest, '.');
}

bool config_row_stored_in(const struct config_row *row, const char *section)
{
	const char *rest = below(row, section);
	return rest && !strstr(rest, "[]");
}

/* ------------------------------------------------------------------------ */
/* Fields                                                                    */

uint64_t config_row_get(const struct config_row *row, const void *base)
{
	const char *p = (const char *)base + row->offset;
	switch (row->size) {
	case 1: {
		uint8_t v;
		memcpy(&v, p, 1);
		return v;
	}
	case 4: {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	case 8: {
		uint64_t v;
		memcpy(&v, p, 8);
		return v;
	}
	}
	assert(!"config_row_get: a field of 1, 4 or 8 bytes");
	return 0;
}

void config_row_set(const struct config_row *row, void *base, uint64_t v)
{
	char *p = (char *)base + row->offset;
	switch (row->size) {
	case 1: {
		uint8_t x = (uint8_t)v;
		memcpy(p, &x, 1);
		return;
	}
	case 4: {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, 4);
		return;
	}
	case 8:
		memcpy(p, &v, 8);
		return;
	}
	assert(!"config_row_set: a field of 1, 4 or 8 bytes");
}

/* ------------------------------------------------------------------------ */
/* Ranges and "auto"                                                         */

void config_row_range(const struct config_row *row, char *buf, size_t len)
{
	char lo[32], hi[32];

	if (row->range) {
		snprintf(buf, len, "%s", row->range);
		return;
	}
	if (row->type == CONFIG_SIZE) {
		value_format_size(row->lo, lo, sizeof(lo));
		value_format_size(row->hi, hi, sizeof(hi));
	} else if (row->type == CONFIG_DURATION) {
		value_format_duration(row->lo, lo, sizeof(lo));
		value_format_duration(row->hi, hi, sizeof(hi));
	} else {
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)row->lo);
		snprintf(hi, sizeof(hi), "%llu", (unsigned long long)row->hi);
	}
	snprintf(buf, len, "%s..%s", lo, hi);
}

unsigned config_auto_cpus(void)
{
	/* Threads' top, for compression.workers (at most 256) too, as it always was. */
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > CONFIG_AUTO_MAX ? CONFIG_AUTO_MAX : (unsigned)n;
}
