/* watch.c - the record-fed, once-a-second view loop of top and hist (see watch.h). */
#include "cli/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/admin_client.h"
#include "cli/recstream.h"
#include "cli/term.h"
#include "ops/query.h"

#define RETRY_MS 1000
#define FRAME_MS 1000
#define NEXT_MS	 500 /* a reader's wait for a record, between looks at the stop flag */

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

/*
 * Two threads: the reader opens the stream (again, every second, when it
 * ends) and feeds each record to the view; the main thread draws, reads
 * keys and decides when to end. So neither a slow connect nor a read that
 * waits on the daemon holds up the screen or 'q'. The view and the status
 * are shared under MU; the reader pokes WAKE when the stream opens or
 * ends, so the screen says so at once.
 */
struct loop {
	const struct watch_cfg *cfg;
	const struct watch_view *v;
	struct admin_target t;
	int64_t t0; /* ms, the start */
	bool tty;
	char *frame;
	size_t fcap;
	int wake[2];
	pthread_t reader;
	pthread_mutex_t mu;
	/* Under MU. */
	struct recstream *s; /* the reader's: the main thread only shuts its socket */
	bool stop;	     /* the main thread wants the reader to end */
	bool ended;	     /* with -1: the stream ended; PROBLEM says how */
	int fatal;	     /* 2: the daemon refused the query; PROBLEM has its words */
	char problem[512];
	uint64_t lost_before; /* of the streams closed before this one */
};

static void poke(struct loop *l)
{
	char c = 1;
	if (write(l->wake[1], &c, 1) < 0) {
		/* Full: a poke is already waiting. */
	}
}

/* Empty the pokes (the pipe does not block). */
static void drain(struct loop *l)
{
	char buf[64];
	while (read(l->wake[0], buf, sizeof(buf)) > 0) {
	}
}

static bool stopping(struct loop *l)
{
	pthread_mutex_lock(&l->mu);
	bool s = l->stop;
	pthread_mutex_unlock(&l->mu);
	return s;
}

/* Open the stream into L->s: 0, -1 (unreachable: L->problem says why),
 * -2 (the daemon refused the query: L->problem has its words). */
static int open_stream(struct loop *l)
{
	struct recstream_opts o = {.query = l->cfg->query};
	char err[sizeof(l->problem)];
	struct recstream *s;
	int r = recstream_open(&s, &l->t, &o, err, sizeof(err));
	/* One line on screen: the daemon's text may end in a newline. */
	err[strcspn(err, "\r\n")] = '\0';
	pthread_mutex_lock(&l->mu);
	if (r < 0) {
		snprintf(l->problem, sizeof(l->problem), "%s", err);
		term_clean(l->problem);
	} else {
		l->s = s;
		l->problem[0] = '\0';
	}
	pthread_mutex_unlock(&l->mu);
	return r;
}

/* The stream ended or broke: say why, close it. */
static void drop_stream(struct loop *l, const char *why)
{
	pthread_mutex_lock(&l->mu);
	l->lost_before += recstream_lost(l->s);
	recstream_close(&l->s);
	snprintf(l->problem, sizeof(l->problem), "%s", why);
	term_clean(l->problem);
	if (l->cfg->once)
		l->ended = true;
	pthread_mutex_unlock(&l->mu);
	poke(l);
}

static void nap(struct loop *l, int ms)
{
	for (int i = 0; i < ms / 50 && !stopping(l); i++)
		usleep(50 * 1000);
}

static void *reader(void *arg)
{
	struct loop *l = arg;
	struct rlog_rec *rec = malloc(sizeof(*rec));
	while (rec && !stopping(l)) {
		pthread_mutex_lock(&l->mu);
		struct recstream *s = l->s;
		pthread_mutex_unlock(&l->mu);
		if (!s) {
			int r = open_stream(l);
			poke(l);
			if (r == -2) {
				pthread_mutex_lock(&l->mu);
				l->fatal = 2;
				pthread_mutex_unlock(&l->mu);
				poke(l);
				break;
			}
			if (r < 0)
				nap(l, RETRY_MS);
			continue;
		}
		int r = recstream_next(s, rec, NEXT_MS);
		if (r == 1) {
			pthread_mutex_lock(&l->mu);
			l->v->feed(l->v->ctx, rec, mono_ms() / 1000);
			pthread_mutex_unlock(&l->mu);
			continue;
		}
		if (r == 0)
			continue;
		if (stopping(l)) { /* the main thread shut the socket */
			pthread_mutex_lock(&l->mu);
			recstream_close(&l->s);
			pthread_mutex_unlock(&l->mu);
			break;
		}
		if (r == -1) {
			drop_stream(l, "the daemon ended the stream (a drain or a restart)");
		} else {
			char why[sizeof(l->problem)];
			snprintf(why, sizeof(why), "the stream broke: %s", recstream_error(s));
			drop_stream(l, why);
		}
		if (l->cfg->once)
			break;
		nap(l, RETRY_MS);
	}
	/* A stream opened while the main thread asked to stop. */
	pthread_mutex_lock(&l->mu);
	recstream_close(&l->s);
	pthread_mutex_unlock(&l->mu);
	free(rec);
	return NULL;
}

/* Signals go to the main thread, whose poll() they interrupt. */
static int start_reader(struct loop *l)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&l->reader, NULL, reader, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -e;
}

/* End the reader: a read waiting on the daemon ends when its socket is
 * shut down. */
/* Stop the reader thread and wait for it, at most STOP_WAIT_MS: it may be
 * in a connect or a response head (up to ADMIN_CLIENT_TIMEOUT_S), which a
 * shutdown cannot cut short. False when it did not end in time. */
#define STOP_WAIT_MS 300
static bool stop_reader(struct loop *l)
{
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	if (l->s)
		shutdown(recstream_fd(l->s), SHUT_RDWR);
	pthread_mutex_unlock(&l->mu);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)STOP_WAIT_MS * 1000000;
	until.tv_sec += until.tv_nsec / 1000000000;
	until.tv_nsec %= 1000000000;
	return pthread_timedjoin_np(l->reader, NULL, &until) == 0;
}

/* The operator asked to quit: now, even with the reader still in a
 * connect (it would touch this frame's loop after we return). */
static int quit_now(struct loop *l, int code)
{
	if (!stop_reader(l)) {
		fflush(stdout);
		term_leave();
		_exit(code);
	}
	return code;
}

/* The frame at NOW_MS into L->frame (under MU: the view is shared); its length. */
static size_t render(struct loop *l, int64_t now_ms)
{
	unsigned cols = 80, rows = 24;
	if (l->tty || isatty(STDOUT_FILENO)) {
		term_size(&rows, &cols);
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
			return 0;
		l->frame = f;
		l->fcap = need;
	}
	unsigned window = l->cfg->window;
	int64_t secs = (now_ms - l->t0 + 999) / 1000;
	if (secs < 1)
		secs = 1;
	pthread_mutex_lock(&l->mu);
	struct watch_status st = {
	    .where = l->t.where,
	    .live = l->s != NULL,
	    .problem = l->problem,
	    .lost = l->lost_before + (l->s ? recstream_lost(l->s) : 0),
	    .covered = secs < window ? (unsigned)secs : window,
	    .plain = !l->tty,
	};
	size_t n = l->v->draw(l->v->ctx, now_ms / 1000, cols, rows, &st, l->frame, l->fcap);
	pthread_mutex_unlock(&l->mu);
	return n;
}

static void draw(struct loop *l, int64_t now_ms)
{
	size_t n = render(l, now_ms);
	if (l->tty) {
		term_frame(l->frame, n);
	} else {
		fwrite(l->frame, 1, n, stdout);
		if (!l->cfg->once)
			fputc('\n', stdout); /* frames apart on a pipe */
		fflush(stdout);
	}
}

/* With -1: gather until the end, then one frame. */
static int run_once(struct loop *l)
{
	const struct watch_cfg *cfg = l->cfg;
	int64_t end = l->t0 + (int64_t)(cfg->duration ? cfg->duration : cfg->window) * 1000;
	for (;;) {
		int64_t now = mono_ms();
		pthread_mutex_lock(&l->mu);
		bool ended = l->ended;
		pthread_mutex_unlock(&l->mu);
		if (ended || now >= end) {
			stop_reader(l);
			draw(l, now);
			if (!ended)
				return 0;
			fprintf(stderr, "ringcache %s: %s: %s\n", cfg->prog, l->t.where,
				l->problem);
			return 1;
		}
		struct pollfd pf = {.fd = l->wake[0], .events = POLLIN};
		if (poll(&pf, 1, (int)(end - now)) > 0)
			drain(l);
	}
}

static int run_live(struct loop *l)
{
	int64_t next_frame = l->t0 + FRAME_MS;
	bool redraw = l->tty; /* the first frame at once on a screen */
	for (;;) {
		/* A signal: term_leave ends the program by it now, not after
		 * the reader's connect. Or the terminal went away. */
		if (term_quit_asked()) {
			term_leave();
			return quit_now(l, 0);
		}
		int64_t now = mono_ms();
		pthread_mutex_lock(&l->mu);
		int fatal = l->fatal;
		pthread_mutex_unlock(&l->mu);
		if (fatal) {
			stop_reader(l);
			term_leave();
			fprintf(stderr, "ringcache %s: %s\n", l->cfg->prog, l->problem);
			return fatal;
		}
		if (redraw || now >= next_frame) {
			draw(l, now);
			redraw = false;
			next_frame = now >= next_frame ? now + FRAME_MS : next_frame;
		}
		int wait = next_frame > now ? (int)(next_frame - now) : 0;
		if (term_wait(l->wake[0], wait) & TERM_READY_FD) {
			drain(l);
			redraw = true;
		}
		for (int k; (k = term_key()) != TERM_KEY_NONE;) {
			if (k == 'q' || k == 'Q')
				return quit_now(l, 0);
			pthread_mutex_lock(&l->mu);
			if (l->v->key && l->v->key(l->v->ctx, k))
				redraw = true;
			pthread_mutex_unlock(&l->mu);
		}
		if (term_resized())
			redraw = true;
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
	if (pipe2(l->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		fprintf(stderr, "ringcache %s: pipe: %s\n", cfg.prog, strerror(errno));
		free(l);
		return 1;
	}
	pthread_mutex_init(&l->mu, NULL);
	snprintf(l->problem, sizeof(l->problem), "connecting");
	l->t0 = mono_ms();
	int rc;
	/* With -1 the first open decides: no daemon is an error, not a wait. */
	int r = cfg.once ? open_stream(l) : 0;
	if (r < 0) {
		fprintf(stderr, "ringcache %s: %s\n", cfg.prog, l->problem);
		rc = r == -2 ? 2 : 1;
	} else if (start_reader(l) < 0) {
		fprintf(stderr, "ringcache %s: cannot start a thread\n", cfg.prog);
		recstream_close(&l->s);
		rc = 1;
	} else {
		l->tty = !cfg.once && term_usable() && term_enter() == 0;
		rc = cfg.once ? run_once(l) : run_live(l);
		term_leave();
	}
	pthread_mutex_destroy(&l->mu);
	close(l->wake[0]);
	close(l->wake[1]);
	free(l->frame);
	free(l);
	return rc;
}
