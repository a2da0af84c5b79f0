/* upgrade.c - Connection: upgrade, the Upgrade list, and what a 101 switches to. */
#include "http/upgrade.h"

#include <string.h>
#include <strings.h>

static bool is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/*
 * Call FN on each element of every NAME field of M (empty elements
 * skipped, OWS trimmed); stop when it returns true. Returns how many
 * elements there were, or -1 when FN stopped the walk.
 */
static int each_element(const struct hmsg *m, const char *name,
			bool (*fn)(const char *p, size_t n, const void *arg), const void *arg)
{
	int count = 0;
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (!hspan_ieq(m, f->name, name))
			continue;
		const char *v = hmsg_ptr(m, f->value);
		size_t p = 0, end = f->value.len;
		while (p < end) {
			while (p < end && is_sep(v[p]))
				p++;
			size_t s = p;
			while (p < end && v[p] != ',')
				p++;
			size_t e = p;
			while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
				e--;
			if (e == s)
				continue;
			count++;
			if (fn(v + s, e - s, arg))
				return -1;
		}
	}
	return count;
}

/* The element is the token ARG, in any case. */
static bool is_token(const char *p, size_t n, const void *arg)
{
	const char *tok = arg;
	return n == strlen(tok) && strncasecmp(p, tok, n) == 0;
}

/* The element is a protocol named ARG (any version), in any case. */
static bool is_protocol(const char *p, size_t n, const void *arg)
{
	const char *slash = memchr(p, '/', n);
	return is_token(p, slash ? (size_t)(slash - p) : n, arg);
}

bool upgrade_asked(const struct hmsg *m)
{
	if (m->p.http_major != 1 || m->p.http_minor < 1)
		return false;
	return hmsg_field(m, "upgrade", 0) &&
	       each_element(m, "connection", is_token, "upgrade") < 0;
}

bool upgrade_asks_for(const struct hmsg *m, const char *proto)
{
	return upgrade_asked(m) && each_element(m, "upgrade", is_protocol, proto) < 0;
}

static bool never(const char *p, size_t n, const void *arg)
{
	(void)p;
	(void)n;
	(void)arg;
	return false;
}

bool upgrade_switches_to(const struct hmsg *m, const char *proto)
{
	return each_element(m, "upgrade", never, NULL) == 1 &&
	       each_element(m, "upgrade", is_protocol, proto) < 0;
}
