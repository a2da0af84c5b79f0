/* stat.c - `ringcache stat`: read /metrics each interval, show it live, once, or as JSON. */
#include "cli/stat.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/admin_client.h"
#include "cli/promtext.h"
#include "cli/statview.h"
#include "cli/term.h"
#include "rt/clock.h"

#define MAX_PATS 64

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: ringcache stat [-c FILE | --admin http://IP:PORT] [--token TOKEN]\n"
	       "                      [-1 | -j] [-f PATTERN]... [-i SECONDS]\n"
	       "  -c, --config FILE   the daemon's configuration: admin.listen and admin.token\n"
	       "      --admin URL     the admin listener instead (wins over the file)\n"
	       "      --token TOKEN   its bearer token instead of the file's\n"
	       "  -1, --once          print the numbers once as plain lines and exit\n"
	       "  -j, --json          print them once as JSON and exit\n"
	       "  -f, --filter PAT    only numbers whose name matches: a glob (cache_*) or a\n"
	       "                      part of the name; ^PAT leaves out what matches (repeatable)\n"
	       "  -i, --interval S    seconds between reads (default 1)\n"
	       "Live keys: q quits; j/k or arrows scroll, space/b page, g/G top/bottom.\n"
	       "Not on a terminal it acts as -1; with TERM=dumb it prints plain lines each "
	       "interval.\n");
}

#define STAT_READ_MS  5000
#define STAT_BODY_MAX (16 << 20)

/* Read the whole of /metrics from T into SNAP. 0, or -1 with ERR set. */
static int fetch(const struct admin_target *t, struct prom_snap *snap, char *err, size_t errcap)
{
	struct admin_resp *resp = malloc(sizeof(*resp));
	if (!resp) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	/* A reader of its own: the loops' maxima it shows are not taken
	 * from the next Prometheus scrape. */
	if (admin_get(t, "/metrics?reader=live", NULL, resp, err, errcap) < 0) {
		free(resp);
		return -1;
	}
	char *body = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	/* /metrics is a few hundred KiB at most: an answer that takes longer
	 * than STAT_READ_MS or grows past STAT_BODY_MAX is a daemon (or
	 * something else on its port) not worth waiting for; the view says so
	 * and tries again next interval. */
	struct timespec t0, tn;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &tn);
		long el = (tn.tv_sec - t0.tv_sec) * 1000 + (tn.tv_nsec - t0.tv_nsec) / 1000000;
		int w = el >= STAT_READ_MS ? 0 : admin_resp_wait(resp, (int)(STAT_READ_MS - el));
		if (w <= 0) {
			snprintf(err, errcap, "%s: no whole answer within %d s", t->where,
				 STAT_READ_MS / 1000);
			rc = -1;
			break;
		}
		if (len >= STAT_BODY_MAX) {
			snprintf(err, errcap, "%s: an answer over %d MiB", t->where,
				 STAT_BODY_MAX >> 20);
			rc = -1;
			break;
		}
		if (len + 16384 > cap) {
			cap = cap ? cap * 2 : 65536;
			char *b = realloc(body, cap);
			if (!b) {
				snprintf(err, errcap, "out of memory");
				rc = -1;
				break;
			}
			body = b;
		}
		ssize_t n = admin_resp_read(resp, body + len, cap - len);
		if (n < 0) {
			snprintf(err, errcap, "%s: the answer broke off", t->where);
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!rc && resp->status != 200) {
		/* The daemon's own words: a 401 says the token is wrong. */
		int k = len > 200 ? 200 : (int)len;
		while (k > 0 && (body[k - 1] == '\n' || body[k - 1] == '\r'))
			k--;
		snprintf(err, errcap, "%s: %d: %.*s", t->where, resp->status, k, body ? body : "");
		rc = -1;
	}
	if (!rc) {
		int r = prom_parse(snap, body, len);
		if (r < 0) {
			snprintf(err, errcap, "%s: %s", t->where,
				 r == -ENOMEM ? "out of memory"
					      : "no ringcache numbers in /metrics");
			rc = -1;
		}
	}
	free(body);
	admin_resp_close(resp);
	free(resp);
	return rc;
}

struct run {
	struct admin_target t;
	struct statview v;
	struct prom_snap prev, cur;
	bool have_prev;
	int interval_ms;
};

/* Read again: the last snapshot becomes the previous one, or the error is kept. */
static void refresh(struct run *r, char *err, size_t errcap)
{
	struct prom_snap next;
	if (fetch(&r->t, &next, err, errcap) < 0)
		return;
	*err = '\0';
	prom_snap_free(&r->prev);
	r->prev = r->cur;
	r->cur = next;
	r->have_prev = true;
}

/* Sleep until DUE (rt_clock_now time), waking for keys when LIVE: false
 * when asked to quit. *REDRAW says a key or a resize wants a new screen. */
static bool wait_until(struct run *r, rt_time_t due, bool live, bool *redraw)
{
	*redraw = false;
	for (;;) {
		if (term_quit_asked())
			return false;
		rt_time_t now = rt_clock_now();
		if (now >= due)
			return true;
		int ms = (int)((due - now + RT_MS - 1) / RT_MS);
		if (!live) {
			struct timespec ts = {.tv_sec = ms / 1000,
					      .tv_nsec = (ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		int k = term_wait(-1, ms) & TERM_READY_KEY ? term_key() : TERM_KEY_NONE;
		if (term_resized())
			*redraw = true;
		int page = 10;
		switch (k) {
		case 'q':
		case 'Q':
			return false;
		case TERM_KEY_UP:
		case 'k':
			r->v.scroll--;
			break;
		case TERM_KEY_DOWN:
		case 'j':
			r->v.scroll++;
			break;
		case TERM_KEY_PGUP:
		case 'b':
			r->v.scroll -= page;
			break;
		case TERM_KEY_PGDN:
		case ' ':
			r->v.scroll += page;
			break;
		case TERM_KEY_HOME:
		case 'g':
			r->v.scroll = 0;
			break;
		case TERM_KEY_END:
		case 'G':
			r->v.scroll = 1 << 20; /* clamped when drawn */
			break;
		default:
			continue;
		}
		*redraw = true;
		return true;
	}
}

static void draw(struct run *r, char **buf, size_t *cap)
{
	unsigned rows, cols;
	term_size(&rows, &cols);
	r->v.now = (long)time(NULL);
	size_t len;
	if (statview_screen(&r->v, r->have_prev ? &r->prev : NULL, &r->cur, (int)rows, (int)cols,
			    buf, cap, &len) == 0)
		term_write(*buf, len);
}

/* The live screen until q or a signal (which ends the program, see term.h). */
static int live(struct run *r)
{
	if (term_enter() < 0) {
		fprintf(stderr, "ringcache stat: cannot set up the terminal; try -1\n");
		return 1;
	}
	char err[512] = "", *buf = NULL;
	size_t cap = 0;
	r->v.error = err;
	rt_time_t due = rt_clock_now();
	for (;;) {
		draw(r, &buf, &cap);
		due += (rt_time_t)r->interval_ms * RT_MS;
		bool redraw;
		bool go_on;
		while ((go_on = wait_until(r, due, true, &redraw)) && redraw)
			draw(r, &buf, &cap);
		if (!go_on)
			break;
		if (rt_clock_now() > due + RT_SEC)
			due = rt_clock_now(); /* a read that hung: no burst of catching up */
		refresh(r, err, sizeof(err));
	}
	term_leave();
	free(buf);
	return 0;
}

/* Plain lines each interval, for a terminal without cursor control. */
static int plain_repeat(struct run *r)
{
	char err[512] = "";
	rt_time_t due = rt_clock_now();
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		char up[32];
		snprintf(up, sizeof(up), "%.0f", r->cur.uptime_s);
		if (*err)
			printf("# %s: daemon unreachable: %s; retrying\n", r->t.where, err);
		else
			printf("# %s uptime %ss\n", r->t.where, up);
		statview_plain(&r->v, r->have_prev ? &r->prev : NULL, &r->cur, stdout);
		fputc('\n', stdout);
		due += (rt_time_t)r->interval_ms * RT_MS;
		bool redraw;
		if (!wait_until(r, due, false, &redraw))
			break;
		refresh(r, err, sizeof(err));
	}
	return 0;
}

int cli_stat_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"admin", required_argument, NULL, 'A'},
	    {"token", required_argument, NULL, 'T'},
	    {"once", no_argument, NULL, '1'},
	    {"json", no_argument, NULL, 'j'},
	    {"filter", required_argument, NULL, 'f'},
	    {"interval", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *admin = NULL, *token = NULL;
	const char *pats[MAX_PATS];
	size_t npats = 0;
	bool once = false, json = false;
	double interval = 1;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:1jf:i:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'A':
			admin = optarg;
			break;
		case 'T':
			token = optarg;
			break;
		case '1':
			once = true;
			break;
		case 'j':
			json = true;
			break;
		case 'f':
			if (npats == MAX_PATS) {
				fprintf(stderr, "ringcache stat: at most %d -f patterns\n",
					MAX_PATS);
				return 2;
			}
			if (!*optarg || !strcmp(optarg, "^")) {
				fprintf(stderr, "ringcache stat: -f: an empty pattern\n");
				return 2;
			}
			pats[npats++] = optarg;
			break;
		case 'i': {
			char *end;
			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.1 && interval <= 3600)) {
				fprintf(stderr, "ringcache stat: -i: seconds from 0.1 to 3600\n");
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
		fprintf(stderr, "ringcache stat: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (once && json) {
		fprintf(stderr, "ringcache stat: -1 or -j, not both\n");
		return 2;
	}
	static struct run r; /* the target's buffers are large */
	char err[512];
	if (admin_target_resolve(&r.t, config, admin, token, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcache stat: %s\n", err);
		return 2;
	}
	r.interval_ms = (int)lround(interval * 1000);
	r.v = (struct statview){
	    .where = r.t.where, .pats = pats, .npats = npats, .interval_s = interval, .error = ""};
	/* The first read decides: a wrong address or token is said at once
	 * rather than drawn as an unreachable daemon. */
	if (fetch(&r.t, &r.cur, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcache stat: %s\n", err);
		return 1;
	}
	int rc = 0;
	r.v.now = (long)time(NULL);
	if (json)
		statview_json(&r.v, &r.cur, stdout);
	else if (once || !isatty(STDOUT_FILENO))
		statview_plain(&r.v, NULL, &r.cur, stdout);
	else if (!term_usable())
		rc = plain_repeat(&r);
	else
		rc = live(&r);
	prom_snap_free(&r.prev);
	prom_snap_free(&r.cur);
	if (fflush(stdout) != 0)
		rc = 1;
	return rc;
}
