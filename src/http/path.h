/*
 * path.h - the normalised form of a request path, which routes match on
 * (path.c).
 *
 * Two spellings of one resource must not reach two routes: "/admin" and
 * "/%61dmin" are the same URI (RFC 3986 6.2.2.2), and a deny route for
 * the first must stop the second. So before matching:
 *  - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are
 *    decoded; other percent-encodings keep their encoding with upper-case
 *    hex digits (6.2.2.1), so %2f stays "%2F", a byte of the path and not
 *    a separator;
 *  - runs of "/" become one "/" (nginx's merge_slashes);
 *  - a dot segment ("." or "..", spelled out or decoded from %2E) is an
 *    error: the request is refused (400), as one with a literal dot
 *    segment already is, rather than resolved differently from a backend.
 * The path is the target up to "?"; it must start with "/".
 *
 * The cache key's form of a path (path_key_form) is narrower: only the
 * two percent-encoding rules, which RFC 3986 6.2.2.1-2 and RFC 9110 4.2.3
 * make equivalences. Slashes are not merged there ("/a//b" and "/a/b" may
 * be different resources), and dot segments never reach it (refused).
 */
#ifndef RINGCACHE_HTTP_PATH_H
#define RINGCACHE_HTTP_PATH_H

#include <stddef.h>

/* Normalise PATH[0..N) into OUT[0..CAP) (no NUL added). Returns its
 * length; -1 for a dot segment, a malformed percent-encoding or a path
 * not starting with "/"; -2 when OUT is too small. Never longer than N. */
long path_normalize(const char *path, size_t n, char *out, size_t cap);

/* The cache key's form of PATH[0..N) into OUT[0..CAP) (no NUL added):
 * percent-encoded unreserved characters decoded, the hex digits of every
 * other percent-encoding upper-cased; "%2F" stays "%2F", distinct from "/".
 * A malformed percent-encoding ("%zz", a trailing "%4") is copied as it is:
 * it names no other spelling. Returns the length (never more than N), or
 * -2 when OUT is too small. */
long path_key_form(const char *path, size_t n, char *out, size_t cap);

#endif
