/* rules.c - header rules, templates and error pages of a request's route (rules.h). */
#include "serve/rules.h"

#include <llhttp.h>
#include <stdio.h>
#include <string.h>

#include "http/hbuf.h"
#include "ops/log.h"

/* A request id: unique per process run, cheap (no syscall per request). */
static const char *request_id(struct req *r)
{
	struct req_route *rt = &r->route;
	if (!rt->request_id[0]) {
		struct worker *w = r->w;
		unsigned long long id =
		    w->req_id_base ^ ((unsigned long long)w->be.id << 56) ^ ++w->req_seq;
		snprintf(rt->request_id, sizeof(rt->request_id), "%016llx", id);
	}
	return rt->request_id;
}

void rules_values(struct req *r, const struct template *t, struct tvalue v[TVAR__N])
{
	const struct hmsg *m = &r->req;
	const struct req_route *rt = &r->route;
	const char *target = hmsg_ptr(m, m->target);
	const char *q = memchr(target, '?', m->target.len);
	memset(v, 0, sizeof(struct tvalue) * TVAR__N);
	v[TVAR_HOST] = (struct tvalue){rt->host, rt->host_len};
	v[TVAR_PATH] = (struct tvalue){rt->path, rt->path_len};
	if (q)
		v[TVAR_QUERY] = (struct tvalue){q, m->target.len - (size_t)(q - target)};
	v[TVAR_URI] = (struct tvalue){target, m->target.len};
	const char *meth = llhttp_method_name((llhttp_method_t)hmsg_method(m));
	v[TVAR_METHOD] = (struct tvalue){meth, strlen(meth)};
	v[TVAR_SCHEME] = (struct tvalue){"http", 4};
	v[TVAR_CLIENT] = (struct tvalue){r->client_ip, strlen(r->client_ip)};
	if (t->vars_used & (1u << TVAR_REQUEST_ID)) {
		const char *id = request_id(r);
		v[TVAR_REQUEST_ID] = (struct tvalue){id, strlen(id)};
	}
	if (r->cache_word)
		v[TVAR_CACHE_STATUS] = (struct tvalue){r->cache_word, strlen(r->cache_word)};
}

/* Expand T into the request's value buffer: *OUT, *LEN. 0, or -1 when it
 * does not fit or a value would put CR/LF into a field. */
int rules_expand(struct req *r, const struct template *t, const char **out, size_t *len)
{
	struct req_route *rt = &r->route;
	struct tvalue text;
	if (template_is_constant(t, &text)) {
		*out = text.p;
		*len = text.len;
		return 0;
	}
	struct tvalue v[TVAR__N];
	rules_values(r, t, v);
	struct hbuf b;
	hbuf_init(&b, rt->vals + rt->vals_used, sizeof(rt->vals) - rt->vals_used);
	if (template_expand(t, &b, v, rt->caps, rt->n_caps) < 0 || b.overflow)
		return -1;
	*out = b.p;
	*len = b.len;
	rt->vals_used += b.len;
	return 0;
}

/* Apply RULES to E: remove, then set, then add. -1 when a value failed. */
static int apply_some(struct req *r, const struct config_hdr_rules *rules, struct hedits *e)
{
	for (size_t i = 0; i < rules->remove.n; i++)
		hedits_remove(e, rules->remove.v[i], strlen(rules->remove.v[i]));
	for (size_t i = 0; i < rules->set.n; i++) {
		const char *v;
		size_t vl;
		if (rules_expand(r, rules->set.v[i].value, &v, &vl) < 0)
			return -1;
		hedits_set(e, rules->set.v[i].name, strlen(rules->set.v[i].name), v, vl);
	}
	for (size_t i = 0; i < rules->add.n; i++) {
		const char *v;
		size_t vl;
		if (rules_expand(r, rules->add.v[i].value, &v, &vl) < 0)
			return -1;
		hedits_add(e, rules->add.v[i].name, strlen(rules->add.v[i].name), v, vl);
	}
	return e->overflow ? -1 : 0;
}

bool rules_any(const struct config_hdr_rules *h)
{
	return h->remove.n || h->set.n || h->add.n;
}

int rules_apply(struct req *r, const struct config_hdr_rules *rules, struct hedits *e)
{
	return rules_any(rules) ? apply_some(r, rules, e) : 0;
}

const struct hedits *rules_resp_edits(struct req *r)
{
	struct req_route *q = &r->route;
	if (!q->active)
		return NULL;
	if (!q->resp_ready) {
		const struct config *cfg = r->gen->cfg;
		const struct config_route *rt = q->route;
		hedits_init(&q->resp_edits);
		q->resp_ready = true;
		if ((!rt || rt->headers_inherit) &&
		    rules_apply(r, &cfg->resp_headers, &q->resp_edits) < 0)
			log_warn(
			    "client %s: %s: response header rules do not fit; some not applied",
			    r->peer, r->target_log);
		if (rt && rules_apply(r, &rt->resp_headers, &q->resp_edits) < 0)
			log_warn(
			    "client %s: %s: response header rules do not fit; some not applied",
			    r->peer, r->target_log);
	}
	return hedits_empty(&q->resp_edits) ? NULL : &q->resp_edits;
}

static const struct config_error_page *page_in(const struct config_error_pages *ps, int status)
{
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->v[i].status == status)
			return &ps->v[i];
	}
	return NULL;
}

const struct config_error_page *rules_error_page(const struct req *r, int status)
{
	if (!r->gen)
		return NULL;
	const struct config *cfg = r->gen->cfg;
	const struct config_error_page *p = NULL;
	if (r->route.active && r->route.route)
		p = page_in(&r->route.route->error_pages, status);
	if (!p && status >= 500 && cfg->n_backends)
		p = page_in(&cfg->backends[req_backend(r)].error_pages, status);
	if (!p)
		p = page_in(&cfg->error_pages, status);
	return p;
}
