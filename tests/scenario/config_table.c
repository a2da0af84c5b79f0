/*
 * A table of bad config files and the exact error each must produce
 * (issue #6), checked end to end with `ringcache -t -c FILE`.
 *
 * Every row is a small YAML text written to a file. The daemon must exit 1,
 * must not say "configuration ok", and its stderr must be exactly the row's
 * "FILE:LINE:COL: message" lines: no line missing, none extra. The messages
 * are today's wording, pinned on purpose, so that a regression in position,
 * wording or hint fails here. A change that improves a message updates its
 * row.
 *
 * The rows are grouped by schema section, one Test per section. Between
 * them they cover every error class: unknown key (the message lists the
 * allowed keys), wrong type (scalar, list, mapping, empty), out-of-range
 * number, bad size or duration unit, bad address, bad enum value, missing
 * required key, duplicate key, YAML syntax and encoding errors, empty file.
 *
 * Most rows start with BASE, a valid minimal config of 4 lines, so that the
 * section under test starts on line 5.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(config_table, .fini = harness_fini, .timeout = 60);

#define BASE                                                                                       \
	"listen: \"127.0.0.1:18080\"\n"                                                            \
	"backends:\n"                                                                              \
	"  - name: app\n"                                                                          \
	"    servers: [\"127.0.0.1:19000\"]\n"

/* Lines 1-3 of a config whose only backend's keys start on line 5. */
#define BACKEND_HEAD                                                                               \
	"listen: \"127.0.0.1:18080\"\n"                                                            \
	"backends:\n"                                                                              \
	"  - name: app\n"
#define BACKEND BACKEND_HEAD "    servers: [\"127.0.0.1:19000\"]\n"

#define TOP_KEYS                                                                                   \
	"listen, threads, cache, backends, compression, admin, timeouts, limits, log, "            \
	"trusted_proxies, underscores_in_headers, routes, request_headers, response_headers, "     \
	"error_pages, forwarded, resolver, io, cluster"
#define BACKEND_KEYS                                                                               \
	"name, servers, balance, pool_size, connect_timeout, first_byte_timeout, "                 \
	"between_bytes_timeout, retries, health_check, error_pages, proxy_protocol, max_fails, "   \
	"fail_window, fail_timeout, fail_on_5xx"
#define CACHE_KEYS                                                                                 \
	"memory, max_object_size, default_ttl, heuristic_percent, heuristic_max, grace, "          \
	"hit_for_miss, key, rules, heuristic_with_credentials, purge_allow, disk"
#define RULE_KEYS	 "host, path_prefix, ttl, default_ttl, bypass, max_object_size, key, name"
#define COMPRESSION_KEYS "enabled, workers, queue, min_size, codings, levels, types, bench_on_loop"
#define LOG_KEYS	 "level, access, access_format"
#define TIMEOUT_KEYS	 "client_header, client_body, client_idle, send, task_budget, drain, tunnel"

#define RESOLVER_KEYS "servers, interval, timeout"
#define HOST_NAME     "invalid host name (dot-separated labels of letters, digits, '-' and '_')"
#define LABEL64	      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NUMERIC_DNS   "expected a numeric address (IP:PORT or [IPv6]:PORT)"

#define DURATION_HINT "(expected e.g. 250ms, 30s, 2m, 1h; units us, ms, s, m, h, d)"
#define SIZE_HINT     "(expected e.g. 4096, 16KiB, 256MiB, 10MB)"
#define HOST_HINT     "(expected a host name without port, or \"*.example.com\" for its subdomains)"
#define TYPE_HINT     "(expected e.g. \"text/html\" or \"text/*\")"
#define NOOP_RULE                                                                                  \
	"rule does nothing; give at least one of: ttl, default_ttl, bypass, max_object_size, key"

#define MAX_ERRS 4

struct bad_row {
	const char *name; /* names the file and the row in failure messages */
	const char *yaml;
	/* Every stderr line, each without the leading "FILE:" */
	const char *errs[MAX_ERRS];
};

struct good_row {
	const char *name;
	const char *yaml;
};

/* ---- the rows ------------------------------------------------------------- */

static const struct bad_row file_rows[] = {
    {"empty_file", "", {"1:1: empty configuration; need at least 'listen' and 'backends'"}},
    {"only_comments",
     "# nothing but a comment\n\n",
     {"1:1: empty configuration; need at least 'listen' and 'backends'"}},
    {"top_level_list",
     "- listen\n- backends\n",
     {"1:1: top level: expected a mapping, got a list"}},
    {"top_level_scalar", "hello\n", {"1:1: top level: expected a mapping, got a scalar"}},
    {"top_unknown_key",
     BASE "thread: 2\n",
     {"5:1: unknown key 'thread' at top level; expected one of: " TOP_KEYS}},
    {"top_merge_key_is_unknown",
     BASE "base: &base {level: info}\n"
	  "log:\n"
	  "  <<: *base\n",
     {"5:1: unknown key 'base' at top level; expected one of: " TOP_KEYS,
      "7:3: unknown key '<<' in log; expected one of: " LOG_KEYS}},
    {"top_duplicate_key",
     "listen: \"127.0.0.1:18080\"\n"
     "listen: \"127.0.0.1:18081\"\n"
     "backends:\n"
     "  - name: app\n"
     "    servers: [\"127.0.0.1:19000\"]\n",
     {"2:1: duplicate key 'listen' at top level (first given at line 1)"}},
    {"top_key_not_a_string",
     BASE "? [a]\n"
	  ": 1\n",
     {"5:3: keys must be strings, got a list at top level"}},
    {"missing_listen",
     "# listen forgotten\n"
     "backends:\n"
     "  - name: app\n"
     "    servers: [\"127.0.0.1:19000\"]\n",
     {"2:1: missing required key 'listen'"}},
    {"missing_backends", "listen: \"127.0.0.1:18080\"\n", {"1:1: missing required key 'backends'"}},
    {"syntax_unclosed_flow_list",
     "listen: [\"127.0.0.1:18080\"\n"
     "backends: []\n",
     {"2:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence "
      "(started at line 1 column 9)"}},
    {"syntax_bad_indent",
     "listen: \"127.0.0.1:18080\"\n"
     "  bad: indent\n",
     {"2:3: YAML syntax error: did not find expected key while parsing a block mapping "
      "(started at line 1 column 1)"}},
    {"syntax_tab_indent",
     BASE "log:\n"
	  "\tlevel: info\n",
     {"6:1: YAML syntax error: found character that cannot start any token while scanning for "
      "the next token (started at line 6 column 1)"}},
    {"syntax_unclosed_quote",
     BASE "log:\n"
	  "  level: \"info\n",
     {"7:1: YAML syntax error: found unexpected end of stream while scanning a quoted scalar "
      "(started at line 6 column 10)"}},
    {"syntax_undefined_alias",
     BASE "log:\n"
	  "  level: *nope\n",
     {"6:10: YAML syntax error: found undefined alias"}},
    {"encoding_bad_utf8",
     "listen: \"127.0.0.1:18080\"\n"
     "backends:\n"
     "  - name: \"\xff\xfe\"\n"
     "    servers: [\"127.0.0.1:19000\"]\n",
     {"3:12: YAML error: invalid leading UTF-8 octet"}},
    {"two_documents",
     BASE "---\n"
	  "listen: \"127.0.0.1:18081\"\n",
     {"5:1: only one YAML document is allowed"}},
    {"nul_in_quoted_value",
     BASE "log:\n"
	  "  level: \"in\\0fo\"\n",
     {"6:10: log.level: value contains a NUL character"}},
    /* Line numbers count CRLF line ends once, and a UTF-8 BOM is no column. */
    {"crlf_line_ends",
     "\xef\xbb\xbflisten: \"127.0.0.1:18080\"\r\n"
     "backends:\r\n"
     "  - name: app\r\n"
     "    servers: [\"127.0.0.1:19000\"]\r\n"
     "threads: 0\r\n",
     {"5:10: threads: 0 is out of range (1..1024)"}},
};

static const struct bad_row listen_rows[] = {
    {"listen_mapping",
     "listen: {host: 127.0.0.1}\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:9: listen: expected an address or a list of addresses, got a mapping"}},
    {"listen_empty_value",
     "listen:\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:8: listen: expected an address or a list of addresses, got an empty value"}},
    {"listen_empty_list",
     "listen: []\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:9: listen: at least one address is required"}},
    {"listen_item_list",
     "listen: [[\"127.0.0.1:18080\"]]\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:10: listen[0]: expected an address (HOST:PORT), got a list"}},
    /* Aliases may be cyclic; the schema walk must not follow them forever. */
    {"listen_cyclic_alias",
     "listen: &a [*a]\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:9: listen[0]: expected an address (HOST:PORT), got a list"}},
    {"listen_empty_string",
     "listen: \"\"\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:9: listen: invalid address '': empty address"}},
    {"listen_no_port",
     "listen: \"127.0.0.1\"\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:9: listen: invalid address '127.0.0.1': missing port (expected HOST:PORT)"}},
    {"listen_port_over_65535",
     "listen: \"127.0.0.1:99999\"\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:9: listen: invalid address '127.0.0.1:99999': invalid port (expected 0..65535)"}},
    {"listen_port_not_a_number",
     "listen: [\"127.0.0.1:http\"]\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:10: listen[0]: invalid address '127.0.0.1:http': invalid port (expected 0..65535)"}},
    {"listen_bad_ipv4",
     "listen: \"10.0.0.256:80\"\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:9: listen: invalid address '10.0.0.256:80': invalid IPv4 address"}},
    {"listen_ipv6_without_brackets",
     "listen: \"::1:80\"\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:9: listen: invalid address '::1:80': IPv6 addresses must be in brackets, e.g. "
      "[::1]:8080"}},
    {"listen_ipv6_unclosed_bracket",
     "listen: \"[::1:80\"\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:9: listen: invalid address '[::1:80': missing ']' after IPv6 address"}},
    {"listen_ipv6_no_port",
     "listen: \"[::1]\"\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:9: listen: invalid address '[::1]': missing port (expected [IPv6]:PORT)"}},
    {"listen_bad_ipv6",
     "listen: \"[zz::1]:80\"\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:9: listen: invalid address '[zz::1]:80': invalid IPv6 address"}},
    {"listen_same_address_twice",
     "listen: [\":18080\", \"0.0.0.0:18080\"]\n"
     "backends: [{name: app, servers: \"127.0.0.1:19000\"}]\n",
     {"1:20: listen[1]: '0.0.0.0:18080' is the same address as ':18080'"}},
};

static const struct bad_row threads_rows[] = {
    {"threads_word",
     BASE "threads: many\n",
     {"5:10: threads: 'many' is not a whole number or \"auto\""}},
    {"threads_overflow",
     BASE "threads: 99999999999999999999\n",
     {"5:10: threads: 99999999999999999999 is out of range (1..1024)"}},
    {"threads_zero", BASE "threads: 0\n", {"5:10: threads: 0 is out of range (1..1024)"}},
    {"threads_too_many", BASE "threads: 2000\n", {"5:10: threads: 2000 is out of range (1..1024)"}},
    {"threads_list",
     BASE "threads: [1]\n",
     {"5:10: threads: expected a number or \"auto\", got a list"}},
    {"threads_mapping",
     BASE "threads: {count: 2}\n",
     {"5:10: threads: expected a number or \"auto\", got a mapping"}},
    {"threads_empty",
     BASE "threads:\n",
     {"5:9: threads: expected a number or \"auto\", got an empty value"}},
};

static const struct bad_row backends_rows[] = {
    {"backend_duplicate_server",
     "listen: \"127.0.0.1:18080\"\n"
     "backends:\n"
     "  - name: app\n"
     "    servers: [\"127.0.0.1:19000\", {address: \"127.0.0.1:19000\", weight: 2}]\n",
     {"4:34: backends[0].servers[1]: '127.0.0.1:19000' is listed again (first as "
      "backends[0].servers[0]); give the server a weight instead"}},
    {"backend_empty_name",
     "listen: \"127.0.0.1:18080\"\n"
     "backends:\n"
     "  - name: \"\"\n"
     "    servers: [\"127.0.0.1:19000\"]\n",
     {"3:11: backends[0].name: must not be empty"}},
    {"backend_retries_too_many",
     BASE "    retries: 17\n",
     {"5:14: backends[0].retries: 17 is out of range (0..16)"}},
    {"health_unknown_key",
     BASE "    health_check: {path: /h, every: 2s}\n",
     {"5:30: unknown key 'every' in backends[0].health_check; expected one of: path, host, "
      "interval, timeout, rise, fall, expect_status"}},
    {"health_path_relative",
     BASE "    health_check: {path: h}\n",
     {"5:26: backends[0].health_check.path: 'h' is not a request-target; expected a path starting "
      "with '/' and no spaces, e.g. \"/healthz\""}},
    {"health_path_space",
     BASE "    health_check: {path: \"/a b\"}\n",
     {"5:26: backends[0].health_check.path: '/a b' is not a request-target; expected a path "
      "starting with '/' and no spaces, e.g. \"/healthz\""}},
    {"health_interval_short",
     BASE "    health_check: {interval: 1ms}\n",
     {"5:30: backends[0].health_check.interval: duration '1ms' is out of range (10ms..1h)"}},
    {"health_rise_zero",
     BASE "    health_check: {rise: 0}\n",
     {"5:26: backends[0].health_check.rise: 0 is out of range (1..100)"}},
    {"health_fall_word",
     BASE "    health_check: {fall: many}\n",
     {"5:26: backends[0].health_check.fall: 'many' is not a whole number"}},
    {"health_expect_range",
     BASE "    health_check: {expect_status: 600}\n",
     {"5:35: backends[0].health_check.expect_status: 600 is out of range (100..599)"}},
    {"health_expect_list_item",
     BASE "    health_check: {expect_status: [200, 99]}\n",
     {"5:41: backends[0].health_check.expect_status[1]: 99 is out of range (100..599)"}},
    {"health_expect_empty_list",
     BASE "    health_check: {expect_status: []}\n",
     {"5:35: backends[0].health_check.expect_status: expected 1 to 8 status codes, got 0"}},
    {"health_check_list",
     BASE "    health_check: [/h]\n",
     {"5:19: backends[0].health_check: expected a mapping, got a list"}},
    {"backends_scalar",
     "listen: \"127.0.0.1:18080\"\n"
     "backends: app\n",
     {"2:11: backends: expected a list of backends, got a scalar"}},
    {"backends_empty_list",
     "listen: \"127.0.0.1:18080\"\n"
     "backends: []\n",
     {"2:11: backends: at least one backend is required"}},
    {"backend_scalar",
     "listen: \"127.0.0.1:18080\"\n"
     "backends:\n"
     "  - app\n",
     {"3:5: backends[0]: expected a mapping, got a scalar"}},
    {"backend_empty",
     "listen: \"127.0.0.1:18080\"\n"
     "backends:\n"
     "  -\n",
     {"3:4: backends[0]: expected a mapping, got an empty value"}},
    {"backend_missing_name",
     "listen: \"127.0.0.1:18080\"\n"
     "backends:\n"
     "  - servers: [\"127.0.0.1:19000\"]\n",
     {"3:5: backends[0]: missing required key 'name'"}},
    {"backend_missing_servers", BACKEND_HEAD, {"3:5: backends[0]: missing required key 'servers'"}},
    {"backend_unknown_key",
     BACKEND "    server: \"127.0.0.1:19001\"\n",
     {"5:5: unknown key 'server' in backends[0]; expected one of: " BACKEND_KEYS}},
    {"backend_duplicate_key",
     BACKEND "    name: other\n",
     {"5:5: duplicate key 'name' in backends[0] (first given at line 3)"}},
    {"backend_duplicate_name",
     BACKEND "  - name: app\n"
	     "    servers: [\"127.0.0.1:19001\"]\n",
     {"5:11: backends[1].name: duplicate backend name 'app' (first used by backends[0] at line "
      "3)"}},
    {"backend_name_list",
     "listen: \"127.0.0.1:18080\"\n"
     "backends:\n"
     "  - name: [app]\n"
     "    servers: [\"127.0.0.1:19000\"]\n",
     {"3:11: backends[0].name: expected a name, got a list"}},
    {"servers_mapping",
     BACKEND_HEAD "    servers: {address: \"127.0.0.1:19000\"}\n",
     {"4:14: backends[0].servers: expected an address or a list of addresses, got a mapping"}},
    {"servers_empty_list",
     BACKEND_HEAD "    servers: []\n",
     {"4:14: backends[0].servers: at least one address is required"}},
    {"servers_port_zero",
     BACKEND_HEAD "    servers: [\"127.0.0.1:0\"]\n",
     {"4:15: backends[0].servers[0]: invalid address '127.0.0.1:0': port must be 1..65535"}},
    {"servers_scalar_port_zero",
     BACKEND_HEAD "    servers: \"127.0.0.1:0\"\n",
     {"4:14: backends[0].servers: invalid address '127.0.0.1:0': port must be 1..65535"}},
    {"servers_second_bad",
     BACKEND_HEAD "    servers: [\"127.0.0.1:19000\", \"127.0.0.1\"]\n",
     {"4:34: backends[0].servers[1]: invalid address '127.0.0.1': missing port (expected "
      "HOST:PORT)"}},
    {"servers_item_list",
     BACKEND_HEAD "    servers:\n"
		  "      - [\"127.0.0.1:19000\"]\n",
     {"5:9: backends[0].servers[0]: expected an address (HOST:PORT), got a list"}},
    {"server_weight_zero",
     BACKEND_HEAD "    servers:\n"
		  "      - address: \"127.0.0.1:19000\"\n"
		  "        weight: 0\n",
     {"6:17: backends[0].servers[0].weight: 0 is out of range (1..1000)"}},
    {"server_weight_over_1000",
     BACKEND_HEAD "    servers:\n"
		  "      - {address: \"127.0.0.1:19000\", weight: 1001}\n",
     {"5:46: backends[0].servers[0].weight: 1001 is out of range (1..1000)"}},
    {"server_weight_word",
     BACKEND_HEAD "    servers:\n"
		  "      - address: \"127.0.0.1:19000\"\n"
		  "        weight: heavy\n",
     {"6:17: backends[0].servers[0].weight: 'heavy' is not a whole number"}},
    {"server_missing_address",
     BACKEND_HEAD "    servers:\n"
		  "      - weight: 2\n",
     {"5:9: backends[0].servers[0]: missing required key 'address'"}},
    {"server_unknown_key",
     BACKEND_HEAD "    servers:\n"
		  "      - addr: \"127.0.0.1:19000\"\n",
     {"5:9: unknown key 'addr' in backends[0].servers[0]; expected one of: address, weight",
      "5:9: backends[0].servers[0]: missing required key 'address'"}},
    {"server_address_bad",
     BACKEND_HEAD "    servers:\n"
		  "      - address: \"127.0.0.1:\"\n",
     {"5:18: backends[0].servers[0].address: invalid address '127.0.0.1:': invalid port "
      "(expected 0..65535)"}},
    /* Server names are checked, never looked up (docs/routing.md). */
    {"servers_name_bad_label",
     BACKEND_HEAD "    servers: [\"-api:8000\"]\n",
     {"4:15: backends[0].servers[0]: invalid address '-api:8000': " HOST_NAME}},
    {"servers_name_empty_label",
     BACKEND_HEAD "    servers: \"a..b:80\"\n",
     {"4:14: backends[0].servers: invalid address 'a..b:80': " HOST_NAME}},
    {"servers_name_long_label",
     BACKEND_HEAD "    servers: [\"" LABEL64 ".internal:80\"]\n",
     {"4:15: backends[0].servers[0]: invalid address '" LABEL64 ".internal:80': " HOST_NAME}},
    {"server_address_name_bad",
     BACKEND_HEAD "    servers:\n"
		  "      - {address: \"api/x:80\", weight: 2}\n",
     {"5:19: backends[0].servers[0].address: invalid address 'api/x:80': " HOST_NAME}},
    {"servers_name_twice_any_case",
     BACKEND_HEAD "    servers: [\"api.internal:80\", \"API.Internal:80\"]\n",
     {"4:34: backends[0].servers[1]: 'API.Internal:80' is listed again (first as "
      "backends[0].servers[0]); give the server a weight instead"}},
    {"balance_unknown",
     BACKEND "    balance: random\n",
     {"5:14: backends[0].balance: unknown method 'random'; expected round_robin, "
      "least_connections or hash"}},
    {"balance_case",
     BACKEND "    balance: Round_Robin\n",
     {"5:14: backends[0].balance: unknown method 'Round_Robin'; expected round_robin, "
      "least_connections or hash"}},
    {"balance_list",
     BACKEND "    balance: [hash]\n",
     {"5:14: backends[0].balance: expected a balancing method, got a list"}},
    {"balance_duplicate",
     BACKEND "    balance: hash\n"
	     "    balance: round_robin\n",
     {"6:5: duplicate key 'balance' in backends[0] (first given at line 5)"}},
    {"pool_size_over_max",
     BACKEND "    pool_size: 10001\n",
     {"5:16: backends[0].pool_size: 10001 is out of range (0..10000)"}},
    {"pool_size_fraction",
     BACKEND "    pool_size: 1.5\n",
     {"5:16: backends[0].pool_size: '1.5' is not a whole number"}},
    {"pool_size_negative",
     BACKEND "    pool_size: -1\n",
     {"5:16: backends[0].pool_size: '-1' is not a whole number"}},
    {"connect_timeout_zero",
     BACKEND "    connect_timeout: 0s\n",
     {"5:22: backends[0].connect_timeout: duration '0s' is out of range (1ms..24h)"}},
    {"connect_timeout_below_1ms",
     BACKEND "    connect_timeout: 500us\n",
     {"5:22: backends[0].connect_timeout: duration '500us' is out of range (1ms..24h)"}},
    {"connect_timeout_word_unit",
     BACKEND "    connect_timeout: 3 sec\n",
     {"5:22: backends[0].connect_timeout: invalid duration '3 sec' " DURATION_HINT}},
    {"connect_timeout_fraction",
     BACKEND "    connect_timeout: 1.5s\n",
     {"5:22: backends[0].connect_timeout: invalid duration '1.5s' " DURATION_HINT}},
    {"connect_timeout_negative",
     BACKEND "    connect_timeout: -1s\n",
     {"5:22: backends[0].connect_timeout: invalid duration '-1s' " DURATION_HINT}},
    {"connect_timeout_empty",
     BACKEND "    connect_timeout:\n",
     {"5:21: backends[0].connect_timeout: expected a duration, got an empty value"}},
    {"first_byte_timeout_over_a_day",
     BACKEND "    first_byte_timeout: 25h\n",
     {"5:25: backends[0].first_byte_timeout: duration '25h' is out of range (1ms..24h)"}},
    {"between_bytes_timeout_mapping",
     BACKEND "    between_bytes_timeout: {s: 1}\n",
     {"5:28: backends[0].between_bytes_timeout: expected a duration, got a mapping"}},
    /* The second backend's errors carry its own index. */
    {"second_backend_errors",
     BACKEND "  - name: static\n"
	     "    servers: [\"127.0.0.1:19001\"]\n"
	     "    pool_size: lots\n",
     {"7:16: backends[1].pool_size: 'lots' is not a whole number"}},
};

static const struct bad_row cache_rows[] = {
    {"rule_empty_key",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - key: {}\n"
	  "    - path_prefix: /x/\n"
	  "      ttl: 1h\n",
     {"7:7: cache.rules[0]: rule does nothing; give at least one of: ttl, default_ttl, bypass, "
      "max_object_size, key"}},
    {"cache_list", BASE "cache: [1]\n", {"5:8: cache: expected a mapping, got a list"}},
    {"cache_scalar", BASE "cache: big\n", {"5:8: cache: expected a mapping, got a scalar"}},
    {"cache_unknown_key",
     BASE "cache:\n"
	  "  memroy: 1GiB\n",
     {"6:3: unknown key 'memroy' in cache; expected one of: " CACHE_KEYS}},
    {"cache_duplicate_key",
     BASE "cache:\n"
	  "  memory: 1GiB\n"
	  "  grace: 1s\n"
	  "  memory: 2GiB\n",
     {"8:3: duplicate key 'memory' in cache (first given at line 6)"}},
    {"cache_memory_zero",
     BASE "cache:\n"
	  "  memory: 0\n",
     {"6:11: cache.memory: size '0' is out of range (must be greater than 0)"}},
    {"cache_memory_unit_case",
     BASE "cache:\n"
	  "  memory: 256Mib\n",
     {"6:11: cache.memory: invalid size '256Mib' " SIZE_HINT}},
    {"cache_memory_unknown_unit",
     BASE "cache:\n"
	  "  memory: 1TiB\n",
     {"6:11: cache.memory: invalid size '1TiB' " SIZE_HINT}},
    {"cache_memory_trailing_junk",
     BASE "cache:\n"
	  "  memory: 256MB2\n",
     {"6:11: cache.memory: invalid size '256MB2' " SIZE_HINT}},
    {"cache_memory_leading_space",
     BASE "cache:\n"
	  "  memory: \" 1MiB\"\n",
     {"6:11: cache.memory: invalid size ' 1MiB' " SIZE_HINT}},
    {"cache_memory_list",
     BASE "cache:\n"
	  "  memory: [1GiB]\n",
     {"6:11: cache.memory: expected a size, got a list"}},
    {"cache_max_object_size_zero",
     BASE "cache:\n"
	  "  max_object_size: 0B\n",
     {"6:20: cache.max_object_size: size '0B' is out of range (must be greater than 0)"}},
    {"cache_default_ttl_over_3650d",
     BASE "cache:\n"
	  "  default_ttl: 3651d\n",
     {"6:16: cache.default_ttl: duration '3651d' is out of range (0..3650d)"}},
    {"cache_default_ttl_weeks",
     BASE "cache:\n"
	  "  default_ttl: 1w\n",
     {"6:16: cache.default_ttl: invalid duration '1w' " DURATION_HINT}},
    {"cache_heuristic_percent_over_100",
     BASE "cache:\n"
	  "  heuristic_percent: 101\n",
     {"6:22: cache.heuristic_percent: 101 is out of range (0..100)"}},
    {"cache_heuristic_percent_sign",
     BASE "cache:\n"
	  "  heuristic_percent: 10%\n",
     {"6:22: cache.heuristic_percent: '10%' is not a whole number"}},
    {"cache_heuristic_max_zero",
     BASE "cache:\n"
	  "  heuristic_max: 0\n",
     {"6:18: cache.heuristic_max: duration '0' is out of range (1ms..3650d)"}},
    {"cache_grace_word",
     BASE "cache:\n"
	  "  grace: forever\n",
     {"6:10: cache.grace: invalid duration 'forever' " DURATION_HINT}},
    {"cache_hit_for_miss_list",
     BASE "cache:\n"
	  "  hit_for_miss: [60s]\n",
     {"6:17: cache.hit_for_miss: expected a duration, got a list"}},
    {"cache_key_scalar",
     BASE "cache:\n"
	  "  key: host\n",
     {"6:8: cache.key: expected a mapping, got a scalar"}},
    {"cache_key_unknown",
     BASE "cache:\n"
	  "  key:\n"
	  "    path: true\n",
     {"7:5: unknown key 'path' in cache.key; expected one of: host, query, sort_query, "
      "normalize_path"}},
    {"cache_key_yes",
     BASE "cache:\n"
	  "  key:\n"
	  "    host: yes\n",
     {"7:11: cache.key.host: expected true or false, got 'yes'"}},
    {"cache_key_number",
     BASE "cache:\n"
	  "  key: {query: 1}\n",
     {"6:16: cache.key.query: expected true or false, got '1'"}},
    {"cache_key_duplicate",
     BASE "cache:\n"
	  "  key:\n"
	  "    host: true\n"
	  "    host: false\n",
     {"8:5: duplicate key 'host' in cache.key (first given at line 7)"}},
    {"rules_mapping",
     BASE "cache:\n"
	  "  rules: {ttl: 1h}\n",
     {"6:10: cache.rules: expected a list of rules, got a mapping"}},
    {"rules_cyclic_alias",
     BASE "cache:\n"
	  "  rules: &a [*a]\n",
     {"6:10: cache.rules[0]: expected a mapping, got a list"}},
    {"rule_scalar",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - \"/assets/\"\n",
     {"7:7: cache.rules[0]: expected a mapping, got a scalar"}},
    {"rule_unknown_key",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - path_prefix: \"/a/\"\n"
	  "      tll: 1h\n",
     {"8:7: unknown key 'tll' in cache.rules[0]; expected one of: " RULE_KEYS,
      "7:7: cache.rules[0]: " NOOP_RULE}},
    {"rule_does_nothing",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - path_prefix: \"/a/\"\n",
     {"7:7: cache.rules[0]: " NOOP_RULE}},
    {"rule_duplicate_key",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - ttl: 1h\n"
	  "      ttl: 2h\n",
     {"8:7: duplicate key 'ttl' in cache.rules[0] (first given at line 7)"}},
    {"rule_path_prefix_relative",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - path_prefix: \"assets/\"\n"
	  "      ttl: 1h\n",
     {"7:20: cache.rules[0].path_prefix: 'assets/' must start with '/'"}},
    {"rule_path_prefix_empty",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - path_prefix: \"\"\n"
	  "      ttl: 1h\n",
     {"7:20: cache.rules[0].path_prefix: '' must start with '/'"}},
    {"rule_host_with_port",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - host: \"example.com:8080\"\n"
	  "      ttl: 1h\n",
     {"7:13: cache.rules[0].host: invalid host pattern 'example.com:8080' " HOST_HINT}},
    {"rule_host_trailing_dot",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - host: \"*.com.\"\n"
	  "      ttl: 1h\n",
     {"7:13: cache.rules[0].host: invalid host pattern '*.com.' " HOST_HINT}},
    {"rule_host_bare_star",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - host: \"*\"\n"
	  "      ttl: 1h\n",
     {"7:13: cache.rules[0].host: invalid host pattern '*' " HOST_HINT}},
    {"rule_host_empty",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - host: \"\"\n"
	  "      ttl: 1h\n",
     {"7:13: cache.rules[0].host: invalid host pattern '' " HOST_HINT}},
    {"rule_ttl_years",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - ttl: 1y\n",
     {"7:12: cache.rules[0].ttl: invalid duration '1y' " DURATION_HINT}},
    {"rule_ttl_over_3650d",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - ttl: 87601h\n",
     {"7:12: cache.rules[0].ttl: duration '87601h' is out of range (0..3650d)"}},
    {"rule_default_ttl_negative",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - default_ttl: -5m\n",
     {"7:20: cache.rules[0].default_ttl: invalid duration '-5m' " DURATION_HINT}},
    {"rule_bypass_no",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - bypass: no\n",
     {"7:15: cache.rules[0].bypass: expected true or false, got 'no'"}},
    {"rule_max_object_size_zero",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - max_object_size: 0\n",
     {"7:24: cache.rules[0].max_object_size: size '0' is out of range (must be greater than 0)"}},
    {"rule_key_unknown",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - key: {sort: true}\n",
     {"7:13: unknown key 'sort' in cache.rules[0].key; expected one of: host, query, "
      "sort_query, normalize_path"}},
    {"rule_key_list",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - key: [query]\n",
     {"7:12: cache.rules[0].key: expected a mapping, got a list"}},
    /* The second rule's errors carry its own index. */
    {"second_rule_errors",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - bypass: true\n"
	  "    - host: \"a..b\"\n"
	  "      ttl: 1h\n",
     {"8:13: cache.rules[1].host: invalid host pattern 'a..b' " HOST_HINT}},
};

static const struct bad_row compression_rows[] = {
    {"compression_types_bad_type_with_star",
     BASE "compression: {types: [\"te xt/*\"]}\n",
     {"5:23: compression.types[0]: 'te xt/*' is not a content type pattern (expected e.g. "
      "\"text/html\" or \"text/*\")"}},
    {"compression_types_empty",
     BASE "compression: {types: []}\n",
     {"5:22: compression.types: at least one content type (leave the key out for the defaults, or "
      "set compression.enabled: false)"}},
    {"compression_list",
     BASE "compression: [gzip]\n",
     {"5:14: compression: expected a mapping, got a list"}},
    {"compression_unknown_key",
     BASE "compression:\n"
	  "  enable: true\n",
     {"6:3: unknown key 'enable' in compression; expected one of: " COMPRESSION_KEYS}},
    {"compression_duplicate_key",
     BASE "compression:\n"
	  "  enabled: true\n"
	  "  enabled: false\n",
     {"7:3: duplicate key 'enabled' in compression (first given at line 6)"}},
    {"compression_enabled_on",
     BASE "compression:\n"
	  "  enabled: on\n",
     {"6:12: compression.enabled: expected true or false, got 'on'"}},
    {"compression_workers_zero",
     BASE "compression:\n"
	  "  workers: 0\n",
     {"6:12: compression.workers: 0 is out of range (1..256)"}},
    {"compression_workers_over_256",
     BASE "compression:\n"
	  "  workers: 257\n",
     {"6:12: compression.workers: 257 is out of range (1..256)"}},
    {"compression_queue_over_65536",
     BASE "compression:\n"
	  "  queue: 65537\n",
     {"6:10: compression.queue: 65537 is out of range (1..65536)"}},
    {"compression_queue_list",
     BASE "compression:\n"
	  "  queue: [64]\n",
     {"6:10: compression.queue: expected a number, got a list"}},
    {"compression_min_size_over_1gib",
     BASE "compression:\n"
	  "  min_size: 2GiB\n",
     {"6:13: compression.min_size: size '2GiB' is out of range (0..1GiB)"}},
    {"compression_min_size_short_unit",
     BASE "compression:\n"
	  "  min_size: 1 K\n",
     {"6:13: compression.min_size: invalid size '1 K' " SIZE_HINT}},
    {"compression_codings_scalar",
     BASE "compression:\n"
	  "  codings: gzip\n",
     {"6:12: compression.codings: expected a list such as [br, zstd, gzip], got a scalar"}},
    {"compression_codings_empty",
     BASE "compression:\n"
	  "  codings: []\n",
     {"6:12: compression.codings: at least one coding is required (to turn compression off, set "
      "enabled: false)"}},
    {"compression_codings_unknown",
     BASE "compression:\n"
	  "  codings: [br, deflate]\n",
     {"6:17: compression.codings[1]: unknown coding 'deflate'; expected gzip, br or zstd"}},
    {"compression_codings_case",
     BASE "compression:\n"
	  "  codings: [GZIP]\n",
     {"6:13: compression.codings[0]: unknown coding 'GZIP'; expected gzip, br or zstd"}},
    {"compression_codings_identity",
     BASE "compression:\n"
	  "  codings: [identity]\n",
     {"6:13: compression.codings[0]: unknown coding 'identity'; expected gzip, br or zstd"}},
    {"compression_codings_twice",
     BASE "compression:\n"
	  "  codings: [gzip, gzip]\n",
     {"6:19: compression.codings[1]: 'gzip' is listed twice"}},
    {"compression_levels_scalar",
     BASE "compression:\n"
	  "  levels: 5\n",
     {"6:11: compression.levels: expected a mapping, got a scalar"}},
    {"compression_levels_gzip_10",
     BASE "compression:\n"
	  "  levels: {gzip: 10}\n",
     {"6:18: compression.levels.gzip: 10 is out of range (1..9)"}},
    {"compression_levels_br_and_zstd",
     BASE "compression:\n"
	  "  levels: {br: 12, zstd: 0}\n",
     {"6:16: compression.levels.br: 12 is out of range (0..11)",
      "6:26: compression.levels.zstd: 0 is out of range (1..19)"}},
    {"compression_levels_unknown",
     BASE "compression:\n"
	  "  levels: {deflate: 1}\n",
     {"6:12: unknown key 'deflate' in compression.levels; expected one of: gzip, br, zstd"}},
    {"compression_types_scalar",
     BASE "compression:\n"
	  "  types: \"text/html\"\n",
     {"6:10: compression.types: expected a list of content types, got a scalar"}},
    {"compression_types_no_slash",
     BASE "compression:\n"
	  "  types: [\"html\"]\n",
     {"6:11: compression.types[0]: 'html' is not a content type pattern " TYPE_HINT}},
    {"compression_types_parameters",
     BASE "compression:\n"
	  "  types: [\"text/html; charset=utf-8\"]\n",
     {"6:11: compression.types[0]: 'text/html; charset=utf-8' is not a content type "
      "pattern " TYPE_HINT}},
    {"compression_types_item_mapping",
     BASE "compression:\n"
	  "  types: [{text: html}]\n",
     {"6:11: compression.types[0]: expected a content type, got a mapping"}},
    {"compression_bench_on_loop_number",
     BASE "compression:\n"
	  "  bench_on_loop: 1\n",
     {"6:18: compression.bench_on_loop: expected true or false, got '1'"}},
};

static const struct bad_row admin_rows[] = {
    {"admin_same_as_listen",
     BASE "admin: {listen: \"127.0.0.1:18080\"}\n",
     {"5:17: admin.listen: '127.0.0.1:18080' is the same address as listen[0]; the admin API needs "
      "its own port"}},
    {"admin_scalar",
     BASE "admin: \"127.0.0.1:9090\"\n",
     {"5:8: admin: expected a mapping, got a scalar"}},
    {"admin_unknown_key",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  tokn: secret\n",
     {"7:3: unknown key 'tokn' in admin; expected one of: listen, token, allow"}},
    {"admin_duplicate_key",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  listen: \"127.0.0.1:9091\"\n",
     {"7:3: duplicate key 'listen' in admin (first given at line 6)"}},
    {"admin_missing_listen",
     BASE "admin:\n"
	  "  token: secret\n",
     {"6:3: admin: missing required key 'listen'"}},
    {"admin_listen_port_only",
     BASE "admin:\n"
	  "  listen: 9090\n",
     {"6:11: admin.listen: invalid address '9090': missing port (expected HOST:PORT)"}},
    {"admin_listen_list",
     BASE "admin:\n"
	  "  listen: [\"127.0.0.1:9090\"]\n",
     {"6:11: admin.listen: expected an address (HOST:PORT), got a list"}},
    {"admin_token_empty",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  token: \"\"\n",
     {"7:10: admin.token: must not be empty"}},
    {"admin_token_space",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  token: \"two words\"\n",
     {"7:10: admin.token: must contain only visible ASCII characters (no spaces)"}},
    {"admin_token_tab",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  token: \"a\\tb\"\n",
     {"7:10: admin.token: must contain only visible ASCII characters (no spaces)"}},
    {"admin_token_list",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  token: [a]\n",
     {"7:10: admin.token: expected a string, got a list"}},
    {"admin_allow_empty_list",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  allow: []\n",
     {"7:10: admin.allow: at least one network is required"}},
    {"admin_allow_mapping",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  allow: {net: 10.0.0.0/8}\n",
     {"7:10: admin.allow: expected a network or a list of networks, got a mapping"}},
    {"admin_allow_ipv4_prefix_33",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  allow: [\"10.0.0.0/33\"]\n",
     {"7:11: admin.allow[0]: invalid network '10.0.0.0/33': invalid prefix length (expected "
      "0..32)"}},
    {"admin_allow_ipv6_prefix_129",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  allow: [\"::1/129\"]\n",
     {"7:11: admin.allow[0]: invalid network '::1/129': invalid prefix length (expected "
      "0..128)"}},
    {"admin_allow_prefix_missing",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  allow: [\"10.0.0.0/\"]\n",
     {"7:11: admin.allow[0]: invalid network '10.0.0.0/': invalid prefix length (expected "
      "0..32)"}},
    {"admin_allow_host_name",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  allow: localhost\n",
     {"7:10: admin.allow: invalid network 'localhost': invalid IP address"}},
    {"admin_allow_short_ipv4",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  allow: [\"127.0.0.0/8\", \"127.1/8\"]\n",
     {"7:26: admin.allow[1]: invalid network '127.1/8': invalid IP address"}},
    {"admin_allow_scope_id",
     BASE "admin:\n"
	  "  listen: \"127.0.0.1:9090\"\n"
	  "  allow: \"fe80::1%eth0\"\n",
     {"7:10: admin.allow: invalid network 'fe80::1%eth0': invalid IP address"}},
};

/* trusted_proxies: networks like admin.allow, but an empty list means none. */
static const struct bad_row trusted_rows[] = {
    {"trusted_mapping",
     BASE "trusted_proxies: {net: 10.0.0.0/8}\n",
     {"5:18: trusted_proxies: expected a network or a list of networks, got a mapping"}},
    {"trusted_null",
     BASE "trusted_proxies:\n",
     {"5:17: trusted_proxies: expected a network or a list of networks, got an empty value"}},
    {"trusted_prefix_33",
     BASE "trusted_proxies: [\"10.0.0.0/33\"]\n",
     {"5:19: trusted_proxies[0]: invalid network '10.0.0.0/33': invalid prefix length "
      "(expected 0..32)"}},
    {"trusted_host_name",
     BASE "trusted_proxies: lb.internal\n",
     {"5:18: trusted_proxies: invalid network 'lb.internal': invalid IP address"}},
    {"trusted_second_bad",
     BASE "trusted_proxies: [\"10.0.0.0/8\", \"::1/200\"]\n",
     {"5:33: trusted_proxies[1]: invalid network '::1/200': invalid prefix length (expected "
      "0..128)"}},
    {"underscores_in_headers_not_bool",
     BASE "underscores_in_headers: yes please\n",
     {"5:25: underscores_in_headers: expected true or false, got 'yes please'"}},
    {"heuristic_with_credentials_not_bool",
     BASE "cache:\n"
	  "  heuristic_with_credentials: maybe\n",
     {"6:31: cache.heuristic_with_credentials: expected true or false, got 'maybe'"}},
};

static const struct bad_row timeouts_rows[] = {
    {"timeouts_list", BASE "timeouts: [1s]\n", {"5:11: timeouts: expected a mapping, got a list"}},
    {"timeouts_unknown_key",
     BASE "timeouts:\n"
	  "  client_headers: 10s\n",
     {"6:3: unknown key 'client_headers' in timeouts; expected one of: " TIMEOUT_KEYS}},
    {"timeouts_duplicate_key",
     BASE "timeouts:\n"
	  "  send: 1s\n"
	  "  send: 2s\n",
     {"7:3: duplicate key 'send' in timeouts (first given at line 6)"}},
    {"timeouts_client_header_zero",
     BASE "timeouts:\n"
	  "  client_header: 0\n",
     {"6:18: timeouts.client_header: duration '0' is out of range (1ms..24h)"}},
    {"timeouts_client_body_words",
     BASE "timeouts:\n"
	  "  client_body: 2 days\n",
     {"6:16: timeouts.client_body: invalid duration '2 days' " DURATION_HINT}},
    {"timeouts_client_idle_over_a_day",
     BASE "timeouts:\n"
	  "  client_idle: 86401s\n",
     {"6:16: timeouts.client_idle: duration '86401s' is out of range (1ms..24h)"}},
    {"timeouts_send_upper_case_unit",
     BASE "timeouts:\n"
	  "  send: 30S\n",
     {"6:9: timeouts.send: invalid duration '30S' " DURATION_HINT}},
    {"timeouts_drain_under_1s",
     BASE "timeouts:\n"
	  "  drain: 500ms\n",
     {"6:10: timeouts.drain: duration '500ms' is out of range (1s..1h)"}},
    {"timeouts_drain_over_1h",
     BASE "timeouts:\n"
	  "  drain: 2h\n",
     {"6:10: timeouts.drain: duration '2h' is out of range (1s..1h)"}},
    {"timeouts_drain_list",
     BASE "timeouts:\n"
	  "  drain: [10s]\n",
     {"6:10: timeouts.drain: expected a duration, got a list"}},
    {"timeouts_task_budget_zero",
     BASE "timeouts:\n"
	  "  task_budget: 0\n",
     {"6:16: timeouts.task_budget: duration '0' is out of range (1us..60s)"}},
    {"timeouts_task_budget_over_60s",
     BASE "timeouts:\n"
	  "  task_budget: 61s\n",
     {"6:16: timeouts.task_budget: duration '61s' is out of range (1us..60s)"}},
    {"timeouts_task_budget_nanoseconds",
     BASE "timeouts:\n"
	  "  task_budget: 999ns\n",
     {"6:16: timeouts.task_budget: invalid duration '999ns' " DURATION_HINT}},
    {"timeouts_tunnel_zero",
     BASE "timeouts:\n"
	  "  tunnel: 0\n",
     {"6:11: timeouts.tunnel: duration '0' is out of range (1ms..24h)"}},
    {"timeouts_tunnel_over_a_day",
     BASE "timeouts:\n"
	  "  tunnel: 25h\n",
     {"6:11: timeouts.tunnel: duration '25h' is out of range (1ms..24h)"}},
    {"timeouts_tunnel_no_unit_word",
     BASE "timeouts:\n"
	  "  tunnel: forever\n",
     {"6:11: timeouts.tunnel: invalid duration 'forever' " DURATION_HINT}},
};

static const struct bad_row limits_rows[] = {
    {"limits_max_body_size_unit",
     BASE "limits:\n  max_body_size: 1TiB\n",
     {"6:18: limits.max_body_size: invalid size '1TiB' (expected e.g. 4096, 16KiB, 256MiB, 10MB)"}},
    {"limits_max_body_size_list",
     BASE "limits:\n  max_body_size: [1]\n",
     {"6:18: limits.max_body_size: expected a size, got a list"}},
    {"limits_scalar", BASE "limits: 100\n", {"5:9: limits: expected a mapping, got a scalar"}},
    {"limits_unknown_key",
     BASE "limits:\n"
	  "  max_bdy_size: 1MiB\n",
     {"6:3: unknown key 'max_bdy_size' in limits; expected one of: max_header_size, "
      "max_headers, max_connections, max_body_size"}},
    {"limits_duplicate_key",
     BASE "limits:\n"
	  "  max_headers: 10\n"
	  "  max_headers: 20\n",
     {"7:3: duplicate key 'max_headers' in limits (first given at line 6)"}},
    {"limits_max_header_size_under_1kib",
     BASE "limits:\n"
	  "  max_header_size: 512B\n",
     {"6:20: limits.max_header_size: size '512B' is out of range (1KiB..1MiB)"}},
    {"limits_max_header_size_over_1mib",
     BASE "limits:\n"
	  "  max_header_size: 2MiB\n",
     {"6:20: limits.max_header_size: size '2MiB' is out of range (1KiB..1MiB)"}},
    {"limits_max_header_size_unit_case",
     BASE "limits:\n"
	  "  max_header_size: 16kib\n",
     {"6:20: limits.max_header_size: invalid size '16kib' " SIZE_HINT}},
    {"limits_max_headers_zero",
     BASE "limits:\n"
	  "  max_headers: 0\n",
     {"6:16: limits.max_headers: 0 is out of range (1..1000)"}},
    {"limits_max_headers_over_1000",
     BASE "limits:\n"
	  "  max_headers: 1001\n",
     {"6:16: limits.max_headers: 1001 is out of range (1..1000)"}},
    {"limits_max_connections_over_max",
     BASE "limits:\n"
	  "  max_connections: 1000001\n",
     {"6:20: limits.max_connections: 1000001 is out of range (1..1000000)"}},
    {"limits_max_connections_suffix",
     BASE "limits:\n"
	  "  max_connections: 10k\n",
     {"6:20: limits.max_connections: '10k' is not a whole number"}},
    {"limits_max_headers_mapping",
     BASE "limits:\n"
	  "  max_headers: {n: 1}\n",
     {"6:16: limits.max_headers: expected a number, got a mapping"}},
};

static const struct bad_row log_rows[] = {
    {"log_scalar", BASE "log: debug\n", {"5:6: log: expected a mapping, got a scalar"}},
    {"log_unknown_key",
     BASE "log:\n"
	  "  file: /var/log/ringcache.log\n",
     {"6:3: unknown key 'file' in log; expected one of: " LOG_KEYS}},
    {"log_duplicate_key",
     BASE "log:\n"
	  "  level: info\n"
	  "  level: warn\n",
     {"7:3: duplicate key 'level' in log (first given at line 6)"}},
    {"io_backend_unknown",
     BASE "io:\n"
	  "  backend: kqueue\n",
     {"6:12: io.backend: unknown backend 'kqueue'; expected auto, io_uring or epoll"}},
    {"io_backend_list",
     BASE "io:\n"
	  "  backend: [epoll]\n",
     {"6:12: io.backend: expected an I/O backend, got a list"}},
    {"io_unknown_key",
     BASE "io:\n"
	  "  backends: epoll\n",
     {"6:3: unknown key 'backends' in io; expected one of: backend"}},
    {"log_level_unknown",
     BASE "log:\n"
	  "  level: verbose\n",
     {"6:10: log.level: unknown level 'verbose'; expected one of: error, warn, info, debug"}},
    {"log_level_case",
     BASE "log:\n"
	  "  level: INFO\n",
     {"6:10: log.level: unknown level 'INFO'; expected one of: error, warn, info, debug"}},
    {"log_level_list",
     BASE "log:\n"
	  "  level: [info]\n",
     {"6:10: log.level: expected a log level, got a list"}},
    {"log_level_empty",
     BASE "log:\n"
	  "  level:\n",
     {"6:9: log.level: expected a log level, got an empty value"}},
    {"log_access_empty_string",
     BASE "log:\n"
	  "  access: \"\"\n",
     {"6:11: log.access: must not be empty; give a file path, or \"off\""}},
    {"log_access_directory",
     BASE "log:\n"
	  "  access: /var/log/\n",
     {"6:11: log.access: '/var/log/' is a directory; give a file path, e.g. "
      "/var/log/access.log"}},
    {"log_access_list",
     BASE "log:\n"
	  "  access: [a.log]\n",
     {"6:11: log.access: expected a file path or \"off\", got a list"}},
    {"log_access_empty",
     BASE "log:\n"
	  "  access:\n",
     {"6:10: log.access: expected a file path or \"off\", got an empty value"}},
    {"log_access_format_unknown",
     BASE "log:\n"
	  "  access_format: xml\n",
     {"6:18: log.access_format: unknown format 'xml'; expected one of: combined, json"}},
    {"log_access_format_case",
     BASE "log:\n"
	  "  access_format: JSON\n",
     {"6:18: log.access_format: unknown format 'JSON'; expected one of: combined, json"}},
};

static const struct bad_row routes_rows[] = {
    {"routes_not_a_list",
     BASE "routes: {backend: app}\n",
     {"5:9: routes: expected a list of routes, got a mapping"}},
    {"routes_unknown_backend",
     BASE "routes:\n"
	  "  - backend: nope\n",
     {"6:14: routes[0].backend: unknown backend 'nope' (backends: app)"}},
    {"routes_no_action",
     BASE "routes:\n"
	  "  - match: {path: \"/x\"}\n",
     {"6:5: routes[0]: give exactly one of backend, redirect, respond, deny (none given)"}},
    {"routes_two_actions",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    deny: true\n",
     {"6:5: routes[0]: give exactly one of backend, redirect, respond, deny (more than one "
      "given)"}},
    {"routes_unknown_match_key",
     BASE "routes:\n"
	  "  - match: {hots: a}\n"
	  "    backend: app\n",
     {"6:13: unknown key 'hots' in routes[0].match; expected one of: host, host_regex, path, "
      "path_prefix, path_regex, method, header, query, client"}},
    {"routes_path_without_slash",
     BASE "routes:\n"
	  "  - match: {path: x}\n"
	  "    backend: app\n",
     {"6:19: routes[0].match.path: 'x' must start with '/'"}},
    {"routes_bad_regex",
     BASE "routes:\n"
	  "  - match: {path_regex: \"a(b\"}\n"
	  "    backend: app\n",
     {"6:25: routes[0].match.path_regex: invalid regex at offset 3: missing closing parenthesis"}},
    {"routes_lower_case_method",
     BASE "routes:\n"
	  "  - match: {method: [GET, get]}\n"
	  "    backend: app\n",
     {"6:27: routes[0].match.method[1]: unknown method 'get' (methods are upper case: GET, POST, "
      "...)"}},
    {"routes_empty_method_list",
     BASE "routes:\n"
	  "  - match: {method: []}\n"
	  "    backend: app\n",
     {"6:21: routes[0].match.method: an empty list matches no request"}},
    {"routes_bad_header_name",
     BASE "routes:\n"
	  "  - match: {header: {name: \"X A\", equals: b}}\n"
	  "    backend: app\n",
     {"6:28: routes[0].match.header.name: 'X A' is not a field name (letters, digits and "
      "!#$%&'*+-.^_`|~)"}},
    {"routes_header_two_tests",
     BASE "routes:\n"
	  "  - match: {header: {name: X, equals: b, regex: c}}\n"
	  "    backend: app\n",
     {"6:21: routes[0].match.header: give at most one of equals, regex, absent"}},
    {"routes_header_without_name",
     BASE "routes:\n"
	  "  - match: {header: {equals: b}}\n"
	  "    backend: app\n",
     {"6:21: routes[0].match.header: missing required key 'name'"}},
    {"routes_absent_not_true",
     BASE "routes:\n"
	  "  - match: {query: [{name: a, absent: yes}]}\n"
	  "    backend: app\n",
     {"6:39: routes[0].match.query[0].absent: expected true (leave it out to test for presence)"}},
    {"routes_bad_client_network",
     BASE "routes:\n"
	  "  - match: {client: \"10.0.0.0/33\"}\n"
	  "    backend: app\n",
     {"6:21: routes[0].match.client: invalid network '10.0.0.0/33': invalid prefix length "
      "(expected 0..32)"}},
    {"routes_redirect_not_3xx",
     BASE "routes:\n"
	  "  - redirect: {status: 200, location: \"/x\"}\n",
     {"6:24: routes[0].redirect.status: 200 is out of range (301..308)"}},
    {"routes_redirect_without_location",
     BASE "routes:\n"
	  "  - redirect: {status: 301}\n",
     {"6:15: routes[0].redirect: missing required key 'location'"}},
    {"routes_unknown_variable",
     BASE "routes:\n"
	  "  - redirect: {location: \"${nope}\"}\n",
     {"6:26: routes[0].redirect.location: unknown variable ${nope} at offset 0 (variables: "
      "${host}, ${path}, ${query}, ${uri}, ${method}, ${scheme}, ${client}, ${request_id}, "
      "${cache_status}; captures ${1} to ${9})"}},
    {"routes_unclosed_variable",
     BASE "routes:\n"
	  "  - redirect: {location: \"${path\"}\n",
     {"6:26: routes[0].redirect.location: unclosed ${ at offset 0"}},
    {"routes_body_and_body_file",
     BASE "routes:\n"
	  "  - respond: {body: a, body_file: /etc/hostname}\n",
     {"6:14: routes[0].respond: give one of body, body_file"}},
    {"routes_missing_body_file",
     BASE "routes:\n"
	  "  - respond: {body_file: /nonexistent/x}\n",
     {"6:26: routes[0].respond.body_file: cannot read /nonexistent/x: No such file or directory"}},
    {"routes_deny_200",
     BASE "routes:\n"
	  "  - deny: 200\n",
     {"6:11: routes[0].deny: 200 is out of range (400..599)"}},
    {"routes_deny_false",
     BASE "routes:\n"
	  "  - deny: false\n",
     {"6:11: routes[0].deny: false denies nothing; leave the key out"}},
    {"routes_unknown_cache_rule",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    cache: nothere\n",
     {"7:12: routes[0].cache: no cache rule is named 'nothere' (give cache.rules[] a name)"}},
    {"routes_unknown_cache_key",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    cache: {tll: 1h}\n",
     {"7:13: unknown key 'tll' in routes[0].cache; expected one of: ttl, default_ttl, bypass, "
      "max_object_size, key"}},
    {"routes_rewrite_without_backend",
     BASE "routes:\n"
	  "  - deny: true\n"
	  "    rewrite: {strip_prefix: /a}\n",
     {"7:14: routes[0]: rewrite applies only to a route with a backend"}},
    {"routes_websocket_without_backend",
     BASE "routes:\n"
	  "  - redirect: {location: \"/x\"}\n"
	  "    websocket: true\n",
     {"7:16: routes[0]: websocket applies only to a route with a backend"}},
    {"routes_websocket_not_a_bool",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    websocket: yes\n",
     {"7:16: routes[0].websocket: expected true or false, got 'yes'"}},
    {"routes_rewrite_both_ways",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    rewrite: {strip_prefix: /a, regex: \"x\", replace: \"y\"}\n",
     {"7:14: routes[0].rewrite: give one of strip_prefix, regex (with replace)"}},
    {"routes_regex_without_replace",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    rewrite: {regex: \"x\"}\n",
     {"7:14: routes[0].rewrite: regex needs replace"}},
    {"routes_framing_field",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    request_headers: {set: {Content-Length: \"1\"}}\n",
     {"7:29: routes[0].request_headers.set.Content-Length: Content-Length is ringcache's to write "
      "(framing and connection fields)"}},
    {"routes_field_twice",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    request_headers: {set: {X-A: a, x-a: b}}\n",
     {"7:37: routes[0].request_headers.set: x-a is given twice"}},
    {"routes_bad_field_name",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    response_headers: {add: {\"Bad Name\": x}}\n",
     {"7:30: routes[0].response_headers.add.Bad Name: 'Bad Name' is not a field name (letters, "
      "digits and !#$%&'*+-.^_`|~)"}},
    {"routes_rate_zero",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    rate_limit: {rate: 0}\n",
     {"7:24: routes[0].rate_limit.rate: 0 is out of range (1..1000000)"}},
    {"routes_bad_cache_key_source",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    cache_key: neither\n",
     {"7:16: routes[0].cache_key: unknown key source 'neither'; expected original or rewritten"}},
    {"routes_zero_timeout",
     BASE "routes:\n"
	  "  - backend: app\n"
	  "    timeouts: {connect: 0s}\n",
     {"7:25: routes[0].timeouts.connect: duration '0s' is out of range (1ms..24h)"}},
    {"error_pages_not_an_error",
     BASE "error_pages: {200: \"x\"}\n",
     {"5:15: error_pages: 200 is out of range (400..599)"}},
    {"error_pages_body_and_file",
     BASE "error_pages: {502: {body: x, file: y}}\n",
     {"5:20: error_pages.502: give one of body, file"}},
    {"error_pages_empty_page",
     BASE "error_pages: {502: {}}\n",
     {"5:20: error_pages.502: give one of body, file"}},
    {"request_headers_unknown_key",
     BASE "request_headers: {sett: {}}\n",
     {"5:19: unknown key 'sett' in request_headers; expected one of: set, add, remove"}},
    {"request_headers_framing_field",
     BASE "request_headers: {remove: [Transfer-Encoding]}\n",
     {"5:28: request_headers.remove[0]: Transfer-Encoding is ringcache's to write (framing and "
      "connection fields)"}},
    {"cache_rule_names_twice",
     BASE "cache:\n"
	  "  rules:\n"
	  "    - {name: a, ttl: 1h}\n"
	  "    - {name: a, ttl: 2h}\n",
     {"8:14: cache.rules[1].name: 'a' is the name of cache.rules[0] too"}},
};

static const struct bad_row resolver_rows[] = {
    {"resolver_scalar",
     BASE "resolver: \"127.0.0.1\"\n",
     {"5:11: resolver: expected a mapping, got a scalar"}},
    {"resolver_unknown_key",
     BASE "resolver:\n"
	  "  server: [\"127.0.0.1\"]\n",
     {"6:3: unknown key 'server' in resolver; expected one of: " RESOLVER_KEYS}},
    {"resolver_servers_name",
     BASE "resolver:\n"
	  "  servers: [\"dns.example:53\"]\n",
     {"6:13: resolver.servers[0]: invalid DNS server 'dns.example:53': " NUMERIC_DNS}},
    {"resolver_servers_bare_name",
     BASE "resolver: {servers: \"dns.example\"}\n",
     {"5:21: resolver.servers: invalid DNS server 'dns.example': " NUMERIC_DNS}},
    {"resolver_servers_port_zero",
     BASE "resolver:\n"
	  "  servers: [\"127.0.0.1:0\"]\n",
     {"6:13: resolver.servers[0]: invalid DNS server '127.0.0.1:0': port must be 1..65535"}},
    {"resolver_servers_port_word",
     BASE "resolver:\n"
	  "  servers: [\"127.0.0.1:dns\"]\n",
     {"6:13: resolver.servers[0]: invalid DNS server '127.0.0.1:dns': invalid port (expected "
      "0..65535)"}},
    {"resolver_servers_bad_ipv4",
     BASE "resolver:\n"
	  "  servers: [\"127.0.0.1\", \"10.0.0.256\"]\n",
     {"6:26: resolver.servers[1]: invalid DNS server '10.0.0.256': invalid IPv4 address"}},
    {"resolver_servers_bad_ipv6",
     BASE "resolver:\n"
	  "  servers: [\"[fd00::zz]:53\"]\n",
     {"6:13: resolver.servers[0]: invalid DNS server '[fd00::zz]:53': invalid IPv6 address"}},
    {"resolver_servers_unclosed_bracket",
     BASE "resolver:\n"
	  "  servers: [\"[fd00::1:53\"]\n",
     {"6:13: resolver.servers[0]: invalid DNS server '[fd00::1:53': missing ']' after IPv6 "
      "address"}},
    {"resolver_servers_empty_string",
     BASE "resolver:\n"
	  "  servers: [\"\"]\n",
     {"6:13: resolver.servers[0]: invalid DNS server '': missing IP address"}},
    {"resolver_servers_port_only",
     BASE "resolver:\n"
	  "  servers: \":53\"\n",
     {"6:12: resolver.servers: invalid DNS server ':53': missing IP address"}},
    {"resolver_servers_too_long",
     BASE "resolver:\n"
	  "  servers: [\"" LABEL64 LABEL64 "\"]\n",
     {"6:13: resolver.servers[0]: invalid DNS server '" LABEL64 LABEL64 "': too long"}},
    {"resolver_servers_mapping",
     BASE "resolver:\n"
	  "  servers: {address: \"127.0.0.1\"}\n",
     {"6:12: resolver.servers: expected a DNS server or a list of them, got a mapping"}},
    {"resolver_servers_item_list",
     BASE "resolver:\n"
	  "  servers: [[\"127.0.0.1\"]]\n",
     {"6:13: resolver.servers[0]: expected a DNS server address (IP or IP:PORT), got a list"}},
    {"resolver_interval_below_10ms",
     BASE "resolver:\n"
	  "  interval: 5ms\n",
     {"6:13: resolver.interval: duration '5ms' is out of range (10ms..1h)"}},
    {"resolver_interval_over_1h",
     BASE "resolver:\n"
	  "  interval: 2h\n",
     {"6:13: resolver.interval: duration '2h' is out of range (10ms..1h)"}},
    {"resolver_interval_no_unit_word",
     BASE "resolver:\n"
	  "  interval: often\n",
     {"6:13: resolver.interval: invalid duration 'often' " DURATION_HINT}},
    {"resolver_timeout_below_10ms",
     BASE "resolver:\n"
	  "  timeout: 1ms\n",
     {"6:12: resolver.timeout: duration '1ms' is out of range (10ms..1m)"}},
    {"resolver_timeout_over_1m",
     BASE "resolver:\n"
	  "  timeout: 90s\n",
     {"6:12: resolver.timeout: duration '90s' is out of range (10ms..1m)"}},
    {"resolver_duplicate_key",
     BASE "resolver:\n"
	  "  timeout: 1s\n"
	  "  timeout: 2s\n",
     {"7:3: duplicate key 'timeout' in resolver (first given at line 6)"}},
};

/* Files that must pass: every key, the edges of every range, the other forms. */
static const struct good_row good_rows[] = {
    {"minimal", BASE},
    {"trusted_proxies", BASE "trusted_proxies: [\"10.0.0.0/8\", \"::1\", \"192.0.2.7\"]\n"
			     "cache:\n"
			     "  heuristic_with_credentials: true\n"},
    {"trusted_proxies_empty", BASE "trusted_proxies: []\n"},
    {"backend_health_and_retries", BASE "    retries: 3\n"
					"    health_check:\n"
					"      path: \"/healthz?deep=1\"\n"
					"      host: app.internal\n"
					"      interval: 500ms\n"
					"      timeout: 200ms\n"
					"      rise: 1\n"
					"      fall: 5\n"
					"      expect_status: [200, 204]\n"
					"log:\n"
					"  access: /var/log/ringcache/access.log\n"
					"  access_format: json\n"},
    {"every_key", "listen: [\"127.0.0.1:18080\", \"[::1]:18443\"]\n"
		  "threads: 2\n"
		  "backends:\n"
		  "  - name: app\n"
		  "    servers:\n"
		  "      - \"127.0.0.1:19000\"\n"
		  "      - {address: \"127.0.0.1:19001\", weight: 3}\n"
		  "    balance: least_connections\n"
		  "    pool_size: 64\n"
		  "    connect_timeout: 3s\n"
		  "    first_byte_timeout: 30s\n"
		  "    between_bytes_timeout: 30s\n"
		  "  - name: static\n"
		  "    servers: \"127.0.0.1:19002\"\n"
		  "    balance: hash\n"
		  "cache:\n"
		  "  memory: 256MiB\n"
		  "  max_object_size: 32MiB\n"
		  "  default_ttl: 0s\n"
		  "  heuristic_percent: 10\n"
		  "  heuristic_max: 1d\n"
		  "  grace: 10s\n"
		  "  hit_for_miss: 60s\n"
		  "  key:\n"
		  "    host: true\n"
		  "    query: true\n"
		  "    sort_query: false\n"
		  "  rules:\n"
		  "    - host: \"static.example.com\"\n"
		  "      path_prefix: \"/assets/\"\n"
		  "      ttl: 1h\n"
		  "      default_ttl: 10m\n"
		  "      bypass: false\n"
		  "      max_object_size: 64MiB\n"
		  "      key: {query: false}\n"
		  "    - host: \"*.example.com\"\n"
		  "      bypass: true\n"
		  "compression:\n"
		  "  enabled: true\n"
		  "  workers: auto\n"
		  "  queue: 64\n"
		  "  min_size: 256B\n"
		  "  codings: [br, zstd, gzip]\n"
		  "  levels: {gzip: 6, br: 4, zstd: 3}\n"
		  "  types: [\"text/html\", \"application/json\", \"text/*\"]\n"
		  "  bench_on_loop: false\n"
		  "admin:\n"
		  "  listen: \"127.0.0.1:19090\"\n"
		  "  token: \"secret\"\n"
		  "  allow: [\"127.0.0.0/8\", \"::1/128\"]\n"
		  "timeouts:\n"
		  "  client_header: 10s\n"
		  "  client_body: 30s\n"
		  "  client_idle: 60s\n"
		  "  send: 30s\n"
		  "  drain: 10s\n"
		  "  task_budget: 10ms\n"
		  "limits:\n"
		  "  max_header_size: 16KiB\n"
		  "  max_headers: 100\n"
		  "  max_connections: 10000\n"
		  "log:\n"
		  "  level: info\n"
		  /* -t must not open (or create) the access log. */
		  "  access: /nonexistent-ringcache-dir/access.log\n"
		  "  access_format: json\n"},
    {"lower_bounds", "listen: \":18080\"\n"
		     "threads: 1\n"
		     "backends:\n"
		     "  - name: app\n"
		     "    servers: [{address: \"127.0.0.1:1\", weight: 1}]\n"
		     "    pool_size: 0\n"
		     "    connect_timeout: 1ms\n"
		     "    first_byte_timeout: 1000us\n"
		     "    between_bytes_timeout: 1ms\n"
		     "cache:\n"
		     "  memory: 1\n"
		     "  max_object_size: 1B\n"
		     "  default_ttl: 0\n"
		     "  heuristic_percent: 0\n"
		     "  heuristic_max: 1ms\n"
		     "  grace: 0\n"
		     "  hit_for_miss: 0\n"
		     "  rules:\n"
		     "    - ttl: 0\n"
		     "compression:\n"
		     "  workers: 1\n"
		     "  queue: 1\n"
		     "  min_size: 0\n"
		     "  levels: {gzip: 1, br: 0, zstd: 1}\n"
		     "admin:\n"
		     "  listen: \"127.0.0.1:0\"\n"
		     "  allow: \"0.0.0.0/0\"\n"
		     "timeouts:\n"
		     "  client_header: 1ms\n"
		     "  drain: 1s\n"
		     "  task_budget: 1us\n"
		     "limits:\n"
		     "  max_header_size: 1KiB\n"
		     "  max_headers: 1\n"
		     "  max_connections: 1\n"
		     "log:\n"
		     "  level: error\n"},
    {"upper_bounds", "listen: \"127.0.0.1:65535\"\n"
		     "threads: 1024\n"
		     "backends:\n"
		     "  - name: app\n"
		     "    servers: [{address: \"127.0.0.1:65535\", weight: 1000}]\n"
		     "    pool_size: 10000\n"
		     "    connect_timeout: 24h\n"
		     "    first_byte_timeout: 1d\n"
		     "    between_bytes_timeout: 86400\n"
		     "cache:\n"
		     "  default_ttl: 3650d\n"
		     "  heuristic_percent: 100\n"
		     "  heuristic_max: 3650d\n"
		     "  grace: 3650d\n"
		     "  hit_for_miss: 87600h\n"
		     "compression:\n"
		     "  workers: 256\n"
		     "  queue: 65536\n"
		     "  min_size: 1GiB\n"
		     "  levels: {gzip: 9, br: 11, zstd: 19}\n"
		     "timeouts:\n"
		     "  client_idle: 24h\n"
		     "  drain: 1h\n"
		     "  task_budget: 60s\n"
		     "limits:\n"
		     "  max_header_size: 1MiB\n"
		     "  max_headers: 1000\n"
		     "  max_connections: 1000000\n"
		     "log:\n"
		     "  level: debug\n"},
    {"other_forms", "# comments, quoting, flow style, spaces before units, empty sections\n"
		    "listen: '[::1]:18080'\n"
		    "threads: \"auto\"\n"
		    "backends: [{name: app, servers: \"127.0.0.1:19000\", balance: round_robin}]\n"
		    "cache:\n"
		    "  memory: \"256 MiB\"\n"
		    "  max_object_size: 10 MB\n"
		    "  key: {sort_query: TRUE}\n"
		    "  rules:\n"
		    "admin:\n"
		    "log:\n"
		    "  access: \"off\"\n"
		    "  access_format: combined\n"
		    "timeouts: {}\n"},
    /* An empty key does not make a rule act, nor stop another key from doing so. */
    {"rule_ttl_and_empty_key", BASE "cache:\n"
				    "  rules:\n"
				    "    - ttl: 1h\n"
				    "      key: {}\n"},
    /* Names are not looked up by -t: none of these exists. */
    {"server_names_and_resolver", BACKEND_HEAD
     "    servers:\n"
     "      - \"api.rc-test.invalid:8000\"\n"
     "      - {address: \"web_1.svc.cluster.local.:80\", weight: 3}\n"
     "      - \"127.0.0.1:19000\"\n"
     "resolver:\n"
     "  servers: [\"127.0.0.1\", \"127.0.0.1:5353\", \"::1\", \"[::1]:5353\", \"[fd00::53]\"]\n"
     "  interval: 10ms\n"
     "  timeout: 1m\n"},
    {"resolver_empty", BASE "resolver: {servers: []}\n"},
    {"crlf_and_bom", "\xef\xbb\xbflisten: \"127.0.0.1:18080\"\r\n"
		     "backends:\r\n"
		     "  - name: app\r\n"
		     "    servers: [\"127.0.0.1:19000\"]\r\n"},
};

/* ---- the checks ----------------------------------------------------------- */

static void check_config(const char *path, struct cmd_result *r)
{
	char *argv[] = {(char *)RINGCACHE_BIN, (char *)"-t", (char *)"-c", (char *)path, NULL};
	cr_assert(access(RINGCACHE_BIN, X_OK) == 0, "daemon binary %s missing", RINGCACHE_BIN);
	run_cmd(argv, 5000, r);
	cr_assert_not(r->timed_out, "-t -c %s did not exit within 5 s (is it serving?)", path);
}

/* 1 if TEXT has a line (ending in '\n') equal to LINE. */
static int has_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	for (const char *p = text; p && *p;) {
		const char *e = strchr(p, '\n');
		if (e && (size_t)(e - p) == len && !memcmp(p, line, len))
			return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

static size_t count_lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	return n;
}

/*
 * Write YAML to test_dir()/NAME.yaml, run -t on it and expect exit 1 and
 * exactly the N lines ERRS (each without "FILE:") on stderr. Uses cr_expect
 * so one test reports every failing row of its table, each named, rather
 * than stopping at the first.
 */
static void check_errors(const char *name, const char *yaml, const char *const *errs, size_t n)
{
	char file[128], path[PATH_MAX], want[PATH_MAX + 512];
	struct cmd_result r;

	snprintf(file, sizeof(file), "%s.yaml", name);
	write_test_file(file, yaml, path, sizeof(path));
	check_config(path, &r);
	cr_expect(r.exited && r.exit_code == 1, "[%s] exit %d (exited %d), want 1; stderr:\n%s",
		  name, r.exit_code, r.exited, r.err);
	cr_expect_null(strstr(r.out, "configuration ok"), "[%s] says ok:\n%s", name, r.out);
	for (size_t i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "%s:%s", path, errs[i]);
		cr_expect(has_line(r.err, want), "[%s] missing error line\n  %s\nstderr:\n%s", name,
			  want, r.err);
	}
	cr_expect_eq(count_lines(r.err), n, "[%s] %zu stderr lines, want %zu:\n%s", name,
		     count_lines(r.err), n, r.err);
	cmd_result_free(&r);
}

static void check_bad_row(const struct bad_row *row)
{
	size_t n = 0;
	while (n < MAX_ERRS && row->errs[n])
		n++;
	check_errors(row->name, row->yaml, row->errs, n);
}

#define CHECK_TABLE(rows)                                                                          \
	do {                                                                                       \
		for (size_t i_ = 0; i_ < sizeof(rows) / sizeof(rows[0]); i_++)                     \
			check_bad_row(&rows[i_]);                                                  \
	} while (0)

Test(config_table, file_level_errors)
{
	CHECK_TABLE(file_rows);
}

Test(config_table, listen)
{
	CHECK_TABLE(listen_rows);
}

Test(config_table, threads)
{
	CHECK_TABLE(threads_rows);
}

Test(config_table, backends)
{
	CHECK_TABLE(backends_rows);
}

Test(config_table, cache)
{
	CHECK_TABLE(cache_rows);
}

Test(config_table, compression)
{
	CHECK_TABLE(compression_rows);
}

Test(config_table, admin)
{
	CHECK_TABLE(admin_rows);
}

Test(config_table, trusted_proxies)
{
	CHECK_TABLE(trusted_rows);
}

Test(config_table, timeouts)
{
	CHECK_TABLE(timeouts_rows);
}

Test(config_table, limits)
{
	CHECK_TABLE(limits_rows);
}

Test(config_table, log)
{
	CHECK_TABLE(log_rows);
}

Test(config_table, routes)
{
	CHECK_TABLE(routes_rows);
}

Test(config_table, resolver)
{
	CHECK_TABLE(resolver_rows);
}

Test(config_table, good_files_pass)
{
	char name[128], path[PATH_MAX], want[PATH_MAX + 64];
	struct cmd_result r;

	for (size_t i = 0; i < sizeof(good_rows) / sizeof(good_rows[0]); i++) {
		snprintf(name, sizeof(name), "%s.yaml", good_rows[i].name);
		write_test_file(name, good_rows[i].yaml, path, sizeof(path));
		check_config(path, &r);
		cr_expect(r.exited && r.exit_code == 0, "[%s] exit %d (exited %d); stderr:\n%s",
			  good_rows[i].name, r.exit_code, r.exited, r.err);
		snprintf(want, sizeof(want), "%s: configuration ok\n", path);
		cr_expect_str_eq(r.out, want, "[%s] stdout", good_rows[i].name);
		cr_expect_str_empty(r.err, "[%s] stderr", good_rows[i].name);
		cmd_result_free(&r);
	}
}

/* Errors are collected, not stopped at: one bad value per section, all reported. */
Test(config_table, every_error_in_a_file_is_reported)
{
	static const char yaml[] = "listen: \"127.0.0.1:99999\"\n"
				   "threads: 0\n"
				   "backends:\n"
				   "  - name: app\n"
				   "    servers: [\"127.0.0.1:19000\"]\n"
				   "    balance: random\n"
				   "cache:\n"
				   "  memroy: 1GiB\n"
				   "  rules:\n"
				   "    - path_prefix: \"assets/\"\n"
				   "      ttl: 1h\n"
				   "compression:\n"
				   "  levels: {gzip: 10}\n"
				   "admin:\n"
				   "  listen: \"127.0.0.1:9090\"\n"
				   "  token: \"\"\n"
				   "timeouts:\n"
				   "  drain: 2h\n"
				   "limits:\n"
				   "  max_headers: 0\n"
				   "log:\n"
				   "  level: verbose\n";
	static const char *const errs[] = {
	    "1:9: listen: invalid address '127.0.0.1:99999': invalid port (expected 0..65535)",
	    "2:10: threads: 0 is out of range (1..1024)",
	    "6:14: backends[0].balance: unknown method 'random'; expected round_robin, "
	    "least_connections or hash",
	    "8:3: unknown key 'memroy' in cache; expected one of: " CACHE_KEYS,
	    "10:20: cache.rules[0].path_prefix: 'assets/' must start with '/'",
	    "13:18: compression.levels.gzip: 10 is out of range (1..9)",
	    "16:10: admin.token: must not be empty",
	    "18:10: timeouts.drain: duration '2h' is out of range (1s..1h)",
	    "20:16: limits.max_headers: 0 is out of range (1..1000)",
	    "22:10: log.level: unknown level 'verbose'; expected one of: error, warn, info, debug",
	};
	check_errors("many_errors", yaml, errs, sizeof(errs) / sizeof(errs[0]));
}

/* No file, no position: line and column 0. */
Test(config_table, unreadable_files)
{
	char path[PATH_MAX], want[PATH_MAX + 128];
	struct cmd_result r;

	snprintf(path, sizeof(path), "%s/does-not-exist.yaml", test_dir());
	check_config(path, &r);
	cr_expect(r.exited && r.exit_code == 1, "exit %d; stderr:\n%s", r.exit_code, r.err);
	snprintf(want, sizeof(want), "%s:0:0: cannot open: No such file or directory\n", path);
	cr_expect_str_eq(r.err, want);
	cr_expect_null(strstr(r.out, "configuration ok"), "says ok:\n%s", r.out);
	cmd_result_free(&r);

	snprintf(path, sizeof(path), "%s", test_dir());
	check_config(path, &r);
	cr_expect(r.exited && r.exit_code == 1, "exit %d; stderr:\n%s", r.exit_code, r.err);
	snprintf(want, sizeof(want), "%s:0:0: cannot open: Is a directory\n", path);
	cr_expect_str_eq(r.err, want);
	cmd_result_free(&r);
}
