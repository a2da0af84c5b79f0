/*
 * tags.h - the surrogate-key index: tag -> objects carrying it.
 *
 * Objects get tags from a Surrogate-Key (space-separated) or Cache-Tag
 * (comma-separated) response header when stored. Purging a tag finds every
 * object that carries it without scanning the cache. The index stores
 * opaque object pointers; the store adds an object when it is inserted and
 * removes it before the object is freed, so the index never holds a
 * dangling pointer. One mutex, never held across an await; the collect
 * callback runs with it held and must only take references (no I/O).
 */
#ifndef RINGCACHE_CACHE_TAGS_H
#define RINGCACHE_CACHE_TAGS_H

#include <stdbool.h>
#include <stddef.h>

struct tag_index;

struct tag_index *tag_index_create(void);
void tag_index_free(struct tag_index **tip);

/* Parse HEADER (its value; SPACE_SEP: Surrogate-Key, separated by spaces
 * or tabs, else Cache-Tag, comma-separated with optional whitespace around
 * each element; empty elements are skipped) and index OBJ under each tag.
 * Tags are case-sensitive, at most 256 per object (counting earlier calls
 * for the same OBJ), each at most 256 bytes; extra tags and longer ones are
 * ignored (never truncated: that would make a different tag). A tag the
 * object already has (repeated in HEADER or added before) counts once.
 * Returns the number of tags newly indexed, or -ENOMEM (the tags indexed
 * before the failure stay; tag_index_remove takes them out as usual). */
int tag_index_add(struct tag_index *ti, void *obj, const char *header, size_t len, int space_sep);

/* Does the tag header value HEADER (as tag_index_add takes it) name TAG? */
bool tags_has(const char *header, size_t len, int space_sep, const char *tag, size_t tlen);

/* Remove OBJ from every tag it was added under (no-op if none). */
void tag_index_remove(struct tag_index *ti, void *obj);

/* Call FN(obj, arg) for every object carrying TAG (FN may be NULL to just
 * count). Returns the count. FN runs with the index mutex held, so it must
 * not call back into the index (tag_index_remove would deadlock): take a
 * reference and purge after collect returns. */
size_t tag_index_collect(struct tag_index *ti, const char *tag, size_t len,
			 void (*fn)(void *obj, void *arg), void *arg);

#endif
