/* admin.c - admin HTTP endpoint: health, metrics, stats, purge, ban, tag. */
#include "daemon/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cache/store.h"
#include "compress/pool.h"
#include "http/hbuf.h"
#include "http/msg.h"
#include "ops/accesslog.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "serve/keys.h"
#include "backend/gen.h"
#include "rt/io.h"
#include "rt/task.h"

#define ADMIN_BUF     16384
#define ADMIN_FIELDS  64
#define ADMIN_TIMEOUT (10 * RT_SEC)

struct admin_conn {
	struct dloop *l;
	struct daemon *d;
	struct gen *gen; /* held while the request is handled */
	int fd;
	struct sockaddr_storage peer;
	char buf[ADMIN_BUF];
	char out[65536];
	struct hfield fields[ADMIN_FIELDS];
	struct hmsg m;
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The percent-decoded value of query parameter NAME in QUERY, or false. */
static bool query_param(const char *q, size_t qlen, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = q, *end = q + qlen;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *e = amp ? amp : end;
		if ((size_t)(e - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t n = 0;
			for (const char *s = p + nl + 1; s < e && n + 1 < cap; s++) {
				if (*s == '%' && e - s > 2 && hexval(s[1]) >= 0 &&
				    hexval(s[2]) >= 0) {
					out[n++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
					s += 2;
				} else {
					out[n++] = *s == '+' ? ' ' : *s;
				}
			}
			out[n] = '\0';
			return true;
		}
		p = e + 1;
	}
	return false;
}

static uint64_t metric_sum(struct daemon *d, enum metric_id id)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < d->nloops; i++)
		v += atomic_load_explicit(&d->loops[i].w.metrics.v[id], memory_order_relaxed);
	return v;
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void put_label_value(struct hbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			hbuf_put(b, "\\", 1);
		if (*s == '\n')
			hbuf_puts(b, "\\n");
		else
			hbuf_put(b, s, 1);
	}
}

static void put_server_labels(struct hbuf *b, const struct config_backend *cb, size_t k)
{
	hbuf_puts(b, "{backend=\"");
	put_label_value(b, cb->name);
	hbuf_puts(b, "\",server=\"");
	put_label_value(b, cb->servers[k].spec);
	hbuf_puts(b, "\"}");
}

/*
 * Process memory from /proc/self/statm (resident and virtual size). A
 * read of a procfs file is answered from kernel memory and never waits
 * on a disk, so it is fine on the admin loop.
 */
static void put_memory(struct hbuf *b)
{
	char buf[128];
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	unsigned long long size = 0, resident = 0;
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return;
	unsigned long long page = (unsigned long long)sysconf(_SC_PAGESIZE);
	hbuf_printf(b,
		    "# HELP ringcache_resident_memory_bytes resident set size of the process\n"
		    "# TYPE ringcache_resident_memory_bytes gauge\n"
		    "ringcache_resident_memory_bytes %llu\n"
		    "# HELP ringcache_virtual_memory_bytes virtual memory size of the process\n"
		    "# TYPE ringcache_virtual_memory_bytes gauge\n"
		    "ringcache_virtual_memory_bytes %llu\n",
		    resident * page, size * page);
}

size_t admin_render_metrics(struct daemon *d, const struct gen *g, char *out, size_t cap)
{
	struct hbuf b;
	hbuf_init(&b, out, cap);
	for (int i = 0; i < M_COUNT; i++) {
		hbuf_printf(&b, "# HELP ringcache_%s_total %s\n# TYPE ringcache_%s_total counter\n",
			    metric_names[i], metric_help[i], metric_names[i]);
		hbuf_printf(&b, "ringcache_%s_total %llu\n", metric_names[i],
			    (unsigned long long)metric_sum(d, (enum metric_id)i));
	}
	/* Request latency: per-loop buckets summed, then made cumulative. */
	hbuf_puts(&b, "# HELP ringcache_request_duration_seconds time from a whole request head "
		      "to the end of its response\n# TYPE ringcache_request_duration_seconds "
		      "histogram\n");
	uint64_t cum = 0, lat_sum = 0;
	for (int i = 0; i <= RC_LAT_BUCKETS; i++) {
		for (unsigned k = 0; k < d->nloops; k++)
			cum += atomic_load_explicit(&d->loops[k].w.metrics.lat_bucket[i],
						    memory_order_relaxed);
		if (i < RC_LAT_BUCKETS)
			hbuf_printf(&b,
				    "ringcache_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
				    metric_lat_bounds[i], (unsigned long long)cum);
		else
			hbuf_printf(&b,
				    "ringcache_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
				    (unsigned long long)cum);
	}
	for (unsigned k = 0; k < d->nloops; k++)
		lat_sum +=
		    atomic_load_explicit(&d->loops[k].w.metrics.lat_sum_ns, memory_order_relaxed);
	hbuf_printf(&b, "ringcache_request_duration_seconds_sum %.6f\n", (double)lat_sum / 1e9);
	hbuf_printf(&b, "ringcache_request_duration_seconds_count %llu\n", (unsigned long long)cum);
	struct store_stats *ss = store_stats(d->sh.store);
	struct {
		const char *name, *type, *help;
		uint64_t v;
	} extra[] = {
	    {"connections", "gauge", "open client connections", atomic_load(&d->sh.nconns)},
	    {"cache_objects", "gauge", "stored responses", atomic_load(&ss->objects)},
	    {"cache_bytes", "gauge", "bytes charged to the cache budget", store_bytes(d->sh.store)},
	    {"cache_budget_bytes", "gauge", "cache.memory", store_budget(d->sh.store)},
	    {"cache_evictions_total", "counter", "objects evicted for the budget",
	     atomic_load(&ss->evictions)},
	    {"cache_purged_total", "counter", "objects removed by purge and tag purge",
	     atomic_load(&ss->purged)},
	    {"cache_banned_total", "counter", "objects removed by bans", atomic_load(&ss->banned)},
	    {"cache_hit_for_miss_total", "counter", "keys marked hit-for-miss",
	     atomic_load(&ss->hfm_set)},
	};
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		hbuf_printf(&b,
			    "# HELP ringcache_%s %s\n# TYPE ringcache_%s %s\nringcache_%s %llu\n",
			    extra[i].name, extra[i].help, extra[i].name, extra[i].type,
			    extra[i].name, (unsigned long long)extra[i].v);
	/* Read the pool only through a generation that enables it: posting
	 * that generation ordered the pool's creation before this read. */
	if (g->cfg->compression.enabled && d->sh.cpool) {
		struct cpool_stats *cs = cpool_stats(d->sh.cpool);
		struct {
			const char *name, *type, *help;
			uint64_t v;
		} cz[] = {
		    {"compression_jobs_total", "counter", "codec steps run by the compression pool",
		     atomic_load(&cs->jobs)},
		    {"compression_in_bytes_total", "counter", "bytes fed to the codecs",
		     atomic_load(&cs->bytes_in)},
		    {"compression_out_bytes_total", "counter", "bytes the codecs produced",
		     atomic_load(&cs->bytes_out)},
		    {"compression_queue_depth", "gauge", "steps waiting for a compression worker",
		     cpool_queued(d->sh.cpool)},
		    {"compression_streams", "gauge", "coded copies being made now",
		     atomic_load(&cs->streams)},
		    {"compression_fallbacks_total", "counter",
		     "responses sent uncompressed because the pool was full",
		     atomic_load(&cs->fallbacks)},
		    {"compression_queue_full_waits_total", "counter",
		     "steps of started copies that waited for room in the queue",
		     atomic_load(&cs->full_waits)},
		    {"compression_errors_total", "counter", "coded copies that broke",
		     atomic_load(&cs->errors)},
		};
		for (size_t i = 0; i < sizeof(cz) / sizeof(cz[0]); i++)
			hbuf_printf(&b,
				    "# HELP ringcache_%s %s\n# TYPE ringcache_%s %s\nringcache_%s "
				    "%llu\n",
				    cz[i].name, cz[i].help, cz[i].name, cz[i].type, cz[i].name,
				    (unsigned long long)cz[i].v);
		hbuf_printf(&b,
			    "# HELP ringcache_compression_job_seconds_total time spent in codec "
			    "steps\n# TYPE ringcache_compression_job_seconds_total counter\n"
			    "ringcache_compression_job_seconds_total %.6f\n",
			    (double)atomic_load(&cs->job_ns) / 1e9);
	}
	/* Per server of the configuration this request holds. */
	hbuf_puts(&b, "# HELP ringcache_backend_up 1 while the server is in rotation, 0 while "
		      "its health probes have it out\n# TYPE ringcache_backend_up gauge\n");
	for (size_t i = 0; i < g->n_backends; i++) {
		const struct config_backend *cb = g->backends[i].cfg;
		for (size_t k = 0; k < cb->n_servers; k++) {
			hbuf_puts(&b, "ringcache_backend_up");
			put_server_labels(&b, cb, k);
			hbuf_puts(&b,
				  atomic_load(&g->backends[i].health[k].down) ? " 0\n" : " 1\n");
		}
	}
	hbuf_puts(&b, "# HELP ringcache_backend_active_requests exchanges in progress\n"
		      "# TYPE ringcache_backend_active_requests gauge\n");
	for (size_t i = 0; i < g->n_backends; i++) {
		const struct config_backend *cb = g->backends[i].cfg;
		for (size_t k = 0; k < cb->n_servers; k++) {
			hbuf_puts(&b, "ringcache_backend_active_requests");
			put_server_labels(&b, cb, k);
			hbuf_printf(&b, " %u\n", atomic_load(&g->backends[i].active[k]));
		}
	}
	hbuf_puts(&b, "# HELP ringcache_backend_failed_probes_total health probes that failed\n"
		      "# TYPE ringcache_backend_failed_probes_total counter\n");
	for (size_t i = 0; i < g->n_backends; i++) {
		const struct config_backend *cb = g->backends[i].cfg;
		for (size_t k = 0; k < cb->n_servers; k++) {
			hbuf_puts(&b, "ringcache_backend_failed_probes_total");
			put_server_labels(&b, cb, k);
			hbuf_printf(&b, " %llu\n",
				    (unsigned long long)atomic_load(
					&g->backends[i].health[k].failed_probes));
		}
	}
	hbuf_printf(&b,
		    "# HELP ringcache_config_generation the configuration in use (1 at start, +1 "
		    "per reload)\n# TYPE ringcache_config_generation gauge\n"
		    "ringcache_config_generation %llu\n",
		    (unsigned long long)g->id);
	put_memory(&b);
	if (d->alog) {
		struct alog_stats as;
		alog_stats_read(d->alog, &as);
		hbuf_printf(
		    &b,
		    "# HELP ringcache_access_log_lines_total access log lines written\n"
		    "# TYPE ringcache_access_log_lines_total counter\n"
		    "ringcache_access_log_lines_total %llu\n"
		    "# HELP ringcache_access_log_dropped_total access log lines lost (the disk "
		    "was slower than the traffic, or a write failed)\n"
		    "# TYPE ringcache_access_log_dropped_total counter\n"
		    "ringcache_access_log_dropped_total %llu\n"
		    "# HELP ringcache_access_log_write_errors_total failed access log writes\n"
		    "# TYPE ringcache_access_log_write_errors_total counter\n"
		    "ringcache_access_log_write_errors_total %llu\n",
		    (unsigned long long)as.written, (unsigned long long)as.dropped,
		    (unsigned long long)as.write_errors);
	}
	/* Starvation watchdog, per loop; the maxima cover the time since
	 * the previous scrape. */
	hbuf_puts(&b, "# HELP ringcache_loop_slow_tasks_total task resumptions over "
		      "timeouts.task_budget\n# TYPE ringcache_loop_slow_tasks_total counter\n");
	uint64_t slow[256], run[256], lag[256];
	unsigned n = d->nloops < 256 ? d->nloops : 256;
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < n; i++) {
		slow[i] = run[i] = lag[i] = 0;
		if (d->loops[i].w.loop)
			rt_loop_stats_read(d->loops[i].w.loop, &slow[i], &run[i], &lag[i], true);
	}
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; i < n; i++)
		hbuf_printf(&b, "ringcache_loop_slow_tasks_total{loop=\"%u\"} %llu\n", i,
			    (unsigned long long)slow[i]);
	hbuf_puts(&b, "# HELP ringcache_loop_lag_seconds longest scheduling round since the last "
		      "scrape\n# TYPE ringcache_loop_lag_seconds gauge\n");
	for (unsigned i = 0; i < n; i++)
		hbuf_printf(&b, "ringcache_loop_lag_seconds{loop=\"%u\"} %.6f\n", i,
			    (double)lag[i] / 1e9);
	hbuf_puts(&b, "# HELP ringcache_loop_max_task_run_seconds longest task run between awaits "
		      "since the last scrape\n# TYPE ringcache_loop_max_task_run_seconds gauge\n");
	for (unsigned i = 0; i < n; i++)
		hbuf_printf(&b, "ringcache_loop_max_task_run_seconds{loop=\"%u\"} %.6f\n", i,
			    (double)run[i] / 1e9);
	return b.len;
}

static size_t render_stats(struct daemon *d, char *out, size_t cap)
{
	struct hbuf b;
	hbuf_init(&b, out, cap);
	hbuf_puts(&b, "{");
	for (int i = 0; i < M_COUNT; i++)
		hbuf_printf(&b, "\"%s\": %llu, ", metric_names[i],
			    (unsigned long long)metric_sum(d, (enum metric_id)i));
	struct store_stats *ss = store_stats(d->sh.store);
	hbuf_printf(
	    &b,
	    "\"connections\": %u, \"cache_objects\": %llu, \"cache_bytes\": %llu, "
	    "\"cache_budget_bytes\": %llu, \"cache_evictions\": %llu, \"cache_purged\": %llu, "
	    "\"cache_banned\": %llu}\n",
	    atomic_load(&d->sh.nconns), (unsigned long long)atomic_load(&ss->objects),
	    (unsigned long long)store_bytes(d->sh.store),
	    (unsigned long long)store_budget(d->sh.store),
	    (unsigned long long)atomic_load(&ss->evictions),
	    (unsigned long long)atomic_load(&ss->purged),
	    (unsigned long long)atomic_load(&ss->banned));
	return b.len;
}

static int respond(struct admin_conn *ac, int status, const char *reason, const char *type,
		   const char *body, size_t blen)
{
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
			  status, reason, type, blen);
	struct iovec iov[2] = {{head, (size_t)hl}, {(void *)body, blen}};
	return rt_writev_all(ac->fd, iov, 2, rt_deadline_in(ADMIN_TIMEOUT)) < 0 ? -1 : 0;
}

static int respond_text(struct admin_conn *ac, int status, const char *reason, const char *text)
{
	return respond(ac, status, reason, "text/plain", text, strlen(text));
}

static bool authorised(struct admin_conn *ac, int *status)
{
	const struct config *cfg = ac->gen->cfg;
	if (!config_admin_allowed(cfg, (const struct sockaddr *)&ac->peer)) {
		*status = 403;
		return false;
	}
	if (!cfg->admin.token)
		return true;
	const struct hfield *f = hmsg_field(&ac->m, "authorization", 0);
	size_t tl = strlen(cfg->admin.token);
	if (f && f->value.len == 7 + tl &&
	    strncasecmp(hmsg_ptr(&ac->m, f->value), "Bearer ", 7) == 0 &&
	    memcmp(hmsg_ptr(&ac->m, f->value) + 7, cfg->admin.token, tl) == 0)
		return true;
	*status = 401;
	return false;
}

/* JSON string contents: quotes, backslashes and control bytes escaped. */
static void put_json_str(struct hbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			char e[2] = {'\\', (char)ch};
			hbuf_put(b, e, 2);
		} else if (ch < 0x20 || ch == 0x7f) {
			char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
			hbuf_put(b, e, 6);
		} else {
			hbuf_put(b, s + i, 1);
		}
	}
}

/* How long POST /reload waits for the main thread to load the file. */
#define RELOAD_WAIT (30 * RT_SEC)

/*
 * POST /reload: the main thread loads, checks and swaps the config (reading
 * and parsing a file is no work for a loop thread); this task asks it with
 * a signal and polls for the answer, which needs no pointer from the main
 * thread to a task that may be gone by then.
 */
static int reload(struct admin_conn *ac)
{
	struct daemon *d = ac->d;
	unsigned long want = atomic_fetch_add(&d->reload_asked, 1) + 1;
	pthread_kill(d->main_thread, SIGHUP);
	rt_time_t until = rt_deadline_in(RELOAD_WAIT);
	while (atomic_load(&d->reload_done) < want) {
		if (ac->l->w.be.draining)
			return respond_text(ac, 503, "Service Unavailable", "draining\n");
		rt_time_t next = rt_deadline_in(20 * RT_MS);
		if (next > until)
			return respond_text(ac, 503, "Service Unavailable",
					    "reload did not finish in 30 s\n");
		if (rt_sleep_until(next) < 0)
			return -1;
	}
	struct hbuf b;
	hbuf_init(&b, ac->out, sizeof(ac->out));
	pthread_mutex_lock(&d->lock);
	int st = d->reload_status;
	if (st == 0) {
		hbuf_printf(&b, "{\"reloaded\": true, \"generation\": %llu}\n",
			    (unsigned long long)d->reload_gen);
	} else {
		hbuf_printf(&b, "{\"reloaded\": false, \"error\": \"%s\", \"messages\": [",
			    strerror(-st));
		const char *e = d->reload_errors;
		bool first = true;
		while (*e) {
			const char *nl = strchr(e, '\n');
			size_t n = nl ? (size_t)(nl - e) : strlen(e);
			hbuf_puts(&b, first ? "\"" : ", \"");
			put_json_str(&b, e, n);
			hbuf_puts(&b, "\"");
			first = false;
			e += n + (nl ? 1 : 0);
		}
		hbuf_puts(&b, "]}\n");
	}
	pthread_mutex_unlock(&d->lock);
	log_info("admin: reload %s", st == 0 ? "done" : "refused");
	return respond(ac,
		       st == 0	       ? 200
		       : st == -EINVAL ? 400
				       : 500,
		       st == 0	       ? "OK"
		       : st == -EINVAL ? "Bad Request"
				       : "Internal Server Error",
		       "application/json", ac->out, b.len);
}

static int handle(struct admin_conn *ac)
{
	struct daemon *d = ac->d;
	struct hmsg *m = &ac->m;
	const char *t = hmsg_ptr(m, m->target);
	size_t tl = m->target.len;
	const char *q = memchr(t, '?', tl);
	size_t pl = q ? (size_t)(q - t) : tl;
	const char *qs = q ? q + 1 : "";
	size_t ql = q ? tl - pl - 1 : 0;
	unsigned method = hmsg_method(m);
	int st;
	if (!authorised(ac, &st)) {
		log_warn("admin: %d for %.*s", st, (int)pl, t);
		return st == 403 ? respond_text(ac, 403, "Forbidden", "forbidden\n")
				 : respond_text(ac, 401, "Unauthorized", "bearer token required\n");
	}
#define PATH_IS(s) (pl == strlen(s) && memcmp(t, s, pl) == 0)
	if (PATH_IS("/health"))
		return respond_text(ac, 200, "OK", "ok\n");
	if (PATH_IS("/metrics")) {
		size_t n = admin_render_metrics(d, ac->gen, ac->out, sizeof(ac->out));
		return respond(ac, 200, "OK", "text/plain; version=0.0.4", ac->out, n);
	}
	if (PATH_IS("/stats")) {
		size_t n = render_stats(d, ac->out, sizeof(ac->out));
		return respond(ac, 200, "OK", "application/json", ac->out, n);
	}
	bool is_post = method == HTTP_POST || method == HTTP_PURGE;
	if (PATH_IS("/reload"))
		return method == HTTP_POST
			   ? reload(ac)
			   : respond_text(ac, 405, "Method Not Allowed", "use POST\n");
	char a[2048], h[512], body[2300];
	if (PATH_IS("/purge") || PATH_IS("/ban") || PATH_IS("/tag")) {
		if (!is_post)
			return respond_text(ac, 405, "Method Not Allowed", "use POST\n");
	} else {
		return respond_text(ac, 404, "Not Found", "not found\n");
	}
	if (PATH_IS("/purge")) {
		if (!query_param(qs, ql, "url", a, sizeof(a)) || a[0] != '/')
			return respond_text(ac, 400, "Bad Request", "url=/path required\n");
		if (!query_param(qs, ql, "host", h, sizeof(h)))
			h[0] = '\0';
		char key[8192];
		uint32_t hl;
		int kl =
		    cache_key_for(ac->gen->cfg, h, strlen(h), a, strlen(a), key, sizeof(key), &hl);
		size_t n = kl > 0 ? store_purge_key(d->sh.store, key, (uint32_t)kl) : 0;
		log_info("admin: purge host=%s url=%s: %zu objects", h, a, n);
		int bl = snprintf(body, sizeof(body), "{\"purged\": %zu}\n", n);
		return respond(ac, 200, "OK", "application/json", body, (size_t)bl);
	}
	if (PATH_IS("/ban")) {
		bool hu = query_param(qs, ql, "url", a, sizeof(a));
		bool hh = query_param(qs, ql, "host", h, sizeof(h));
		if (!hu && !hh)
			return respond_text(ac, 400, "Bad Request", "url= and/or host= required\n");
		char err[256];
		int64_t seq =
		    store_ban(d->sh.store, hu ? a : NULL, hh ? h : NULL, err, sizeof(err));
		if (seq < 0) {
			int bl = snprintf(body, sizeof(body), "{\"error\": \"%s\"}\n", err);
			return respond(ac, 400, "Bad Request", "application/json", body,
				       (size_t)bl);
		}
		log_info("admin: ban url=%s host=%s: #%lld", hu ? a : "*", hh ? h : "*",
			 (long long)seq);
		int bl = snprintf(body, sizeof(body), "{\"ban\": %lld}\n", (long long)seq);
		return respond(ac, 200, "OK", "application/json", body, (size_t)bl);
	}
	if (!query_param(qs, ql, "tag", a, sizeof(a)) || !a[0])
		return respond_text(ac, 400, "Bad Request", "tag= required\n");
	bool soft = query_param(qs, ql, "soft", h, sizeof(h)) && strcmp(h, "1") == 0;
	size_t n = store_purge_tag(d->sh.store, a, strlen(a), soft);
	log_info("admin: %s tag purge %s: %zu objects", soft ? "soft" : "hard", a, n);
	int bl = snprintf(body, sizeof(body), "{\"purged\": %zu}\n", n);
	return respond(ac, 200, "OK", "application/json", body, (size_t)bl);
#undef PATH_IS
}

static void admin_conn_main(void *arg)
{
	struct admin_conn *ac = arg;
	uint32_t len = 0, pos = 0;
	hmsg_init(&ac->m, HMSG_REQUEST, ac->fields, ADMIN_FIELDS, ADMIN_BUF / 2);
	for (;;) {
		memmove(ac->buf, ac->buf + pos, len - pos);
		len -= pos;
		pos = 0;
		hmsg_next(&ac->m, ac->buf, 0);
		bool bad = false;
		while (!ac->m.msg_done) {
			if (pos < len) {
				long n = hmsg_feed(&ac->m, pos, len - pos);
				if (n < 0) {
					bad = true;
					break;
				}
				pos += (uint32_t)n;
				continue;
			}
			if (len == sizeof(ac->buf)) {
				bad = true;
				break;
			}
			ssize_t n = rt_recv(ac->fd, ac->buf + len, sizeof(ac->buf) - len, 0,
					    rt_deadline_in(ADMIN_TIMEOUT));
			if (n <= 0)
				goto out;
			len += (uint32_t)n;
		}
		if (bad) {
			respond(ac, 400, "Bad Request", "text/plain", "bad request\n", 12);
			break;
		}
		/* One request per connection: an idle admin connection must
		 * not hold up a drain. */
		ac->gen = gen_hold(&ac->l->w.be);
		handle(ac);
		gen_put(&ac->l->w.be, ac->gen);
		break;
	}
out:
	rt_close(ac->fd);
	free(ac);
}

void admin_accepted(struct dloop *l, int fd)
{
	struct admin_conn *ac = malloc(sizeof(*ac));
	if (!ac) {
		close(fd);
		return;
	}
	ac->l = l;
	ac->d = l->d;
	ac->fd = fd;
	socklen_t plen = sizeof(ac->peer);
	if (getpeername(fd, (struct sockaddr *)&ac->peer, &plen) < 0)
		ac->peer.ss_family = AF_UNSPEC; /* not allowed by any network */
	/* In the loop's admin group: drain ends them all. */
	if (rt_group_spawn(&l->admins, admin_conn_main, ac, "admin") < 0) {
		close(fd);
		free(ac);
	}
}
