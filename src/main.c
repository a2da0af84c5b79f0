/* main.c - command line, config, signals; the loops do the rest. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "ops/log.h"
#include "ops/notify.h"
#include "proxy/proxy.h"
#include "rt/clock.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ringcache [-t] -c FILE\n"
		   "       ringcache --version | --help\n"
		   "  -c, --config FILE  configuration file (YAML)\n"
		   "  -t, --test         check the configuration file and exit\n"
		   "  -v, --version      print the version and exit\n"
		   "  -h, --help         this text\n"
		   "Signals: SIGTERM/SIGINT drain (timeouts.drain, default 10 s) and exit 0.\n"
		   "Under systemd (Type=notify) it reports READY=1, STOPPING=1 and STATUS=\n"
		   "to NOTIFY_SOCKET, and pings WATCHDOG=1 when WatchdogSec= is set.\n");
}

static struct config *load(const char *path)
{
	struct config_errors errs = {0};
	struct config *cfg = config_load(path, &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.lines[i]);
	config_errors_clear(&errs);
	return cfg;
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
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	notify_init();
	struct proxy px;
	int r = proxy_start(&px, cfg);
	if (r < 0) {
		log_error("startup failed: %s", strerror(-r));
		notify_sendf("STATUS=startup failed: %s", strerror(-r));
		proxy_drain(&px, 0);
		proxy_free(&px);
		config_free(&cfg);
		notify_close();
		return 1;
	}
	log_info("ringcache %s started with %s", RINGCACHE_VERSION, path);
	notify_sendf("READY=1\nSTATUS=serving %s with %u loops", cfg->listen[0].spec, cfg->threads);
	/* The watchdog is pinged at half the interval systemd set, and only
	 * while every loop answers: a loop stuck in a task makes systemd
	 * restart the service, as WatchdogSec= intends. */
	uint64_t wd_usec = notify_watchdog_usec();
	if (wd_usec && wd_usec < 3000)
		wd_usec = 3000; /* a shorter interval would only spin this thread */
	rt_time_t next_ping = rt_clock_now();
	if (wd_usec)
		proxy_loops_alive(&px); /* posts the first ping */
	for (;;) {
		int sig = 0;
		if (wd_usec) {
			/* Ping every third of the interval, measured from an
			 * absolute time: other signals (SIGHUP, SIGUSR1) that
			 * wake this thread must not push the ping back. */
			rt_time_t now = rt_clock_now();
			if (now >= next_ping) {
				if (proxy_loops_alive(&px))
					notify_send("WATCHDOG=1");
				next_ping = now + wd_usec / 3 * 1000;
				continue;
			}
			uint64_t left_ns = next_ping - now;
			struct timespec ts = {.tv_sec = (time_t)(left_ns / 1000000000),
					      .tv_nsec = (long)(left_ns % 1000000000)};
			siginfo_t info;
			sig = sigtimedwait(&set, &info, &ts);
			if (sig < 0)
				continue; /* the time came (EAGAIN), or EINTR */
		} else if (sigwait(&set, &sig) != 0) {
			continue;
		}
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("%s: draining", strsignal(sig));
			/* Tell systemd how long the drain may take, past the
			 * unit's TimeoutStopSec if timeouts.drain is longer. */
			notify_sendf("STOPPING=1\nSTATUS=draining (%s)\nEXTEND_TIMEOUT_USEC=%llu",
				     strsignal(sig),
				     (unsigned long long)(cfg->timeouts.drain_ns / 1000 + 5000000));
			break;
		}
		if (sig == SIGHUP)
			log_warn("SIGHUP: configuration reload is not implemented yet; ignored");
		/* SIGUSR1: there is no log file to reopen yet (stderr only). */
	}
	proxy_drain(&px, cfg->timeouts.drain_ns);
	proxy_free(&px);
	config_free(&cfg);
	log_info("stopped");
	notify_close();
	return 0;
}
