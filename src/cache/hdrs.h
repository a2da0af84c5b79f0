/*
 * hdrs.h - stored header blocks: "Name: value\r\n" lines kept with an object.
 *
 * Stored heads are plain text so they can be sent with one iovec; these
 * helpers find fields in them and build them from a parsed response.
 */
#ifndef RINGCACHE_CACHE_HDRS_H
#define RINGCACHE_CACHE_HDRS_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/cc.h"
#include "http/hbuf.h"
#include "http/msg.h"

/* The value of the Nth field NAME in HDRS (OWS trimmed), or NULL. */
const char *hdrs_find(const char *hdrs, size_t len, const char *name, unsigned nth, size_t *vlen);

/*
 * Append the end-to-end fields of response M to B for storing: hop-by-hop
 * fields, framing (Content-Length, Transfer-Encoding), Age and the fields
 * named by the effective no-cache="..." / private="..." directives in CC
 * are left out.
 */
void hdrs_from_response(struct hbuf *b, const struct hmsg *m, const struct cache_control *cc);

/*
 * A 304's fields update a stored header block (RFC 9111 3.2): every field
 * of the 304 that may be updated replaces all stored fields of that name.
 * Writes the merged block into B.
 */
void hdrs_merge_304(struct hbuf *b, const char *stored, size_t len, const struct hmsg *m);

#endif
