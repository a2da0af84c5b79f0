/* health.c - active health probes: one task per probed server. */
#include "backend/health.h"
#include "rt/obj.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http/hbuf.h"
#include "ops/log.h"
#include "rt/io.h"
#include "rt/task.h"

#define PROBE_MAGIC 0x50524f42u

struct probe {
	unsigned magic;
	struct bloop *b;
	struct gen *g;
	unsigned backend, server;
};

bool health_status_ok(const struct config_health *h, int status)
{
	if (h->n_expect == 0)
		return status >= 200 && status < 400;
	for (size_t i = 0; i < h->n_expect; i++) {
		if (h->expect[i] == status)
			return true;
	}
	return false;
}

/* "HTTP/1.x NNN" at the start of BUF: NNN, or -1. */
static int status_of(const char *buf, size_t n)
{
	if (n < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
		return -1;
	int st = 0;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		st = st * 10 + (buf[i] - '0');
	}
	return st;
}

/* One probe: 0 when the server answered as expected, else -1 with WHY. */
static int probe_once(const struct config_backend *b, unsigned server, char *why, size_t cap)
{
	const struct config_health *h = &b->health;
	const struct config_addr *a = &b->servers[server];
	rt_time_t deadline = rt_deadline_in(h->timeout_ns);
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, cap, "socket: %s", strerror(errno));
		return -1;
	}
	char buf[1024];
	int ret = -1;
	int r = rt_connect(fd, (const struct sockaddr *)&a->sa, a->salen, deadline);
	if (r < 0) {
		snprintf(why, cap, "connect: %s", strerror(-r));
		goto out;
	}
	struct hbuf q;
	hbuf_init(&q, buf, sizeof(buf));
	hbuf_puts(&q, "GET ");
	hbuf_puts(&q, h->path);
	hbuf_puts(&q, " HTTP/1.1\r\nHost: ");
	hbuf_puts(&q, h->host ? h->host : a->spec);
	hbuf_puts(&q, "\r\nUser-Agent: ringcache-health\r\nConnection: close\r\n\r\n");
	if (q.overflow) {
		snprintf(why, cap, "probe request too long");
		goto out;
	}
	ssize_t s = rt_send_all(fd, buf, q.len, deadline);
	if (s < 0) {
		snprintf(why, cap, "send: %s", strerror((int)-s));
		goto out;
	}
	size_t len = 0;
	while (len < 12) {
		ssize_t n = rt_recv(fd, buf + len, sizeof(buf) - len, 0, deadline);
		if (n <= 0) {
			snprintf(why, cap, "no status line: %s",
				 n == 0 ? "connection closed" : strerror((int)-n));
			goto out;
		}
		len += (size_t)n;
	}
	int st = status_of(buf, len);
	if (st < 0) {
		snprintf(why, cap, "not an HTTP/1.x status line");
		goto out;
	}
	if (!health_status_ok(h, st)) {
		snprintf(why, cap, "status %d", st);
		goto out;
	}
	ret = 0;
out:
	rt_close(fd);
	return ret;
}

static void record(struct probe *p, bool ok, const char *why)
{
	struct backend_rt *b = &p->g->backends[p->backend];
	const struct config_backend *cb = b->cfg;
	struct server_health *sh = &b->health[p->server];
	const char *spec = cb->servers[p->server].spec;
	if (ok) {
		sh->fails = 0;
		if (++sh->oks >= cb->health.rise && atomic_load(&sh->down)) {
			atomic_store(&sh->down, false);
			log_warn("backend %s: server %s is up again (%u good probes)", cb->name,
				 spec, sh->oks);
		}
	} else {
		sh->oks = 0;
		atomic_fetch_add_explicit(&sh->failed_probes, 1, memory_order_relaxed);
		if (++sh->fails >= cb->health.fall && !atomic_load(&sh->down)) {
			atomic_store(&sh->down, true);
			log_warn("backend %s: server %s is down: %s (%u failed probes)", cb->name,
				 spec, why, sh->fails);
		} else if (!atomic_load(&sh->down)) {
			log_info("backend %s: server %s failed a probe: %s", cb->name, spec, why);
		}
	}
}

static void probe_main(void *arg)
{
	struct probe *p = arg;
	CHECK_OBJ_NOTNULL(p, PROBE_MAGIC);
	const struct config_backend *cb = p->g->backends[p->backend].cfg;
	for (;;) {
		char why[160] = "";
		int r = probe_once(cb, p->server, why, sizeof(why));
		if (rt_task_cancelled())
			break; /* a cancelled probe says nothing about the server */
		record(p, r == 0, why);
		if (rt_sleep_until(rt_deadline_in(cb->health.interval_ns)) < 0)
			break;
	}
	/* Out of the group first: the last hold on the generation frees the
	 * group's storage (its slot). */
	rt_group_leave(&p->g->slots[p->b->id].probes);
	gen_put(p->b, p->g);
	FINI_OBJ(p);
	free(p);
}

void health_start(struct bloop *b, struct gen *g)
{
	unsigned k = 0;
	for (size_t bi = 0; bi < g->n_backends; bi++) {
		const struct config_backend *cb = g->backends[bi].cfg;
		for (size_t s = 0; s < cb->n_servers; s++, k++) {
			if (!cb->health.enabled || k % g->nworkers != b->id)
				continue;
			struct probe *p = calloc(1, sizeof(*p));
			if (!p) {
				log_error("backend %s: no memory for the probe of %s", cb->name,
					  cb->servers[s].spec);
				continue;
			}
			*p = (struct probe){.magic = PROBE_MAGIC,
					    .b = b,
					    .g = g,
					    .backend = (unsigned)bi,
					    .server = (unsigned)s};
			gen_hold_again(b, g);
			if (rt_group_spawn(&g->slots[b->id].probes, probe_main, p, "health") < 0) {
				gen_put(b, g);
				free(p);
			}
		}
	}
}

void health_stop(struct bloop *b)
{
	if (b->gen)
		rt_group_cancel(&b->gen->slots[b->id].probes);
}

void health_inherit(struct gen *g, const struct gen *old)
{
	for (size_t b = 0; b < g->n_backends; b++) {
		const struct config_backend *cb = g->backends[b].cfg;
		if (!cb->health.enabled)
			continue; /* nothing would ever bring a server back */
		for (size_t s = 0; s < cb->n_servers; s++) {
			const struct config_addr *a = &cb->servers[s];
			for (size_t ob = 0; ob < old->n_backends; ob++) {
				const struct config_backend *ocb = old->backends[ob].cfg;
				for (size_t os = 0; os < ocb->n_servers; os++) {
					const struct config_addr *oa = &ocb->servers[os];
					if (!config_addr_equal(oa, a))
						continue;
					struct server_health *d = &g->backends[b].health[s];
					const struct server_health *o =
					    &old->backends[ob].health[os];
					atomic_store(&d->down, atomic_load(&o->down));
					d->oks = o->oks;
					d->fails = o->fails;
					/* Passive health too: a reload must not
					 * put a failing server back early. */
					atomic_store(&d->pfails, atomic_load(&o->pfails));
					atomic_store(&d->pwindow_start,
						     atomic_load(&o->pwindow_start));
					atomic_store(&d->out_until, atomic_load(&o->out_until));
				}
			}
		}
	}
}
