/*
 * fuzz_config.c - libFuzzer harness for the config loader (src/config/:
 * load.c, walk.c and the readers along schema.c's table): arbitrary YAML
 * through config_load_string.
 *
 * Checked: a load either returns a config and no error lines, or NULL
 * and at least one; every error is one line "fuzz.yaml:LINE:COL: message";
 * a returned config keeps the promises config.h makes (at least one
 * listener, backend and server, weights 1..1000, admin.allow never empty,
 * a rule's own host and path match it or an earlier rule); everything is
 * freed (LeakSanitizer checks).
 *
 * Host names in addresses would be resolved at load (getaddrinfo); the
 * harness is linked with -Wl,--wrap=getaddrinfo so that only numeric
 * addresses and "localhost" resolve, without touching the network.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz_http.h"

#include "config/config.h"

#define NAME "fuzz.yaml"

int __real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res);

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res)
{
	struct addrinfo h = hints ? *hints : (struct addrinfo){0};
	h.ai_flags |= AI_NUMERICHOST;
	if (node && !strcmp(node, "localhost"))
		node = "127.0.0.1";
	return __real_getaddrinfo(node, service, &h, res);
}

static bool digits(const char **p)
{
	const char *s = *p;
	while (**p >= '0' && **p <= '9')
		(*p)++;
	return *p > s;
}

/* "fuzz.yaml:LINE:COL: message", one line. */
static void check_error_line(const char *l)
{
	FZ_CHECK(l && !strncmp(l, NAME ":", sizeof(NAME)));
	const char *p = l + sizeof(NAME);
	FZ_CHECK(digits(&p) && *p++ == ':');
	FZ_CHECK(digits(&p) && *p++ == ':');
	FZ_CHECK(*p++ == ' ' && *p != '\0');
	FZ_CHECK(!strchr(p, '\n') && !strchr(p, '\r'));
}

static void check_config(const struct config *cfg)
{
	FZ_CHECK(cfg->magic == CONFIG_MAGIC);
	FZ_CHECK(cfg->path && !strcmp(cfg->path, NAME));
	FZ_CHECK(cfg->n_listen >= 1 && cfg->listen);
	FZ_CHECK(cfg->n_backends >= 1 && cfg->backends);
	FZ_CHECK(cfg->threads >= 1);
	for (size_t i = 0; i < cfg->n_backends; i++) {
		const struct config_backend *b = &cfg->backends[i];
		FZ_CHECK(b->name && b->name[0]);
		FZ_CHECK(b->n_servers >= 1 && b->servers && b->weights);
		for (size_t j = 0; j < b->n_servers; j++) {
			FZ_CHECK(b->weights[j] >= 1 && b->weights[j] <= 1000);
			FZ_CHECK(b->servers[j].spec);
			FZ_CHECK(b->servers[j].sa.ss_family == AF_INET ||
				 b->servers[j].sa.ss_family == AF_INET6);
		}
		FZ_CHECK(b->health.n_expect <= CONFIG_EXPECT_MAX);
	}
	FZ_CHECK(cfg->admin.allow.n >= 1 && cfg->admin.allow.v);
	FZ_CHECK(cfg->compression.n_prefer <= CODING__N);
	FZ_CHECK(cfg->limits.max_header_size >= 1024 && cfg->limits.max_headers >= 1);

	/* Each rule is found by its own host and path, unless an earlier
	 * rule already takes them. Wildcard hosts are tried with a label. */
	for (size_t i = 0; i < cfg->cache.n_rules; i++) {
		const struct config_rule *r = &cfg->cache.rules[i];
		char host[512];
		const char *h = NULL;
		size_t hl = 0;
		if (r->host) {
			int n = snprintf(host, sizeof(host), "%s%s", r->host[0] == '*' ? "a" : "",
					 r->host + (r->host[0] == '*'));
			if (n < 0 || (size_t)n >= sizeof(host))
				continue;
			h = host;
			hl = (size_t)n;
		}
		const char *path = r->path_prefix ? r->path_prefix : "/";
		const struct config_rule *m = config_rule_match(cfg, h, hl, path, strlen(path));
		FZ_CHECK(m && m <= r);
	}
	(void)config_rule_match(cfg, "example.com", 11, "/static/x", 9);
	(void)config_rule_match(cfg, NULL, 0, "/", 1);

	struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	(void)config_admin_allowed(cfg, (const struct sockaddr *)&v4);
	(void)config_admin_allowed(cfg, (const struct sockaddr *)&v6);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	struct config_errors errs = {0};
	struct config *cfg = config_load_string(NAME, (const char *)data, size, &errs);
	if (cfg) {
		FZ_CHECK(errs.n == 0);
		check_config(cfg);
		config_free(&cfg);
		FZ_CHECK(cfg == NULL);
	} else {
		FZ_CHECK(errs.n >= 1 && errs.lines);
		for (size_t i = 0; i < errs.n; i++)
			check_error_line(errs.lines[i]);
	}
	config_errors_clear(&errs);
	FZ_CHECK(errs.n == 0 && errs.lines == NULL);
	return 0;
}
