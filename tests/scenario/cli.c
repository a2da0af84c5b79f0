/*
 * The daemon's command line: `ringcache -t -c FILE` checks a configuration
 * and exits without serving; errors name FILE:LINE:COL.
 */
#include "harness.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(cli, .fini = harness_fini, .timeout = 30);

/*
 * Find a line of TEXT that starts with "FILE:LINE:" followed by a column
 * number and ": ". Returns the line (up to its end) in OUT, or NULL.
 */
static const char *find_error_line(const char *text, const char *file, int line, char *out,
				   size_t out_size)
{
	char prefix[PATH_MAX + 32];
	int pl = snprintf(prefix, sizeof(prefix), "%s:%d:", file, line);
	for (const char *p = text; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len > (size_t)pl && !strncmp(p, prefix, (size_t)pl)) {
			const char *q = p + pl;
			const char *d = q;
			while (isdigit((unsigned char)*d))
				d++;
			if (d > q && atoi(q) > 0 && d[0] == ':' && d[1] == ' ') {
				snprintf(out, out_size, "%.*s", (int)len, p);
				return out;
			}
		}
		p = e ? e + 1 : NULL;
	}
	return NULL;
}

static void check_config(const char *path, struct cmd_result *r)
{
	char *argv[] = {(char *)RINGCACHE_BIN, (char *)"-t", (char *)"-c", (char *)path, NULL};
	cr_assert(access(RINGCACHE_BIN, X_OK) == 0, "daemon binary %s missing", RINGCACHE_BIN);
	run_cmd(argv, 5000, r);
	cr_assert_not(r->timed_out, "-t did not exit within 5 s (is it serving?)");
}

Test(cli, check_good_config_exits_0_without_serving)
{
	char path[PATH_MAX];
	struct cmd_result r;
	int port = free_port(), backend = free_port();
	char *yaml = rc_yaml(&(struct rc_cfg){.port = port, .servers = &backend, .n_servers = 1});
	write_test_file("good.yaml", yaml, path, sizeof(path));
	free(yaml);
	check_config(path, &r);
	cr_assert(r.exited, "-t did not exit normally");
	cr_assert_eq(r.exit_code, 0, "exit %d; stdout:\n%s\nstderr:\n%s", r.exit_code, r.out,
		     r.err);
	/* A check is only a check: the listen port must not have been taken. */
	struct conn c;
	cr_assert_neq(conn_try_open(&c, port), 0, "something listens on the -t config's port");
	cmd_result_free(&r);
}

Test(cli, unknown_key_exits_1_naming_its_line)
{
	char path[PATH_MAX], line[512];
	struct cmd_result r;
	int port = free_port(), backend = free_port();
	char *yaml = rc_yaml(&(struct rc_cfg){.port = port, .servers = &backend, .n_servers = 1});
	/* Line 6, inside the backend entry (lines 1-5 are listen..servers). */
	char *bad = NULL;
	const char *cut = strstr(yaml, "    connect_timeout:");
	cr_assert_not_null(cut);
	cr_assert(asprintf(&bad, "%.*s    bogus_option: 1s\n%s", (int)(cut - yaml), yaml, cut) > 0);
	int nl = 0;
	for (const char *p = bad; p < strstr(bad, "bogus_option"); p++)
		nl += *p == '\n';
	cr_assert_eq(nl + 1, 6, "test bug: the key is on line %d", nl + 1);
	write_test_file("unknown.yaml", bad, path, sizeof(path));
	check_config(path, &r);
	cr_assert(r.exited);
	cr_assert_eq(r.exit_code, 1, "exit %d; stderr:\n%s", r.exit_code, r.err);
	const char *hit = find_error_line(r.err, path, 6, line, sizeof(line));
	if (!hit)
		hit = find_error_line(r.out, path, 6, line, sizeof(line));
	cr_assert_not_null(hit, "no \"%s:6:COL: \" line; stdout:\n%s\nstderr:\n%s", path, r.out,
			   r.err);
	cr_assert_not_null(strstr(line, "bogus_option"), "the error does not name the key: %s",
			   line);
	cmd_result_free(&r);
	free(bad);
	free(yaml);
}

Test(cli, every_error_is_reported_at_once)
{
	char path[PATH_MAX], line[512];
	struct cmd_result r;
	int port = free_port(), backend = free_port();
	char *yaml = rc_yaml(&(struct rc_cfg){.port = port, .servers = &backend, .n_servers = 1});
	/* Two unknown keys: line 3 (top level) and the last line. */
	char *bad = NULL;
	const char *cut = strstr(yaml, "backends:");
	cr_assert_not_null(cut);
	cr_assert(asprintf(&bad, "%.*sfirst_unknown: 1\n%ssecond_unknown: 2\n", (int)(cut - yaml),
			   yaml, cut) > 0);
	int lines = 0;
	for (const char *p = bad; *p; p++)
		lines += *p == '\n';
	write_test_file("two.yaml", bad, path, sizeof(path));
	check_config(path, &r);
	cr_assert_eq(r.exit_code, 1, "exit %d; stderr:\n%s", r.exit_code, r.err);
	char *all = NULL;
	cr_assert(asprintf(&all, "%s\n%s", r.err, r.out) > 0);
	cr_assert_not_null(find_error_line(all, path, 3, line, sizeof(line)),
			   "no line-3 error:\n%s", all);
	cr_assert_not_null(strstr(line, "first_unknown"), "%s", line);
	cr_assert_not_null(find_error_line(all, path, lines, line, sizeof(line)),
			   "no line-%d error:\n%s", lines, all);
	cr_assert_not_null(strstr(line, "second_unknown"), "%s", line);
	free(all);
	cmd_result_free(&r);
	free(bad);
	free(yaml);
}
