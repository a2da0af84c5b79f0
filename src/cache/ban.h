/*
 * ban.h - Varnish-style bans: invalidate every object whose URL and/or host
 * match a regular expression, evaluated lazily.
 *
 * Adding a ban does not scan the cache (no stop-the-world): each ban gets
 * a sequence number, each object records the sequence current when it was
 * stored, and a lookup that finds an object tests only the bans added
 * after it (then records the new sequence so they are not tested again).
 * The store's ban lurker (store_lurk) makes the same checks in the
 * background, so objects nobody asks for are tested too, and then prunes
 * the bans no object can need any more.
 *
 * Every ban can be lurked: both patterns match the object's own primary
 * key (its host and URL as stored), never a field of the request that
 * looks it up, so there are no request-only bans to keep for lookups.
 *
 * Regular expressions are PCRE2 (with JIT when available), matched
 * against the host (without port; ban_check strips one if present) and
 * the URL (path and query, as in the request-target). Host patterns are
 * case-insensitive, as host names are; URL patterns are case-sensitive
 * (use (?i) to change that). A match that fails with an error (such as
 * the backtracking limit) counts as a match: refetching is the safe side.
 * Thread-safe: bans are added from the admin task, checked
 * from every loop; the internal lock is held only around list traversal
 * and matching, never across an await.
 */
#ifndef RINGCACHE_CACHE_BAN_H
#define RINGCACHE_CACHE_BAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ban_list;

struct ban_list *ban_list_create(void);
void ban_list_free(struct ban_list **blp);

/*
 * Add a ban. URL_RE and/or HOST_RE (either may be NULL, not both) must
 * both match for an object to be banned. Returns the new ban's sequence
 * number (> 0), or -EINVAL with a message in ERR (compile error, with the
 * offset) or -ENOMEM.
 */
int64_t ban_add(struct ban_list *bl, const char *url_re, const char *host_re, char *err,
		size_t errlen);

/* The sequence number of the newest ban ever added (0 when none; it does
 * not go back when bans are pruned). Objects store this when they are
 * inserted. Lock-free. */
uint64_t ban_seq(struct ban_list *bl);

/*
 * Is an object stored at *SEQ with this HOST and URL banned by a later
 * ban? If not, *SEQ is advanced to the current sequence so the same bans
 * are not tested again. *SEQ is read and written atomically, so checks of
 * one object from several threads are safe. With no ban newer than *SEQ
 * this takes no lock. HOST may be NULL (matched as "").
 */
bool ban_check(struct ban_list *bl, uint64_t *seq, const char *host, size_t host_len,
	       const char *url, size_t url_len);

/* Drop bans with sequence <= OLDEST: no object needs them any more, as
 * every live object was tested past OLDEST or stored after it (the ban
 * lurker passes ban_seq() as it was when its pass over the table began).
 * Returns the number of bans dropped. */
size_t ban_prune(struct ban_list *bl, uint64_t oldest);

/* Number of bans currently kept (for metrics and tests). */
size_t ban_count(struct ban_list *bl);

#endif
