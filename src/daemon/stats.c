/* stats.c - a snapshot of the process's numbers: the only reader of the loops' internals. */
#include "daemon/stats.h"
#include "rt/obj.h"

#include <assert.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/cluster.h"
#include "serve/cinval.h"
#include "cache/dtier.h"
#include "cache/store.h"
#include "compress/pool.h"
#include "ops/accesslog.h"
#include "route/ratelimit.h"
#include "rt/clock.h"

/*
 * Process memory from /proc/self/statm (resident and virtual size). A read
 * of a procfs file is answered from kernel memory and never waits on a
 * disk, so it is fine on a loop.
 */
static void memory(struct stats *s)
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
	s->gauge[G_rss] = resident * page;
	s->gauge[G_vsz] = size * page;
}

static uint64_t load(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* Loop L's maxima since READER last asked: every read resets the loop's
 * own, and what one reader took is kept for the others. Under d->lock. */
static void loop_maxima(struct dloop *l, struct stats_loop *out, enum stats_reader reader)
{
	uint64_t run, lag;
	rt_loop_stats_read(l->w.loop, &out->slow_tasks, &run, &lag, true);
	for (int r = 0; r < STATS_READERS; r++) {
		if (run > l->seen_run_ns[r])
			l->seen_run_ns[r] = run;
		if (lag > l->seen_lag_ns[r])
			l->seen_lag_ns[r] = lag;
	}
	out->max_run_ns = l->seen_run_ns[reader];
	out->lag_ns = l->seen_lag_ns[reader];
	l->seen_run_ns[reader] = l->seen_lag_ns[reader] = 0;
}

/* The disk tier: dstore's counters, the index's gauges, the rebuild's
 * progress (its segment count is written by its task: read relaxed,
 * final once done is set). */
static void disk(struct dtier *t, struct stats *s)
{
	struct dstore_stats *ds = &t->ds->stats;
	bool done = dtier_rebuilt(t);
	s->has[STATS_DISK] = true;
	s->gauge[G_disk_enabled] = dtier_enabled(t);
	s->gauge[G_disk_hits] = atomic_load(&t->stats.hits);
	s->gauge[G_disk_misses] = atomic_load(&t->stats.misses);
	s->gauge[G_disk_reads] = atomic_load(&ds->reads);
	s->gauge[G_disk_read_bytes] = atomic_load(&ds->read_bytes);
	s->gauge[G_disk_writes] = atomic_load(&ds->writes);
	s->gauge[G_disk_write_bytes] = atomic_load(&ds->write_bytes);
	s->gauge[G_disk_records] = atomic_load(&ds->records);
	s->gauge[G_disk_errors] = atomic_load(&ds->io_errors);
	s->gauge[G_disk_damaged] = atomic_load(&ds->damaged) + (done ? t->rb.stats.damaged : 0);
	s->gauge[G_disk_read_timeouts] = atomic_load(&ds->read_timeouts);
	s->gauge[G_disk_over_budget] = atomic_load(&t->stats.over_budget);
	pthread_mutex_lock(&t->inval_lock);
	s->gauge[G_disk_invals] = t->ninvals;
	pthread_mutex_unlock(&t->inval_lock);
	s->gauge[G_disk_invals_pruned] = atomic_load(&t->stats.invals_pruned);
	s->gauge[G_disk_streamed] = atomic_load(&t->stats.streamed);
	s->gauge[G_disk_reinserted] = atomic_load(&t->stats.reinserted);
	s->gauge[G_disk_reinserted_bytes] = atomic_load(&t->stats.reinserted_bytes);
	s->gauge[G_disk_reinsert_dropped] = atomic_load(&t->stats.reinsert_dropped);
	s->gauge[G_disk_objects] = dindex_count(t->ix);
	s->gauge[G_disk_bytes_used] = dindex_bytes(t->ix);
	s->gauge[G_disk_size] = t->ds->size;
	s->gauge[G_disk_segments] = t->ds->sb.seg_count;
	s->gauge[G_disk_rebuild_done] = done;
	s->gauge[G_disk_rebuild_segments] =
	    __atomic_load_n(&t->rb.stats.segments, __ATOMIC_RELAXED);
	s->gauge[G_disk_rebuild_objects] = done ? t->rb.stats.objects : 0;
	s->gauge[G_disk_rebuild_time] = done ? t->rb.stats.ns : 0;
	s->gauge[G_disk_admissions] = atomic_load(&t->stats.admissions);
	s->gauge[G_disk_rejections] = atomic_load(&t->stats.rejections);
	s->gauge[G_disk_admit_dropped] = atomic_load(&ds->admit_dropped);
	s->gauge[G_disk_too_big] = atomic_load(&ds->too_big);
	s->gauge[G_disk_inval_dropped] = atomic_load(&ds->inval_dropped);
}

void stats_take(struct daemon *d, const struct gen *g, struct stats *s, enum stats_reader reader)
{
	CHECK_OBJ_NOTNULL(d, DAEMON_MAGIC);
	assert(reader < STATS_READERS);
	memset(s, 0, sizeof(*s));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	s->time_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	s->uptime_ms = (rt_clock_now() - d->start_ns) / 1000000;
	s->has[STATS_ALWAYS] = true;
	for (unsigned k = 0; k < d->nloops; k++) {
		const struct metrics *m = &d->loops[k].w.metrics;
		for (int i = 0; i < M_COUNT; i++)
			s->counter[i] += load(&m->v[i]);
		for (int i = 0; i < CLOSE_COUNT; i++)
			s->close[i] += load(&m->closes[i]);
		for (int i = 0; i <= RC_LAT_BUCKETS; i++)
			s->lat_bucket[i] += load(&m->lat_bucket[i]);
		s->lat_sum_ns += load(&m->lat_sum_ns);
		for (int i = 0; i <= RC_LAT_BUCKETS; i++)
			s->hop_bucket[i] += load(&m->hop_bucket[i]);
		s->hop_sum_ns += load(&m->hop_sum_ns);
		s->gauge[G_tunnels_open] += load(&d->loops[k].w.tunnels);
	}
	struct store_stats *ss = store_stats(d->sh.store);
	s->gauge[G_connections] = atomic_load(&d->sh.nconns);
	s->gauge[G_cache_objects] = atomic_load(&ss->objects);
	s->gauge[G_cache_bytes] = store_bytes(d->sh.store);
	s->gauge[G_cache_held_bytes] = store_held_bytes(d->sh.store);
	s->gauge[G_cache_refused_held] = atomic_load(&ss->refused_held);
	s->gauge[G_cache_budget] = store_budget(d->sh.store);
	s->gauge[G_cache_evictions] = atomic_load(&ss->evictions);
	s->gauge[G_cache_purged] = atomic_load(&ss->purged);
	s->gauge[G_cache_banned] = atomic_load(&ss->banned);
	s->gauge[G_cache_bans] = store_ban_count(d->sh.store);
	s->gauge[G_cache_ban_tested] = atomic_load(&ss->lurk_tested);
	s->gauge[G_cache_ban_lurked] = atomic_load(&ss->lurk_removed);
	s->gauge[G_cache_bans_dropped] = atomic_load(&ss->bans_dropped);
	s->gauge[G_cache_hfm] = atomic_load(&ss->hfm_set);
	s->gauge[G_generation] = g->id;
	/* Read the pool only through a generation that enables it: posting
	 * that generation ordered the pool's creation before this read. */
	if (g->cfg->compression.enabled && d->sh.cpool) {
		struct cpool_stats *cs = cpool_stats(d->sh.cpool);
		s->has[STATS_COMPRESSION] = true;
		s->gauge[G_cz_jobs] = atomic_load(&cs->jobs);
		s->gauge[G_cz_in] = atomic_load(&cs->bytes_in);
		s->gauge[G_cz_out] = atomic_load(&cs->bytes_out);
		s->gauge[G_cz_queue] = cpool_queued(d->sh.cpool);
		s->gauge[G_cz_streams] = atomic_load(&cs->streams);
		s->gauge[G_cz_fallbacks] = atomic_load(&cs->fallbacks);
		s->gauge[G_cz_full_waits] = atomic_load(&cs->full_waits);
		s->gauge[G_cz_errors] = atomic_load(&cs->errors);
		s->gauge[G_cz_job_time] = atomic_load(&cs->job_ns);
	}
	if (d->alog) {
		struct alog_stats as;
		alog_stats_read(d->alog, &as);
		s->has[STATS_ALOG] = true;
		s->gauge[G_alog_lines] = as.written;
		s->gauge[G_alog_dropped] = as.dropped;
		s->gauge[G_alog_errors] = as.write_errors;
	}
	if (cluster_on(g)) {
		s->has[STATS_CLUSTER] = true;
		const struct config_backend *cb = g->backends[g->cluster.backend].cfg;
		uint64_t up = 1, now = rt_clock_now();
		for (size_t i = 0; i < cb->n_servers; i++)
			up += cluster_peer_live(g, (unsigned)i, now);
		s->gauge[G_cluster_members] = 1 + cb->n_servers;
		s->gauge[G_cluster_members_up] = up;
		s->gauge[G_cluster_near_bytes] = store_near_bytes(d->sh.store);
		struct cinval *ci = d->sh.inval;
		uint64_t pending, lag_ms;
		cinval_pending(ci, &pending, &lag_ms);
		s->gauge[G_cinval_pending] = pending;
		s->gauge[G_cinval_lag] = lag_ms / 1000;
		s->gauge[G_cinval_sent] = atomic_load(&ci->stats.sent);
		s->gauge[G_cinval_acked] = atomic_load(&ci->stats.acked);
		s->gauge[G_cinval_failed] = atomic_load(&ci->stats.failed);
		s->gauge[G_cinval_rejected] = atomic_load(&ci->stats.rejected);
		s->gauge[G_cinval_gaps] = atomic_load(&ci->stats.gaps_sent);
		s->gauge[G_cinval_applied] = atomic_load(&ci->stats.applied);
		s->gauge[G_cinval_flushes] = atomic_load(&ci->stats.flushes_applied);
		s->gauge[G_cinval_refused] = atomic_load(&ci->stats.refused);
		const struct cstream_stats *rs = cinval_stream_stats(ci);
		if (rs) {
			s->has[STATS_REDIS] = true;
			s->gauge[G_redis_up] = atomic_load(&rs->up);
			s->gauge[G_redis_published] = atomic_load(&rs->published);
			s->gauge[G_redis_read] = atomic_load(&rs->read);
			s->gauge[G_redis_errors] = atomic_load(&rs->errors);
			s->gauge[G_redis_gaps] = atomic_load(&rs->gaps);
		}
	}
	if (atomic_load(&d->res.running)) {
		s->has[STATS_DNS] = true;
		s->gauge[G_dns_names] = atomic_load(&d->res.names_followed);
		s->gauge[G_dns_changes] = atomic_load(&d->res.changes);
		s->gauge[G_dns_failures] = atomic_load(&d->res.failures);
		s->gauge[G_dns_generations] = atomic_load(&d->res.generations);
	}
	if (d->sh.disk)
		disk(d->sh.disk, s);
	memory(s);
	s->gauge[G_stream_subscribers] = d->dash.subscribers;
	struct ratelimit_stats rl;
	ratelimit_stats(d->sh.ratelimit, &rl);
	s->gauge[G_rl_keys] = rl.in_use;
	s->gauge[G_rl_capacity] = rl.entries;
	s->gauge[G_rl_evictions] = rl.evictions;
	s->gauge[G_rl_lossy] = rl.lossy;
	for (size_t i = 0; i < g->n_backends; i++) {
		const struct backend_rt *brt = &g->backends[i];
		for (size_t k = 0; k < brt->cfg->n_servers && s->nservers < STATS_SERVERS_MAX;
		     k++) {
			s->server[s->nservers++] = (struct stats_server){
			    .backend = brt->cfg->name,
			    .server = brt->cfg->servers[k].spec,
			    .up = !atomic_load(&brt->health[k].down) &&
				  !backend_passive_out(brt, (unsigned)k, rt_clock_now()),
			    .active = atomic_load(&brt->active[k]),
			    .failed_probes = atomic_load(&brt->health[k].failed_probes),
			};
		}
	}
	s->nloops = d->nloops < STATS_LOOPS_MAX ? d->nloops : STATS_LOOPS_MAX;
	pthread_mutex_lock(&d->lock); /* a loop being torn down unpublishes itself */
	for (unsigned i = 0; i < s->nloops; i++) {
		struct stats_loop *l = &s->loop[i];
		l->backend = d->loops[i].backend ? d->loops[i].backend : "none";
		if (d->loops[i].w.loop)
			loop_maxima(&d->loops[i], l, reader);
	}
	pthread_mutex_unlock(&d->lock);
}
