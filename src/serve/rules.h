/*
 * rules.h - what a request's route (serve/routing.h) puts on its messages,
 * below the routing decision so that the writers of responses
 * (respond.c, deliver.c, pass.c) and routing.c itself use it alike:
 * template values and expansion into the request's value buffer, header
 * rules made into edits (rules.c), the response edits of the current
 * response, and the error page for a status.
 */
#ifndef RINGCACHE_SERVE_RULES_H
#define RINGCACHE_SERVE_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "http/edits.h"
#include "http/template.h"
#include "serve/req.h"

/* The template variables of R (config.h's TVAR_*), for T (a request id
 * is made only when T names one). */
void rules_values(struct req *r, const struct template *t, struct tvalue v[TVAR__N]);

/* Expand T into R's value buffer: *OUT, *LEN. 0, or -1 when it does not
 * fit or a value would put CR/LF into a field. */
int rules_expand(struct req *r, const struct template *t, const char **out, size_t *len);

/* Does H hold any rule? */
bool rules_any(const struct config_hdr_rules *h);

/* Apply RULES to E: remove, then set, then add. -1 when a value failed. */
int rules_apply(struct req *r, const struct config_hdr_rules *rules, struct hedits *e);

/* The response header edits of R's current response, with templates
 * expanded now (${cache_status} is known by then), or NULL when there
 * are none. The first call per response expands; later ones reuse. */
const struct hedits *rules_resp_edits(struct req *r);

/* The body configured for STATUS: R's route's, its backend's (5xx), else
 * the global one; NULL: ringcache's own short text. */
const struct config_error_page *rules_error_page(const struct req *r, int status);

#endif
