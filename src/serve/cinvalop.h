/*
 * cinvalop.h - one invalidation as the members of a cluster exchange it,
 * whichever way it travels: HTTP to each member (cinval.h) or a Redis
 * Stream (cstream.h).
 *
 * What is sent is what the invalidation is, not how it was asked: a
 * purge is the primary key itself (every member keys a URL the same way,
 * with the same config), a ban its two patterns, a tag purge the tag, a
 * flush a ban of everything (a member that missed entries it can no
 * longer get).
 */
#ifndef RINGCACHE_SERVE_CINVALOP_H
#define RINGCACHE_SERVE_CINVALOP_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

enum cinval_kind { CINVAL_PURGE, CINVAL_BAN, CINVAL_TAG, CINVAL_FLUSH, CINVAL__N };

struct cinval_op {
	enum cinval_kind kind;
	const char *a; /* PURGE: the primary key; BAN: the URL regex or NULL; TAG: the tag */
	size_t alen;
	const char *b; /* BAN: the host regex or NULL */
	size_t blen;
	bool soft; /* TAG: a soft purge (stale, not gone) */
	/* The one member it is for (a key's owner), or NULL: every member. */
	const char *to;
};

/* The kind's name on the wire ("purge", "ban", "tag", "flush"). */
static inline const char *cinval_kind_name(enum cinval_kind k)
{
	static const char *const names[CINVAL__N] = {"purge", "ban", "tag", "flush"};
	return k < CINVAL__N ? names[k] : "?";
}

/* The kind named by the N bytes at S, or CINVAL__N. */
static inline enum cinval_kind cinval_kind_of(const char *s, size_t n)
{
	for (int k = 0; k < CINVAL__N; k++)
		if (strlen(cinval_kind_name((enum cinval_kind)k)) == n &&
		    !memcmp(s, cinval_kind_name((enum cinval_kind)k), n))
			return (enum cinval_kind)k;
	return CINVAL__N;
}

/* Whether OP is well formed: a purge or tag purge names something, a ban
 * at least one pattern. */
static inline bool cinval_op_ok(const struct cinval_op *op)
{
	switch (op->kind) {
	case CINVAL_PURGE:
	case CINVAL_TAG:
		return op->a && op->alen > 0;
	case CINVAL_BAN:
		return op->a || op->b;
	case CINVAL_FLUSH:
		return true;
	default:
		return false;
	}
}

#endif
