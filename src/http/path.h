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
 */
#ifndef RINGCACHE_HTTP_PATH_H
#define RINGCACHE_HTTP_PATH_H

#include <stddef.h>

/* Normalise PATH[0..N) into OUT[0..CAP) (no NUL added). Returns its
 * length; -1 for a dot segment, a malformed percent-encoding or a path
 * not starting with "/"; -2 when OUT is too small. Never longer than N. */
long path_normalize(const char *path, size_t n, char *out, size_t cap);

#endif
