/*
 * config.h - the daemon's configuration, loaded from YAML (libyaml).
 *
 * A loaded config is immutable: the loader builds a whole new struct config,
 * validates it, and only then hands it out. Reload builds another one and
 * swaps it in; the old one is freed when nothing uses it any more.
 *
 * Errors are collected, not stopped at: every problem in the file is
 * reported as one "FILE:LINE:COL: message" line (1-based line and column of
 * the offending YAML node), so `ringcache -t` shows them all at once.
 *
 * Schema (sizes take B/KiB/MiB/GiB or KB/MB/GB; durations ms/s/m/h, a bare
 * number of a duration means seconds):
 *
 *   listen: ["127.0.0.1:8080"]      # string or list; "IP:PORT" or "[IPv6]:PORT"
 *   threads: 2                      # or "auto" (online CPUs)
 *   backends:
 *     - name: app
 *       servers: ["127.0.0.1:9000"] # numeric IP:PORT, or host:port resolved at load
 *       pool_size: 64               # idle keep-alive connections kept per server per thread
 *       connect_timeout: 3s
 *       first_byte_timeout: 30s
 *       between_bytes_timeout: 30s
 *   cache:
 *     memory: 256MiB
 *   admin:
 *     listen: "127.0.0.1:9090"
 *   timeouts:
 *     client_header: 10s            # whole request head must arrive within this
 *     client_body: 30s              # between request body bytes
 *     client_idle: 60s              # keep-alive idle wait for the next request
 *     send: 30s                     # any single send to a peer
 *   limits:
 *     max_header_size: 16KiB        # request or response head; over it -> 431 / 502
 *     max_headers: 100              # header field count
 *     max_connections: 10000        # client connections per daemon
 *   log:
 *     level: info                   # error | warn | info | debug
 */
#ifndef RINGCACHE_CONFIG_H
#define RINGCACHE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONFIG_MAGIC 0x43464721u

struct config_addr {
	char *spec; /* as written in the file, e.g. "127.0.0.1:8080" */
	struct sockaddr_storage sa;
	socklen_t salen;
};

struct config_backend {
	char *name;
	struct config_addr *servers;
	size_t n_servers;
	unsigned pool_size;
	uint64_t connect_timeout_ns;
	uint64_t first_byte_timeout_ns;
	uint64_t between_bytes_timeout_ns;
};

enum config_log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

struct config {
	unsigned magic;
	char *path;

	struct config_addr *listen;
	size_t n_listen;
	unsigned threads; /* resolved: "auto" becomes the online CPU count */

	struct config_backend *backends;
	size_t n_backends;

	struct {
		uint64_t memory; /* bytes */
	} cache;

	struct {
		int enabled; /* admin.listen given */
		struct config_addr listen;
	} admin;

	struct {
		uint64_t client_header_ns;
		uint64_t client_body_ns;
		uint64_t client_idle_ns;
		uint64_t send_ns;
	} timeouts;

	struct {
		uint32_t max_header_size;
		uint32_t max_headers;
		uint32_t max_connections;
	} limits;

	enum config_log_level log_level;
};

/* One error line: "FILE:LINE:COL: message". */
struct config_errors {
	char **lines;
	size_t n;
};

/*
 * Load and validate PATH. On success returns a new config (caller owns it,
 * free with config_free) and leaves errs empty. On any error returns NULL and
 * fills errs with one line per problem (caller frees with
 * config_errors_clear). A missing or unreadable file is one error line
 * "FILE:0:0: cannot open: <strerror>".
 */
struct config *config_load(const char *path, struct config_errors *errs);

/* Same, from a string in memory; NAME is used as FILE in error lines. */
struct config *config_load_string(const char *name, const char *yaml, size_t len,
				  struct config_errors *errs);

/* Free a config and NULL the caller's pointer. Accepts *cfgp == NULL. */
void config_free(struct config **cfgp);

void config_errors_clear(struct config_errors *errs);

/* Parse helpers, exposed for tests and for other modules' use. Return 0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration(const char *s, uint64_t *out_ns);
int config_parse_addr(const char *s, struct config_addr *out); /* numeric or resolved host */

#endif
