/* statview.c - the live screen, the plain lines and the JSON of `ringcache stat`. */
#include "cli/statview.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/statcalc.h"

/* SGR colours of the live screen. */
#define C_TITLE "\033[1;37;44m"
#define C_HEAD	"\033[1;7m"
#define C_LABEL "\033[1;36m"
#define C_UP	"\033[32m"
#define C_DOWN	"\033[1;31m"
#define C_ERR	"\033[1;37;41m"
#define C_BUSY	"\033[1m"
#define C_OFF	"\033[0m"

/* ---- numbers as text ---------------------------------------------------- */

static void fmt_num(char *out, size_t cap, double v)
{
	if (isnan(v))
		snprintf(out, cap, "-");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(out, cap, "%.0f", v);
	else if (fabs(v) < 1)
		snprintf(out, cap, "%.6f", v); /* seconds of lag: microseconds count */
	else
		snprintf(out, cap, "%.3f", v);
}

static void fmt_rate(char *out, size_t cap, double v)
{
	if (isnan(v))
		snprintf(out, cap, "%s", "");
	else
		snprintf(out, cap, "%.2f", v);
}

/* Bytes (or bytes per second) in binary units. */
static void fmt_bytes(char *out, size_t cap, double v)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;
	if (isnan(v)) {
		snprintf(out, cap, "-");
		return;
	}
	while (fabs(v) >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void fmt_secs(char *out, size_t cap, double s)
{
	if (isnan(s))
		snprintf(out, cap, "-");
	else if (s < 1e-3)
		snprintf(out, cap, "%.0fus", s * 1e6);
	else if (s < 1)
		snprintf(out, cap, "%.1fms", s * 1e3);
	else
		snprintf(out, cap, "%.2fs", s);
}

static void fmt_pct(char *out, size_t cap, double r)
{
	if (isnan(r))
		snprintf(out, cap, "-");
	else
		snprintf(out, cap, "%.1f%%", r * 100);
}

static void fmt_uptime(char *out, size_t cap, double s)
{
	if (s < 0) {
		snprintf(out, cap, "?");
		return;
	}
	unsigned long t = (unsigned long)s;
	snprintf(out, cap, "%lu+%02lu:%02lu:%02lu", t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
}

/* ---- screen lines: cut at the width, colour not counted ------------------ */

struct screen {
	char *buf;
	size_t len, cap;
	int cols, vis; /* of the current line */
	bool nomem;
};

static void raw(struct screen *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		size_t cap = (s->len + n + 1) * 2;
		char *b = realloc(s->buf, cap);
		if (!b) {
			s->nomem = true;
			return;
		}
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

static void raws(struct screen *s, const char *p)
{
	raw(s, p, strlen(p));
}

/* Start screen row ROW (1-based): the cursor there, the line cleared. */
static void row_start(struct screen *s, int row)
{
	char seq[32];
	snprintf(seq, sizeof(seq), "\033[%d;1H\033[2K", row);
	raws(s, seq);
	s->vis = 0;
}

/* Text in colour SGR (NULL: none), cut where the line ends; control
 * bytes (from a label) shown as '?'. */
static void put(struct screen *s, const char *sgr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put(struct screen *s, const char *sgr, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (sgr)
		raws(s, sgr);
	for (const char *p = text; *p && s->vis < s->cols; p++, s->vis++) {
		char c = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
		raw(s, &c, 1);
	}
	if (sgr)
		raws(s, C_OFF);
}

/* Fill the rest of the line in colour SGR (a bar across the screen). */
static void pad(struct screen *s, const char *sgr)
{
	if (sgr)
		raws(s, sgr);
	for (; s->vis < s->cols; s->vis++)
		raw(s, " ", 1);
	if (sgr)
		raws(s, C_OFF);
}

/* ---- the summary -------------------------------------------------------- */

struct sum {
	const struct prom_snap *prev, *cur;
	double dt;
};

static double val(const struct sum *m, const char *name)
{
	return prom_value(m->cur, name, NAN);
}

/* NAME per second over the interval. */
static double rate(const struct sum *m, const char *name)
{
	if (!m->prev)
		return NAN;
	return stat_rate(prom_value(m->prev, name, NAN), val(m, name), m->dt);
}

static double hits(const struct prom_snap *s)
{
	return prom_value(s, "cache_hit", 0) + prom_value(s, "cache_hit_stale", 0);
}

/* The name of a summary line, in the first column. */
static void label(struct screen *s, const char *name)
{
	put(s, C_LABEL, "%-12s", name);
}

/* A name inside a summary line. */
static void sublabel(struct screen *s, const char *name)
{
	put(s, C_LABEL, "%s ", name);
}

static void line_requests(struct screen *s, const struct sum *m)
{
	char r[32], a[32], hn[32], hs[32], e4[32], e5[32];
	fmt_rate(r, sizeof(r), rate(m, "requests"));
	fmt_rate(a, sizeof(a), stat_avg(val(m, "requests"), m->cur->uptime_s));
	double hn_ = NAN;
	if (m->prev)
		hn_ = stat_hit_ratio(hits(m->cur) - hits(m->prev),
				     val(m, "cache_miss") - prom_value(m->prev, "cache_miss", 0));
	fmt_pct(hn, sizeof(hn), hn_);
	fmt_pct(hs, sizeof(hs), stat_hit_ratio(hits(m->cur), val(m, "cache_miss")));
	fmt_rate(e4, sizeof(e4), rate(m, "responses_4xx"));
	fmt_rate(e5, sizeof(e5), rate(m, "responses_5xx"));
	label(s, "requests");
	put(s, NULL, "%s/s (avg %s/s)   ", *r ? r : "-", a);
	sublabel(s, "hit ratio");
	put(s, NULL, "%s now, %s since start   ", hn, hs);
	put(s, NULL, "4xx %s/s  5xx %s/s", *e4 ? e4 : "-", *e5 ? e5 : "-");
}

static void line_latency(struct screen *s, const struct sum *m)
{
	char p50[16], p99[16], s50[16], s99[16];
	fmt_secs(p50, sizeof(p50), m->prev ? stat_latency_quantile(m->prev, m->cur, 0.5) : NAN);
	fmt_secs(p99, sizeof(p99), m->prev ? stat_latency_quantile(m->prev, m->cur, 0.99) : NAN);
	fmt_secs(s50, sizeof(s50), stat_latency_quantile(NULL, m->cur, 0.5));
	fmt_secs(s99, sizeof(s99), stat_latency_quantile(NULL, m->cur, 0.99));
	label(s, "latency");
	put(s, NULL, "p50 %s  p99 %s now   p50 %s  p99 %s since start", p50, p99, s50, s99);
}

/* A whole number, or "-" for a series the daemon did not send. */
static const char *fmt_count(char *buf, size_t cap, double v)
{
	if (isnan(v))
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, "%.0f", v);
	return buf;
}

static void line_traffic(struct screen *s, const struct sum *m)
{
	char ci[32], co[32], bi[32], bo[32], br[32];
	fmt_bytes(ci, sizeof(ci), rate(m, "client_received_bytes"));
	fmt_bytes(co, sizeof(co), rate(m, "client_sent_bytes"));
	fmt_bytes(bi, sizeof(bi), rate(m, "backend_received_bytes"));
	fmt_bytes(bo, sizeof(bo), rate(m, "backend_sent_bytes"));
	fmt_rate(br, sizeof(br), rate(m, "backend_requests"));
	char nc[32], nt[32];
	label(s, "clients");
	put(s, NULL, "%s open (%s tunnels)  in %s/s  out %s/s   ",
	    fmt_count(nc, sizeof(nc), val(m, "connections")),
	    fmt_count(nt, sizeof(nt), prom_value(m->cur, "tunnels_open", 0)), ci, co);
	sublabel(s, "backends");
	put(s, NULL, "%s req/s  in %s/s  out %s/s", *br ? br : "-", bi, bo);
}

static void line_cache(struct screen *s, const struct sum *m)
{
	char used[32], budget[32], st[32], ev[32];
	fmt_bytes(used, sizeof(used), val(m, "cache_bytes"));
	fmt_bytes(budget, sizeof(budget), val(m, "cache_budget_bytes"));
	fmt_rate(st, sizeof(st), rate(m, "cache_stored"));
	fmt_rate(ev, sizeof(ev), rate(m, "cache_evictions"));
	char no[32], ne[32], np[32];
	label(s, "cache");
	put(s, NULL, "%s objects  %s of %s   stored %s/s   evictions %s/s (%s)   purged %s",
	    fmt_count(no, sizeof(no), val(m, "cache_objects")), used, budget, *st ? st : "-",
	    *ev ? ev : "-", fmt_count(ne, sizeof(ne), val(m, "cache_evictions")),
	    fmt_count(np, sizeof(np), val(m, "cache_purged")));
}

/* The disk tier: whether it is on, how full, what it answers, and the
 * rebuild until it is done (a restart's progress is what an operator
 * watches for). */
static void line_disk(struct screen *s, const struct sum *m)
{
	label(s, "disk");
	if (!prom_find(m->cur, "disk_enabled")) {
		put(s, NULL, "off");
		return;
	}
	if (val(m, "disk_enabled") <= 0) {
		put(s, C_DOWN, "DISABLED");
		put(s, NULL, " by an I/O error (the log says which); memory only   ");
	}
	char used[32], size[32], h[32], r[32], w[32], no[32], n1[32], n2[32];
	fmt_bytes(used, sizeof(used), val(m, "disk_bytes_used"));
	fmt_bytes(size, sizeof(size), val(m, "disk_size_bytes"));
	fmt_rate(h, sizeof(h), rate(m, "disk_hits"));
	fmt_rate(r, sizeof(r), rate(m, "disk_reads"));
	fmt_rate(w, sizeof(w), rate(m, "disk_writes"));
	put(s, NULL, "%s objects  %s of %s   hits %s/s  reads %s/s  writes %s/s   ",
	    fmt_count(no, sizeof(no), val(m, "disk_objects")), used, size, *h ? h : "-",
	    *r ? r : "-", *w ? w : "-");
	sublabel(s, "rebuild");
	if (val(m, "disk_rebuild_done") > 0) {
		char t[16];
		fmt_secs(t, sizeof(t), val(m, "disk_rebuild_seconds"));
		put(s, NULL, "done in %s", t);
	} else {
		put(s, C_BUSY, "%s of %s segments",
		    fmt_count(n1, sizeof(n1), val(m, "disk_rebuild_segments")),
		    fmt_count(n2, sizeof(n2), val(m, "disk_segments")));
	}
	char nd[32], ne[32];
	put(s, NULL, "   damaged %s  errors %s", fmt_count(nd, sizeof(nd), val(m, "disk_damaged")),
	    fmt_count(ne, sizeof(ne), val(m, "disk_errors")));
}

static void line_compression(struct screen *s, const struct sum *m)
{
	label(s, "compression");
	if (!prom_find(m->cur, "compression_jobs")) {
		put(s, NULL, "off");
		return;
	}
	char in[32], out[32], ratio[16];
	fmt_bytes(in, sizeof(in), rate(m, "compression_in_bytes"));
	fmt_bytes(out, sizeof(out), rate(m, "compression_out_bytes"));
	double ci = val(m, "compression_in_bytes"), co = val(m, "compression_out_bytes");
	fmt_pct(ratio, sizeof(ratio), ci > 0 ? co / ci : NAN);
	put(s, NULL,
	    "in %s/s  out %s/s  (%s of the input since start)   queue %.0f   fallbacks %.0f  "
	    "errors %.0f",
	    in, out, ratio, val(m, "compression_queue_depth"), val(m, "compression_fallbacks"),
	    val(m, "compression_errors"));
}

static void line_loops(struct screen *s, const struct sum *m)
{
	unsigned n = 0;
	double lag = 0, run = 0, slow = 0;
	const char *io = "";
	for (size_t i = 0; i < m->cur->n; i++) {
		const struct prom_series *p = &m->cur->s[i];
		if (!strcmp(p->family, "loop_io_backend")) {
			n++;
			const char *dot = strrchr(p->name, '.');
			io = dot ? dot + 1 : "";
		} else if (!strcmp(p->family, "loop_lag_seconds") && p->value > lag) {
			lag = p->value;
		} else if (!strcmp(p->family, "loop_max_task_run_seconds") && p->value > run) {
			run = p->value;
		} else if (!strcmp(p->family, "loop_slow_tasks_total")) {
			slow += p->value;
		}
	}
	char l[16], r[16];
	fmt_secs(l, sizeof(l), lag);
	fmt_secs(r, sizeof(r), run);
	label(s, "loops");
	put(s, NULL, "%u on %s   lag max %s   longest task run %s   slow tasks %.0f", n, io, l, r,
	    slow);
}

static void line_backends(struct screen *s, const struct sum *m)
{
	label(s, "servers");
	unsigned shown = 0;
	for (size_t i = 0; i < m->cur->n; i++) {
		const struct prom_series *p = &m->cur->s[i];
		if (strcmp(p->family, "backend_up") != 0)
			continue;
		const char *who = p->name + strlen("backend_up.");
		put(s, NULL, "%s%s ", shown++ ? "  " : "", who);
		if (p->value > 0)
			put(s, C_UP, "up");
		else
			put(s, C_DOWN, "DOWN");
	}
	if (!shown)
		put(s, NULL, "none");
}

/* ---- the table ---------------------------------------------------------- */

/* The rows of the table: every series but the per-loop ones the summary
 * shows, and only those the filter lets through. */
static bool in_table(const struct statview *v, const struct prom_series *p)
{
	return strcmp(p->family, "loop_io_backend") != 0 &&
	       stat_filter_pass(v->pats, v->npats, p->name);
}

static void table_row(struct screen *s, const struct prom_snap *prev, const struct prom_snap *cur,
		      size_t i, int namew)
{
	const struct prom_series *p = &cur->s[i];
	char value[32], r[32] = "", a[32] = "";
	fmt_num(value, sizeof(value), p->value);
	double rt = NAN;
	if (p->counter) {
		rt = stat_rate(stat_prev_value(prev, cur, i), p->value, stat_interval(prev, cur));
		fmt_rate(r, sizeof(r), rt);
		fmt_rate(a, sizeof(a), stat_avg(p->value, cur->uptime_s));
	}
	bool busy = !isnan(rt) && rt > 0;
	put(s, busy ? C_BUSY : NULL, "%-*s %14s %11s %11s  ", namew, p->name, value, r, a);
	put(s, NULL, "%s", p->help);
}

int statview_screen(struct statview *v, const struct prom_snap *prev, const struct prom_snap *cur,
		    int rows, int cols, char **buf, size_t *cap, size_t *len)
{
	struct screen s = {.buf = *buf, .cap = *cap, .cols = cols};
	struct sum m = {.prev = prev, .cur = cur, .dt = stat_interval(prev, cur)};
	if (m.dt < 0)
		m.prev = NULL;
	int row = 1;
	char up[32], clock[16];
	fmt_uptime(up, sizeof(up), cur->uptime_s);
	time_t now = (time_t)v->now;
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	row_start(&s, row++);
	put(&s, C_TITLE, " ringcache stat  %s   uptime %s   %s   every %gs   q quits, j/k scroll ",
	    v->where, up, clock, v->interval_s);
	pad(&s, C_TITLE);
	if (*v->error) {
		row_start(&s, row++);
		put(&s, C_ERR, " daemon unreachable: %s; retrying every %gs ", v->error,
		    v->interval_s);
		pad(&s, C_ERR);
	}
	void (*const lines[])(struct screen *, const struct sum *) = {
	    line_requests, line_latency,     line_traffic, line_cache,
	    line_disk,	   line_compression, line_loops,   line_backends,
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]) && row <= rows; i++) {
		row_start(&s, row++);
		lines[i](&s, &m);
	}
	row++; /* a blank line before the table */
	size_t idx[4096], n = 0;
	int namew = 24;
	for (size_t i = 0; i < cur->n && n < sizeof(idx) / sizeof(idx[0]); i++) {
		if (!in_table(v, &cur->s[i]))
			continue;
		idx[n++] = i;
		int w = (int)strlen(cur->s[i].name);
		if (w > namew)
			namew = w < 44 ? w : 44;
	}
	int room = rows - row; /* table rows below its head */
	if (room < 1)
		room = 1;
	if (v->scroll > (int)n - room)
		v->scroll = (int)n - room;
	if (v->scroll < 0)
		v->scroll = 0;
	if (row <= rows) {
		row_start(&s, row++);
		char range[64];
		snprintf(range, sizeof(range), "%d-%d of %zu", n ? v->scroll + 1 : 0,
			 v->scroll + room < (int)n ? v->scroll + room : (int)n, n);
		put(&s, C_HEAD, "%-*s %14s %11s %11s  DESCRIPTION (%s)", namew, "NAME", "VALUE",
		    "RATE/s", "AVG/s", range);
		pad(&s, C_HEAD);
	}
	for (size_t k = (size_t)v->scroll; k < n && row <= rows; k++) {
		row_start(&s, row++);
		table_row(&s, m.prev, cur, idx[k], namew);
	}
	raws(&s, "\033[J");
	*buf = s.buf;
	*cap = s.cap;
	*len = s.len;
	return s.nomem ? -ENOMEM : 0;
}

/* ---- plain lines and JSON ----------------------------------------------- */

void statview_plain(const struct statview *v, const struct prom_snap *prev,
		    const struct prom_snap *cur, FILE *f)
{
	double dt = stat_interval(prev, cur);
	int namew = 40;
	for (size_t i = 0; i < cur->n; i++)
		if ((int)strlen(cur->s[i].name) > namew)
			namew = (int)strlen(cur->s[i].name);
	for (size_t i = 0; i < cur->n; i++) {
		const struct prom_series *p = &cur->s[i];
		if (!in_table(v, p))
			continue;
		char value[32], r[32] = "", a[32] = "";
		fmt_num(value, sizeof(value), p->value);
		if (p->counter) {
			fmt_rate(a, sizeof(a), stat_avg(p->value, cur->uptime_s));
			fmt_rate(r, sizeof(r),
				 stat_rate(stat_prev_value(prev, cur, i), p->value, dt));
		}
		if (prev)
			fprintf(f, "%-*s %16s %12s %12s  %s\n", namew, p->name, value, r, a,
				p->help);
		else
			fprintf(f, "%-*s %16s %12s  %s\n", namew, p->name, value, a, p->help);
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A number, or null for NAN and the infinities (JSON has neither). */
static void json_num(FILE *f, double v)
{
	if (!isfinite(v))
		fputs("null", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.6g", v);
}

void statview_json(const struct statview *v, const struct prom_snap *cur, FILE *f)
{
	fputs("{\"admin\": ", f);
	json_str(f, v->where);
	fprintf(f, ", \"time\": %ld, \"uptime_seconds\": ", v->now);
	json_num(f, cur->uptime_s);
	fputs(", \"summary\": {\"hit_ratio\": ", f);
	json_num(f, stat_hit_ratio(hits(cur), prom_value(cur, "cache_miss", NAN)));
	fputs(", \"latency_p50_seconds\": ", f);
	json_num(f, stat_latency_quantile(NULL, cur, 0.5));
	fputs(", \"latency_p99_seconds\": ", f);
	json_num(f, stat_latency_quantile(NULL, cur, 0.99));
	fputs("}, \"counters\": {", f);
	bool first = true;
	for (size_t i = 0; i < cur->n; i++) {
		const struct prom_series *p = &cur->s[i];
		if (!stat_filter_pass(v->pats, v->npats, p->name))
			continue;
		fputs(first ? "\n  " : ",\n  ", f);
		first = false;
		json_str(f, p->name);
		fputs(": {\"value\": ", f);
		json_num(f, p->value);
		fprintf(f, ", \"type\": \"%s\"", p->counter ? "counter" : "gauge");
		if (p->counter) {
			fputs(", \"per_second_since_start\": ", f);
			json_num(f, stat_avg(p->value, cur->uptime_s));
		}
		fputs(", \"description\": ", f);
		json_str(f, p->help);
		fputs("}", f);
	}
	fputs("\n}}\n", f);
}
