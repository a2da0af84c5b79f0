/*
 * Hostile slow clients (issue #7): slowloris heads, slow request bodies and
 * slow readers from slowhttptest, and a connection flood past
 * limits.max_connections. In each, the daemon must close what its timeouts
 * say it must, keep answering normal requests on fresh connections while
 * the attack runs, give back its connections afterwards, and neither spin
 * nor die.
 *
 * slowhttptest (Debian package, installed by scripts/deps.sh) runs in the
 * background for a bounded time while the test makes one normal request
 * every PROBE_EVERY_MS and samples the daemon's ringcache_connections gauge
 * on an admin listener.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(hostile_slow, .fini = harness_fini, .timeout = 60);

#define SLOWHTTPTEST "/usr/bin/slowhttptest"

/* A normal request while under attack: one every PROBE_EVERY_MS, each on a
 * fresh connection, each must answer 200 within PROBE_BOUND_S. The bound is
 * loose on purpose: CI machines have 2 CPUs shared with slowhttptest, the
 * other test of the pair and, in the sanitizer build, AddressSanitizer. */
#define PROBE_EVERY_MS 100
#define PROBE_BOUND_S  2.0
#define PROBE_BODY     64

/* Connections the test itself may hold on the daemon when it reads the
 * gauge: a probe and slowhttptest's own probe connection, plus slack. */
#define GAUGE_QUIET 3

/* ---- setup ----------------------------------------------------------------- */

struct setup {
	struct proc o, d;
	int admin_port;
};

/*
 * Origin plus daemon with an admin listener. TIMEOUTS are more (indented)
 * lines for the timeouts block, LIMITS more for the limits block; C the
 * standard knobs (port and servers are filled in here).
 */
static void start_setup(struct setup *s, struct rc_cfg c, const char *timeouts, const char *limits)
{
	start_origin(&s->o);
	memset(&s->d, 0, sizeof(s->d));
	s->d.port = free_port();
	s->admin_port = free_port();
	c.port = s->d.port;
	c.servers = &s->o.port;
	c.n_servers = 1;
	char extra[512];
	/* rc_yaml ends with the limits block, so the extra lines land in it. */
	snprintf(extra, sizeof(extra), "%sadmin:\n  listen: \"127.0.0.1:%d\"\n",
		 limits ? limits : "", s->admin_port);
	c.extra = extra;
	char *yaml = rc_yaml(&c);
	/* rc_yaml writes its own timeouts block: put the extra timeouts in it. */
	char *at = strstr(yaml, "timeouts:\n");
	cr_assert_not_null(at);
	size_t head = (size_t)(at - yaml) + strlen("timeouts:\n");
	const char *more = timeouts ? timeouts : "";
	char *full = malloc(strlen(yaml) + strlen(more) + 1);
	cr_assert_not_null(full);
	memcpy(full, yaml, head);
	strcpy(full + head, more);
	strcat(full, yaml + head);
	start_ringcache(&s->d, full);
	free(full);
	free(yaml);
	cr_assert(port_wait(s->admin_port, 3000), "the admin API does not accept; log:\n%s",
		  proc_log(&s->d));
}

/* The value of the unlabelled metric NAME in the admin /metrics text. */
static long metric(const struct setup *s, const char *name)
{
	struct response r;
	http_once(s->admin_port, "GET", "/metrics", NULL, &r);
	cr_assert_eq(r.status, 200, "/metrics: %s", r.raw_head);
	long v = -1;
	size_t n = strlen(name);
	for (const char *p = r.body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, n) == 0 && p[n] == ' ') {
			v = strtol(p + n + 1, NULL, 10);
			break;
		}
	}
	response_free(&r);
	cr_assert_geq(v, 0, "no %s in /metrics", name);
	return v;
}

static long open_connections(const struct setup *s)
{
	return metric(s, "ringcache_connections");
}

/* Poll the gauge until it is at most MAX; returns the last value read. */
static long wait_connections_at_most(const struct setup *s, long max, int timeout_ms)
{
	double deadline = now_s() + timeout_ms / 1000.0;
	long v;
	while ((v = open_connections(s)) > max && now_s() < deadline)
		sleep_ms(100);
	return v;
}

/* ---- the prober ------------------------------------------------------------ */

struct probes {
	int sent, ok;
	double max_s;	 /* slowest successful probe */
	char first[320]; /* the first failure, for the message */
	double next_at;	 /* when the next probe is due */
};

/* One normal GET on a fresh connection; records whether it came back in time. */
static void probe_once(const struct setup *s, struct probes *p)
{
	struct conn c;
	struct response r = {0};
	char why[256] = "";
	double t0 = now_s();
	p->sent++;
	int rc = conn_try_open(&c, s->d.port);
	if (rc < 0) {
		snprintf(why, sizeof(why), "connect: %s", strerror(-rc));
		goto out;
	}
	c.timeout_ms = (int)(PROBE_BOUND_S * 1000) + 1000;
	rc = conn_sendf(&c, "GET /probe?size=%d HTTP/1.1\r\nHost: test.local\r\n\r\n", PROBE_BODY);
	if (rc < 0) {
		snprintf(why, sizeof(why), "send: %s", strerror(-rc));
	} else if (read_response(&c, &r, 0) != READ_OK) {
		snprintf(why, sizeof(why), "no response: %s", r.error);
	} else if (r.status != 200 || !r.complete || r.body_len != PROBE_BODY) {
		snprintf(why, sizeof(why), "status %d, %zu body bytes (%s)", r.status, r.body_len,
			 r.error);
	}
	response_free(&r);
	conn_close(&c);
out:;
	double took = now_s() - t0;
	if (!why[0] && took > PROBE_BOUND_S)
		snprintf(why, sizeof(why), "took %.2f s", took);
	if (why[0]) {
		if (!p->first[0])
			snprintf(p->first, sizeof(p->first), "probe %d: %s", p->sent, why);
		return;
	}
	p->ok++;
	if (took > p->max_s)
		p->max_s = took;
}

/* Probe if one is due; then sleep a little so the loop does not spin. */
static void probe_tick(const struct setup *s, struct probes *p)
{
	if (now_s() >= p->next_at) {
		p->next_at = now_s() + PROBE_EVERY_MS / 1000.0;
		probe_once(s, p);
	}
	sleep_ms(10);
}

static void assert_probes(const struct probes *p, const char *during)
{
	cr_assert_gt(p->sent, 10, "only %d normal requests during %s", p->sent, during);
	cr_assert_eq(p->ok, p->sent,
		     "%d of %d normal requests during %s failed or took over %.1f s; first: %s",
		     p->sent - p->ok, p->sent, during, PROBE_BOUND_S, p->first);
}

/* ---- slowhttptest in the background ------------------------------------------ */

struct attack {
	pid_t pid;
	int status;
	double started, ended;
	char out_path[PATH_MAX], err_path[PATH_MAX];
	char csv_base[PATH_MAX]; /* -o: slowhttptest adds .csv and .html */
	int duration_s;		 /* its -l */
};

static void need_slowhttptest(void)
{
	cr_assert(access(SLOWHTTPTEST, X_OK) == 0,
		  "%s is missing (%s): install it with scripts/deps.sh test "
		  "(Debian package slowhttptest)",
		  SLOWHTTPTEST, strerror(errno));
}

/*
 * Start slowhttptest with ARGS (NULL-terminated, after argv[0]), with -g -o
 * added for its CSV. It dies with the test process (PDEATHSIG).
 */
static void attack_start(struct attack *a, const char *name, int duration_s,
			 const char *const *args)
{
	need_slowhttptest();
	memset(a, 0, sizeof(*a));
	a->duration_s = duration_s;
	snprintf(a->out_path, sizeof(a->out_path), "%s/%s.out", test_dir(), name);
	snprintf(a->err_path, sizeof(a->err_path), "%s/%s.err", test_dir(), name);
	snprintf(a->csv_base, sizeof(a->csv_base), "%s/%s", test_dir(), name);
	char dur[16];
	snprintf(dur, sizeof(dur), "%d", duration_s);
	const char *argv[40];
	size_t n = 0;
	argv[n++] = SLOWHTTPTEST;
	argv[n++] = "-l";
	argv[n++] = dur;
	argv[n++] = "-g";
	argv[n++] = "-o";
	argv[n++] = a->csv_base;
	for (size_t i = 0; args[i]; i++) {
		cr_assert_lt(n, sizeof(argv) / sizeof(argv[0]) - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	int out = open(a->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int err = open(a->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(out >= 0 && err >= 0, "open %s: %s", a->out_path, strerror(errno));
	pid_t parent = getpid();
	a->started = now_s();
	a->pid = fork();
	cr_assert_geq(a->pid, 0, "fork: %s", strerror(errno));
	if (a->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out);
	close(err);
}

/* 1 once slowhttptest has exited (reaped, status in a->status). */
static int attack_done(struct attack *a)
{
	if (!a->pid)
		return 1;
	pid_t w = waitpid(a->pid, &a->status, WNOHANG);
	if (w != a->pid)
		return 0;
	a->pid = 0;
	a->ended = now_s();
	return 1;
}

/* Stop it early (its connections go with it), then reap it. */
static void attack_stop(struct attack *a)
{
	if (!a->pid)
		return;
	kill(a->pid, SIGKILL);
	while (waitpid(a->pid, &a->status, 0) < 0 && errno == EINTR) {
	}
	a->pid = 0;
	a->ended = now_s();
}

/* Its stdout, for messages (ANSI colours and all); malloc'd. */
static char *attack_output(const struct attack *a)
{
	FILE *f = fopen(a->out_path, "r");
	if (!f)
		return strdup("(no output)");
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t k;
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, k, m);
	fclose(f);
	fclose(m);
	return buf;
}

/* The last screenful of its output: enough to see its final status. */
static const char *tail_of(const char *s)
{
	size_t n = strlen(s);
	return n > 1500 ? s + n - 1500 : s;
}

/* Its CSV report: rows "Seconds,Closed,Pending,Connected,Service Available". */
struct report {
	int rows;
	long max_closed, max_connected;
	long unavailable; /* rows where its own probe got no answer in time */
};

static void attack_report(const struct attack *a, struct report *rep)
{
	memset(rep, 0, sizeof(*rep));
	char path[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s.csv", a->csv_base);
	FILE *f = fopen(path, "r");
	char *out = attack_output(a);
	cr_assert_not_null(f, "slowhttptest wrote no CSV report %s; its output:\n%s", path,
			   tail_of(out));
	free(out);
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		long sec, closed, pending, connected, avail;
		if (sscanf(line, "%ld,%ld,%ld,%ld,%ld", &sec, &closed, &pending, &connected,
			   &avail) != 5)
			continue; /* the header line */
		rep->rows++;
		if (closed > rep->max_closed)
			rep->max_closed = closed;
		if (connected > rep->max_connected)
			rep->max_connected = connected;
		if (avail == 0)
			rep->unavailable++;
	}
	fclose(f);
}

/*
 * Run the attack to its end while probing; returns the peak of the daemon's
 * connection gauge seen meanwhile. Fails if slowhttptest outlives its -l.
 */
static long attack_run_probing(const struct setup *s, struct attack *a, struct probes *p)
{
	long peak = 0;
	double next_gauge = 0;
	double deadline = a->started + a->duration_s + 10;
	while (!attack_done(a)) {
		if (now_s() > deadline) {
			attack_stop(a);
			cr_assert_fail("slowhttptest still ran %d s after its -l %d",
				       (int)(now_s() - a->started) - a->duration_s, a->duration_s);
		}
		probe_tick(s, p);
		if (now_s() >= next_gauge) {
			next_gauge = now_s() + 0.5;
			long v = open_connections(s);
			if (v > peak)
				peak = v;
		}
	}
	return peak;
}

/* Warm the daemon and the origin with one request, and check it answers. */
static void warm(const struct setup *s, const char *path)
{
	struct response r;
	http_once(s->d.port, "GET", path, NULL, &r);
	cr_assert_eq(r.status, 200, "%s: %s", path, r.raw_head);
	cr_assert(r.complete, "%s: %s", path, r.error);
	response_free(&r);
}

/* ---- slowloris --------------------------------------------------------------- */

#define LORIS_CONNS "1000"
#define LORIS_LIMIT 20

/*
 * 1000 connections at 200/s, each sending one more header line every second:
 * a per-read timeout would never fire, but timeouts.client_header is a
 * deadline for the whole head, so each is closed 2 s after it came.
 */
Test(hostile_slow, slowloris_heads_are_cut_and_normal_requests_still_succeed)
{
	struct setup s;
	start_setup(&s, (struct rc_cfg){.client_header = "2s"}, NULL, NULL);
	warm(&s, "/probe?size=64");
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/loris", s.d.port);
	const char *args[] = {"-H",		 /* slow headers */
			      "-c", LORIS_CONNS, /* connections */
			      "-r", "200",	 /* opened per second */
			      "-i", "1",	 /* a follow-up header line every second */
			      "-x", "24",	 /* of up to 24 bytes */
			      "-p", "3",	 /* its own probe waits 3 s */
			      "-u", url,	 NULL};
	struct attack a;
	struct probes p = {0};
	attack_start(&a, "loris", LORIS_LIMIT, args);
	long peak = attack_run_probing(&s, &a, &p);
	char *out = attack_output(&a);
	struct report rep;
	attack_report(&a, &rep);

	cr_assert(WIFEXITED(a.status) && WEXITSTATUS(a.status) == 0,
		  "slowhttptest failed (status %d):\n%s", a.status, tail_of(out));
	/* It stops by itself once the server has closed every connection. */
	cr_assert_not_null(strstr(out, "No open connections left"),
			   "slowhttptest's connections were not all closed by the daemon "
			   "within %d s; its output:\n%s",
			   LORIS_LIMIT, tail_of(out));
	cr_assert_lt(a.ended - a.started, LORIS_LIMIT - 2, "the attack took %.1f s",
		     a.ended - a.started);
	/* Its CSV has a row a second, so the last closes never show in it:
	 * the exit status above is the proof, the CSV a cross-check. */
	cr_assert_geq(rep.max_closed, 50,
		      "its report shows only %ld connections closed (peak %ld connected)",
		      rep.max_closed, rep.max_connected);
	cr_assert_geq(peak, 50, "the daemon never held many slow connections (peak %ld)", peak);
	assert_probes(&p, "the slowloris run");
	long left = wait_connections_at_most(&s, 0, 5000);
	cr_assert_eq(left, 0, "%ld connections still open after the run", left);
	cr_log_info("slowloris: %d/%d probes ok, slowest %.3f s; daemon peak %ld connections; "
		    "slowhttptest peak %ld connected, %ld closed, its probe unanswered in %ld "
		    "of %d report rows, done in %.1f s",
		    p.ok, p.sent, p.max_s, peak, rep.max_connected, rep.max_closed, rep.unavailable,
		    rep.rows, a.ended - a.started);
	free(out);
	assert_alive(&s.d);
	harness_end();
}

/* ---- slow request bodies ------------------------------------------------------ */

#define BODY_CONNS "500"
#define BODY_LIMIT 20

/*
 * POSTs that promise 8 KiB and send a few bytes every 3 s: with
 * timeouts.client_body 1s each is closed after its first silence. The
 * backend's first-byte timeout is long so that only client_body can end them.
 */
Test(hostile_slow, slow_bodies_are_cut_and_normal_requests_still_succeed)
{
	struct setup s;
	start_setup(&s, (struct rc_cfg){.first_byte_timeout = "30s"}, "  client_body: 1s\n", NULL);
	warm(&s, "/probe?size=64");
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", s.d.port);
	const char *args[] = {"-B",		/* slow bodies */
			      "-c", BODY_CONNS, /* connections */
			      "-r", "200",	/* opened per second */
			      "-s", "8192",	/* Content-Length */
			      "-i", "3",	/* a follow-up every 3 s */
			      "-x", "10",	/* of up to 10 bytes */
			      "-p", "3",	/* its own probe waits 3 s */
			      "-u", url,	NULL};
	struct attack a;
	struct probes p = {0};
	attack_start(&a, "body", BODY_LIMIT, args);
	long peak = attack_run_probing(&s, &a, &p);
	char *out = attack_output(&a);
	struct report rep;
	attack_report(&a, &rep);

	cr_assert(WIFEXITED(a.status) && WEXITSTATUS(a.status) == 0,
		  "slowhttptest failed (status %d):\n%s", a.status, tail_of(out));
	cr_assert_not_null(strstr(out, "No open connections left"),
			   "slowhttptest's connections were not all closed by the daemon "
			   "within %d s; its output:\n%s",
			   BODY_LIMIT, tail_of(out));
	cr_assert_lt(a.ended - a.started, BODY_LIMIT - 2, "the attack took %.1f s",
		     a.ended - a.started);
	/* Its CSV has a row a second, so the last closes never show in it:
	 * the exit status above is the proof, the CSV a cross-check. */
	cr_assert_geq(rep.max_closed, 50,
		      "its report shows only %ld connections closed (peak %ld connected)",
		      rep.max_closed, rep.max_connected);
	cr_assert_geq(peak, 50, "the daemon never held many slow connections (peak %ld)", peak);
	assert_probes(&p, "the slow body run");
	long left = wait_connections_at_most(&s, 0, 5000);
	cr_assert_eq(left, 0, "%ld connections still open after the run", left);
	cr_log_info("slow body: %d/%d probes ok, slowest %.3f s; daemon peak %ld connections; "
		    "slowhttptest peak %ld connected, %ld closed, its probe unanswered in %ld "
		    "of %d report rows, done in %.1f s",
		    p.ok, p.sent, p.max_s, peak, rep.max_connected, rep.max_closed, rep.unavailable,
		    rep.rows, a.ended - a.started);
	free(out);
	assert_alive(&s.d);
	harness_end();
}

/* ---- slow readers --------------------------------------------------------------- */

#define READ_CONNS    "100"
#define READ_LIMIT    25
#define READ_OBJ_PATH "/big?size=1048576&cc=max-age%3D3600"

/*
 * Sockets on the daemon's PORT that it has closed but the kernel still
 * holds with unsent bytes (FIN-WAIT-1, CLOSING, LAST-ACK with a send
 * queue): what a slow reader keeps being fed after the daemon gave up.
 */
static int orphans_with_data(int port)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	cr_assert_not_null(f, "/proc/net/tcp: %s", strerror(errno));
	char line[512];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned lport, st;
		unsigned long txq;
		if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %lx:%*x", &lport, &st, &txq) != 3)
			continue; /* the header */
		if ((int)lport == port && (st == 0x04 || st == 0x0B || st == 0x09) && txq > 0)
			n++;
	}
	fclose(f);
	return n;
}

/*
 * Clients that ask for a cached 1 MiB object three times per connection,
 * advertise a 512..1024 byte window and read 32 bytes every 5 s. With
 * timeouts.send 2s the daemon gives up on each once a send has stalled that
 * long; its own gauge shows it. The attack is stopped once the gauge is
 * down, while it would otherwise still be running. With CHECK_RESET, the
 * connections it gave up on must also be gone from the kernel (see
 * slow_readers_are_reset).
 */
static void slow_read_run(bool check_reset)
{
	struct setup s;
	start_setup(&s, (struct rc_cfg){0}, "  send: 2s\n", NULL);
	warm(&s, READ_OBJ_PATH);
	warm(&s, "/probe?size=64");
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s.d.port, READ_OBJ_PATH);
	const char *args[] = {"-X",			      /* slow reads */
			      "-c", READ_CONNS,		      /* connections */
			      "-r", "100",		      /* opened per second */
			      "-w", "512",	"-y", "1024", /* advertised window range */
			      "-n", "5",	"-z", "32",   /* read 32 bytes every 5 s */
			      "-k", "3", /* requests pipelined per connection */
			      "-p", "3", /* its own probe waits 3 s */
			      "-u", url,	NULL};
	struct attack a;
	struct probes p = {0};
	attack_start(&a, "read", READ_LIMIT, args);
	long peak = 0, now = -1;
	double next_gauge = 0, cut_at = 0;
	/* The ramp takes about 1 s, the send timeout 2 s: 12 s is plenty. */
	double deadline = a.started + 12;
	while (now_s() < deadline && !attack_done(&a)) {
		probe_tick(&s, &p);
		if (now_s() < next_gauge)
			continue;
		next_gauge = now_s() + 0.25;
		now = open_connections(&s);
		if (now > peak)
			peak = now;
		if (peak >= 50 && now <= GAUGE_QUIET) {
			cut_at = now_s();
			break;
		}
	}
	/* Probe on for another second with the (dead) attack still in place. */
	for (double until = now_s() + 1; now_s() < until;)
		probe_tick(&s, &p);
	int orphans = orphans_with_data(s.d.port);
	int still_running = !attack_done(&a);
	attack_stop(&a);
	char *out = attack_output(&a);

	cr_assert_geq(peak, 50,
		      "the daemon never held many slow readers (peak %ld); "
		      "slowhttptest:\n%s",
		      peak, tail_of(out));
	cr_assert(cut_at > 0,
		  "the daemon still had %ld connections %.1f s into the attack (peak %ld): "
		  "slow readers were not cut by timeouts.send",
		  now, now_s() - a.started, peak);
	cr_assert(still_running, "slowhttptest ended by itself, so the closes prove nothing:\n%s",
		  tail_of(out));
	assert_probes(&p, "the slow read run");
	if (check_reset)
		cr_assert_eq(orphans, 0,
			     "%d connections the daemon closed still hold unsent response bytes "
			     "in the kernel, fed to the slow readers",
			     orphans);
	long left = wait_connections_at_most(&s, 0, 5000);
	cr_assert_eq(left, 0, "%ld connections still open after the run", left);
	cr_log_info("slow read: %d/%d probes ok, slowest %.3f s; daemon peak %ld connections, "
		    "all cut %.1f s into the attack; %d closed sockets still queued in the kernel",
		    p.ok, p.sent, p.max_s, peak, cut_at - a.started, orphans);
	free(out);
	assert_alive(&s.d);
	harness_end();
}

Test(hostile_slow, slow_readers_are_cut_and_normal_requests_still_succeed)
{
	slow_read_run(false);
}

/*
 * A connection given up on for a stalled send should be reset (SO_LINGER 0,
 * as nginx's reset_timedout_connection), not closed gracefully: today the
 * daemon's shutdown + close leaves each one to the kernel in FIN-WAIT-1 with
 * up to tcp_wmem[2] (4 MiB) of the response queued, still fed to the slow
 * reader; 100 such readers pin about 400 MiB of kernel memory after the
 * daemon has "closed" them all, and none count against max_connections.
 * Disabled until src/proxy/client.c resets them.
 */
Test(hostile_slow, slow_readers_are_reset)
{
	slow_read_run(true);
}

/* ---- max_connections ----------------------------------------------------------- */

#define MAXC	    50
#define FLOOD	    200
#define KEEP	    30 /* idle connections left open after the flood is thinned */
#define CPU_WINDOW  2.0
#define CPU_MAX_PCT 10.0

static struct conn flood[FLOOD];

/* utime + stime of PID in seconds, from /proc/PID/stat; -1 if unreadable. */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after the command name, which may hold spaces and parentheses. */
	const char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long utime, stime;
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) !=
	    2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * Open FLOOD idle connections (the kernel completes them all: the listen
 * backlog is 4096) and wait until the daemon's gauge stops moving at or over
 * MAXC. Returns how many it holds.
 */
static long flood_held(const struct setup *s)
{
	for (int i = 0; i < FLOOD; i++) {
		int rc = conn_try_open(&flood[i], s->d.port);
		cr_assert_eq(rc, 0, "connection %d: %s", i, strerror(-rc));
	}
	double deadline = now_s() + 5;
	long held = 0, last = -1;
	for (;;) {
		held = open_connections(s);
		if (held >= MAXC && held == last)
			return held;
		cr_assert_lt(now_s(), deadline,
			     "the daemon holds %ld connections 5 s after %d were opened, "
			     "limit %d",
			     held, FLOOD, MAXC);
		last = held;
		sleep_ms(200);
	}
}

/*
 * 200 idle connections against limits.max_connections 50: the daemon takes
 * 50 and leaves the rest in the listen backlog. Meanwhile it must not spin
 * (accept retried in a loop), must not die, and once most connections are
 * gone, new requests and the ones that waited in the backlog are served.
 */
Test(hostile_slow, max_connections_pauses_accepting_without_spinning)
{
	struct setup s;
	/* Long head and idle timeouts: the idle connections stay, and the
	 * daemon stays at its limit while the CPU is measured. */
	char limits[64];
	snprintf(limits, sizeof(limits), "  max_connections: %d\n", MAXC);
	start_setup(&s, (struct rc_cfg){.client_header = "30s", .client_idle = "30s"}, NULL,
		    limits);
	warm(&s, "/probe?size=64");
	long held = flood_held(&s);
	if (held > MAXC)
		cr_log_info("the daemon took %ld connections with limits.max_connections %d "
			    "(see max_connections_is_a_hard_limit)",
			    held, MAXC);

	double cpu0 = cpu_seconds(s.d.pid), t0 = now_s();
	sleep_ms((int)(CPU_WINDOW * 1000));
	double cpu1 = cpu_seconds(s.d.pid), t1 = now_s();
	cr_assert(cpu0 >= 0 && cpu1 >= 0, "cannot read /proc/%d/stat", (int)s.d.pid);
	double pct = 100.0 * (cpu1 - cpu0) / (t1 - t0);
	cr_assert_lt(pct, CPU_MAX_PCT,
		     "the daemon used %.0f%% of a CPU while idle at its connection limit "
		     "(%.2f s in %.2f s): it spins",
		     pct, cpu1 - cpu0, t1 - t0);
	long after = open_connections(&s);
	cr_assert_eq(after, held, "%ld connections held after the idle wait, %ld before", after,
		     held);
	assert_alive(&s.d);

	/* Thin the flood: those it took and most of the queued ones go away. */
	for (int i = 0; i < FLOOD - KEEP; i++)
		conn_close(&flood[i]);
	struct probes p = {0};
	for (int i = 0; i < 20; i++) {
		p.next_at = 0;
		probe_tick(&s, &p);
	}
	assert_probes(&p, "the connection flood");
	/* Those that waited in the backlog were taken in the end, and work. */
	for (int i = FLOOD - KEEP; i < FLOOD; i++) {
		struct response r;
		flood[i].timeout_ms = 3000;
		cr_assert_eq(conn_send_str(&flood[i], "GET /probe?size=64 HTTP/1.1\r\n"
						      "Host: test.local\r\n\r\n"),
			     0, "queued connection %d: send failed", i);
		cr_assert_eq(read_response(&flood[i], &r, 0), READ_OK, "queued connection %d: %s",
			     i, r.error);
		cr_assert_eq(r.status, 200, "queued connection %d: %s", i, r.raw_head);
		response_free(&r);
		conn_close(&flood[i]);
	}
	long left = wait_connections_at_most(&s, 0, 5000);
	cr_assert_eq(left, 0, "%ld connections still open after the flood", left);
	cr_log_info("max_connections: held %ld of %d (limit %d), %.1f%% CPU over %.1f s at the "
		    "limit; %d/%d probes ok afterwards, slowest %.3f s",
		    held, FLOOD, MAXC, pct, t1 - t0, p.ok, p.sent, p.max_s);
	assert_alive(&s.d);
	harness_end();
}

/*
 * The limit itself: never more than limits.max_connections client
 * connections at once. Disabled while the daemon overshoots it: the
 * multishot accept is cancelled only once the limit is reached, and the
 * connections the kernel accepted meanwhile (a whole batch from the
 * backlog, on each loop) are all taken; 200 connections against a limit of
 * 50 leave it holding 80..120. Enable once src/proxy/listen.c holds it.
 */
Test(hostile_slow, max_connections_is_a_hard_limit)
{
	struct setup s;
	char limits[64];
	snprintf(limits, sizeof(limits), "  max_connections: %d\n", MAXC);
	start_setup(&s, (struct rc_cfg){.client_header = "30s", .client_idle = "30s"}, NULL,
		    limits);
	long held = flood_held(&s);
	cr_assert_eq(held, MAXC, "the daemon holds %ld connections, limits.max_connections %d",
		     held, MAXC);
	for (int i = 0; i < FLOOD; i++)
		conn_close(&flood[i]);
	assert_alive(&s.d);
	harness_end();
}
