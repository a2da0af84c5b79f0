/*
 * obj.h - object checks, after Varnish's miniobj.h.
 *
 * Every long-lived struct starts with `unsigned magic`: set when the
 * object is made, cleared when it is freed, checked at each public entry
 * of the module that owns it. A stale, freed or wild pointer then fails
 * an assert at its first use (asserts stay on in every build) instead of
 * corrupting something far away. The magic is the struct's name in four
 * ASCII bytes ("CONN", "GEN1"), so it is also readable in a core dump.
 */
#ifndef RINGCACHE_RT_OBJ_H
#define RINGCACHE_RT_OBJ_H

#include <assert.h>
#include <stddef.h>
#include <string.h>

/* Zero *P and give it its magic. */
#define INIT_OBJ(p, m)                                                                             \
	do {                                                                                       \
		memset((p), 0, sizeof(*(p)));                                                      \
		(p)->magic = (m);                                                                  \
	} while (0)

/* P is a live object of its kind (and not NULL). */
#define CHECK_OBJ_NOTNULL(p, m)                                                                    \
	do {                                                                                       \
		assert((p) != NULL);                                                               \
		assert((p)->magic == (m));                                                         \
	} while (0)

/* P is NULL or a live object of its kind. */
#define CHECK_OBJ_ORNULL(p, m)                                                                     \
	do {                                                                                       \
		if ((p) != NULL)                                                                   \
			assert((p)->magic == (m));                                                 \
	} while (0)

/* Move the object out of *PFROM into TO, leaving NULL behind (a release
 * function's `T **` argument), checking it on the way. */
#define TAKE_OBJ_NOTNULL(to, pfrom, m)                                                             \
	do {                                                                                       \
		assert((pfrom) != NULL);                                                           \
		(to) = *(pfrom);                                                                   \
		*(pfrom) = NULL;                                                                   \
		CHECK_OBJ_NOTNULL((to), (m));                                                      \
	} while (0)

/* The object ends: clear its magic before its memory goes. */
#define FINI_OBJ(p)                                                                                \
	do {                                                                                       \
		(p)->magic = 0;                                                                    \
	} while (0)

#endif
