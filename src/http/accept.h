/*
 * accept.h - content-coding negotiation (Accept-Encoding, RFC 9110 12.5.3)
 * and the media types worth compressing.
 *
 * Negotiation rules, in order:
 *  - Tokens match in any case; "x-gzip" is gzip; unknown codings are
 *    ignored. An element with an invalid qvalue ("q=1.5", "q=.5",
 *    "q=0.0001") or malformed syntax is ignored as if absent. Parameters
 *    other than q are skipped; empty parameters (";;") are allowed
 *    (RFC 9110 5.6.6). Deliberate leniency: OWS around the '=' of a
 *    parameter ("q = 0.5") is accepted, as its meaning is unambiguous.
 *    A coding listed twice counts with its highest q.
 *  - q=0 means "not acceptable". "*" gives its q to every coding (and to
 *    identity) not listed explicitly.
 *  - The coding with the highest q wins; on equal q the server's
 *    preference order decides, and identity ranks after every coding.
 *  - Identity is acceptable unless "identity;q=0", or "*;q=0" without an
 *    identity entry. When neither identity nor "*" is listed it is the
 *    fallback, chosen only when no coding is acceptable.
 *  - A missing or empty field means identity. RFC 9110 reads a missing
 *    field as "any coding", but a client that sends none may not decode
 *    one (old tools, some crawlers), and identity is always safe.
 * No allocation; the value need not be NUL-terminated.
 */
#ifndef RINGCACHE_HTTP_ACCEPT_H
#define RINGCACHE_HTTP_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>

#include "http/coding.h"

/*
 * The coding to send for the Accept-Encoding value VAL[0..LEN) (several
 * field lines joined with ", "; VAL may be NULL when LEN is 0). The
 * candidates are the codings in PREF[0..NPREF), best first, whose bit
 * (1u << coding) is in OFFER_MASK; identity in PREF is ignored. Returns
 * the chosen enum coding, CODING_IDENTITY, or -1 when nothing is
 * acceptable: the caller then sends identity anyway or answers 406.
 */
int accept_encoding_choose(const char *val, size_t len, unsigned offer_mask,
			   const enum coding *pref, size_t npref);

/*
 * True if the media type of Content-Type value CT[0..CTLEN) (parameters
 * and OWS ignored, any case) matches one of PATTERNS[0..N): "text/html"
 * exactly, "text/" followed by '*' for every text subtype, or '*' for both
 * parts for any type. A value that is not "type/subtype" matches nothing.
 */
bool accept_type_matches(const char *ct, size_t ctlen, const char *const *patterns, size_t n);

#endif
