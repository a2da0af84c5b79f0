/*
 * Unit tests for the access log keys of src/config/ (walk.c, readers.c): log.access and
 * log.access_format (defaults, both formats, "off", error lines).
 */
#include "config/config.h"

#include <criterion/criterion.h>
#include <string.h>

#define MINIMAL                                                                                    \
	"listen: \":8080\"\n"                                                                      \
	"backends:\n"                                                                              \
	"  - name: app\n"                                                                          \
	"    servers: [\"127.0.0.1:9000\"]\n"

static struct config *load(const char *yaml, struct config_errors *errs)
{
	return config_load_string("t.yaml", yaml, strlen(yaml), errs);
}

static struct config *expect_ok(const char *yaml)
{
	struct config_errors e = {0};
	struct config *cfg = load(yaml, &e);
	cr_assert_not_null(cfg, "unexpected errors: %s", e.n ? e.lines[0] : "?");
	cr_assert_eq(e.n, 0);
	return cfg;
}

static void expect_one_error(const char *yaml, const char *line)
{
	struct config_errors e = {0};
	struct config *cfg = load(yaml, &e);
	cr_assert_null(cfg, "expected failure for:\n%s", yaml);
	cr_assert_eq(e.n, 1, "expected 1 error, got %zu (first: %s)", e.n, e.n ? e.lines[0] : "");
	cr_assert_str_eq(e.lines[0], line);
	config_errors_clear(&e);
}

Test(config_accesslog, defaults_no_access_log)
{
	struct config *cfg = expect_ok(MINIMAL);
	cr_assert_null(cfg->log_access_path);
	cr_assert_eq(cfg->log_access_format, ACCESS_FORMAT_COMBINED);
	config_free(&cfg);
	cfg = expect_ok(MINIMAL "log: {level: warn}\n");
	cr_assert_null(cfg->log_access_path);
	config_free(&cfg);
}

Test(config_accesslog, path_and_formats)
{
	struct config *cfg = expect_ok(MINIMAL "log:\n"
					       "  access: /var/log/ringcache/access.log\n");
	cr_assert_str_eq(cfg->log_access_path, "/var/log/ringcache/access.log");
	cr_assert_eq(cfg->log_access_format, ACCESS_FORMAT_COMBINED);
	config_free(&cfg);

	cfg = expect_ok(MINIMAL "log:\n"
				"  level: debug\n"
				"  access: \"logs/a b.log\"\n"
				"  access_format: json\n");
	cr_assert_str_eq(cfg->log_access_path, "logs/a b.log");
	cr_assert_eq(cfg->log_access_format, ACCESS_FORMAT_JSON);
	cr_assert_eq(cfg->log_level, LOG_LEVEL_DEBUG);
	config_free(&cfg);

	cfg = expect_ok(MINIMAL "log: {access: /tmp/x.log, access_format: combined}\n");
	cr_assert_eq(cfg->log_access_format, ACCESS_FORMAT_COMBINED);
	config_free(&cfg);
}

Test(config_accesslog, off)
{
	struct config *cfg = expect_ok(MINIMAL "log: {access: \"off\", access_format: json}\n");
	cr_assert_null(cfg->log_access_path);
	config_free(&cfg);
	cfg = expect_ok(MINIMAL "log: {access: off}\n");
	cr_assert_null(cfg->log_access_path);
	config_free(&cfg);
}

Test(config_accesslog, errors)
{
	expect_one_error(MINIMAL "log: {access: /tmp/x.log, access_format: xml}\n",
			 "t.yaml:5:42: log.access_format: unknown format 'xml'; expected one of: "
			 "combined, json");
	expect_one_error(MINIMAL "log:\n  access_format: JSON\n",
			 "t.yaml:6:18: log.access_format: unknown format 'JSON'; expected one of: "
			 "combined, json");
	expect_one_error(MINIMAL "log:\n  access_format: [json]\n",
			 "t.yaml:6:18: log.access_format: expected an access log format, got a "
			 "list");
	expect_one_error(MINIMAL "log:\n  access:\n",
			 "t.yaml:6:10: log.access: expected a file path or \"off\", got an empty "
			 "value");
	expect_one_error(
	    MINIMAL "log:\n  access: \"\"\n",
	    "t.yaml:6:11: log.access: must not be empty; give a file path, or \"off\"");
	expect_one_error(MINIMAL "log:\n  access: /var/log/\n",
			 "t.yaml:6:11: log.access: '/var/log/' is a directory; give a file path, "
			 "e.g. /var/log/access.log");
	expect_one_error(MINIMAL "log:\n  access: {file: x}\n",
			 "t.yaml:6:11: log.access: expected a file path or \"off\", got a mapping");
	expect_one_error(MINIMAL "log:\n  access: a\n  access: b\n",
			 "t.yaml:7:3: duplicate key 'access' in log (first given at line 6)");
	expect_one_error(MINIMAL "log:\n  acces: /tmp/x\n",
			 "t.yaml:6:3: unknown key 'acces' in log; expected one of: level, access, "
			 "access_format");
}
