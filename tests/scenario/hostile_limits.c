/*
 * Running out of descriptors: accept fails with EMFILE, and the daemon must
 * pause accepting rather than spin on a listener that stays readable, keep
 * serving the connections it has, and accept again once descriptors free up.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

TestSuite(hostile_limits, .fini = harness_fini, .timeout = 60);

/* User + system CPU seconds of PID so far (from /proc/PID/stat). */
static double cpu_seconds(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	cr_assert_not_null(p);
	unsigned long utime = 0, stime = 0;
	/* Fields after the command: state(3) ... utime(14) stime(15). */
	int got =
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
	cr_assert_eq(got, 2);
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

Test(hostile_limits, out_of_descriptors_pauses_accepting_without_spinning)
{
	struct proc o, d;
	/* Start the daemon with few descriptors (io_uring takes the limit
	 * when an accept is armed, so it must be in force from the start):
	 * its rings, listeners and pools take some, the rest go to clients. */
	struct rlimit mine;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &mine), 0);
	struct rlimit low = {.rlim_cur = 256, .rlim_max = mine.rlim_max};
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	start_origin(&o);
	memset(&d, 0, sizeof(d));
	d.port = free_port();
	char *yaml = rc_yaml(&(struct rc_cfg){.port = d.port, .servers = &o.port, .n_servers = 1});
	start_ringcache(&d, yaml);
	free(yaml);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &mine), 0);
	enum { N = 400 };
	static struct conn cs[N];
	int opened = 0;
	for (int i = 0; i < N; i++) {
		if (conn_try_open(&cs[i], d.port) == 0)
			opened++;
	}
	cr_assert_geq(opened, N / 2, "the kernel backlog takes the connections");
	sleep_ms(300);
	double c0 = cpu_seconds(d.pid);
	sleep_ms(2000);
	double used = cpu_seconds(d.pid) - c0;
	cr_assert_lt(used, 0.5, "the daemon spun at the descriptor limit: %.2f s CPU in 2 s", used);
	cr_assert(strstr(proc_log(&d), "pausing accepts"), "no EMFILE log line:\n%s", proc_log(&d));
	/* Free the descriptors: accepting resumes and requests are served. */
	for (int i = 0; i < N; i++)
		conn_close(&cs[i]);
	double until = now_s() + 5;
	int ok = 0;
	while (!ok && now_s() < until) {
		struct response r = {0};
		struct conn c;
		if (conn_try_open(&c, d.port) == 0) {
			conn_send_str(&c, "GET /after?size=5 HTTP/1.1\r\nHost: t\r\n\r\n");
			if (read_response(&c, &r, 0) == READ_OK && r.status == 200)
				ok = 1;
			response_free(&r);
			conn_close(&c);
		}
		if (!ok)
			sleep_ms(100);
	}
	cr_assert(ok, "no request served after descriptors were freed:\n%s", proc_log(&d));
	assert_alive(&d);
	harness_end();
}
