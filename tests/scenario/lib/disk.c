/* disk.c - helpers of the disk tier's scenario tests (disk.h). */
#include "disk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

char *fetch_metrics(int ap)
{
	struct response r;
	http_once(ap, "GET", "/metrics", NULL, &r);
	cr_assert_eq(r.status, 200, "GET /metrics: %s", r.raw_head);
	char *text = strndup(r.body, r.body_len);
	cr_assert_not_null(text);
	response_free(&r);
	return text;
}

double prom(const char *text, const char *series)
{
	size_t sl = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, series, sl) && p[sl] == ' ')
			return strtod(p + sl + 1, NULL);
	}
	return -1;
}

/* Poll until SERIES is WANT (AT_LEAST: WANT or more). */
static char *poll_metric(int ap, struct proc *d, const char *series, double want, bool at_least,
			 int seconds)
{
	char *m = NULL;
	for (int i = 0; i < seconds * 20; i++) {
		free(m);
		m = fetch_metrics(ap);
		double v = prom(m, series);
		if (v == want || (at_least && v > want))
			return m;
		sleep_ms(50);
	}
	cr_assert_fail("%s never became %s%g in %d s:\n%s\nlog:\n%s", series,
		       at_least ? "at least " : "", want, seconds, m, proc_log(d));
	return NULL;
}

char *wait_metric(int ap, struct proc *d, const char *series, double want, int seconds)
{
	return poll_metric(ap, d, series, want, false, seconds);
}

char *wait_at_least(int ap, struct proc *d, const char *series, double min, int seconds)
{
	return poll_metric(ap, d, series, min, true, seconds);
}

char *wait_rebuilt(int ap, struct proc *d, int seconds)
{
	return wait_metric(ap, d, "ringcache_disk_rebuild_done", 1, seconds);
}

int log_count(struct proc *d, const char *needle)
{
	char *log = proc_log(d);
	int n = 0;
	for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(log);
	return n;
}

void stopped_cleanly(struct proc *d)
{
	int st = stop_proc(d);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM: status %d; log:\n%s", st,
		  proc_log(d));
}

void damage(const char *store, off_t at, size_t n, unsigned seed)
{
	FILE *f = fopen(store, "r+b");
	cr_assert_not_null(f, "%s", store);
	cr_assert_eq(fseeko(f, at, SEEK_SET), 0);
	for (size_t i = 0; i < n; i++)
		fputc(rand_r(&seed) & 0xff, f);
	cr_assert_eq(fclose(f), 0);
}

void admin_post(int ap, const char *path)
{
	struct response r;
	http_once(ap, "POST", path, NULL, &r);
	cr_assert_eq(r.status, 200, "POST %s: %s %s", path, r.raw_head,
		     excerpt(r.body, r.body_len));
	response_free(&r);
}
