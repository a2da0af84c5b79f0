/* promtext.c - Prometheus text lines into named numbers, spelled as /stats spells them. */
#include "cli/promtext.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "ringcache_"

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && !memcmp(s + n - k, suffix, k);
}

/* Append S (N bytes) to OUT (CAP bytes, NUL terminated), cut to fit. */
static void append(char *out, size_t cap, const char *s, size_t n)
{
	size_t len = strlen(out);
	if (n > cap - 1 - len)
		n = cap - 1 - len;
	memcpy(out + len, s, n);
	out[len + n] = '\0';
}

static int grow(struct prom_snap *snap)
{
	if (snap->n < snap->cap)
		return 0;
	size_t cap = snap->cap ? snap->cap * 2 : 128;
	struct prom_series *s = realloc(snap->s, cap * sizeof(*s));
	if (!s)
		return -ENOMEM;
	snap->s = s;
	snap->cap = cap;
	return 0;
}

/*
 * The labels of a sample, `{k="v",...}` starting at P: their values
 * appended to NAME with dots (escapes undone), and the value of LE (the
 * histogram's bound) into LE when asked. The end of the labels, or NULL.
 */
static char *labels(char *p, char *name, size_t cap, char *le, size_t lecap)
{
	p++; /* '{' */
	while (*p && *p != '}') {
		char *k = p;
		while (*p && *p != '=')
			p++;
		if (*p != '=' || p[1] != '"')
			return NULL;
		bool is_le = p - k == 2 && !memcmp(k, "le", 2);
		p += 2;
		char v[PROM_NAME_MAX];
		size_t vn = 0;
		for (; *p && *p != '"'; p++) {
			char c = *p;
			if (c == '\\' && p[1]) {
				p++;
				c = *p == 'n' ? '\n' : *p;
			}
			if (vn < sizeof(v) - 1)
				v[vn++] = c;
		}
		if (*p != '"')
			return NULL;
		p++;
		if (is_le && le) {
			size_t m = vn < lecap - 1 ? vn : lecap - 1;
			memcpy(le, v, m);
			le[m] = '\0';
		} else {
			append(name, cap, ".", 1);
			append(name, cap, v, vn);
		}
		if (*p == ',')
			p++;
	}
	return *p == '}' ? p + 1 : NULL;
}

/* One sample line; FAMILY, HELP and COUNTER come from the # lines before it. */
static int sample(struct prom_snap *snap, char *line, const char *family, const char *help,
		  bool counter, bool histogram)
{
	char *p = line;
	while (*p && *p != '{' && *p != ' ')
		p++;
	size_t mlen = (size_t)(p - line);
	if (mlen <= strlen(PREFIX) || memcmp(line, PREFIX, strlen(PREFIX)) != 0)
		return 0; /* not ours: ignored */
	const char *metric = line + strlen(PREFIX);
	mlen -= strlen(PREFIX);
	char name[PROM_NAME_MAX] = "";
	char le[32] = "";
	if (counter && ends_with(metric, mlen, "_total"))
		append(name, sizeof(name), metric, mlen - strlen("_total"));
	else
		append(name, sizeof(name), metric, mlen);
	if (*p == '{') {
		p = labels(p, name, sizeof(name), histogram ? le : NULL, sizeof(le));
		if (!p)
			return 0;
	}
	char *end;
	double v = strtod(p, &end);
	if (end == p)
		return 0;
	if (histogram) {
		/* Only the buckets: _sum and _count add nothing to the view. */
		if (!ends_with(metric, mlen, "_bucket") || !*le || snap->nlat == PROM_LAT_MAX)
			return 0;
		double bound = strcmp(le, "+Inf") ? strtod(le, NULL) : INFINITY;
		double below = 0;
		for (size_t i = 0; i < snap->nlat; i++)
			below += snap->lat_bucket[i];
		snap->lat_le[snap->nlat] = bound;
		snap->lat_bucket[snap->nlat++] = v > below ? v - below : 0;
		return 0;
	}
	if (!strcmp(name, "uptime_seconds"))
		snap->uptime_s = v;
	int r = grow(snap);
	if (r < 0)
		return r;
	struct prom_series *s = &snap->s[snap->n++];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, name, sizeof(name));
	append(s->family, sizeof(s->family), family, strlen(family));
	s->help = help;
	s->counter = counter;
	s->value = v;
	return 0;
}

int prom_parse(struct prom_snap *snap, const char *text, size_t len)
{
	memset(snap, 0, sizeof(*snap));
	snap->uptime_s = -1;
	snap->text = malloc(len + 1);
	if (!snap->text)
		return -ENOMEM;
	memcpy(snap->text, text, len);
	snap->text[len] = '\0';
	const char *family = "", *help = "";
	bool counter = false, histogram = false;
	for (char *line = snap->text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!strncmp(line, "# HELP " PREFIX, 7 + strlen(PREFIX))) {
			char *f = line + 7 + strlen(PREFIX);
			char *sp = strchr(f, ' ');
			help = sp ? sp + 1 : "";
			if (sp)
				*sp = '\0';
			family = f;
			counter = histogram = false;
		} else if (!strncmp(line, "# TYPE ", 7)) {
			const char *sp = strrchr(line, ' ');
			counter = sp && !strcmp(sp + 1, "counter");
			histogram = sp && !strcmp(sp + 1, "histogram");
		} else if (*line != '#') {
			int r = sample(snap, line, family, help, counter, histogram);
			if (r < 0) {
				prom_snap_free(snap);
				return r;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!snap->n) {
		prom_snap_free(snap);
		return -EINVAL;
	}
	return 0;
}

const struct prom_series *prom_find(const struct prom_snap *snap, const char *name)
{
	for (size_t i = 0; i < snap->n; i++)
		if (!strcmp(snap->s[i].name, name))
			return &snap->s[i];
	return NULL;
}

double prom_value(const struct prom_snap *snap, const char *name, double dflt)
{
	const struct prom_series *s = prom_find(snap, name);
	return s ? s->value : dflt;
}

void prom_snap_free(struct prom_snap *snap)
{
	free(snap->s);
	free(snap->text);
	memset(snap, 0, sizeof(*snap));
	snap->uptime_s = -1;
}
