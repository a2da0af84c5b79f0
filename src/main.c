/* main.c - command line, config, signals; the loops do the rest. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
		   "       ringcache --version | --help\n"
		   "  -c, --config FILE  configuration file (YAML)\n"
		   "  -t, --test         check the configuration file and exit\n"
		   "  -v, --version      print the version and exit\n"
		   "  -h, --help         this text\n"
		   "Signals: SIGHUP reloads the configuration file (a bad file is refused and\n"
		   "the running configuration kept); SIGTERM/SIGINT drain (timeouts.drain,\n"
		   "default 10 s) and exit 0; SIGUSR1 reopens the access log (log.access).\n"
		   "Under systemd (Type=notify) it reports READY=1, RELOADING=1, STOPPING=1 and\n"
		   "STATUS= to NOTIFY_SOCKET, and pings WATCHDOG=1 when WatchdogSec= is set.\n");
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
	    {"config", required_argument, NULL, 'c'},
	    {"test", no_argument, NULL, 't'},
	    {"version", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
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
