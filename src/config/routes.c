/*
 * routes.c - the routing keys: routes[] (match, action, what the route
 * changes), the global request_headers / response_headers rules and the
 * error pages (readers.h). What a route does with a request is
 * src/route/'s; this file only reads and checks what the file says.
 *
 * Regular expressions are PCRE2, compiled here once (with the JIT where
 * the CPU has one) so that a bad one is a FILE:LINE:COL message with
 * PCRE2's own words and offset, and a request never compiles anything.
 * Templates (${host}, ${1}, ...) are compiled here too (http/template.h),
 * against config_tvar_names, so an unknown variable is a load error.
 */
#include "config/readers.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/table.h"
#include "config/values.h"
#include "config/walk.h"
#include "http/template.h"

const char *const config_tvar_names[TVAR__N] = {
    [TVAR_HOST] = "host",
    [TVAR_PATH] = "path",
    [TVAR_QUERY] = "query",
    [TVAR_URI] = "uri",
    [TVAR_METHOD] = "method",
    [TVAR_SCHEME] = "scheme",
    [TVAR_CLIENT] = "client",
    [TVAR_REQUEST_ID] = "request_id",
    [TVAR_CACHE_STATUS] = "cache_status",
};

/* A body read from a file at load: bounded, so a mistake (a log file, a
 * device) is an error and not the whole disk in memory. */
#define BODY_FILE_MAX (1u << 20)

static void *field_at(const struct config_row *row, void *base)
{
	return (char *)base + row->offset;
}

/* Defaults of the list and value rows: nothing given. */
static bool regex_is_default(const struct config_row *row, const void *base)
{
	return !((const struct config_regex *)((const char *)base + row->offset))->re;
}

static bool ptr_is_default(const struct config_row *row, const void *base)
{
	return !*(void *const *)((const char *)base + row->offset);
}

static bool u64_is_default(const struct config_row *row, const void *base)
{
	return !*(const uint64_t *)((const char *)base + row->offset);
}

static bool int_is_default(const struct config_row *row, const void *base)
{
	return !*(const int *)((const char *)base + row->offset);
}

/* Every list struct here is {pointer, count}: empty is the default. */
static bool list_is_default(const struct config_row *row, const void *base)
{
	const struct config_names *l = (const void *)((const char *)base + row->offset);
	return l->n == 0;
}

/* ------------------------------------------------------------------------ */
/* Field names                                                               */

/* RFC 9110 5.1: a field name is a token. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

/* Fields a header rule may not touch: the framing and the connection are
 * ringcache's to write, and a rule that set them could split a message. */
static bool reserved_field(const char *s)
{
	static const char *const names[] = {"content-length", "transfer-encoding", "connection",
					    "keep-alive",     "upgrade",	   "te",
					    "trailer",	      "proxy-connection"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(s, names[i]))
			return true;
	}
	return false;
}

static const char *field_name(struct walk *w, const yaml_node_t *n, const char *path, bool rule)
{
	const char *s = walk_scalar(w, n, path, "a field name");
	if (!s)
		return NULL;
	if (!is_token(s)) {
		walk_err(w, n,
			 "%s: '%s' is not a field name (letters, digits and !#$%%&'*+-.^_`|~)",
			 path, s);
		return NULL;
	}
	if (rule && reserved_field(s)) {
		walk_err(w, n, "%s: %s is ringcache's to write (framing and connection fields)",
			 path, s);
		return NULL;
	}
	return s;
}

/* ------------------------------------------------------------------------ */
/* Regular expressions                                                       */

void config_regex_free(struct config_regex *r)
{
	pcre2_code_free(r->re);
	free(r->src);
	r->re = NULL;
	r->src = NULL;
}

/* Compile S into R; false after an error at N naming PCRE2's reason. */
static bool regex_compile(struct walk *w, const yaml_node_t *n, const char *path, const char *s,
			  struct config_regex *r)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
	if (!re) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(code, msg, sizeof(msg));
		walk_err(w, n, "%s: invalid regex at offset %zu: %s", path, (size_t)off,
			 (const char *)msg);
		return false;
	}
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* no JIT: the interpreter */
	config_regex_free(r);
	r->re = re;
	if (!(r->src = strdup(s)))
		walk_oom(w);
	return true;
}

static void regex_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
		       const char *path, void *base)
{
	const char *s = walk_scalar(w, n, path, "a regular expression");
	if (s)
		regex_compile(w, n, path, s, field_at(row, base));
}

static void regex_release(const struct config_table *t, const struct config_row *row, void *base)
{
	config_regex_free(field_at(row, base));
}

const struct config_ops route_regex_ops = {
    .read = regex_read, .release = regex_release, .is_default = regex_is_default};

/* ------------------------------------------------------------------------ */
/* Templates                                                                 */

static void template_release_p(struct template **tp)
{
	if (*tp) {
		template_free(*tp);
		free(*tp);
		*tp = NULL;
	}
}

/* Compile the scalar N into *TP. An error names the variable and where it is. */
static bool template_read_into(struct walk *w, const yaml_node_t *n, const char *path,
			       struct template **tp)
{
	if (n->type != YAML_SCALAR_NODE) {
		walk_err(w, n, "%s: expected a string, got %s", path, walk_kind(n));
		return false;
	}
	const char *s = (const char *)n->data.scalar.value;
	if (strlen(s) != n->data.scalar.length) {
		walk_err(w, n, "%s: must not contain a NUL byte", path);
		return false;
	}
	struct template *t = calloc(1, sizeof(*t));
	if (!t) {
		walk_oom(w);
		return false;
	}
	char err[400];
	size_t off = 0;
	int r = template_compile(t, s, config_tvar_names, TVAR__N, err, sizeof(err), &off);
	if (r == -ENOMEM) {
		free(t);
		walk_oom(w);
		return false;
	}
	if (r < 0) {
		free(t);
		/* Plain scalars start at their first byte; a quoted one one
		 * later. The offset is in the value, which is what it says. */
		walk_err(w, n, "%s: %s", path, err);
		return false;
	}
	template_release_p(tp);
	*tp = t;
	return true;
}

static void template_row_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			      const char *path, void *base)
{
	template_read_into(w, n, path, field_at(row, base));
}

static void template_row_release(const struct config_table *t, const struct config_row *row,
				 void *base)
{
	template_release_p(field_at(row, base));
}

const struct config_ops route_template_ops = {
    .read = template_row_read, .release = template_row_release, .is_default = ptr_is_default};

/* ------------------------------------------------------------------------ */
/* Methods                                                                   */

/* The llhttp method of NAME (upper case, as on the request line), or -1.
 * From llhttp's own table (llhttp_method_name aborts on a number it does
 * not know, so the numbers are not walked). */
static int method_of(const char *name)
{
	static const struct {
		int num;
		const char *name;
	} methods[] = {
#define XX(num, name, string) {num, #string},
	    HTTP_METHOD_MAP(XX)
#undef XX
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (methods[i].num < 64 && !strcmp(methods[i].name, name))
			return methods[i].num;
	}
	return -1;
}

static bool method_read1(struct walk *w, const yaml_node_t *n, const char *path, uint64_t *bits)
{
	const char *s = walk_scalar(w, n, path, "a method");
	if (!s)
		return false;
	int m = method_of(s);
	if (m < 0) {
		walk_err(w, n, "%s: unknown method '%s' (methods are upper case: GET, POST, ...)",
			 path, s);
		return false;
	}
	*bits |= 1ull << m;
	return true;
}

static void methods_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			 const char *path, void *base)
{
	uint64_t *bits = field_at(row, base), v = 0;
	char sub[WALK_PATH_MAX];
	if (n->type == YAML_SEQUENCE_NODE) {
		if (walk_len(n) == 0) {
			walk_err(w, n, "%s: an empty list matches no request", path);
			return;
		}
		for (size_t i = 0; i < walk_len(n); i++) {
			yaml_node_t *item = walk_item(w, n, i);
			walk_index(sub, sizeof(sub), path, i);
			if (item)
				method_read1(w, item, sub, &v);
		}
	} else {
		method_read1(w, n, path, &v);
	}
	*bits = v;
}

const struct config_ops route_methods_ops = {.read = methods_read, .is_default = u64_is_default};

/* ------------------------------------------------------------------------ */
/* Header and query tests                                                    */

static void field_test_free(struct config_field_test *t)
{
	free(t->name);
	free(t->equals);
	config_regex_free(&t->regex);
}

/* {name: X, equals: V} | {name: X, regex: R} | {name: X, absent: true} | {name: X} */
static bool field_test_read(struct walk *w, yaml_node_t *n, const char *path, bool header,
			    struct config_field_test *t)
{
	static const char *const keys[] = {"name", "equals", "regex", "absent"};
	char sub[WALK_PATH_MAX];
	if (n->type != YAML_MAPPING_NODE) {
		walk_err(w, n, "%s: expected a mapping (name, and equals, regex or absent), got %s",
			 path, walk_kind(n));
		return false;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = walk_node(w, p->key);
		const char *ks =
		    k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		bool known = false;
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			known |= !strcmp(ks, keys[i]);
		if (!known)
			walk_err(
			    w, k ? k : n,
			    "unknown key '%s' in %s; expected one of: name, equals, regex, absent",
			    ks, path);
	}
	yaml_node_t *v = walk_get(w, n, "name");
	walk_join(sub, sizeof(sub), path, "name");
	if (!v) {
		walk_err(w, n, "%s: missing required key 'name'", path);
		return false;
	}
	const char *name = header ? field_name(w, v, sub, false) : walk_scalar(w, v, sub, "a name");
	if (!name)
		return false;
	walk_dup(w, name, &t->name);
	unsigned given = 0;
	if ((v = walk_get(w, n, "equals"))) {
		walk_join(sub, sizeof(sub), path, "equals");
		/* "" is a value to compare with (a field present and empty). */
		if (v->type != YAML_SCALAR_NODE)
			walk_err(w, v, "%s: expected a string, got %s", sub, walk_kind(v));
		else
			walk_dup(w, (const char *)v->data.scalar.value, &t->equals);
		given++;
	}
	if ((v = walk_get(w, n, "regex"))) {
		walk_join(sub, sizeof(sub), path, "regex");
		const char *s = walk_scalar(w, v, sub, "a regular expression");
		if (s)
			regex_compile(w, v, sub, s, &t->regex);
		given++;
	}
	if ((v = walk_get(w, n, "absent"))) {
		walk_join(sub, sizeof(sub), path, "absent");
		const char *s = walk_scalar(w, v, sub, "true");
		if (s && strcmp(s, "true"))
			walk_err(w, v, "%s: expected true (leave it out to test for presence)",
				 sub);
		t->absent = true;
		given++;
	}
	if (given > 1) {
		walk_err(w, n, "%s: give at most one of equals, regex, absent", path);
		return false;
	}
	return true;
}

static void field_tests_release(const struct config_table *tab, const struct config_row *row,
				void *base)
{
	struct config_field_tests *ts = field_at(row, base);
	for (size_t i = 0; i < ts->n; i++)
		field_test_free(&ts->v[i]);
	free(ts->v);
	ts->v = NULL;
	ts->n = 0;
}

static void field_tests_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			     const char *path, void *base)
{
	struct config_field_tests *ts = field_at(row, base);
	bool header = !strcmp(config_row_name(row), "header");
	bool list = n->type == YAML_SEQUENCE_NODE;
	size_t cnt = list ? walk_len(n) : 1;
	char sub[WALK_PATH_MAX];
	field_tests_release(w->table, row, base);
	if (!cnt)
		return;
	if (!(ts->v = calloc(cnt, sizeof(*ts->v)))) {
		walk_oom(w);
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = list ? walk_item(w, n, i) : n;
		if (list)
			walk_index(sub, sizeof(sub), path, i);
		else
			snprintf(sub, sizeof(sub), "%s", path);
		if (item && field_test_read(w, item, sub, header, &ts->v[ts->n]))
			ts->n++;
		else
			field_test_free(&ts->v[ts->n]);
	}
}

const struct config_ops route_field_tests_ops = {
    .read = field_tests_read, .release = field_tests_release, .is_default = list_is_default};

/* ------------------------------------------------------------------------ */
/* Header rules                                                              */

static void hdr_fields_release(const struct config_table *t, const struct config_row *row,
			       void *base)
{
	struct config_hdr_fields *fs = field_at(row, base);
	for (size_t i = 0; i < fs->n; i++) {
		free(fs->v[i].name);
		template_release_p(&fs->v[i].value);
	}
	free(fs->v);
	fs->v = NULL;
	fs->n = 0;
}

/* {Name: "value ${var}", ...}; a name once. */
static void hdr_fields_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			    const char *path, void *base)
{
	struct config_hdr_fields *fs = field_at(row, base);
	char sub[WALK_PATH_MAX];
	hdr_fields_release(w->table, row, base);
	if (n->type != YAML_MAPPING_NODE) {
		walk_err(w, n, "%s: expected a mapping of field names to values, got %s", path,
			 walk_kind(n));
		return;
	}
	size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (!cnt)
		return;
	if (!(fs->v = calloc(cnt, sizeof(*fs->v)))) {
		walk_oom(w);
		return;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = walk_node(w, p->key), *v = walk_node(w, p->value);
		if (!k || !v)
			continue;
		const char *ks =
		    k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
		walk_join(sub, sizeof(sub), path, ks);
		const char *name = field_name(w, k, sub, true);
		if (!name)
			continue;
		bool dup = false;
		for (size_t i = 0; i < fs->n; i++)
			dup |= !strcasecmp(fs->v[i].name, name);
		if (dup) {
			walk_err(w, k, "%s: %s is given twice", path, name);
			continue;
		}
		struct config_hdr_field *f = &fs->v[fs->n];
		if (!template_read_into(w, v, sub, &f->value))
			continue;
		walk_dup(w, name, &f->name);
		fs->n++;
	}
}

const struct config_ops route_hdr_fields_ops = {
    .read = hdr_fields_read, .release = hdr_fields_release, .is_default = list_is_default};

static void names_release(const struct config_table *t, const struct config_row *row, void *base)
{
	struct config_names *ns = field_at(row, base);
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	ns->v = NULL;
	ns->n = 0;
}

/* A field name or a list of them. */
static void names_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
		       const char *path, void *base)
{
	struct config_names *ns = field_at(row, base);
	bool list = n->type == YAML_SEQUENCE_NODE;
	size_t cnt = list ? walk_len(n) : 1;
	char sub[WALK_PATH_MAX];
	names_release(w->table, row, base);
	if (!cnt)
		return;
	if (!(ns->v = calloc(cnt, sizeof(*ns->v)))) {
		walk_oom(w);
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = list ? walk_item(w, n, i) : n;
		if (list)
			walk_index(sub, sizeof(sub), path, i);
		else
			snprintf(sub, sizeof(sub), "%s", path);
		const char *s = item ? field_name(w, item, sub, true) : NULL;
		if (s && (ns->v[ns->n] = strdup(s)))
			ns->n++;
		else if (s)
			walk_oom(w);
	}
}

const struct config_ops route_names_ops = {
    .read = names_read, .release = names_release, .is_default = list_is_default};

/* ------------------------------------------------------------------------ */
/* Bodies and error pages                                                    */

/* The whole of FILE into *OUT (NUL-terminated, *LEN bytes); false after an error at N. */
static bool read_body_file(struct walk *w, const yaml_node_t *n, const char *path, const char *file,
			   char **out, size_t *len)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		walk_err(w, n, "%s: cannot read %s: %s", path, file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > BODY_FILE_MAX) {
		walk_err(w, n, "%s: %s is not a regular file of at most 1 MiB", path, file);
		close(fd);
		return false;
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!buf) {
		walk_oom(w);
		return false;
	}
	if (got != (size_t)st.st_size) {
		walk_err(w, n, "%s: cannot read %s: it changed while read", path, file);
		free(buf);
		return false;
	}
	buf[got] = '\0';
	free(*out);
	*out = buf;
	*len = got;
	return true;
}

static void error_pages_release(const struct config_table *t, const struct config_row *row,
				void *base)
{
	struct config_error_pages *ps = field_at(row, base);
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->v[i].body);
		free(ps->v[i].content_type);
	}
	free(ps->v);
	ps->v = NULL;
	ps->n = 0;
}

/* One page: "inline body" | {body: ..., content_type: ...} | {file: ..., content_type: ...} */
static bool error_page_read(struct walk *w, yaml_node_t *n, const char *path,
			    struct config_error_page *pg)
{
	char sub[WALK_PATH_MAX];
	const char *ct = "text/html; charset=utf-8";
	if (n->type == YAML_SCALAR_NODE) {
		walk_dup(w, (const char *)n->data.scalar.value, &pg->body);
		pg->body_len = n->data.scalar.length;
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = walk_node(w, p->key);
			const char *ks = k && k->type == YAML_SCALAR_NODE
					     ? (const char *)k->data.scalar.value
					     : "";
			if (strcmp(ks, "body") && strcmp(ks, "file") && strcmp(ks, "content_type"))
				walk_err(w, k ? k : n,
					 "unknown key '%s' in %s; expected one of: body, file, "
					 "content_type",
					 ks, path);
		}
		yaml_node_t *b = walk_get(w, n, "body"), *f = walk_get(w, n, "file"),
			    *c = walk_get(w, n, "content_type");
		if (!!b == !!f) {
			walk_err(w, n, "%s: give one of body, file", path);
			return false;
		}
		if (b) {
			walk_join(sub, sizeof(sub), path, "body");
			if (b->type != YAML_SCALAR_NODE) {
				walk_err(w, b, "%s: expected a string, got %s", sub, walk_kind(b));
				return false;
			}
			walk_dup(w, (const char *)b->data.scalar.value, &pg->body);
			pg->body_len = b->data.scalar.length;
		} else {
			walk_join(sub, sizeof(sub), path, "file");
			const char *s = walk_scalar(w, f, sub, "a file path");
			if (!s || !read_body_file(w, f, sub, s, &pg->body, &pg->body_len))
				return false;
		}
		if (c) {
			walk_join(sub, sizeof(sub), path, "content_type");
			if (!(ct = walk_scalar(w, c, sub, "a media type")))
				return false;
		}
	} else {
		walk_err(w, n,
			 "%s: expected a body or a mapping (body or file, content_type), got %s",
			 path, walk_kind(n));
		return false;
	}
	walk_dup(w, ct, &pg->content_type);
	return true;
}

/* {502: "...", 503: {file: ..., content_type: ...}, ...}: statuses 400..599. */
static void error_pages_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			     const char *path, void *base)
{
	struct config_error_pages *ps = field_at(row, base);
	char sub[WALK_PATH_MAX];
	error_pages_release(w->table, row, base);
	if (n->type != YAML_MAPPING_NODE) {
		walk_err(w, n, "%s: expected a mapping of status codes to pages, got %s", path,
			 walk_kind(n));
		return;
	}
	size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (!cnt || !(ps->v = calloc(cnt, sizeof(*ps->v)))) {
		if (cnt)
			walk_oom(w);
		return;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = walk_node(w, p->key), *v = walk_node(w, p->value);
		if (!k || !v)
			continue;
		uint64_t st;
		const char *ks =
		    k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
		walk_join(sub, sizeof(sub), path, ks);
		if (!walk_uint(w, k, path, 400, 599, false, &st))
			continue;
		bool dup = false;
		for (size_t i = 0; i < ps->n; i++)
			dup |= ps->v[i].status == (int)st;
		if (dup) {
			walk_err(w, k, "%s: %llu is given twice", path, (unsigned long long)st);
			continue;
		}
		struct config_error_page *pg = &ps->v[ps->n];
		pg->status = (int)st;
		if (error_page_read(w, v, sub, pg)) {
			ps->n++;
		} else {
			free(pg->body);
			free(pg->content_type);
			memset(pg, 0, sizeof(*pg));
		}
	}
}

const struct config_ops route_error_pages_ops = {
    .read = error_pages_read, .release = error_pages_release, .is_default = list_is_default};

/* ------------------------------------------------------------------------ */
/* Route values with their own shapes                                        */

/* deny: true (403) | a status 400..599. */
static void deny_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
		      const char *path, void *base)
{
	int *status = field_at(row, base);
	const char *s = walk_scalar(w, n, path, "true or a status code");
	uint64_t v;
	if (!s)
		return;
	if (!strcmp(s, "true")) {
		*status = 403;
		return;
	}
	if (!strcmp(s, "false")) {
		walk_err(w, n, "%s: false denies nothing; leave the key out", path);
		return;
	}
	if (walk_uint(w, n, path, 400, 599, false, &v))
		*status = (int)v;
}

const struct config_ops route_deny_ops = {.read = deny_read, .is_default = int_is_default};

/* compression: true | false; absent: as compression.enabled. */
static void tristate_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			  const char *path, void *base)
{
	int *v = field_at(row, base);
	const char *s = walk_scalar(w, n, path, "true or false");
	if (!s)
		return;
	if (!strcmp(s, "true"))
		*v = 1;
	else if (!strcmp(s, "false"))
		*v = 0;
	else
		walk_err(w, n, "%s: expected true or false, got '%s'", path, s);
}

static int tristate_init(const struct config_row *row, void *base)
{
	*(int *)field_at(row, base) = -1;
	return 0;
}

static bool tristate_is_default(const struct config_row *row, const void *base)
{
	return *(const int *)((const char *)base + row->offset) == -1;
}

const struct config_ops route_tristate_ops = {
    .read = tristate_read, .init = tristate_init, .is_default = tristate_is_default};

/* cache: NAME (a cache.rules entry's name) | {ttl, default_ttl, bypass, max_object_size, key} */
static void route_cache_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			     const char *path, void *base)
{
	struct config_route *r = base;
	if (n->type == YAML_SCALAR_NODE && !walk_is_null(n)) {
		walk_dup(w, (const char *)n->data.scalar.value, &r->cache_name);
		return;
	}
	if (n->type != YAML_MAPPING_NODE) {
		walk_err(w, n, "%s: expected the name of a cache rule or a rule's keys, got %s",
			 path, walk_kind(n));
		return;
	}
	walk_section(w, n, "routes[].cache", path, r);
	r->has_cache = true;
	r->cache.key_set = walk_get(w, n, "key") != NULL;
}

static void route_cache_release(const struct config_table *t, const struct config_row *row,
				void *base)
{
	struct config_route *r = base;
	free(r->cache_name);
	r->cache_name = NULL;
	r->has_cache = false;
}

static bool route_cache_is_default(const struct config_row *row, const void *base)
{
	const struct config_route *r = base;
	return !r->cache_name && !r->has_cache;
}

const struct config_ops route_cache_ops = {
    .read = route_cache_read, .release = route_cache_release, .is_default = route_cache_is_default};

/* ------------------------------------------------------------------------ */
/* routes[]                                                                  */

static const char *const actions[] = {"backend", "redirect", "respond", "deny"};

static void route_read(struct walk *w, yaml_node_t *n, size_t idx, struct config_route *r)
{
	char path[WALK_PATH_MAX], sub[WALK_PATH_MAX];
	walk_index(path, sizeof(path), "routes", idx);
	if (n->type != YAML_MAPPING_NODE) {
		walk_err(w, n, "%s: expected a mapping, got %s", path, walk_kind(n));
		return;
	}
	walk_section(w, n, "routes[]", path, r);
	unsigned given = 0;
	for (unsigned k = 0; k < sizeof(actions) / sizeof(actions[0]); k++) {
		if (walk_get(w, n, actions[k])) {
			r->kind = (enum config_route_kind)k;
			given++;
		}
	}
	if (given != 1)
		walk_err(w, n, "%s: give exactly one of backend, redirect, respond, deny (%s)",
			 path, given ? "more than one given" : "none given");
	if (r->kind == ROUTE_REDIRECT && walk_get(w, n, "redirect")) {
		int st = r->redirect_status;
		if (st != 301 && st != 302 && st != 303 && st != 307 && st != 308) {
			walk_join(sub, sizeof(sub), path, "redirect.status");
			walk_err(w, walk_get(w, walk_get(w, n, "redirect"), "status") ?: n,
				 "%s: %d is not a redirect (301, 302, 303, 307 or 308)", sub, st);
		}
	}
	if (r->kind == ROUTE_RESPOND) {
		yaml_node_t *rs = walk_get(w, n, "respond");
		yaml_node_t *b = rs ? walk_get(w, rs, "body") : NULL,
			    *f = rs ? walk_get(w, rs, "body_file") : NULL;
		walk_join(sub, sizeof(sub), path, "respond");
		if (b && f)
			walk_err(w, rs, "%s: give one of body, body_file", sub);
		else if (f && r->body_file) {
			walk_join(sub, sizeof(sub), path, "respond.body_file");
			read_body_file(w, f, sub, r->body_file, &r->body, &r->body_len);
		} else if (b && r->body)
			r->body_len = strlen(r->body);
	}
	if (walk_get(w, n, "rewrite")) {
		yaml_node_t *rw = walk_get(w, n, "rewrite");
		walk_join(sub, sizeof(sub), path, "rewrite");
		bool strip = r->rewrite.strip_prefix != NULL, re = r->rewrite.regex.re != NULL;
		if (strip == re && rw->type == YAML_MAPPING_NODE)
			walk_err(w, rw, "%s: give one of strip_prefix, regex (with replace)", sub);
		else if (re && !r->rewrite.replace)
			walk_err(w, rw, "%s: regex needs replace", sub);
		else if (!re && r->rewrite.replace)
			walk_err(w, rw, "%s: replace needs regex", sub);
	}
	if (r->kind != ROUTE_BACKEND) {
		/* What only a forwarded request has. */
		static const char *const fwd[] = {"cache",	     "compression", "timeouts",
						  "backend_host",    "rewrite",	    "cache_key",
						  "request_headers", "websocket"};
		for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++) {
			yaml_node_t *v = walk_get(w, n, fwd[i]);
			if (v)
				walk_err(w, v, "%s: %s applies only to a route with a backend",
					 path, fwd[i]);
		}
	}
}

static void routes_read(struct walk *w, const struct config_row *row, yaml_node_t *n,
			const char *path, void *base)
{
	struct config *cfg = base;
	if (walk_is_null(n))
		return;
	if (n->type != YAML_SEQUENCE_NODE) {
		walk_err(w, n, "%s: expected a list of routes, got %s", path, walk_kind(n));
		return;
	}
	size_t cnt = walk_len(n);
	if (!cnt)
		return;
	if (!(cfg->routes = calloc(cnt, sizeof(*cfg->routes)))) {
		walk_oom(w);
		return;
	}
	cfg->n_routes = cnt;
	for (size_t i = 0; i < cnt; i++) {
		yaml_node_t *item = walk_item(w, n, i);
		struct config_route *r = &cfg->routes[i];
		if (config_table_init(w->table, "routes[]", r, cfg) < 0)
			walk_oom(w);
		r->cache_rule = -1;
		if (item)
			route_read(w, item, i, r);
	}
}

static void routes_release(const struct config_table *t, const struct config_row *row, void *base)
{
	struct config *cfg = base;
	for (size_t i = 0; i < cfg->n_routes; i++)
		config_table_release(t, "routes[]", &cfg->routes[i]);
	free(cfg->routes);
	free(cfg->route_quick);
	cfg->routes = NULL;
	cfg->route_quick = NULL;
	cfg->n_routes = 0;
}

static bool routes_is_default(const struct config_row *row, const void *base)
{
	return ((const struct config *)base)->n_routes == 0;
}

const struct config_ops routes_ops = {
    .read = routes_read, .release = routes_release, .is_default = routes_is_default};

/* ------------------------------------------------------------------------ */
/* Across keys                                                               */

static bool match_is_empty(const struct config_match *m)
{
	return !m->host && !m->host_regex.re && !m->path && !m->path_prefix && !m->path_regex.re &&
	       !m->methods && !m->headers.n && !m->queries.n && !m->clients.n;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Does every request M2 matches also match M1 (so a route with M2 after
 * one with M1 is never reached)? Only the plain cases: M1 empty, or both
 * made of the same exact tests. */
static bool match_covers(const struct config_match *m1, const struct config_match *m2)
{
	if (match_is_empty(m1))
		return true;
	if (m1->host_regex.re || m1->path_regex.re || m1->headers.n || m1->queries.n ||
	    m1->clients.n || m2->host_regex.re || m2->path_regex.re || m2->headers.n ||
	    m2->queries.n || m2->clients.n)
		return false;
	if (m1->host && !str_eq(m1->host, m2->host))
		return false;
	if (m1->path && !str_eq(m1->path, m2->path))
		return false;
	if (m1->path_prefix) {
		const char *p = m2->path ? m2->path : m2->path_prefix;
		if (!p || strncmp(p, m1->path_prefix, strlen(m1->path_prefix)))
			return false;
	}
	if (m1->methods && (!m2->methods || (m2->methods & ~m1->methods)))
		return false;
	return true;
}

/* The node of routes[I] in ROOT, for messages (NULL if the file has none). */
static yaml_node_t *route_node(struct walk *w, yaml_node_t *root, size_t i)
{
	yaml_node_t *rs = walk_get(w, root, "routes");
	return rs && rs->type == YAML_SEQUENCE_NODE ? walk_item(w, rs, i) : NULL;
}

static void tests_lengths(struct config_field_tests *ts)
{
	for (size_t i = 0; i < ts->n; i++) {
		ts->v[i].name_len = ts->v[i].name ? strlen(ts->v[i].name) : 0;
		ts->v[i].equals_len = ts->v[i].equals ? strlen(ts->v[i].equals) : 0;
	}
}

/* What matching would otherwise work out per request (route/match.c). */
static void match_quick(struct config_match *m, struct config_route_quick *k)
{
	if (m->host) {
		for (char *c = m->host; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
	}
	*k = (struct config_route_quick){
	    .methods = m->methods,
	    .host = m->host,
	    .path = m->path,
	    .prefix = m->path_prefix,
	    .host_len = m->host ? (uint32_t)strlen(m->host) : 0,
	    .path_len = m->path ? (uint32_t)strlen(m->path) : 0,
	    .prefix_len = m->path_prefix ? (uint32_t)strlen(m->path_prefix) : 0,
	    .more = m->clients.n || m->headers.n || m->queries.n || m->host_regex.re ||
		    m->path_regex.re,
	};
	tests_lengths(&m->headers);
	tests_lengths(&m->queries);
}

void routes_check(struct walk *w, yaml_node_t *root)
{
	struct config *cfg = w->cfg;
	char path[WALK_PATH_MAX];
	if (cfg->n_routes && !cfg->route_quick &&
	    !(cfg->route_quick = calloc(cfg->n_routes, sizeof(*cfg->route_quick)))) {
		walk_err(w, root, "out of memory");
		return;
	}
	for (size_t i = 0; i < cfg->n_routes; i++) {
		struct config_route *r = &cfg->routes[i];
		yaml_node_t *rn = route_node(w, root, i);
		walk_index(path, sizeof(path), "routes", i);
		match_quick(&r->match, &cfg->route_quick[i]);
		if (r->kind == ROUTE_BACKEND && r->backend_name) {
			size_t b = 0;
			/* A backend without a name (an error already) is not
			 * the one named. */
			while (b < cfg->n_backends &&
			       !str_eq(cfg->backends[b].name, r->backend_name))
				b++;
			if (b == cfg->n_backends) {
				char names[256] = "";
				size_t o = 0;
				for (size_t k = 0; k < cfg->n_backends && o < sizeof(names); k++)
					o += (size_t)snprintf(
					    names + o, sizeof(names) - o, "%s%s", k ? ", " : "",
					    cfg->backends[k].name ? cfg->backends[k].name : "-");
				yaml_node_t *bn = rn ? walk_get(w, rn, "backend") : NULL;
				/* The cluster's backend comes after this (cluster.c). */
				bool own =
				    cfg->cluster.enabled && !strcmp(r->backend_name, "cluster");
				walk_err(
				    w, bn ? bn : (rn ? rn : root),
				    "%s.backend: unknown backend '%s'%s (backends: %s)", path,
				    r->backend_name,
				    own ? "; the cluster's own backend is not one a route may name"
					: "",
				    names);
			} else {
				r->backend = (unsigned)b;
			}
		}
		if (r->cache_name) {
			size_t k = 0;
			while (k < cfg->cache.n_rules &&
			       !str_eq(cfg->cache.rules[k].name, r->cache_name))
				k++;
			yaml_node_t *cn = rn ? walk_get(w, rn, "cache") : NULL;
			if (k == cfg->cache.n_rules)
				walk_err(
				    w, cn ? cn : root,
				    "%s.cache: no cache rule is named '%s' (give cache.rules[] "
				    "a name)",
				    path, r->cache_name);
			else
				r->cache_rule = (int)k;
		}
		for (size_t j = 0; j < i; j++) {
			if (match_covers(&cfg->routes[j].match, &r->match)) {
				char before[WALK_PATH_MAX];
				walk_index(before, sizeof(before), "routes", j);
				walk_warn(w, rn ? rn : root,
					  "%s is never reached: %s before it matches every request "
					  "it would",
					  path, before);
				break;
			}
		}
	}
	yaml_node_t *cache = walk_get(w, root, "cache");
	yaml_node_t *rules =
	    cache && cache->type == YAML_MAPPING_NODE ? walk_get(w, cache, "rules") : NULL;
	for (size_t k = 0; k < cfg->cache.n_rules; k++) {
		for (size_t j = 0; j < k && cfg->cache.rules[k].name; j++) {
			if (!str_eq(cfg->cache.rules[j].name, cfg->cache.rules[k].name))
				continue;
			yaml_node_t *item = rules && rules->type == YAML_SEQUENCE_NODE
						? walk_item(w, rules, k)
						: NULL;
			yaml_node_t *nn = item && item->type == YAML_MAPPING_NODE
					      ? walk_get(w, item, "name")
					      : NULL;
			walk_err(w, nn ? nn : root,
				 "cache.rules[%zu].name: '%s' is the name of cache.rules[%zu] too",
				 k, cfg->cache.rules[k].name, j);
			break;
		}
	}
}
