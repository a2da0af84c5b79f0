/* main.c - command line, config, signals; the loops do the rest. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/hist.h"
#include "cli/log.h"
#include "cli/stat.h"
#include "cli/top.h"
#include "config/config.h"
#include "ops/accesslog.h"
#include "ops/log.h"
#include "ops/notify.h"
#include "daemon/admin.h"
#include "daemon/daemon.h"
#include "rt/clock.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ringcache [-t] -c FILE\n"
		   "       ringcache log [-c FILE | --admin URL] [-q QUERY] [-o FORMAT] ...\n"
		   "       ringcache stat [-c FILE | --admin URL] [-1 | -j] [-f PATTERN]... ...\n"
		   "       ringcache top [-c FILE | --admin URL] [-q QUERY] [-b VIEW] [-1] ...\n"
		   "       ringcache hist [-c FILE | --admin URL] [-q QUERY] [-f FIELD] [-1] ...\n"
		   "       ringcache --health http://IP:PORT/PATH\n"
		   "       ringcache --version | --help\n"
		   "  -c, --config FILE  configuration file (YAML)\n"
		   "  -t, --test         check the configuration file and exit\n"
		   "      --health URL   GET URL (2 s at most): exit 0 on a 2xx status, else 1\n"
		   "  -v, --version      print the version and exit\n"
		   "  -h, --help         this text\n"
		   "Signals: SIGHUP reloads the configuration file (a bad file is refused and\n"
		   "the running configuration kept); SIGTERM/SIGINT drain (timeouts.drain,\n"
		   "default 10 s) and exit 0; SIGUSR1 reopens the access log (log.access).\n"
		   "Under systemd (Type=notify) it reports READY=1, RELOADING=1, STOPPING=1 and\n"
		   "STATUS= to NOTIFY_SOCKET, and pings WATCHDOG=1 when WatchdogSec= is set.\n");
}

/*
 * `ringcache --health URL`: the container health check (Docker HEALTHCHECK,
 * Kubernetes exec probes), so that the image needs no curl. It runs before
 * any loop thread exists, so plain blocking sockets are fine; what is left
 * of one budget bounds every call (on Linux SO_SNDTIMEO bounds connect too).
 * Exit 0 on a 2xx status line, 1 on anything else, a bad URL included: 2
 * is reserved by Docker's HEALTHCHECK.
 */
#define HEALTH_BUDGET_NS (2 * RT_SEC)

static int health_fail(const char *url, const char *what, int err)
{
	if (err == EAGAIN || err == EWOULDBLOCK || err == EINPROGRESS)
		fprintf(stderr, "ringcache: %s: %s: no answer within 2 s\n", url, what);
	else if (err)
		fprintf(stderr, "ringcache: %s: %s: %s\n", url, what, strerror(err));
	else
		fprintf(stderr, "ringcache: %s: %s\n", url, what);
	return 1;
}

/* Sets the socket's send and receive timeouts to what is left until DUE;
 * false with errno EAGAIN when nothing is left. */
static bool health_time_left(int fd, rt_time_t due)
{
	rt_time_t now = rt_clock_now();
	if (now >= due) {
		errno = EAGAIN;
		return false;
	}
	uint64_t left = due - now;
	struct timeval tv = {.tv_sec = (time_t)(left / RT_SEC),
			     .tv_usec = (suseconds_t)(left % RT_SEC / 1000) + 1};
	return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
	       setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0;
}

static int health(const char *url)
{
	/* http://IP:PORT/PATH, IP an IPv4 address or [IPv6]: no names, since
	 * a health check that waits on DNS says nothing about the daemon. */
	if (strncmp(url, "http://", 7) != 0)
		return health_fail(url, "not an http://IP:PORT/PATH URL", 0);
	const char *auth = url + 7, *path = strchr(auth, '/');
	size_t al = path ? (size_t)(path - auth) : strlen(auth);
	if (!path)
		path = "/";
	char host[64];
	const char *colon = memrchr(auth, ':', al);
	if (!colon || colon == auth || (size_t)(colon - auth) >= sizeof(host))
		return health_fail(url, "not an http://IP:PORT/PATH URL", 0);
	size_t hl = (size_t)(colon - auth);
	memcpy(host, auth, hl);
	host[hl] = '\0';
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (end != auth + al || end == colon + 1 || port == 0 || port > 65535)
		return health_fail(url, "bad port", 0);
	for (const char *p = path; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return health_fail(url, "the path has a space or a control byte", 0);
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	if (host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return health_fail(url, "not an IPv6 address", 0);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return health_fail(url, "not an IPv4 address (or [IPv6])", 0);
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		sl = sizeof(*a4);
	}
	char req[2048];
	int rl = snprintf(req, sizeof(req),
			  "GET %s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: ringcache-health\r\n"
			  "Connection: close\r\n\r\n",
			  path, (int)al, auth);
	if (rl < 0 || (size_t)rl >= sizeof(req))
		return health_fail(url, "the URL is too long", 0);

	rt_time_t due = rt_clock_now() + HEALTH_BUDGET_NS;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return health_fail(url, "socket", errno);
	int st = 1;
	if (!health_time_left(fd, due) || connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		st = health_fail(url, "connect", errno);
		goto out;
	}
	for (int sent = 0; sent < rl;) {
		ssize_t n = health_time_left(fd, due)
				? send(fd, req + sent, (size_t)(rl - sent), MSG_NOSIGNAL)
				: -1;
		if (n < 0) {
			st = health_fail(url, "send", errno);
			goto out;
		}
		sent += (int)n;
	}
	/* The status line is all that is judged; the rest is not read. */
	char buf[256];
	size_t got = 0;
	char *eol = NULL;
	while (!eol && got < sizeof(buf) - 1) {
		ssize_t n =
		    health_time_left(fd, due) ? recv(fd, buf + got, sizeof(buf) - 1 - got, 0) : -1;
		if (n < 0) {
			st = health_fail(url, "receive", errno);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		eol = strstr(buf, "\r\n");
	}
	buf[got] = '\0';
	if (eol)
		*eol = '\0';
	bool digits = got >= 12 && buf[9] >= '0' && buf[9] <= '9' && buf[10] >= '0' &&
		      buf[10] <= '9' && buf[11] >= '0' && buf[11] <= '9';
	if (!digits || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ') {
		st =
		    health_fail(url, got ? "not an HTTP response" : "closed without a response", 0);
		goto out;
	}
	unsigned code = (unsigned)(buf[9] - '0') * 100 + (unsigned)(buf[10] - '0') * 10 +
			(unsigned)(buf[11] - '0');
	if (code >= 200 && code <= 299)
		st = 0;
	else
		health_fail(url, buf, 0);
out:
	close(fd);
	return st;
}

static struct config *load(const char *path)
{
	struct config_errors errs = {0};
	struct config *cfg = config_load(path, &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.lines[i]);
	config_errors_clear(&errs);
	/* Warnings: what loads but is likely a mistake (-t shows them too). */
	for (size_t i = 0; cfg && i < cfg->n_warnings; i++)
		fprintf(stderr, "%s\n", cfg->warnings[i]);
	return cfg;
}

static void status_serving(const struct daemon *d)
{
	const struct config *cfg = daemon_config(d);
	notify_sendf("READY=1\nSTATUS=serving %s with %u loops (configuration %llu)",
		     cfg->n_listen ? cfg->listen[0].spec : "nothing", cfg->threads,
		     (unsigned long long)d->gen_seq);
}

/*
 * SIGHUP or POST /reload: load and check PATH, then swap it in. A file
 * with errors is refused whole and the running configuration stays; the
 * outcome is kept for the admin request that may be waiting for it.
 */
static void reload(struct daemon *d, const char *path)
{
	unsigned long asked = atomic_load(&d->reload_asked);
	struct timespec mono;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	notify_sendf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
		     (unsigned long long)mono.tv_sec * 1000000ull +
			 (unsigned long long)mono.tv_nsec / 1000,
		     path);
	log_info("reloading %s", path);
	char text[sizeof(d->reload_errors)];
	size_t tl = 0;
	text[0] = '\0';
	struct config_errors errs = {0};
	struct config *cfg = config_load(path, &errs);
	int r;
	if (!cfg) {
		for (size_t i = 0; i < errs.n; i++) {
			log_error("%s", errs.lines[i]);
			int n = snprintf(text + tl, sizeof(text) - tl, "%s\n", errs.lines[i]);
			if (n > 0 && (size_t)n < sizeof(text) - tl)
				tl += (size_t)n;
		}
		r = -EINVAL;
	} else {
		for (size_t i = 0; i < cfg->n_warnings; i++)
			log_warn("%s", cfg->warnings[i]);
		r = daemon_reload(d, cfg);
		if (r < 0)
			snprintf(text, sizeof(text), "%s\n", strerror(-r));
	}
	config_errors_clear(&errs);
	if (r == 0)
		log_info("reloaded %s: configuration %llu", path, (unsigned long long)d->gen_seq);
	else
		log_error("reload of %s refused; still running configuration %llu", path,
			  (unsigned long long)d->gen_seq);
	pthread_mutex_lock(&d->lock);
	d->reload_status = r;
	d->reload_gen = d->gen_seq;
	memcpy(d->reload_errors, text, sizeof(text));
	pthread_mutex_unlock(&d->lock);
	atomic_store(&d->reload_done, asked);
	status_serving(d);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
	    {"version", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
	    {"health", required_argument, NULL, 'H'}, {NULL, 0, NULL, 0},
	};
	/* Subcommands: a word first, the rest is theirs. */
	if (argc > 1 && strcmp(argv[1], "log") == 0)
		return cli_log_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "top") == 0)
		return cli_top_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "hist") == 0)
		return cli_hist_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "stat") == 0)
		return cli_stat_main(argc - 1, argv + 1);
	const char *path = NULL;
	bool test_only = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "c:tvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test_only = true;
			break;
		case 'v':
			printf("ringcache %s\n", RINGCACHE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'H':
			return health(optarg);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path) {
		usage(stderr);
		return 2;
	}
	struct config *cfg = load(path);
	if (!cfg)
		return 1;
	if (test_only) {
		printf("%s: configuration ok\n", path);
		config_free(&cfg);
		return 0;
	}
	static const int levels[] = {LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG};
	atomic_store(&log_max_level, levels[cfg->log_level]);

	/* Signals are taken synchronously by this thread with sigwait; loop
	 * threads inherit the blocked mask and never see them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, RESOLVE_SIGNAL); /* the resolver posted address sets (daemon/resolve.h) */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	notify_init();
	struct daemon d;
	int r = daemon_start(&d, cfg, admin_accepted); /* d owns cfg from here on */
	if (r < 0) {
		log_error("startup failed: %s", strerror(-r));
		notify_sendf("STATUS=startup failed: %s", strerror(-r));
		daemon_drain(&d, 0);
		daemon_free(&d);
		notify_close();
		return 1;
	}
	log_info("ringcache %s started with %s", RINGCACHE_VERSION, path);
	status_serving(&d);
	/* The watchdog is pinged at half the interval systemd set, and only
	 * while every loop answers: a loop stuck in a task makes systemd
	 * restart the service, as WatchdogSec= intends. */
	uint64_t wd_usec = notify_watchdog_usec();
	if (wd_usec && wd_usec < 3000)
		wd_usec = 3000; /* a shorter interval would only spin this thread */
	rt_time_t next_ping = rt_clock_now();
	if (wd_usec)
		daemon_loops_alive(&d); /* posts the first ping */
	for (;;) {
		int sig = 0;
		/* Two things come at a time rather than with a signal: the
		 * watchdog ping, every third of the interval measured from an
		 * absolute time (other signals that wake this thread must not
		 * push it back), and the new generation for address sets the
		 * resolver posted (a burst of them is taken at once). */
		rt_time_t now = rt_clock_now();
		if (wd_usec && now >= next_ping) {
			if (daemon_loops_alive(&d))
				notify_send("WATCHDOG=1");
			next_ping = now + wd_usec / 3 * 1000;
			continue;
		}
		rt_time_t due = resolve_due(&d.res);
		if (due <= now) {
			daemon_follow(&d);
			continue;
		}
		if (wd_usec && next_ping < due)
			due = next_ping;
		if (due != RT_NEVER) {
			uint64_t left_ns = due - now;
			struct timespec ts = {.tv_sec = (time_t)(left_ns / 1000000000),
					      .tv_nsec = (long)(left_ns % 1000000000)};
			siginfo_t info;
			sig = sigtimedwait(&set, &info, &ts);
			if (sig < 0)
				continue; /* the time came (EAGAIN), or EINTR */
		} else if (sigwait(&set, &sig) != 0) {
			continue;
		}
		if (sig == RESOLVE_SIGNAL) {
			resolve_woken(&d.res);
			continue;
		}
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("%s: draining", strsignal(sig));
			/* Tell systemd how long the drain may take, past the
			 * unit's TimeoutStopSec if timeouts.drain is longer. */
			notify_sendf(
			    "STOPPING=1\nSTATUS=draining (%s)\nEXTEND_TIMEOUT_USEC=%llu",
			    strsignal(sig),
			    (unsigned long long)(daemon_config(&d)->timeouts.drain_ns / 1000 +
						 5000000));
			break;
		}
		if (sig == SIGHUP)
			reload(&d, path);
		if (sig == SIGUSR1 && d.alog) {
			/* logrotate moved the access log: write to a new file. */
			int e = alog_reopen(d.alog);
			if (e < 0)
				log_error("SIGUSR1: cannot reopen %s: %s; still writing to the old "
					  "file",
					  alog_path(d.alog), strerror(-e));
			else
				log_info("SIGUSR1: reopened %s", alog_path(d.alog));
		}
	}
	daemon_drain(&d, daemon_config(&d)->timeouts.drain_ns);
	daemon_free(&d);
	log_info("stopped");
	notify_close();
	return 0;
}
