/*
 * The starvation watchdog in the real daemon: a task that runs past
 * timeouts.task_budget without yielding is logged once, with its kind and
 * how long it ran, and counted in /metrics.
 *
 * A client task cannot be made to spin on purpose, so the test shrinks the
 * budget instead: with 1us, parsing a request head of 6 KiB and answering
 * it takes longer than that in any one run of the task (the TSC
 * measurement, the log line and the counter are the real ones).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(proxy_watchdog, .fini = harness_fini, .timeout = 30);

/* Sum of every ringcache_loop_slow_tasks_total{loop="N"} sample; -1 if none. */
static long long slow_tasks_total(const char *text)
{
	static const char name[] = "ringcache_loop_slow_tasks_total{";
	long long sum = -1;
	for (const char *p = text; (p = strstr(p, name)); p++) {
		if (p != text && p[-1] != '\n')
			continue;
		const char *v = strchr(p, ' ');
		if (!v)
			break;
		sum = (sum < 0 ? 0 : sum) + strtoll(v + 1, NULL, 10);
	}
	return sum;
}

static long long scrape_slow_tasks(int ap)
{
	struct response r;
	http_once(ap, "GET", "/metrics", NULL, &r);
	cr_assert_eq(r.status, 200, "GET /metrics: %s", r.raw_head);
	long long n = slow_tasks_total(r.body);
	cr_assert_geq(n, 0, "no ringcache_loop_slow_tasks_total in /metrics");
	response_free(&r);
	return n;
}

Test(proxy_watchdog, a_task_over_its_budget_is_logged_once_and_counted)
{
	struct proc o, d;
	int ap = free_port();
	char extra[128];
	snprintf(extra, sizeof(extra), "admin:\n  listen: \"127.0.0.1:%d\"\n", ap);
	start_origin(&o);
	memset(&d, 0, sizeof(d));
	d.port = free_port();
	char *yaml = rc_yaml(&(struct rc_cfg){.port = d.port,
					      .servers = &o.port,
					      .n_servers = 1,
					      .max_header_size = "32KiB",
					      .task_budget = "1us",
					      .extra = extra});
	start_ringcache(&d, yaml);
	free(yaml);
	cr_assert(port_wait(ap, 3000), "no admin listener; log:\n%s", proc_log(&d));

	/* 60 header fields of 90 bytes: work enough for a single run. */
	char *hdrs = malloc(60 * 96 + 1);
	size_t hl = 0;
	for (int i = 0; i < 60; i++)
		hl += (size_t)sprintf(hdrs + hl, "X-Filler-%03d: %070d\r\n", i, i);
	struct conn c;
	conn_open(&c, d.port);
	for (int i = 0; i < 3; i++) {
		conn_sendf(
		    &c, "GET /wd?size=100&cc=max-age%%3D60 HTTP/1.1\r\nHost: test.local\r\n%s\r\n",
		    hdrs);
		struct response r;
		read_response(&c, &r, 0);
		cr_assert_eq(r.status, 200, "request %d: %s", i, r.raw_head);
		response_free(&r);
	}
	conn_close(&c);
	free(hdrs);

	/* Each of the three requests overran at least once. */
	cr_assert_geq(scrape_slow_tasks(ap), 3, "the counter did not move");
	/* One line per task, however many of its runs overran: three slow
	 * requests on our connection give one line. The harness's readiness
	 * probe (connect, close) was a client task too and may have a line. */
	char *log = proc_log(&d);
	size_t client_lines = 0;
	for (const char *p = log; (p = strstr(p, "watchdog: task 'client' on loop ")); p++) {
		client_lines++;
		const char *e = strchr(p, '\n');
		const char *ms = strstr(p, " ms without yielding");
		cr_assert(e && ms && ms < e, "log line lacks the duration: %s", p);
	}
	cr_assert(client_lines >= 1 && client_lines <= 2,
		  "want one watchdog line per client task (2 tasks), got %zu; log:\n%s",
		  client_lines, log);
	free(log);
	harness_end();
}
