/* watch.c - the record-fed, once-a-second view loop of top and hist (see watch.h). */
#include "cli/watch.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/admin_client.h"
#include "cli/recstream.h"
#include "cli/tty.h"
#include "ops/query.h"

#define RETRY_MS   1000
#define FRAME_MS   1000
#define READ_BATCH 65536 /* records between looks at the clock and the keys */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool parse_secs(const char *arg, unsigned max, unsigned *out)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (end == arg || (*end && strcmp(end, "s") != 0) || v < 1 || v > (long)max)
		return false;
	*out = (unsigned)v;
	return true;
}

int watch_opt(struct watch_cfg *cfg, int ch, const char *arg)
{
	switch (ch) {
	case 'c':
		cfg->config = arg;
		return 1;
	case 'A':
		cfg->admin = arg;
		return 1;
	case 'T':
		cfg->token = arg;
		return 1;
	case 'q':
		cfg->query = arg;
		return 1;
	case '1':
		cfg->once = true;
		return 1;
	case 'w':
		if (!parse_secs(arg, WATCH_MAX_WINDOW, &cfg->window)) {
			fprintf(stderr, "ringcache %s: -w: seconds, 1 to %d\n", cfg->prog,
				WATCH_MAX_WINDOW);
			return -1;
		}
		return 1;
	case 'd':
		if (!parse_secs(arg, 86400, &cfg->duration)) {
			fprintf(stderr, "ringcache %s: -d: seconds, 1 to 86400\n", cfg->prog);
			return -1;
		}
		return 1;
	default:
		return 0;
	}
}

/* The query checked here first, so a mistake shows its column before
 * anything is sent (the daemon checks it again). */
static bool query_ok(const char *prog, const char *src)
{
	struct query q;
	struct query_error qe;
	if (query_compile(&q, src, &qe) == 0) {
		query_fini(&q);
		return true;
	}
	if (!qe.col) {
		fprintf(stderr, "ringcache %s: out of memory\n", prog);
		return false;
	}
	fprintf(stderr, "ringcache %s: bad query at column %u: %s\n", prog, qe.col, qe.msg);
	fprintf(stderr, "  %s\n  %*s^\n", src, (int)(qe.col - 1), "");
	return false;
}

struct loop {
	const struct watch_cfg *cfg;
	const struct watch_view *v;
	struct admin_target t;
	struct recstream *s;
	struct watch_status st;
	char problem[512];
	uint64_t lost_before; /* of the streams closed before this one */
	int64_t t0;	      /* ms, the start */
	bool tty;
	char *frame;
	size_t fcap;
};

/* Open the stream: 0, -1 (unreachable: L->problem says why), -2 (the
 * daemon refused the query: L->problem has its words). */
static int try_open(struct loop *l)
{
	struct recstream_opts o = {.query = l->cfg->query};
	char err[sizeof(l->problem)];
	int r = recstream_open(&l->s, &l->t, &o, err, sizeof(err));
	if (r < 0) {
		l->s = NULL;
		/* One line on screen: the daemon's text may end in a newline. */
		err[strcspn(err, "\r\n")] = '\0';
		snprintf(l->problem, sizeof(l->problem), "%s", err);
		return r;
	}
	l->problem[0] = '\0';
	return 0;
}

static void drop_stream(struct loop *l, const char *why)
{
	l->lost_before += recstream_lost(l->s);
	recstream_close(&l->s);
	snprintf(l->problem, sizeof(l->problem), "%s", why);
}

static void draw(struct loop *l, int64_t now_ms)
{
	unsigned cols = 80, rows = 24;
	if (l->tty || isatty(STDOUT_FILENO)) {
		tty_size(&cols, &rows);
	} else {
		const char *c = getenv("COLUMNS"), *r = getenv("LINES");
		if (c && atoi(c) >= 20 && atoi(c) <= 1000)
			cols = (unsigned)atoi(c);
		if (r && atoi(r) >= 5 && atoi(r) <= 1000)
			rows = (unsigned)atoi(r);
	}
	size_t need = (size_t)(cols + 1) * (rows + 1) + 65536;
	if (need > l->fcap) {
		char *f = realloc(l->frame, need);
		if (!f)
			return;
		l->frame = f;
		l->fcap = need;
	}
	unsigned window = l->cfg->window;
	int64_t secs = (now_ms - l->t0 + 999) / 1000;
	if (secs < 1)
		secs = 1;
	l->st.where = l->t.where;
	l->st.live = l->s != NULL;
	l->st.problem = l->problem;
	l->st.lost = l->lost_before + (l->s ? recstream_lost(l->s) : 0);
	l->st.covered = secs < window ? (unsigned)secs : window;
	l->st.plain = !l->tty;
	size_t n = l->v->draw(l->v->ctx, now_ms / 1000, cols, rows, &l->st, l->frame, l->fcap);
	if (l->tty) {
		tty_frame(l->frame, n);
	} else {
		fwrite(l->frame, 1, n, stdout);
		if (!l->cfg->once)
			fputc('\n', stdout); /* frames apart on a pipe */
		fflush(stdout);
	}
}

/* Read what has arrived: false when the stream ended (L->s closed). */
static bool read_some(struct loop *l, int64_t now_ms)
{
	struct rlog_rec *rec = malloc(sizeof(*rec));
	if (!rec)
		return true;
	bool ok = true;
	for (int i = 0; i < READ_BATCH; i++) {
		int r = recstream_next(l->s, rec, 0);
		if (r == 1) {
			l->v->feed(l->v->ctx, rec, now_ms / 1000);
			continue;
		}
		if (r == -1) {
			drop_stream(l, "the daemon ended the stream (a drain or a restart)");
			ok = false;
		} else if (r == -2) {
			char why[sizeof(l->problem)];
			snprintf(why, sizeof(why), "the stream broke: %s", recstream_error(l->s));
			drop_stream(l, why);
			ok = false;
		}
		break;
	}
	free(rec);
	return ok;
}

static int run(struct loop *l)
{
	const struct watch_cfg *cfg = l->cfg;
	int64_t next_try = l->t0, next_frame = l->t0 + FRAME_MS;
	int64_t end = l->t0 + (int64_t)(cfg->duration ? cfg->duration : cfg->window) * 1000;
	bool redraw = l->tty; /* the first frame at once on a screen */
	for (;;) {
		int64_t now = mono_ms();
		if (!l->s && now >= next_try) {
			int r = try_open(l);
			if (r == -2) {
				tty_leave();
				fprintf(stderr, "ringcache %s: %s: %s\n", cfg->prog, l->t.where,
					l->problem);
				return 2;
			}
			if (r < 0 && cfg->once) {
				fprintf(stderr, "ringcache %s: %s\n", cfg->prog, l->problem);
				return 1;
			}
			next_try = now + RETRY_MS;
			redraw = redraw || r == 0;
		}
		if (l->s && !read_some(l, now)) {
			if (cfg->once) {
				draw(l, now);
				fprintf(stderr, "ringcache %s: %s: %s\n", cfg->prog, l->t.where,
					l->problem);
				return 1;
			}
			next_try = now + RETRY_MS;
			redraw = true;
		}
		if (cfg->once && now >= end) {
			draw(l, now);
			return 0;
		}
		if (!cfg->once && (redraw || now >= next_frame)) {
			draw(l, now);
			redraw = false;
			next_frame = now >= next_frame ? now + FRAME_MS : next_frame;
		}
		int64_t due = cfg->once ? end : next_frame;
		if (!l->s && next_try < due)
			due = next_try;
		struct pollfd pf[2];
		nfds_t n = 0;
		if (l->s)
			pf[n++] = (struct pollfd){.fd = recstream_fd(l->s), .events = POLLIN};
		if (l->tty)
			pf[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
		int wait = due > now ? (int)(due - now) : 0;
		if (poll(pf, n, wait) < 0 && errno != EINTR)
			return 1;
		if (l->tty) {
			for (int k; (k = tty_key()) >= 0;) {
				if (k == 'q' || k == 'Q')
					return 0;
				if (l->v->key && l->v->key(l->v->ctx, k))
					redraw = true;
			}
			if (tty_resized())
				redraw = true;
		}
	}
}

int watch_run(const struct watch_cfg *cfg_in, const struct watch_view *v)
{
	struct watch_cfg cfg = *cfg_in;
	if (!cfg.window)
		cfg.window = WATCH_DEFAULT_WINDOW;
	if (cfg.query && !query_ok(cfg.prog, cfg.query))
		return 2;
	struct loop *l = calloc(1, sizeof(*l));
	if (!l) {
		fprintf(stderr, "ringcache %s: out of memory\n", cfg.prog);
		return 1;
	}
	l->cfg = &cfg;
	l->v = v;
	char err[512];
	if (admin_target_resolve(&l->t, cfg.config, cfg.admin, cfg.token, err, sizeof(err)) < 0) {
		fprintf(stderr, "ringcache %s: %s\n", cfg.prog, err);
		free(l);
		return 2;
	}
	snprintf(l->problem, sizeof(l->problem), "connecting");
	l->t0 = mono_ms();
	l->tty = !cfg.once && tty_usable() && tty_enter() == 0;
	int rc = run(l);
	tty_leave();
	if (l->s)
		recstream_close(&l->s);
	free(l->frame);
	free(l);
	return rc;
}
