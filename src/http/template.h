/*
 * template.h - value templates for redirect Locations and header values:
 * "https://new.example.com${path}${query}", "${client}", "/img/${1}".
 *
 * Syntax, byte by byte:
 *  - `${name}` is a variable, NAME one of the caller's table (so this
 *    module knows no variable names; the routing layer owns them);
 *  - `${1}` .. `${9}` is a regex capture group;
 *  - `$$` is a literal `$`;
 *  - every other byte is literal.
 * Errors, each with the byte offset of the `$` that starts the reference
 * (or of the offending byte): an unknown name, a capture outside 1..9, an
 * unclosed `${` (the name runs into the end, a `$` or a `{`), an empty
 * `${}`, a `$` followed by anything but `{` or `$` (the end included),
 * and a control character (CR, LF or any other but HTAB) in the literal
 * text: what a template makes is a field value, which may not hold them.
 *
 * A template is compiled once at config load (that allocates) and expanded
 * per request into an hbuf (that does not). Expansion refuses a value
 * holding CR, LF or NUL, so no request can split a header or a Location.
 */
#ifndef RINGCACHE_HTTP_TEMPLATE_H
#define RINGCACHE_HTTP_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/hbuf.h"

/* The most variables a table may name (the bit set below). */
#define TEMPLATE_MAX_VARS 32u
/* Captures are ${1} .. ${TEMPLATE_MAX_CAPTURE}. */
#define TEMPLATE_MAX_CAPTURE 9u

/* A value to substitute: LEN bytes at P (P may be NULL when LEN is 0). */
struct tvalue {
	const char *p;
	size_t len;
};

struct tpart; /* template.c */

/*
 * A compiled template. The caller owns the struct (it is embedded in
 * config records); template_compile fills it and template_free releases
 * what it allocated. The fields are for reading only.
 */
struct template
{
	unsigned magic;
	unsigned n_parts;
	struct tpart *parts; /* literal runs and references, in order */
	char *text;	     /* the literal bytes of every run, end to end */
	size_t text_len;
	uint32_t vars_used; /* bit I: VARS[I] appears; values not used need not be computed */
	uint16_t caps_used; /* bit N: ${N} appears */
};

/*
 * Compile the NUL-terminated SRC. VARS[0..N_VARS) are the variable names
 * (N_VARS <= TEMPLATE_MAX_VARS; the array need only live during the
 * call: a compiled reference keeps the index, which is also the index
 * into template_expand's VALS). Returns 0; -EINVAL with a message in ERR
 * ("unknown variable ${foo} at offset 12 (...)") and the byte offset of
 * the problem in *ERR_OFF (when not NULL), for the config loader to turn
 * into FILE:LINE:COL; or -ENOMEM. On failure *T is left zeroed, so
 * template_free may be called on it either way.
 */
int template_compile(struct template *t, const char *src, const char *const *vars, unsigned n_vars,
		     char *err, size_t errcap, size_t *err_off);

/* Release what T holds and zero it. T may be zeroed (never compiled, or
 * failed) or already freed. */
void template_free(struct template *t);

/*
 * Is T a constant (no variables, no captures)? When it is and TEXT is not
 * NULL, *TEXT is its expansion (valid while T lives), so a caller can
 * skip template_expand and send the bytes as they are.
 */
bool template_is_constant(const struct template *t, struct tvalue *text);

/*
 * Append T's expansion to B, with no allocation. VALS is indexed like the
 * VARS table T was compiled with (entries T does not use are not read;
 * VALS may be NULL when vars_used is 0). CAPS[0..N_CAPS) are the capture
 * groups as PCRE2 numbers them, CAPS[0] being the whole match: ${N} is
 * CAPS[N]. A capture at or past N_CAPS, or one with a NULL P (a group
 * that did not take part in the match), expands to nothing.
 *
 * Returns 0; -EINVAL when a substituted value holds CR, LF or NUL: then
 * B is left as it was on entry (its len restored), so the caller can
 * answer an error or drop the field; -ENOSPC when B overflows (or had
 * already): its overflow flag is set, as hbuf_put does.
 */
int template_expand(const struct template *t, struct hbuf *b, const struct tvalue *vals,
		    const struct tvalue *caps, unsigned n_caps);

#endif
