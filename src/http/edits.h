/*
 * edits.h - header rules made concrete for one message: which of its
 * field lines are dropped and which lines are appended (edits.c).
 *
 * Rules are applied in order (global rules, then a route's): "remove N"
 * drops N's lines and any line an earlier rule added for N, "set N: V"
 * is a remove followed by an add, "add N: V" appends one more line. The
 * result is one set of dropped names and one list of appended lines, so
 * a writer makes a single pass over the original fields: it skips the
 * lines of dropped names and then writes the appended lines. That is the
 * sequential meaning whatever the order of the rules (a later remove
 * undoes an earlier set), which is what an operator reads into the file.
 *
 * Names compare in any case. Names and values are not copied: they point
 * into the caller's storage (the config's strings, the request's buffer
 * of expanded templates) for as long as the edits are used. Fixed size, no
 * allocation; more than HEDIT_MAX names or lines sets overflow, and the
 * caller answers an error rather than send half of what was asked.
 */
#ifndef RINGCACHE_HTTP_EDITS_H
#define RINGCACHE_HTTP_EDITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/hbuf.h"

#define HEDIT_MAX 32

struct hedit {
	const char *name;
	const char *value; /* lines only */
	uint32_t nlen, vlen;
};

struct hedits {
	struct hedit drop[HEDIT_MAX]; /* names whose original lines go */
	struct hedit add[HEDIT_MAX];  /* lines appended, in order */
	uint8_t n_drop, n_add;
	bool overflow;
};

void hedits_init(struct hedits *e);
/* Nothing to do: the writers may copy the original as it is. */
static inline bool hedits_empty(const struct hedits *e)
{
	return e->n_drop == 0 && e->n_add == 0;
}

void hedits_remove(struct hedits *e, const char *name, size_t nlen);
void hedits_set(struct hedits *e, const char *name, size_t nlen, const char *value, size_t vlen);
void hedits_add(struct hedits *e, const char *name, size_t nlen, const char *value, size_t vlen);

/* Are the original lines of NAME dropped? */
bool hedits_drops(const struct hedits *e, const char *name, size_t nlen);

/* Append the added lines ("Name: value\r\n") to B. */
void hedits_put_added(const struct hedits *e, struct hbuf *b);

/* Append the lines of BLOCK (whole "Name: value\r\n" lines, as stored
 * heads keep them) whose names are not dropped, then the added lines. */
void hedits_put_block(const struct hedits *e, struct hbuf *b, const char *block, size_t len);

/* Drop, in place, the lines of dropped names from P[FROM..*LEN) (whole
 * "Name: value\r\n" lines: a head being built, past its status line);
 * *LEN shrinks. Then the caller appends the added lines. */
void hedits_drop_lines(const struct hedits *e, char *p, size_t *len, size_t from);

/*
 * Copy E into DST with every name and value copied into BUF[0..CAP), so
 * that DST outlives what E pointed into (a fetch task outlives the
 * request that started it). Returns the bytes of BUF used, or -1 when
 * they do not fit.
 */
long hedits_copy(const struct hedits *e, struct hedits *dst, char *buf, size_t cap);

/* The bytes hedits_copy needs for E. */
size_t hedits_size(const struct hedits *e);

#endif
