/* top.c - `ringcache top`: options, the views' keys and the frame of the table. */
#include "cli/top.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/term.h"
#include "cli/topk.h"
#include "cli/watch.h"

_Static_assert(WATCH_MAX_WINDOW <= TOPK_MAX_WINDOW, "top's table must take any -w");

/* The views, in the order Tab walks them. */
static const struct {
	enum topk_col by;
	const char *name, *rate;
} views[] = {
    {TOPK_REQ, "requests", "REQ/s"},
    {TOPK_MISS, "misses", "MISS/s"},
    {TOPK_5XX, "5xx", "5XX/s"},
};
#define NVIEWS (sizeof(views) / sizeof(views[0]))

struct top {
	struct topk *t;
	unsigned view;
	long nrows; /* -n; 0: as many as fit (on a screen), all (with -1), 20 (a pipe) */
	bool once;
	struct topk_row *rows;
	size_t maxrows;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringcache top [-c FILE | --admin http://IP:PORT] [--token TOKEN]\n"
		"                     [-q QUERY] [-b requests|misses|5xx] [-w SECONDS]\n"
		"                     [-1 [-d SECONDS]] [-n ROWS]\n"
		"  -c, --config FILE   the daemon's configuration: admin.listen and admin.token\n"
		"      --admin URL     the admin listener instead (wins over the file)\n"
		"      --token TOKEN   its bearer token instead of the file's\n"
		"  -q, --query QUERY   only records that match (as ringcache log -q)\n"
		"  -b, --by VIEW       order by requests (default), misses (miss and pass) or 5xx\n"
		"  -w, --window S      count over the last S seconds (default 60, at most 600)\n"
		"  -1, --once          gather for the window (or -d S), print once, exit\n"
		"  -d, --duration S    how long -1 gathers\n"
		"  -n, --rows N        show N URLs at most\n"
		"Keys: r requests, m misses, e 5xx, Tab the next view, q quit.\n");
}

static void feed(void *ctx, const struct rlog_rec *rec, int64_t now)
{
	struct top *tp = ctx;
	topk_add(tp->t, rec, now);
}

static bool key(void *ctx, int k)
{
	struct top *tp = ctx;
	unsigned v = tp->view;
	if (k == 'r')
		v = 0;
	else if (k == 'm')
		v = 1;
	else if (k == 'e' || k == '5')
		v = 2;
	else if (k == '\t' || k == 'v' || k == ' ')
		v = (v + 1) % NVIEWS;
	else
		return false;
	tp->view = v;
	return true;
}

/* Append a line to OUT (at most COLS - 1 characters: a full last column
 * makes some terminals wrap), with its '\n'. */
static void put_line(char *out, size_t cap, size_t *len, unsigned cols, const char *line)
{
	char clean[TOPK_KEY + 160];
	snprintf(clean, sizeof(clean), "%s", line);
	term_clean(clean); /* URLs and the daemon's words are not ours to print raw */
	line = clean;
	size_t n = strlen(line);
	if (cols && n > cols - 1)
		n = cols - 1;
	if (*len + n + 2 > cap)
		return;
	memcpy(out + *len, line, n);
	*len += n;
	out[(*len)++] = '\n';
	out[*len] = '\0';
}

static size_t draw(void *ctx, int64_t now, unsigned cols, unsigned rows,
		   const struct watch_status *st, char *out, size_t cap)
{
	struct top *tp = ctx;
	unsigned limit = st->plain ? 0 : cols; /* a pipe gets whole URLs */
	size_t len = 0;
	char line[TOPK_KEY + 160];
	unsigned w = topk_window(tp->t);
	if (st->live)
		snprintf(line, sizeof(line), "ringcache top  %s  live  window %us  lost %llu",
			 st->where, w, (unsigned long long)st->lost);
	else
		snprintf(line, sizeof(line),
			 "ringcache top  %s  NO STREAM: %s; retrying every second", st->where,
			 st->problem);
	put_line(out, cap, &len, limit, line);
	uint64_t tot[TOPK_NCOL];
	topk_totals(tp->t, now, tot);
	double secs = st->covered ? st->covered : 1;
	int n = snprintf(line, sizeof(line),
			 "requests %llu (%.2f/s)  hits %llu  misses %llu  5xx %llu  urls %zu",
			 (unsigned long long)tot[TOPK_REQ], (double)tot[TOPK_REQ] / secs,
			 (unsigned long long)tot[TOPK_HIT], (unsigned long long)tot[TOPK_MISS],
			 (unsigned long long)tot[TOPK_5XX], topk_size(tp->t));
	if (topk_evicted(tp->t) && n > 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n,
			 "  evicted %llu (counts below the top may be short)",
			 (unsigned long long)topk_evicted(tp->t));
	put_line(out, cap, &len, limit, line);
	snprintf(line, sizeof(line), "view: %s%s", views[tp->view].name,
		 st->plain ? "" : "   keys: r requests  m misses  e 5xx  Tab next  q quit");
	put_line(out, cap, &len, limit, line);
	put_line(out, cap, &len, limit, "");
	snprintf(line, sizeof(line), "%9s %8s %6s %8s %8s  %s", views[tp->view].rate, "REQ", "HIT%",
		 "MISS", "5XX", "URL");
	put_line(out, cap, &len, limit, line);
	size_t want;
	if (tp->nrows)
		want = (size_t)tp->nrows;
	else if (tp->once)
		want = tp->maxrows;
	else if (st->plain)
		want = 20;
	else
		want = rows > 6 ? rows - 6 : 1;
	if (want > tp->maxrows)
		want = tp->maxrows;
	size_t got = topk_rows(tp->t, now, views[tp->view].by, tp->rows, want);
	for (size_t i = 0; i < got; i++) {
		const struct topk_row *r = &tp->rows[i];
		double hitp =
		    r->n[TOPK_REQ] ? 100.0 * (double)r->n[TOPK_HIT] / (double)r->n[TOPK_REQ] : 0;
		snprintf(line, sizeof(line), "%9.2f %8llu %5.1f%% %8llu %8llu  %s",
			 (double)r->n[views[tp->view].by] / secs,
			 (unsigned long long)r->n[TOPK_REQ], hitp,
			 (unsigned long long)r->n[TOPK_MISS], (unsigned long long)r->n[TOPK_5XX],
			 r->url);
		put_line(out, cap, &len, limit, line);
	}
	if (!got)
		put_line(out, cap, &len, limit, "(nothing in the window yet)");
	return len;
}

int cli_top_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    WATCH_LONG_OPTS,
	    {"by", required_argument, NULL, 'b'},
	    {"rows", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct watch_cfg cfg = {.prog = "top"};
	struct top tp = {.view = 0};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, WATCH_SHORT_OPTS "b:n:h", opts, NULL)) != -1) {
		int r = watch_opt(&cfg, ch, optarg);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		switch (ch) {
		case 'b': {
			unsigned v = 0;
			while (v < NVIEWS && strcmp(optarg, views[v].name) != 0)
				v++;
			if (v == NVIEWS) {
				fprintf(stderr, "ringcache top: -b: requests, misses or 5xx\n");
				return 2;
			}
			tp.view = v;
			break;
		}
		case 'n': {
			char *end;
			tp.nrows = strtol(optarg, &end, 10);
			if (*end || tp.nrows <= 0 || tp.nrows > TOPK_CAP) {
				fprintf(stderr, "ringcache top: -n: a count from 1 to %d\n",
					TOPK_CAP);
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringcache top: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	tp.once = cfg.once;
	tp.t = topk_create(TOPK_CAP, cfg.window ? cfg.window : WATCH_DEFAULT_WINDOW);
	tp.maxrows = TOPK_CAP;
	tp.rows = calloc(tp.maxrows, sizeof(*tp.rows));
	if (!tp.t || !tp.rows) {
		fprintf(stderr, "ringcache top: out of memory\n");
		topk_free(&tp.t);
		free(tp.rows);
		return 1;
	}
	struct watch_view v = {.ctx = &tp, .feed = feed, .draw = draw, .key = key};
	int rc = watch_run(&cfg, &v);
	topk_free(&tp.t);
	free(tp.rows);
	return rc;
}
