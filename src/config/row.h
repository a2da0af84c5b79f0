/*
 * row.h - what a schema row is, and what one row says about itself: its
 * name, its section, its field, its range as messages write it (row.c).
 *
 * A row declares one key: its path, type, where it is stored, its range,
 * its default, whether a reload applies it, and its help text. The rows
 * of ringcache's keys are the table in schema.c; what is done with the
 * rows of a section (defaults, freeing, comparing) is table.c's; the
 * walker (walk.c) reads a file along them; the custom rows' ops and
 * checks are readers.c's and rules.c's. This header is the bottom of that
 * stack: it names none of them, so each can include it.
 *
 * Paths are dotted, with "[]" for the items of a list: "cache.memory",
 * "backends[].health_check.interval", "backends[].servers[].weight". A
 * row's field is at OFFSET in the struct its nearest list item is
 * (struct config_backend under "backends[]", struct config_rule under
 * "cache.rules[]", ...), or in struct config for keys outside any list.
 *
 * Rows of a section appear in the table in the order the walker reads
 * them, which is the order their errors come out in. HINT is a row's place
 * in the section's "unknown key ...; expected one of: ..." list, which is
 * pinned by tests and older than some of the reading orders.
 */
#ifndef RINGCACHE_CONFIG_ROW_H
#define RINGCACHE_CONFIG_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "config/config.h"

struct walk;	     /* walk.h: one load in progress */
struct config_table; /* table.h: the rows of a schema */

/* How a row's value is written and read. */
enum config_type {
	CONFIG_SECTION,	 /* a mapping of the rows under it */
	CONFIG_UINT,	 /* a whole number in lo..hi */
	CONFIG_SIZE,	 /* bytes, with a unit (values.h), in lo..hi */
	CONFIG_DURATION, /* nanoseconds, with a unit, in lo..hi */
	CONFIG_BOOL,	 /* true or false */
	CONFIG_ENUM,	 /* one of choices->names, stored as its index */
	CONFIG_STRING,	 /* a string, checked by check; a char * the config owns */
	CONFIG_ADDR,	 /* one HOST:PORT into a struct config_addr */
	CONFIG_CUSTOM,	 /* lists and values with their own syntax: ops */
};

/* Row flags. */
enum {
	CONFIG_REQUIRED = 1u << 0, /* absent: "missing required key" */
	CONFIG_RESTART = 1u << 1,  /* a reload keeps the running value (see restart_when) */
	CONFIG_AUTO = 1u << 2,	   /* also takes "auto", the default: config_auto_cpus() */
	CONFIG_UNSET = 1u << 3,	   /* default -1: not set, the cache-wide value applies */
	CONFIG_PORT0 = 1u << 4,	   /* an address may have port 0 (the kernel picks one) */
	CONFIG_GIVEN = 1u << 5,	   /* a section with a flag field: set if it is given */
	CONFIG_ACTION = 1u << 6,   /* cache rules: a rule must give at least one of these */
	CONFIG_FOLLOW = 1u << 7,   /* an address's host name is kept for the resolver, not
				      resolved at load (backends[].servers) */
	CONFIG_NUMERIC = 1u << 8,  /* an address must be numeric: no host name (cluster.self) */
	CONFIG_SECRET = 1u << 9,   /* may hold a password: never written out in messages */
};

/* The most "auto" stands for: the top of threads' range. */
#define CONFIG_AUTO_MAX 1024

/* The words of a CONFIG_ENUM row, and how its message lists them. */
struct config_enum {
	const char *noun;	  /* "unknown NOUN 'x'" */
	bool or_list;		  /* "a, b or c" rather than "one of: a, b, c" */
	const char *const *names; /* in enum order, NULL-terminated */
};

struct config_row;

/*
 * A CONFIG_STRING row's check of the text S (the node N, at PATH, for
 * messages): 1 to store it, 0 to leave the field as it is (e.g. "off"), -1
 * after reporting an error with walk_err.
 */
typedef int config_check_fn(struct walk *w, const yaml_node_t *n, const char *path, const char *s);

/*
 * What a CONFIG_CUSTOM row does where a generic type would (readers.c,
 * rules.c). A list whose items are sections (backends, cache.rules)
 * defaults, reads and frees them along the table it is handed (W->table,
 * or T), so that the readers need not name the table that names them.
 */
struct config_ops {
	/* Read the (present) node N at PATH into the row's field at BASE. */
	void (*read)(struct walk *w, const struct config_row *row, yaml_node_t *n, const char *path,
		     void *base);
	/* Set the default, from row->def_list if it has one: 0 or -ENOMEM. NULL: zero. */
	int (*init)(const struct config_row *row, void *base);
	/* Free what read or init allocated (and zero it); items along T's rows. */
	void (*release)(const struct config_table *t, const struct config_row *row, void *base);
	/* Does the value at BASE equal the default init sets? NULL: no default. */
	bool (*is_default)(const struct config_row *row, const void *base);
};

struct config_row {
	const char *path; /* "cache.memory", "backends[].retries" */
	enum config_type type;
	unsigned flags;		     /* CONFIG_REQUIRED, CONFIG_RESTART, ... */
	unsigned hint;		     /* place (from 1) in its section's key list */
	size_t offset, size;	     /* of the field, in struct config or its list's item */
	uint64_t lo, hi;	     /* the accepted range (of items, for lists) */
	const char *range;	     /* the range as messages write it; NULL: from lo and hi */
	uint64_t def;		     /* default of a number, size, duration, bool or enum */
	const char *def_str;	     /* default of a string, set when its section is given */
	const char *const *def_list; /* default items of a list, NULL-terminated */
	const char *inherit;	     /* default: this row's value (outside lists) */
	const char *restart_when;    /* CONFIG_RESTART only while this bool row is true
					in both the running and the new config */
	const char *what;	     /* "expected WHAT, got a list"; NULL: the type's word */
	const struct config_enum *choices; /* CONFIG_ENUM */
	config_check_fn *check;		   /* CONFIG_STRING, optional */
	const struct config_ops *ops;	   /* CONFIG_CUSTOM */
	const char *help;		   /* one line, as conf/ringcache.yaml says it */
};

/* The last component of a row's path: "retries" for "backends[].retries". */
const char *config_row_name(const struct config_row *row);

/* Is ROW directly under SECTION ("" is the top level, "backends[]" a backend)? */
bool config_row_in(const struct config_row *row, const char *section);

/*
 * Is ROW stored in the struct of SECTION's base, i.e. under it without a
 * list ("[]") between them? These are the rows SECTION's defaults and
 * freeing cover; a list's items have their own.
 */
bool config_row_stored_in(const struct config_row *row, const char *section);

/* The number at a UINT/SIZE/DURATION/BOOL/ENUM row's field (any width). */
uint64_t config_row_get(const struct config_row *row, const void *base);
void config_row_set(const struct config_row *row, void *base, uint64_t v);

/* The range as messages write it ("1ms..24h", "1..1024"), into BUF. */
void config_row_range(const struct config_row *row, char *buf, size_t len);

/* The value "auto" stands for: the online CPUs, at least 1, at most CONFIG_AUTO_MAX. */
unsigned config_auto_cpus(void);

#endif
