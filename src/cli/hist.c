/* hist.c - `ringcache hist`: options, which time of a record counts, and the frame. */
#include "cli/hist.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/histo.h"
#include "cli/topk.h"
#include "cli/watch.h"

_Static_assert(WATCH_MAX_WINDOW <= HISTO_MAX_WINDOW, "hist's buckets must take any -w");

struct hist {
	struct histo *h;
	bool ttfb; /* -f ttfb: the time to the first byte instead of the whole response */
	unsigned window;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: ringcache hist [-c FILE | --admin http://IP:PORT] [--token TOKEN]\n"
	    "                      [-q QUERY] [-f duration|ttfb] [-w SECONDS] [-1 [-d SECONDS]]\n"
	    "  -c, --config FILE   the daemon's configuration: admin.listen and admin.token\n"
	    "      --admin URL     the admin listener instead (wins over the file)\n"
	    "      --token TOKEN   its bearer token instead of the file's\n"
	    "  -q, --query QUERY   only records that match (as ringcache log -q)\n"
	    "  -f, --field F       duration (default: to the last byte) or ttfb\n"
	    "  -w, --window S      over the last S seconds (default 60, at most 600)\n"
	    "  -1, --once          gather for the window (or -d S), print once, exit\n"
	    "  -d, --duration S    how long -1 gathers\n"
	    "'|' hits (hit, stale), '#' the rest (miss, pass, ...), 1us to 10s. Keys: q quit.\n");
}

static void feed(void *ctx, const struct rlog_rec *rec, int64_t now)
{
	struct hist *hp = ctx;
	int64_t ns = hp->ttfb ? rec->ttfb_ns : rec->duration_ns;
	if (ns < 0) /* nothing was sent */
		return;
	/* The one rule of what a hit is, top's. */
	bool col[TOPK_NCOL];
	topk_classify(rec, col);
	histo_add(hp->h, col[TOPK_HIT] ? HISTO_HIT : HISTO_OTHER, ns, now);
}

static size_t put(char *out, size_t cap, size_t len, const char *s)
{
	size_t n = strlen(s);
	if (len + n + 1 > cap)
		return len;
	memcpy(out + len, s, n + 1);
	return len + n;
}

/* Quantile Q of KIND into OUT (16 bytes), "-" when there is nothing. */
static const char *quantile(struct hist *hp, int64_t now, enum histo_kind kind, double q, char *out)
{
	if (!histo_count(hp->h, now, kind))
		return "-";
	return histo_fmt_ns(histo_quantile_ns(hp->h, now, kind, q), out, 16);
}

static size_t draw(void *ctx, int64_t now, unsigned cols, unsigned rows,
		   const struct watch_status *st, char *out, size_t cap)
{
	struct hist *hp = ctx;
	char line[1024], a[16], b[16], c[16], d[16];
	size_t len = 0;
	out[0] = '\0';
	if (st->live)
		snprintf(
		    line, sizeof(line),
		    "ringcache hist  %s  live  %s  window %us  lost %llu  '|' hit  '#' miss%s\n",
		    st->where, hp->ttfb ? "ttfb" : "duration", hp->window,
		    (unsigned long long)st->lost, st->plain ? "" : "   q quit");
	else
		snprintf(line, sizeof(line),
			 "ringcache hist  %s  NO STREAM: %s; retrying every second\n", st->where,
			 st->problem);
	if (!st->plain && cols > 1 && strlen(line) > cols)
		line[cols - 1] = '\n', line[cols] = '\0';
	len = put(out, cap, len, line);
	uint64_t nh = histo_count(hp->h, now, HISTO_HIT), no = histo_count(hp->h, now, HISTO_OTHER);
	/* The grid, a column short of the width: a full last column makes
	 * some terminals wrap. */
	unsigned gcols = cols > 17 ? cols - 1 : 16;
	unsigned grows = rows > 6 ? rows - 5 : 1;
	size_t gcap = (size_t)(grows + 2) * (gcols + 1) + 1;
	char *grid = malloc(gcap);
	uint64_t per = 1;
	if (grid && !histo_render(hp->h, now, gcols, grows, grid, gcap, &per))
		grid[0] = '\0';
	snprintf(line, sizeof(line),
		 "hits %llu  p50 %s  p99 %s   misses %llu  p50 %s  p99 %s   1 char = %llu\n",
		 (unsigned long long)nh, quantile(hp, now, HISTO_HIT, 0.5, a),
		 quantile(hp, now, HISTO_HIT, 0.99, b), (unsigned long long)no,
		 quantile(hp, now, HISTO_OTHER, 0.5, c), quantile(hp, now, HISTO_OTHER, 0.99, d),
		 (unsigned long long)per);
	if (!st->plain && cols > 1 && strlen(line) > cols)
		line[cols - 1] = '\n', line[cols] = '\0';
	len = put(out, cap, len, line);
	if (grid)
		len = put(out, cap, len, grid);
	free(grid);
	return len;
}

int cli_hist_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    WATCH_LONG_OPTS,
	    {"field", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct watch_cfg cfg = {.prog = "hist"};
	struct hist hp = {0};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, WATCH_SHORT_OPTS "f:h", opts, NULL)) != -1) {
		int r = watch_opt(&cfg, ch, optarg);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		switch (ch) {
		case 'f':
			if (strcmp(optarg, "ttfb") == 0) {
				hp.ttfb = true;
			} else if (strcmp(optarg, "duration") != 0) {
				fprintf(stderr, "ringcache hist: -f: duration or ttfb\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ringcache hist: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	hp.window = cfg.window ? cfg.window : WATCH_DEFAULT_WINDOW;
	hp.h = histo_create(hp.window);
	if (!hp.h) {
		fprintf(stderr, "ringcache hist: out of memory\n");
		return 1;
	}
	struct watch_view v = {.ctx = &hp, .feed = feed, .draw = draw, .key = NULL};
	int rc = watch_run(&cfg, &v);
	histo_free(&hp.h);
	return rc;
}
