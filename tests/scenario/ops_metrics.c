/*
 * /metrics on the admin listener: the byte counters grow by what the
 * clients and the origin actually exchanged, memory and per-server gauges
 * are sane, the configuration generation follows reloads, the access log
 * counter matches the lines written, and the whole text is valid
 * Prometheus exposition format (HELP and TYPE before every family, names,
 * labels and values well formed, families grouped, histograms consistent).
 */
#include "harness.h"

#include <ctype.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(ops_metrics, .fini = harness_fini, .timeout = 30);

/* ---- Prometheus text format 0.0.4 ---------------------------------------------- */

#define MAX_FAMILIES 256
#define MAX_SERIES   1024

struct family {
	char name[128];
	char type[16]; /* "" until its TYPE line */
	bool help;
	bool closed; /* another family came after it: its lines must be grouped */
};

struct prom {
	struct family fam[MAX_FAMILIES];
	size_t n_fam;
	char *series[MAX_SERIES]; /* name{sorted labels}, to find duplicates */
	size_t n_series;
	struct family *cur; /* the family of the previous line */
	/* The histogram being read: its labels without le, last le and count. */
	char hist_key[512];
	double hist_le, hist_count;
	bool hist_inf;
};

static void prom_free(struct prom *p)
{
	for (size_t i = 0; i < p->n_series; i++)
		free(p->series[i]);
}

static bool name_start(int c)
{
	return isalpha(c) || c == '_' || c == ':';
}

static bool name_char(int c)
{
	return isalnum(c) || c == '_' || c == ':';
}

/* Length of the metric name at S ([a-zA-Z_:][a-zA-Z0-9_:]*), 0 if none. */
static size_t metric_name_len(const char *s)
{
	if (!name_start((unsigned char)*s))
		return 0;
	size_t n = 1;
	while (name_char((unsigned char)s[n]))
		n++;
	return n;
}

/* A float as Go's ParseFloat reads it in the exposition format: decimal
 * with an optional exponent, or +Inf, -Inf, NaN. Nothing else (no hex). */
static bool prom_float(const char *s, size_t n, double *v)
{
	char buf[64];
	if (!n || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!strcmp(buf, "+Inf") || !strcmp(buf, "Inf")) {
		*v = INFINITY;
		return true;
	}
	if (!strcmp(buf, "-Inf")) {
		*v = -INFINITY;
		return true;
	}
	if (!strcmp(buf, "NaN")) {
		*v = NAN;
		return true;
	}
	const char *p = buf;
	if (*p == '+' || *p == '-')
		p++;
	size_t digits = 0;
	while (isdigit((unsigned char)*p))
		p++, digits++;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p))
			p++, digits++;
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p)
		return false;
	*v = strtod(buf, NULL);
	return true;
}

static struct family *family_get(struct prom *p, const char *name, size_t n)
{
	for (size_t i = 0; i < p->n_fam; i++) {
		if (strlen(p->fam[i].name) == n && !strncmp(p->fam[i].name, name, n))
			return &p->fam[i];
	}
	return NULL;
}

/* The family a line belongs to; a new one unless it exists. Lines of one
 * family must be consecutive. */
static const char *family_enter(struct prom *p, const char *name, size_t n, struct family **out,
				char *why, size_t wn)
{
	struct family *f = family_get(p, name, n);
	if (!f) {
		if (p->n_fam == MAX_FAMILIES)
			return "too many families";
		f = &p->fam[p->n_fam++];
		snprintf(f->name, sizeof(f->name), "%.*s", (int)n, name);
	}
	if (f != p->cur) {
		if (f->closed) {
			snprintf(why, wn, "lines of %s are not grouped together", f->name);
			return why;
		}
		if (p->cur)
			p->cur->closed = true;
		p->cur = f;
	}
	*out = f;
	return NULL;
}

/* The family of sample NAME: itself, or for a histogram or summary the
 * name less _bucket, _sum or _count. */
static struct family *sample_family(struct prom *p, const char *name, size_t n)
{
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};
	for (size_t k = 0; k < 3; k++) {
		size_t sl = strlen(sfx[k]);
		if (n > sl && !strncmp(name + n - sl, sfx[k], sl)) {
			struct family *f = family_get(p, name, n - sl);
			if (f && (!strcmp(f->type, "histogram") ||
				  (!strcmp(f->type, "summary") && k > 0)))
				return f;
		}
	}
	return family_get(p, name, n);
}

/*
 * Labels at *S ('{' ... '}'): name="value" pairs, comma separated (a
 * trailing comma allowed), names unique, values with only \\ \" \n
 * escapes. KEY gets them sorted-free but normalised (name=value,...)
 * without le; LE gets the le value when there is one.
 */
static const char *parse_labels(const char **s, const char *end, char *key, size_t kcap, char *le,
				size_t lecap, char *why, size_t wn)
{
	const char *p = *s + 1;
	char names[32][128];
	size_t n_names = 0;
	size_t kl = 0;
	key[0] = le[0] = '\0';
	for (;;) {
		if (p < end && *p == '}') {
			*s = p + 1;
			return NULL;
		}
		if (p >= end || !(isalpha((unsigned char)*p) || *p == '_'))
			return "bad label name";
		const char *ns = p;
		while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
			p++;
		size_t nl = (size_t)(p - ns);
		if (nl >= sizeof(names[0]) || n_names == 32)
			return "label name too long or too many labels";
		for (size_t i = 0; i < n_names; i++) {
			if (strlen(names[i]) == nl && !strncmp(names[i], ns, nl)) {
				snprintf(why, wn, "label %.*s twice", (int)nl, ns);
				return why;
			}
		}
		snprintf(names[n_names++], sizeof(names[0]), "%.*s", (int)nl, ns);
		if (p + 1 >= end || p[0] != '=' || p[1] != '"')
			return "want =\" after a label name";
		p += 2;
		char val[512];
		size_t vl = 0;
		for (;;) {
			if (p >= end)
				return "unterminated label value";
			if (*p == '"')
				break;
			char c = *p++;
			if (c == '\\') {
				if (p >= end || (*p != '\\' && *p != '"' && *p != 'n'))
					return "bad escape in a label value";
				c = *p == 'n' ? '\n' : *p;
				p++;
			}
			if (vl + 1 < sizeof(val))
				val[vl++] = c;
		}
		val[vl] = '\0';
		p++;
		bool is_le = nl == 2 && !strncmp(ns, "le", 2);
		if (is_le) {
			size_t m = vl < lecap ? vl : lecap - 1;
			memcpy(le, val, m);
			le[m] = '\0';
		} else if (kl < kcap) {
			int w = snprintf(key + kl, kcap - kl, "%.*s=%s,", (int)nl, ns, val);
			kl = w < 0 ? kcap : kl + (size_t)w;
		}
		if (p < end && *p == ',')
			p++;
		else if (!(p < end && *p == '}'))
			return "want , or } after a label";
	}
}

/* Checks TEXT; returns NULL, or what is wrong (in WHY or a literal). */
static const char *prom_check(const char *text, char *why, size_t wn)
{
	static struct prom p; /* big: keep it off the stack */
	prom_free(&p);
	memset(&p, 0, sizeof(p));
	size_t len = strlen(text);
	if (!len || text[len - 1] != '\n')
		return "does not end in a newline";
	int lineno = 0;
	for (const char *s = text; *s;) {
		const char *e = strchr(s, '\n');
		int ll = (int)(e - s);
		lineno++;
#define BAD(...)                                                                                   \
	do {                                                                                       \
		char m_[256];                                                                      \
		snprintf(m_, sizeof(m_), __VA_ARGS__);                                             \
		snprintf(why, wn, "line %d: %s: %.*s", lineno, m_, ll, s);                         \
		return why;                                                                        \
	} while (0)
		for (const char *q = s; q < e; q++) {
			if (*q == '\r' || *q == '\0')
				BAD("CR or NUL");
		}
		if (ll == 0) {
			/* Empty lines are allowed and ignored. */
		} else if (*s == '#') {
			char kind[8];
			int kl = 0;
			if (sscanf(s, "# %7[A-Z]%n", kind, &kl) == 1 &&
			    (!strcmp(kind, "HELP") || !strcmp(kind, "TYPE"))) {
				const char *q = s + kl;
				if (*q != ' ')
					BAD("want a space after %s", kind);
				q++;
				size_t nl = metric_name_len(q);
				if (!nl || (q[nl] != ' ' && q + nl != e))
					BAD("bad metric name in %s", kind);
				struct family *f;
				const char *err = family_enter(&p, q, nl, &f, why, wn);
				if (err)
					return err;
				const char *rest = q + nl + (q + nl < e);
				if (!strcmp(kind, "HELP")) {
					if (f->help)
						BAD("second HELP for %s", f->name);
					for (const char *r = rest; r < e; r++) {
						if (*r == '\\' &&
						    (r + 1 >= e || (r[1] != '\\' && r[1] != 'n')))
							BAD("bad escape in HELP");
						if (*r == '\\')
							r++;
					}
					f->help = true;
				} else {
					if (f->type[0])
						BAD("second TYPE for %s", f->name);
					static const char *const types[] = {
					    "counter", "gauge", "histogram", "summary", "untyped"};
					size_t tl = (size_t)(e - rest);
					bool ok = false;
					for (size_t i = 0; i < 5; i++)
						ok |= tl == strlen(types[i]) &&
						      !strncmp(rest, types[i], tl);
					if (!ok)
						BAD("unknown type");
					snprintf(f->type, sizeof(f->type), "%.*s", (int)tl, rest);
					/* Counters are named *_total (OpenMetrics). */
					size_t fl = strlen(f->name);
					if (!strcmp(f->type, "counter") &&
					    (fl < 6 || strcmp(f->name + fl - 6, "_total")))
						BAD("counter %s does not end in _total", f->name);
				}
			}
			/* Any other comment is allowed. */
		} else {
			size_t nl = metric_name_len(s);
			if (!nl)
				BAD("bad metric name");
			struct family *f = sample_family(&p, s, nl);
			if (!f || !f->type[0] || !f->help)
				BAD("sample without HELP and TYPE before it");
			struct family *g;
			const char *err = family_enter(&p, f->name, strlen(f->name), &g, why, wn);
			if (err)
				return err;
			const char *q = s + nl;
			char key[512], le[64];
			key[0] = le[0] = '\0';
			if (*q == '{') {
				err =
				    parse_labels(&q, e, key, sizeof(key), le, sizeof(le), why, wn);
				if (err)
					BAD("%s", err);
			}
			if (*q != ' ')
				BAD("want a space before the value");
			q++;
			const char *ve = memchr(q, ' ', (size_t)(e - q));
			if (!ve)
				ve = e;
			double v;
			if (!prom_float(q, (size_t)(ve - q), &v))
				BAD("bad value");
			if (ve < e) {
				/* An optional timestamp: an integer (ms). */
				const char *t = ve + 1;
				if (*t == '-')
					t++;
				if (t == e)
					BAD("bad timestamp");
				for (; t < e; t++) {
					if (!isdigit((unsigned char)*t))
						BAD("bad timestamp");
				}
			}
			/* One sample per series. */
			char series[700];
			snprintf(series, sizeof(series), "%.*s{%s le=%s}", (int)nl, s, key, le);
			for (size_t i = 0; i < p.n_series; i++) {
				if (!strcmp(p.series[i], series))
					BAD("the same series twice");
			}
			if (p.n_series < MAX_SERIES)
				p.series[p.n_series++] = strdup(series);
			if (!strcmp(f->type, "counter") && !(v >= 0))
				BAD("negative or NaN counter");
			if (!strcmp(f->type, "histogram")) {
				size_t fl = strlen(f->name);
				const char *sfx = s + fl;
				if (nl == fl + 7 && !strncmp(sfx, "_bucket", 7)) {
					double lev;
					if (!le[0] || !prom_float(le, strlen(le), &lev))
						BAD("bucket without a numeric le");
					if (strcmp(p.hist_key, key)) {
						snprintf(p.hist_key, sizeof(p.hist_key), "%s", key);
						p.hist_le = -INFINITY;
						p.hist_count = 0;
						p.hist_inf = false;
					}
					if (!(lev > p.hist_le))
						BAD("le not increasing");
					if (v < p.hist_count)
						BAD("bucket counts not cumulative");
					p.hist_le = lev;
					p.hist_count = v;
					p.hist_inf = isinf(lev);
				} else if (nl == fl + 6 && !strncmp(sfx, "_count", 6)) {
					if (strcmp(p.hist_key, key) || !p.hist_inf)
						BAD("histogram without a +Inf bucket");
					if (v != p.hist_count)
						BAD("_count is not the +Inf bucket (%g)",
						    p.hist_count);
				} else if (!(nl == fl + 4 && !strncmp(sfx, "_sum", 4))) {
					BAD("histogram sample that is not _bucket/_sum/_count");
				}
			}
		}
#undef BAD
		s = e + 1;
	}
	return NULL;
}

/* The value of the series SERIES ("name" or "name{labels}", exactly as
 * written) in TEXT; fails the test if it is not there. */
static double prom_get(const char *text, const char *series)
{
	size_t sl = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, series, sl) && p[sl] == ' ')
			return strtod(p + sl + 1, NULL);
	}
	cr_assert_fail("no %s in /metrics:\n%s", series, text);
	return -1;
}

/* ---- the daemon ---------------------------------------------------------------------- */

/* Origin and daemon with the admin API (and MORE top-level keys); returns
 * the admin port. */
static int start_with_admin(struct proc *o, struct proc *d, const char *more)
{
	int ap = free_port();
	char extra[PATH_MAX + 256];
	snprintf(extra, sizeof(extra), "admin:\n  listen: \"127.0.0.1:%d\"\n%s", ap,
		 more ? more : "");
	start_pair_extra(o, d, extra);
	cr_assert(port_wait(ap, 3000), "the admin API does not accept on 127.0.0.1:%d; log:\n%s",
		  ap, proc_log(d));
	return ap;
}

/* GET /metrics, checked; the text (malloc'd). */
static char *fetch_metrics(int ap)
{
	struct response r;
	http_once(ap, "GET", "/metrics", NULL, &r);
	cr_assert_eq(r.status, 200, "GET /metrics: %s", r.raw_head);
	cr_assert(r.complete, "GET /metrics: %s", r.error);
	const char *ct = resp_header(&r, "Content-Type");
	cr_assert(ct && !strncmp(ct, "text/plain", 10) && strstr(ct, "version=0.0.4"),
		  "Content-Type: %s", ct ? ct : "(none)");
	char why[512];
	const char *bad = prom_check(r.body, why, sizeof(why));
	cr_assert_null(bad, "/metrics is not Prometheus text: %s", bad);
	char *text = strdup(r.body);
	response_free(&r);
	return text;
}

/* RAW on a fresh connection, one response read; the bytes received (head
 * and Content-Length body) go to *GOT, the body length is returned. */
static size_t exchange(int port, const char *raw, size_t raw_len, size_t *got)
{
	struct conn c;
	struct response r;
	conn_open(&c, port);
	cr_assert_eq(conn_send(&c, raw, raw_len), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert(r.status == 200 && r.complete && r.framing == FRAME_LENGTH, "head: %s",
		  r.raw_head);
	*got = strlen(r.raw_head) + r.body_len;
	size_t body = r.body_len;
	response_free(&r);
	conn_close(&c);
	return body;
}

Test(ops_metrics, byte_counters_memory_and_server_gauges)
{
	struct proc o, d;
	char path[PATH_MAX], more[PATH_MAX + 64], series[128];
	snprintf(path, sizeof(path), "%s/access.log", test_dir());
	snprintf(more, sizeof(more), "log:\n  access: \"%s\"\n", path);
	int ap = start_with_admin(&o, &d, more);
	char *m0 = fetch_metrics(ap);

	static const char *const names[] = {
	    "ringcache_client_received_bytes_total",  "ringcache_client_sent_bytes_total",
	    "ringcache_backend_received_bytes_total", "ringcache_backend_sent_bytes_total",
	    "ringcache_backend_retries_total",	      "ringcache_access_log_lines_total"};
	enum { CRECV, CSENT, BRECV, BSENT, RETRIES, LINES, N_NAMES };
	double before[N_NAMES], after[N_NAMES];
	for (int i = 0; i < N_NAMES; i++)
		before[i] = prom_get(m0, names[i]);
	cr_assert_eq(before[LINES], 0, "lines logged before any request");

	/* A pipe-through miss, a stored miss and its hit, and a POST with a body. */
	static const size_t sizes[] = {100000, 50000, 50000, 10};
	size_t sent = 0, got = 0, bodies = 0, n;
	char raw[256];
	int rl = snprintf(raw, sizeof(raw), "GET /mt/a?size=100000 HTTP/1.1\r\nHost: t\r\n\r\n");
	bodies += exchange(d.port, raw, (size_t)rl, &n);
	sent += (size_t)rl;
	got += n;
	rl = snprintf(raw, sizeof(raw),
		      "GET /mt/b?size=50000&cc=max-age%%3D60 HTTP/1.1\r\nHost: t\r\n\r\n");
	for (int i = 0; i < 2; i++) {
		bodies += exchange(d.port, raw, (size_t)rl, &n);
		sent += (size_t)rl;
		got += n;
	}
	const size_t post_body = 20000;
	char *post = malloc(200 + post_body);
	cr_assert_not_null(post);
	int pl = snprintf(post, 200,
			  "POST /mt/c?size=10 HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
			  post_body);
	memset(post + pl, 'p', post_body);
	bodies += exchange(d.port, post, (size_t)pl + post_body, &n);
	sent += (size_t)pl + post_body;
	got += n;
	free(post);
	cr_assert_eq(bodies, sizes[0] + sizes[1] + sizes[2] + sizes[3]);
	const size_t responses = 4;

	/* The access log counts its lines once they are written (within about
	 * a second); poll for that, then read everything else from that scrape. */
	char *m1 = NULL;
	double until = now_s() + 5;
	for (;;) {
		free(m1);
		m1 = fetch_metrics(ap);
		if (prom_get(m1, names[LINES]) >= (double)responses || now_s() > until)
			break;
		sleep_ms(50);
	}
	for (int i = 0; i < N_NAMES; i++)
		after[i] = prom_get(m1, names[i]);
#define DELTA(i) (after[i] - before[i])
	const double slack = 64 * 1024; /* heads, and the scrapes if they count */
	cr_assert(DELTA(CRECV) >= (double)sent && DELTA(CRECV) <= (double)sent + slack,
		  "client_received_bytes +%.0f for %zu bytes of requests", DELTA(CRECV), sent);
	cr_assert(DELTA(CSENT) >= (double)got && DELTA(CSENT) <= (double)got + slack,
		  "client_sent_bytes +%.0f for %zu bytes received by the clients", DELTA(CSENT),
		  got);
	/* The origin sent the three bodies the cache did not have. */
	double from_origin = (double)(sizes[0] + sizes[1] + sizes[3]);
	cr_assert(DELTA(BRECV) >= from_origin && DELTA(BRECV) <= from_origin + slack,
		  "backend_received_bytes +%.0f for %.0f body bytes from the origin", DELTA(BRECV),
		  from_origin);
	cr_assert(DELTA(BSENT) >= (double)post_body && DELTA(BSENT) <= (double)post_body + slack,
		  "backend_sent_bytes +%.0f with a %zu-byte request body", DELTA(BSENT), post_body);
	cr_assert_eq(DELTA(RETRIES), 0, "retries +%.0f", DELTA(RETRIES));
	cr_assert_eq(after[LINES], (double)responses,
		     "access_log_lines_total %.0f for %zu responses", after[LINES], responses);
	cr_assert_eq(prom_get(m1, "ringcache_access_log_dropped_total"), 0);
	cr_assert_eq(prom_get(m1, "ringcache_access_log_write_errors_total"), 0);
	/* The counter and the file agree. */
	char *log = NULL;
	size_t lines = 0;
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	size_t cap = 0;
	while (getline(&log, &cap, f) > 0)
		lines++;
	free(log);
	fclose(f);
	cr_assert_eq(lines, responses, "%zu lines in the file", lines);

	double rss = prom_get(m1, "ringcache_resident_memory_bytes");
	double vsz = prom_get(m1, "ringcache_virtual_memory_bytes");
	cr_assert(rss > 1 << 20 && rss < 1 << 30, "resident memory %.0f bytes", rss);
	cr_assert_geq(vsz, rss, "virtual %.0f < resident %.0f", vsz, rss);
	/* The process's own view agrees within a factor of two. */
	long kib = proc_rss_kib(d.pid);
	cr_assert(kib > 0 && rss > kib * 1024.0 / 2 && rss < kib * 1024.0 * 2,
		  "resident %.0f bytes, /proc says %ld KiB", rss, kib);

	snprintf(series, sizeof(series),
		 "ringcache_backend_up{backend=\"app\",server=\"127.0.0.1:%d\"}", o.port);
	cr_assert_eq(prom_get(m1, series), 1, "%s", series);
	snprintf(series, sizeof(series),
		 "ringcache_backend_failed_probes_total{backend=\"app\",server=\"127.0.0.1:%d\"}",
		 o.port);
	cr_assert_eq(prom_get(m1, series), 0, "%s", series);
	/* Every exchange has ended once the clients have their responses; a
	 * fetch may still be winding down for a moment. */
	snprintf(series, sizeof(series),
		 "ringcache_backend_active_requests{backend=\"app\",server=\"127.0.0.1:%d\"}",
		 o.port);
	until = now_s() + 5;
	char *m2 = fetch_metrics(ap);
	while (prom_get(m2, series) != 0 && now_s() < until) {
		free(m2);
		sleep_ms(50);
		m2 = fetch_metrics(ap);
	}
	cr_assert_eq(prom_get(m2, series), 0, "%s with nothing in flight", series);
	free(m0);
	free(m1);
	free(m2);
	harness_end();
}

/* Rewrite the daemon's config file with the same text (a reload that
 * changes nothing still makes a new generation). */
static void touch_config(const struct proc *d)
{
	FILE *f = fopen(d->cfg_path, "r");
	cr_assert_not_null(f);
	char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	f = fopen(d->cfg_path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(buf, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

/* Poll /metrics (max 5 s) until config_generation is WANT. */
static void wait_generation(int ap, double want)
{
	double until = now_s() + 5;
	for (;;) {
		char *m = fetch_metrics(ap);
		double g = prom_get(m, "ringcache_config_generation");
		free(m);
		if (g == want)
			return;
		cr_assert(now_s() < until, "config_generation %.0f, want %.0f", g, want);
		sleep_ms(20);
	}
}

Test(ops_metrics, config_generation_follows_reloads)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL);
	char *m = fetch_metrics(ap);
	cr_assert_eq(prom_get(m, "ringcache_config_generation"), 1);
	free(m);
	touch_config(&d);
	cr_assert_eq(kill(d.pid, SIGHUP), 0);
	wait_generation(ap, 2);
	struct response r;
	http_once(ap, "POST", "/reload", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", excerpt(r.body, r.body_len));
	cr_assert_eq(json_number(r.body, "generation", -1), 3, "%s", r.body);
	response_free(&r);
	wait_generation(ap, 3);
	harness_end();
}

Test(ops_metrics, exposition_format_with_two_servers_and_traffic)
{
	struct proc o1, o2, d;
	start_origin(&o1);
	start_origin(&o2);
	memset(&d, 0, sizeof(d));
	d.port = free_port();
	int ap = free_port();
	char extra[PATH_MAX + 256];
	snprintf(extra, sizeof(extra),
		 "admin:\n  listen: \"127.0.0.1:%d\"\nlog:\n  access: \"%s/a.log\"\n"
		 "  access_format: json\ncompression:\n  enabled: true\n",
		 ap, test_dir());
	int servers[2] = {o1.port, o2.port};
	char *yaml = rc_yaml(
	    &(struct rc_cfg){.port = d.port, .servers = servers, .n_servers = 2, .extra = extra});
	start_ringcache(&d, yaml);
	free(yaml);
	cr_assert(port_wait(ap, 3000), "admin API; log:\n%s", proc_log(&d));

	/* Some traffic so the histogram and counters are not all zero. */
	for (int i = 0; i < 6; i++) {
		char p[64];
		snprintf(p, sizeof(p), "/fmt/%d?size=%d", i, 1000 * (i + 1));
		struct response r;
		http_once(d.port, "GET", p, NULL, &r);
		cr_assert_eq(r.status, 200);
		response_free(&r);
	}
	/* A request's latency is recorded just after its response is sent:
	 * poll until all six are in. */
	char *m = fetch_metrics(ap);
	double until = now_s() + 5;
	while (prom_get(m, "ringcache_request_duration_seconds_count") < 6 && now_s() < until) {
		free(m);
		sleep_ms(20);
		m = fetch_metrics(ap);
	}
	for (int k = 0; k < 2; k++) {
		char series[160];
		snprintf(series, sizeof(series),
			 "ringcache_backend_up{backend=\"app\",server=\"127.0.0.1:%d\"}",
			 servers[k]);
		cr_assert_eq(prom_get(m, series), 1, "%s", series);
	}
	cr_assert_geq(prom_get(m, "ringcache_request_duration_seconds_count"), 6);
	/* The checker itself refuses what it must. */
	static const char *const bad[] = {
	    "x 1\n",
	    "# TYPE x gauge\nx 1\n",
	    "# HELP x h\n# TYPE x gauge\nx{a=\"1\"} 1\n# HELP y h\n# TYPE y gauge\ny 1\nx 2\n",
	    "# HELP x h\n# TYPE x gauge\nx{a=1} 1\n",
	    "# HELP x h\n# TYPE x gauge\nx{a=\"\\q\"} 1\n",
	    "# HELP x h\n# TYPE x gauge\nx 0x10\n",
	    "# HELP x h\n# TYPE x gauge\n1x 1\n",
	    "# HELP x_total h\n# TYPE x_total counter\nx_total -1\n",
	    "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n",
	    "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
	    "# HELP x h\n# TYPE x gauge\nx 1\nx 2\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char why[256];
		cr_assert_not_null(prom_check(bad[i], why, sizeof(why)), "accepted:\n%s", bad[i]);
	}
	char why[256];
	const char *good = "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\n"
			   "h_bucket{le=\"+Inf\"} 2\nh_sum 0.7\nh_count 2\n# HELP x h\n# TYPE x "
			   "gauge\nx{a=\"q\\\"\\\\\\n\",b=\"\"} -1.5e3\n";
	cr_assert_null(prom_check(good, why, sizeof(why)), "refused: %s", why);
	free(m);
	harness_end();
}

/* Read one response on C; its status. */
static int status_of(struct conn *c)
{
	struct response r;
	cr_assert_eq(read_response(c, &r, 0), READ_OK, "%s", r.error);
	int st = r.status;
	response_free(&r);
	return st;
}

/* Every request that reached the origin, a pass or a fetch, is one
 * backend request; each way a client connection ended is one close of its
 * reason. */
Test(ops_metrics, backend_requests_and_close_reasons_are_counted)
{
	struct proc o, d;
	struct conn c;
	int ap = start_with_admin(&o, &d, NULL);
	char *m0 = fetch_metrics(ap);
	long o0 = origin_requests(o.port, NULL);

	/* A miss (not storable), the same URL passed (hit-for-miss), a POST
	 * passed, a stored miss and its hit: four requests at the origin. */
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c,
				   "GET /mc/p?size=10&cc=no-store HTTP/1.1\r\nHost: t\r\n\r\n"
				   "GET /mc/p?size=10&cc=no-store HTTP/1.1\r\nHost: t\r\n\r\n"
				   "POST /mc/e?size=10 HTTP/1.1\r\nHost: t\r\n"
				   "Content-Length: 5\r\n\r\nhello"
				   "GET /mc/s?size=10&cc=max-age%3D60 HTTP/1.1\r\nHost: t\r\n\r\n"
				   "GET /mc/s?size=10&cc=max-age%3D60 HTTP/1.1\r\nHost: t\r\n\r\n"),
		     0);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(status_of(&c), 200, "response %d", i);
	/* ... then Connection: close ends it: "asked". */
	cr_assert_eq(conn_send_str(&c, "GET /mc/s?size=10&cc=max-age%3D60 HTTP/1.1\r\nHost: t\r\n"
				       "Connection: close\r\n\r\n"),
		     0);
	cr_assert_eq(status_of(&c), 200);
	cr_assert(conn_wait_closed(&c, 2000), "Connection: close did not close");
	conn_close(&c);
	/* A malformed request: "bad_request". */
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 0);
	cr_assert_eq(status_of(&c), 400);
	cr_assert(conn_wait_closed(&c, 2000), "a 400 did not close");
	conn_close(&c);
	/* A client that goes away after its response: "client_closed". */
	conn_open(&c, d.port);
	cr_assert_eq(
	    conn_send_str(&c, "GET /mc/s?size=10&cc=max-age%3D60 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	cr_assert_eq(status_of(&c), 200);
	conn_close(&c);

	long origin = origin_requests(o.port, NULL) - o0;
	cr_assert_eq(origin, 4, "the origin saw %ld requests", origin);
	/* The client_closed close is counted when the daemon reads the EOF;
	 * poll for it, then take every figure from that scrape. */
	static const char *const cl = "ringcache_connection_closes_total{reason=\"client_closed\"}";
	char *m1 = NULL;
	for (double until = now_s() + 5;;) {
		free(m1);
		m1 = fetch_metrics(ap);
		if (prom_get(m1, cl) > prom_get(m0, cl) || now_s() > until)
			break;
		sleep_ms(20);
	}
#define GROWTH(series) (prom_get(m1, series) - prom_get(m0, series))
	cr_assert_eq(GROWTH("ringcache_backend_requests_total"), 4, "backend requests +%.0f",
		     GROWTH("ringcache_backend_requests_total"));
	cr_assert_eq(GROWTH("ringcache_cache_pass_total"), 2, "passes +%.0f",
		     GROWTH("ringcache_cache_pass_total"));
	cr_assert_eq(GROWTH("ringcache_connection_closes_total{reason=\"asked\"}"), 1);
	cr_assert_eq(GROWTH("ringcache_connection_closes_total{reason=\"bad_request\"}"), 1);
	/* The admin scrapes are closes too, of their own listener: only the
	 * proxy's connection counts here, at least. */
	cr_assert_geq(GROWTH(cl), 1);
	cr_assert_eq(GROWTH("ringcache_connection_closes_total{reason=\"backend_broke\"}"), 0);
	cr_assert_eq(GROWTH("ringcache_connection_closes_total{reason=\"error\"}"), 0);
#undef GROWTH
	/* /stats has the close reasons too, as one nested object. */
	struct response r;
	http_once(ap, "GET", "/stats", NULL, &r);
	cr_assert_eq(r.status, 200, "GET /stats: %s", r.raw_head);
	const char *closes = strstr(r.body, "\"connection_closes\": {");
	cr_assert_not_null(closes, "/stats: %s", r.body);
	cr_assert_geq(json_number(closes, "bad_request", -1), 1, "/stats: %s", r.body);
	cr_assert_geq(json_number(closes, "asked", -1), 1, "/stats: %s", r.body);
	/* ... closed before the latency histogram, the servers and the loops
	 * (docs/admin.md), and the object ends the line. */
	const char *lat = strstr(closes, "}, \"latency\": {");
	cr_assert_not_null(lat, "/stats: %s", r.body);
	cr_assert_null(memchr(closes, '}', (size_t)(lat - closes)), "/stats: %s", r.body);
	cr_assert(r.body_len >= 3 && !strcmp(r.body + r.body_len - 3, "]}\n"), "/stats: %s",
		  r.body);
	response_free(&r);
	free(m0);
	free(m1);
	harness_end();
}
