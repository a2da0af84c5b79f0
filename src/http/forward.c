/* forward.c - forwarding and override request fields, and their cache key part. */
#include "http/forward.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* The forwarding fields, in the order their values enter the key. The
 * list is the union of what common frameworks read (Rails/Rack, Django,
 * Spring, Symfony/Laravel, Express, IIS) and what cache-poisoning scanners
 * try. */
static const char *const forwarding[] = {
    "forwarded",	"x-forwarded-host",   "x-forwarded-proto", "x-forwarded-scheme",
    "x-forwarded-port", "x-forwarded-prefix", "x-forwarded-ssl",   "x-forwarded-server",
    "x-host",		"front-end-https",
};

static const char *const overrides[] = {
    "x-original-url", "x-rewrite-url",	   "x-http-method-override",
    "x-http-method",  "x-method-override",
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

enum forward_kind forward_kind_of(const struct hmsg *m, const struct hfield *f)
{
	/* Every name in both lists starts with x-, f- or fr-: most fields
	 * are ruled out by their first byte. */
	char c0 = (char)tolower((unsigned char)m->base[f->name.off]);
	if (f->name.len < 6 || (c0 != 'x' && c0 != 'f'))
		return FORWARD_NONE;
	for (size_t i = 0; i < N_OF(forwarding); i++) {
		if (hspan_ieq(m, f->name, forwarding[i]))
			return FORWARD_FORWARDING;
	}
	for (size_t i = 0; i < N_OF(overrides); i++) {
		if (hspan_ieq(m, f->name, overrides[i]))
			return FORWARD_OVERRIDE;
	}
	return FORWARD_NONE;
}

struct out {
	char *p;
	size_t n, cap;
	bool overflow;
};

static void put(struct out *o, const char *s, size_t n, bool lower)
{
	if (o->n + n > o->cap) {
		o->overflow = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		o->p[o->n++] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
}

/* One Forwarded value: for each element (comma-separated, quoted strings
 * respected), "host=V;proto=V," with the values unquoted and lower-cased;
 * every other parameter is left out. */
static void forwarded_params(struct out *o, const char *v, size_t n)
{
	size_t i = 0;
	while (i < n) {
		/* One pair: token "=" (token / quoted-string). */
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ';'))
			i++;
		if (i < n && v[i] == ',') {
			put(o, ",", 1, false);
			i++;
			continue;
		}
		size_t ns = i;
		while (i < n && v[i] != '=' && v[i] != ';' && v[i] != ',')
			i++;
		size_t nl = i - ns;
		if (i >= n || v[i] != '=')
			continue; /* a bare token: no value to key on */
		i++;
		size_t vs = i, vl;
		bool quoted = i < n && v[i] == '"';
		if (quoted) {
			vs = ++i;
			while (i < n && v[i] != '"') {
				if (v[i] == '\\' && i + 1 < n)
					i++;
				i++;
			}
			vl = i - vs;
			if (i < n)
				i++;
		} else {
			while (i < n && v[i] != ';' && v[i] != ',')
				i++;
			vl = i - vs;
			while (vl && (v[vs + vl - 1] == ' ' || v[vs + vl - 1] == '\t'))
				vl--;
		}
		bool host = nl == 4 && strncasecmp(v + ns, "host", 4) == 0;
		bool proto = nl == 5 && strncasecmp(v + ns, "proto", 5) == 0;
		if (host || proto) {
			put(o, host ? "host=" : "proto=", host ? 5 : 6, false);
			put(o, v + vs, vl, true);
			put(o, ";", 1, false);
		}
	}
}

int forward_key(const struct hmsg *req, char *out, size_t cap)
{
	struct out o = {.p = out, .cap = cap};
	for (size_t k = 0; k < N_OF(forwarding); k++) {
		bool first = true;
		for (uint32_t i = 0; i < req->n_fields; i++) {
			const struct hfield *f = &req->fields[i];
			if (!hspan_ieq(req, f->name, forwarding[k]))
				continue;
			if (first) {
				put(&o, forwarding[k], strlen(forwarding[k]), false);
				put(&o, "=", 1, false);
			} else {
				put(&o, ", ", 2, false);
			}
			first = false;
			if (k == 0)
				forwarded_params(&o, hmsg_ptr(req, f->value), f->value.len);
			else
				put(&o, hmsg_ptr(req, f->value), f->value.len, false);
		}
		if (!first)
			put(&o, "\n", 1, false);
	}
	return o.overflow ? -1 : (int)o.n;
}
