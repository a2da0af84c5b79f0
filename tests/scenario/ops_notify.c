/*
 * The systemd notification protocol, without systemd: the test binds the
 * datagram socket itself, passes it as NOTIFY_SOCKET (and WATCHDOG_USEC),
 * starts the real daemon and checks the messages and their order.
 */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TestSuite(ops_notify, .fini = harness_fini, .timeout = 30);

/* Bind a datagram socket at PATH ("@name": abstract) and export it. */
static int notify_listen(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	memcpy(a.sun_path, path, n);
	if (path[0] == '@')
		a.sun_path[0] = '\0';
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, len), 0, "bind %s: %s", path, strerror(errno));
	setenv("NOTIFY_SOCKET", path, 1);
	return fd;
}

/* The next datagram within TIMEOUT_MS into BUF (NUL-terminated); 0 if none. */
static int next_msg(int fd, char *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) != 1)
		return 0;
	ssize_t n = recv(fd, buf, cap - 1, 0);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	return 1;
}

/* Stop D with SIGTERM while reading notifications: returns the message that
 * contains STOPPING=1 (malloc'd), after checking the daemon exited 0. */
static char *stop_and_expect_stopping(struct proc *d, int fd)
{
	kill(d->pid, SIGTERM);
	char buf[1024];
	char *stopping = NULL;
	while (!stopping && next_msg(fd, buf, sizeof(buf), 5000)) {
		if (strstr(buf, "STOPPING=1"))
			stopping = strdup(buf);
	}
	cr_assert_not_null(stopping, "no STOPPING=1 after SIGTERM; log:\n%s", proc_log(d));
	int st = stop_proc(d);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
	return stopping;
}

Test(ops_notify, ready_watchdog_and_stopping_in_order)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/notify.sock", test_dir());
	int fd = notify_listen(path);
	setenv("WATCHDOG_USEC", "200000", 1); /* ping every 100 ms */
	struct proc o, d;
	start_pair(&o, &d);

	char buf[1024];
	cr_assert(next_msg(fd, buf, sizeof(buf), 5000), "no notification at all");
	cr_assert(!strncmp(buf, "READY=1\n", 8), "first message: %s", buf);
	cr_assert(strstr(buf, "STATUS=serving "), "READY without STATUS: %s", buf);
	/* The daemon serves once READY is sent. */
	struct response r;
	http_get_once(d.port, "/x?size=10", &r);
	cr_assert_eq(r.status, 200);
	response_free(&r);

	/* Pings keep coming while other signals (SIGUSR1 every 30 ms, faster
	 * than the ping interval) wake the main thread. */
	int pings = 0;
	double t0 = now_s(), last_hup = 0;
	while (now_s() - t0 < 1.0) {
		if (now_s() - last_hup > 0.03) {
			kill(d.pid, SIGUSR1);
			last_hup = now_s();
		}
		if (!next_msg(fd, buf, sizeof(buf), 30))
			continue;
		cr_assert_str_eq(buf, "WATCHDOG=1", "unexpected message: %s", buf);
		pings++;
	}
	cr_assert_geq(pings, 6, "%d WATCHDOG=1 in a second with WATCHDOG_USEC=200000", pings);

	char *stopping = stop_and_expect_stopping(&d, fd);
	cr_assert(strstr(stopping, "STATUS=draining"), "%s", stopping);
	cr_assert(strstr(stopping, "EXTEND_TIMEOUT_USEC=15000000"), "drain 10 s + 5 s: %s",
		  stopping);
	free(stopping);
	close(fd);
	harness_end();
}

Test(ops_notify, abstract_socket_and_no_watchdog_for_another_pid)
{
	char name[64];
	snprintf(name, sizeof(name), "@ringcache-test-%d", (int)getpid());
	int fd = notify_listen(name);
	setenv("WATCHDOG_USEC", "100000", 1);
	setenv("WATCHDOG_PID", "1", 1); /* meant for another process: no pings */
	struct proc o, d;
	start_pair(&o, &d);
	char buf[1024];
	cr_assert(next_msg(fd, buf, sizeof(buf), 5000), "no READY on an abstract socket");
	cr_assert(!strncmp(buf, "READY=1\n", 8), "%s", buf);
	cr_assert_not(next_msg(fd, buf, sizeof(buf), 500), "unexpected message: %s", buf);
	free(stop_and_expect_stopping(&d, fd));
	close(fd);
	harness_end();
}

Test(ops_notify, without_notify_socket_nothing_is_sent_and_it_runs)
{
	unsetenv("NOTIFY_SOCKET");
	setenv("WATCHDOG_USEC", "100000", 1);
	struct proc o, d;
	start_pair(&o, &d);
	struct response r;
	http_get_once(d.port, "/x?size=10", &r);
	cr_assert_eq(r.status, 200);
	response_free(&r);
	harness_end();
}

/* MONOTONIC_USEC's value in MSG, or -1. */
static long long monotonic_usec(const char *msg)
{
	const char *p = strstr(msg, "MONOTONIC_USEC=");
	return p ? atoll(p + strlen("MONOTONIC_USEC=")) : -1;
}

Test(ops_notify, reload_sends_reloading_then_ready)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/notify.sock", test_dir());
	int fd = notify_listen(path);
	unsetenv("WATCHDOG_USEC");
	struct proc o, d;
	start_pair(&o, &d);
	char buf[1024];
	cr_assert(next_msg(fd, buf, sizeof(buf), 5000) && !strncmp(buf, "READY=1\n", 8), "%s", buf);

	/* A good reload: RELOADING=1 with the time it began, then READY=1. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kill(d.pid, SIGHUP);
	cr_assert(next_msg(fd, buf, sizeof(buf), 5000), "nothing after SIGHUP");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert(!strncmp(buf, "RELOADING=1\n", 12), "first message after SIGHUP: %s", buf);
	long long us = monotonic_usec(buf);
	long long lo = t0.tv_sec * 1000000LL + t0.tv_nsec / 1000;
	long long hi = t1.tv_sec * 1000000LL + t1.tv_nsec / 1000;
	cr_assert(us >= lo && us <= hi, "MONOTONIC_USEC=%lld not in [%lld, %lld]", us, lo, hi);
	cr_assert(strstr(buf, "STATUS=reloading"), "%s", buf);
	cr_assert(next_msg(fd, buf, sizeof(buf), 5000), "no READY=1 after RELOADING=1");
	cr_assert(!strncmp(buf, "READY=1\n", 8), "%s", buf);
	cr_assert(strstr(buf, "(configuration 2)"), "%s", buf);

	/* A refused file: still READY=1 (the old configuration serves). */
	FILE *f = fopen(d.cfg_path, "a");
	cr_assert_not_null(f);
	fputs("bogus_key: 1\n", f);
	fclose(f);
	kill(d.pid, SIGHUP);
	cr_assert(next_msg(fd, buf, sizeof(buf), 5000) && !strncmp(buf, "RELOADING=1\n", 12), "%s",
		  buf);
	cr_assert(next_msg(fd, buf, sizeof(buf), 5000) && !strncmp(buf, "READY=1\n", 8), "%s", buf);
	cr_assert(strstr(buf, "(configuration 2)"), "%s", buf);
	free(stop_and_expect_stopping(&d, fd));
	close(fd);
	harness_end();
}
