/*
 * template.c - value templates (see template.h).
 *
 * The compiled form is one allocation: the parts array followed by the
 * literal text. Its size is bounded before parsing (every `$` makes at
 * most two parts, the text is no longer than the source), so compiling
 * is a single pass with no growing and no second walk. Adjacent literal
 * bytes, `$$` included, are merged into one run, so expansion makes one
 * hbuf_put per run and per reference.
 */
#include "http/template.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt/obj.h"

#define TEMPLATE_MAGIC 0x544d504cu /* "TMPL" */
/* How much of an unknown name an error message repeats. */
#define NAME_SHOWN 40

enum tpart_kind { TPART_TEXT, TPART_VAR, TPART_CAP };

struct tpart {
	enum tpart_kind kind;
	unsigned idx;	 /* TPART_VAR: index into VARS; TPART_CAP: group number */
	size_t off, len; /* TPART_TEXT: the run in t->text */
};

static void set_err(char *err, size_t errcap, size_t *err_off, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void set_err(char *err, size_t errcap, size_t *err_off, size_t off, const char *fmt, ...)
{
	if (err_off)
		*err_off = off;
	if (!err || !errcap)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errcap, fmt, ap);
	va_end(ap);
}

/* " (variables: a, b; captures ${1} to ${9})" after the message in ERR,
 * so an operator sees what was possible; truncated if ERR is short. */
static void append_known(char *err, size_t errcap, const char *const *vars, unsigned n_vars)
{
	if (!err || !errcap)
		return;
	size_t at = strlen(err);
	for (unsigned i = 0; i < n_vars && at < errcap; i++) {
		int n =
		    snprintf(err + at, errcap - at, "%s${%s}", i ? ", " : " (variables: ", vars[i]);
		if (n < 0)
			return;
		at += (size_t)n;
	}
	if (at < errcap)
		snprintf(err + at, errcap - at, "%scaptures ${1} to ${%u})", n_vars ? "; " : " (",
			 TEMPLATE_MAX_CAPTURE);
}

/* A byte a name may hold: printable ASCII but the template's own syntax,
 * so "${path/x${query}" is an unclosed reference, not a strange name. */
static bool name_byte(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '$' && c != '{' && c != '}';
}

/* A byte the literal text may hold: what a field value may (RFC 9110
 * 5.5: VCHAR, SP, HTAB, obs-text). */
static bool text_byte(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static void add_text(struct template *t, const char *s, size_t n)
{
	struct tpart *last = t->n_parts ? &t->parts[t->n_parts - 1] : NULL;
	if (!last || last->kind != TPART_TEXT)
		t->parts[t->n_parts++] = (struct tpart){.kind = TPART_TEXT, .off = t->text_len};
	memcpy(t->text + t->text_len, s, n);
	t->text_len += n;
	t->parts[t->n_parts - 1].len += n;
}

/* The part for the reference ${NAME[0..N)} at byte OFF of the source, or
 * an error. */
static int add_ref(struct template *t, const char *name, size_t n, size_t off,
		   const char *const *vars, unsigned n_vars, char *err, size_t errcap,
		   size_t *err_off)
{
	if (n == 0) {
		set_err(err, errcap, err_off, off, "empty ${} at offset %zu", off);
		return -EINVAL;
	}
	if (strspn(name, "0123456789") >= n) {
		if (n == 1 && name[0] >= '1' && name[0] <= '0' + (int)TEMPLATE_MAX_CAPTURE) {
			unsigned g = (unsigned)(name[0] - '0');
			t->parts[t->n_parts++] = (struct tpart){.kind = TPART_CAP, .idx = g};
			t->caps_used |= (uint16_t)(1u << g);
			return 0;
		}
		set_err(err, errcap, err_off, off,
			"no capture ${%.*s} at offset %zu (captures are ${1} to ${%u})",
			n > NAME_SHOWN ? NAME_SHOWN : (int)n, name, off, TEMPLATE_MAX_CAPTURE);
		return -EINVAL;
	}
	for (unsigned i = 0; i < n_vars; i++) {
		if (strlen(vars[i]) == n && memcmp(vars[i], name, n) == 0) {
			t->parts[t->n_parts++] = (struct tpart){.kind = TPART_VAR, .idx = i};
			t->vars_used |= 1u << i;
			return 0;
		}
	}
	set_err(err, errcap, err_off, off, "unknown variable ${%.*s%s} at offset %zu",
		n > NAME_SHOWN ? NAME_SHOWN : (int)n, name, n > NAME_SHOWN ? "..." : "", off);
	append_known(err, errcap, vars, n_vars);
	return -EINVAL;
}

static int parse(struct template *t, const char *src, const char *const *vars, unsigned n_vars,
		 char *err, size_t errcap, size_t *err_off)
{
	size_t i = 0;
	while (src[i]) {
		/* A literal run up to the next '$' (or a bad byte). */
		size_t run = i;
		while (src[run] && src[run] != '$' && text_byte((unsigned char)src[run]))
			run++;
		if (run > i)
			add_text(t, src + i, run - i);
		i = run;
		if (!src[i])
			break;
		if (src[i] != '$') {
			set_err(err, errcap, err_off, i, "control character 0x%02x at offset %zu",
				(unsigned char)src[i], i);
			return -EINVAL;
		}
		if (src[i + 1] == '$') {
			add_text(t, "$", 1);
			i += 2;
			continue;
		}
		if (src[i + 1] != '{') {
			set_err(err, errcap, err_off, i,
				"a lone $ at offset %zu (${name} is a variable, $$ a $)", i);
			return -EINVAL;
		}
		const char *name = src + i + 2;
		size_t n = 0;
		while (name_byte((unsigned char)name[n]))
			n++;
		if (name[n] != '}') {
			set_err(err, errcap, err_off, i, "unclosed ${ at offset %zu", i);
			return -EINVAL;
		}
		int rc = add_ref(t, name, n, i, vars, n_vars, err, errcap, err_off);
		if (rc < 0)
			return rc;
		i += 2 + n + 1;
	}
	return 0;
}

int template_compile(struct template *t, const char *src, const char *const *vars, unsigned n_vars,
		     char *err, size_t errcap, size_t *err_off)
{
	assert(t && src);
	assert(n_vars <= TEMPLATE_MAX_VARS && (vars || n_vars == 0));
	memset(t, 0, sizeof(*t));
	if (err && errcap)
		err[0] = '\0';
	if (err_off)
		*err_off = 0;

	size_t len = strlen(src), dollars = 0;
	for (size_t i = 0; i < len; i++)
		dollars += src[i] == '$';
	size_t max_parts = 2 * dollars + 1;
	/* +1: an empty template still has a text pointer to hand out. */
	t->parts = malloc(max_parts * sizeof(*t->parts) + len + 1);
	if (!t->parts)
		return -ENOMEM;
	t->text = (char *)(t->parts + max_parts);
	int rc = parse(t, src, vars, n_vars, err, errcap, err_off);
	if (rc < 0) {
		free(t->parts);
		memset(t, 0, sizeof(*t));
		return rc;
	}
	assert(t->n_parts <= max_parts && t->text_len <= len);
	t->magic = TEMPLATE_MAGIC;
	return 0;
}

void template_free(struct template *t)
{
	if (!t || t->magic == 0)
		return;
	CHECK_OBJ_NOTNULL(t, TEMPLATE_MAGIC);
	free(t->parts); /* the text is in the same block */
	memset(t, 0, sizeof(*t));
}

bool template_is_constant(const struct template *t, struct tvalue *text)
{
	CHECK_OBJ_NOTNULL(t, TEMPLATE_MAGIC);
	if (t->vars_used || t->caps_used)
		return false;
	if (text)
		*text = (struct tvalue){t->text, t->text_len};
	return true;
}

/* CR or LF would end the field (or the Location) and start another; NUL
 * cuts it short in whatever reads it as a C string. */
static bool value_ok(const struct tvalue *v)
{
	for (size_t i = 0; i < v->len; i++) {
		char c = v->p[i];
		if (c == '\r' || c == '\n' || c == '\0')
			return false;
	}
	return true;
}

int template_expand(const struct template *t, struct hbuf *b, const struct tvalue *vals,
		    const struct tvalue *caps, unsigned n_caps)
{
	CHECK_OBJ_NOTNULL(t, TEMPLATE_MAGIC);
	assert(b && (vals || !t->vars_used) && (caps || n_caps == 0));
	if (b->overflow)
		return -ENOSPC;
	size_t start = b->len;
	for (unsigned i = 0; i < t->n_parts; i++) {
		const struct tpart *pt = &t->parts[i];
		const struct tvalue *v;
		switch (pt->kind) {
		case TPART_TEXT:
			hbuf_put(b, t->text + pt->off, pt->len);
			break;
		case TPART_VAR:
		case TPART_CAP:
			if (pt->kind == TPART_VAR)
				v = &vals[pt->idx];
			else if (pt->idx < n_caps)
				v = &caps[pt->idx];
			else
				break;
			if (!v->p || !v->len)
				break;
			if (!value_ok(v)) {
				b->len = start;
				return -EINVAL;
			}
			hbuf_put(b, v->p, v->len);
			break;
		}
		if (b->overflow)
			return -ENOSPC;
	}
	return 0;
}
