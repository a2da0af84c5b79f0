/* hop.c - Connection header parsing and the hop-by-hop field test. */
#include "http/hop.h"

#include <strings.h>

static const char *const fixed_hop[] = {
    "connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
};

static bool is_tchar_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

void hop_collect(const struct hmsg *m, struct hop_set *hs)
{
	hs->n = 0;
	hs->close = hs->keep_alive = hs->overflow = false;
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (!hspan_ieq(m, f->name, "connection"))
			continue;
		uint32_t p = f->value.off, end = f->value.off + f->value.len;
		while (p < end) {
			while (p < end && is_tchar_sep(m->base[p]))
				p++;
			uint32_t s = p;
			while (p < end && !is_tchar_sep(m->base[p]))
				p++;
			if (p == s)
				continue;
			struct hspan tok = {s, p - s};
			if (hspan_ieq(m, tok, "close"))
				hs->close = true;
			else if (hspan_ieq(m, tok, "keep-alive"))
				hs->keep_alive = true;
			else if (hs->n < HOP_MAX_TOKENS)
				hs->tokens[hs->n++] = tok;
			else
				hs->overflow = true;
		}
	}
}

static bool is_fixed(const struct hmsg *m, const struct hfield *f)
{
	for (size_t i = 0; i < sizeof(fixed_hop) / sizeof(fixed_hop[0]); i++) {
		if (hspan_ieq(m, f->name, fixed_hop[i]))
			return true;
	}
	return false;
}

static bool is_named(const struct hmsg *m, const struct hop_set *hs, const struct hfield *f)
{
	for (unsigned i = 0; i < hs->n; i++) {
		const struct hspan t = hs->tokens[i];
		if (f->name.len == t.len &&
		    strncasecmp(m->base + f->name.off, m->base + t.off, t.len) == 0)
			return true;
	}
	return false;
}

bool hop_is_hop(const struct hmsg *m, const struct hop_set *hs, const struct hfield *f)
{
	return is_fixed(m, f) || is_named(m, hs, f);
}

bool hop_is_named(const struct hmsg *m, const struct hop_set *hs, const struct hfield *f)
{
	return hs->n && !is_fixed(m, f) && is_named(m, hs, f);
}
