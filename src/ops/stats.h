/*
 * stats.h - one snapshot of the process's numbers, and its two renderings.
 *
 * The snapshot is plain data: the counters of every loop summed, the close
 * reasons, the latency histogram, the gauges of the table below, and the
 * per-loop and per-server series. The daemon fills it (daemon/stats.c, the
 * only reader of the loops' internals); /metrics and /stats render it, and
 * any later consumer (a live dashboard, `ringcache stat`) reads the same
 * numbers. Rendering is driven by the tables: RC_METRICS and RC_CLOSES
 * (metrics.h) and RC_GAUGES here, so a new number is one row.
 */
#ifndef RINGCACHE_OPS_STATS_H
#define RINGCACHE_OPS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/metrics.h"

/*
 * The numbers besides the per-loop counters: X(id, name, type, part, json,
 * help). NAME is the Prometheus name without "ringcache_"; TYPE counter or
 * gauge; PART says when it exists (always, with compression on, with an
 * access log, once a server name is followed in DNS, with a disk tier); JSON is its /stats
 * name, or NULL when /stats leaves it out.
 * Values are integers; a name ending in _seconds holds nanoseconds.
 */
#define RC_GAUGES(X)                                                                               \
	X(connections, "connections", gauge, ALWAYS, "connections", "open client connections")     \
	X(tunnels_open, "tunnels_open", gauge, ALWAYS, "tunnels_open",                             \
	  "client connections that are WebSocket tunnels now")                                     \
	X(cache_objects, "cache_objects", gauge, ALWAYS, "cache_objects", "stored responses")      \
	X(cache_bytes, "cache_bytes", gauge, ALWAYS, "cache_bytes",                                \
	  "bytes charged to the cache budget")                                                     \
	X(cache_held_bytes, "cache_held_bytes", gauge, ALWAYS, "cache_held_bytes",                 \
	  "bytes of objects out of the cache still being sent or filled, charged to the budget "   \
	  "too")                                                                                   \
	X(cache_refused_held, "cache_refused_held_total", counter, ALWAYS, "cache_refused_held",   \
	  "responses relayed unstored while objects held or being filled were over half the "      \
	  "budget")                                                                                \
	X(cache_budget, "cache_budget_bytes", gauge, ALWAYS, "cache_budget_bytes", "cache.memory") \
	X(cache_evictions, "cache_evictions_total", counter, ALWAYS, "cache_evictions",            \
	  "objects evicted for the budget")                                                        \
	X(cache_purged, "cache_purged_total", counter, ALWAYS, "cache_purged",                     \
	  "objects removed by purge and tag purge")                                                \
	X(cache_banned, "cache_banned_total", counter, ALWAYS, "cache_banned",                     \
	  "objects removed by bans (at lookup or by the ban lurker)")                              \
	X(cache_bans, "cache_bans", gauge, ALWAYS, "cache_bans", "bans in the ban list")           \
	X(cache_ban_tested, "cache_ban_lurker_tested_total", counter, ALWAYS,                      \
	  "cache_ban_lurker_tested", "objects the ban lurker tested against the ban list")         \
	X(cache_ban_lurked, "cache_ban_lurker_removed_total", counter, ALWAYS,                     \
	  "cache_ban_lurker_removed", "objects the ban lurker removed")                            \
	X(cache_bans_dropped, "cache_bans_dropped_total", counter, ALWAYS, "cache_bans_dropped",   \
	  "bans dropped once every object was tested past them or stored after them")              \
	X(cache_hfm, "cache_hit_for_miss_total", counter, ALWAYS, NULL,                            \
	  "keys marked hit-for-miss")                                                              \
	X(cz_jobs, "compression_jobs_total", counter, COMPRESSION, NULL,                           \
	  "codec steps run by the compression pool")                                               \
	X(cz_in, "compression_in_bytes_total", counter, COMPRESSION, NULL,                         \
	  "bytes fed to the codecs")                                                               \
	X(cz_out, "compression_out_bytes_total", counter, COMPRESSION, NULL,                       \
	  "bytes the codecs produced")                                                             \
	X(cz_queue, "compression_queue_depth", gauge, COMPRESSION, NULL,                           \
	  "steps waiting for a compression worker")                                                \
	X(cz_streams, "compression_streams", gauge, COMPRESSION, NULL,                             \
	  "coded copies being made now")                                                           \
	X(cz_fallbacks, "compression_fallbacks_total", counter, COMPRESSION, NULL,                 \
	  "responses sent uncompressed because the pool was full")                                 \
	X(cz_full_waits, "compression_queue_full_waits_total", counter, COMPRESSION, NULL,         \
	  "steps of started copies that waited for room in the queue")                             \
	X(cz_errors, "compression_errors_total", counter, COMPRESSION, NULL,                       \
	  "coded copies that broke")                                                               \
	X(cz_job_time, "compression_job_seconds_total", counter, COMPRESSION, NULL,                \
	  "time spent in codec steps")                                                             \
	X(rl_keys, "rate_limit_keys", gauge, ALWAYS, NULL,                                         \
	  "client addresses the rate-limit table holds now")                                       \
	X(rl_capacity, "rate_limit_capacity", gauge, ALWAYS, NULL,                                 \
	  "entries of the rate-limit table (fixed)")                                               \
	X(rl_evictions, "rate_limit_evictions_total", counter, ALWAYS, NULL,                       \
	  "client addresses pushed out of a full set of the rate-limit table")                     \
	X(rl_lossy, "rate_limit_lossy_evictions_total", counter, ALWAYS, NULL,                     \
	  "of those, ones whose bucket was still refilling (they come back with a full burst)")    \
	X(generation, "config_generation", gauge, ALWAYS, NULL,                                    \
	  "the configuration in use (1 at start, +1 per reload or DNS change)")                    \
	X(dns_names, "dns_names", gauge, DNS, NULL, "server names (host:port) followed in DNS")    \
	X(dns_changes, "dns_changes_total", counter, DNS, "dns_changes",                           \
	  "lookups that gave a name a new address set")                                            \
	X(dns_failures, "dns_failures_total", counter, DNS, "dns_failures",                        \
	  "lookups that failed (the name kept its last good addresses)")                           \
	X(dns_generations, "dns_generations_total", counter, DNS, NULL,                            \
	  "configuration generations made because an address set changed")                         \
	X(rss, "resident_memory_bytes", gauge, ALWAYS, NULL, "resident set size of the process")   \
	X(vsz, "virtual_memory_bytes", gauge, ALWAYS, NULL, "virtual memory size of the process")  \
	X(alog_lines, "access_log_lines_total", counter, ALOG, NULL, "access log lines written")   \
	X(alog_dropped, "access_log_dropped_total", counter, ALOG, NULL,                           \
	  "access log lines lost (the disk was slower than the traffic, or a write failed)")       \
	X(alog_errors, "access_log_write_errors_total", counter, ALOG, NULL,                       \
	  "failed access log writes")                                                              \
	X(stream_subscribers, "admin_stream_subscribers", gauge, ALWAYS, "stream_subscribers",     \
	  "clients of the admin listener's GET /stats/stream now")                                 \
	X(cluster_members, "cluster_members", gauge, CLUSTER, "cluster_members",                   \
	  "members of the cluster, this node included")                                            \
	X(cluster_members_up, "cluster_members_up", gauge, CLUSTER, "cluster_members_up",          \
	  "members this node sees up (health probes, passive health), itself included")            \
	X(cluster_near_bytes, "cluster_near_cache_bytes", gauge, CLUSTER, NULL,                    \
	  "bytes of near-cache copies (at most 1/8 of cache.memory)")                              \
	X(cinval_sent, "cluster_invalidations_sent_total", counter, CLUSTER, NULL,                 \
	  "invalidation messages sent to members (retries included)")                              \
	X(cinval_acked, "cluster_invalidations_acked_total", counter, CLUSTER, NULL,               \
	  "invalidation messages members acknowledged")                                            \
	X(cinval_failed, "cluster_invalidations_failed_total", counter, CLUSTER, NULL,             \
	  "invalidation messages that failed (sent again after a backoff)")                        \
	X(cinval_rejected, "cluster_invalidations_rejected_total", counter, CLUSTER, NULL,         \
	  "invalidation messages a member refused with a 4xx (skipped, not sent again)")           \
	X(cinval_pending, "cluster_invalidations_pending", gauge, CLUSTER,                         \
	  "cluster_invalidations_pending",                                                         \
	  "invalidations members have still to acknowledge, summed over members")                  \
	X(cinval_lag, "cluster_invalidation_lag_seconds", gauge, CLUSTER, NULL,                    \
	  "age of the oldest invalidation a member has not acknowledged (0: none)")                \
	X(cinval_gaps, "cluster_invalidation_gaps_total", counter, CLUSTER, NULL,                  \
	  "flushes sent to members that were behind by more than the log holds")                   \
	X(cinval_applied, "cluster_invalidations_applied_total", counter, CLUSTER, NULL,           \
	  "invalidations from other members applied here")                                         \
	X(cinval_flushes, "cluster_flushes_total", counter, CLUSTER, NULL,                         \
	  "flushes applied here: a member could not send what this node missed")                   \
	X(cinval_refused, "cluster_invalidations_refused_total", counter, CLUSTER, NULL,           \
	  "invalidations refused: sent without the cluster's token")                               \
	X(redis_up, "cluster_redis_up", gauge, REDIS, "cluster_redis_up",                          \
	  "1 while both connections to the invalidation stream's Redis answer")                    \
	X(redis_published, "cluster_redis_published_total", counter, REDIS, NULL,                  \
	  "invalidations made here that Redis took into the stream (XADD)")                        \
	X(redis_read, "cluster_redis_read_total", counter, REDIS, NULL,                            \
	  "entries read from the stream (this node's own included)")                               \
	X(redis_errors, "cluster_redis_errors_total", counter, REDIS, NULL,                        \
	  "failed connections and calls to Redis, malformed entries")                              \
	X(redis_gaps, "cluster_redis_gaps_total", counter, REDIS, NULL,                            \
	  "flushes because what this node missed of the stream is not known any more")             \
	X(disk_enabled, "disk_enabled", gauge, DISK, "disk_enabled",                               \
	  "1 while the disk tier works; 0 once an I/O error disabled it")                          \
	X(disk_hits, "disk_hits_total", counter, DISK, "disk_hits",                                \
	  "memory misses answered from the disk tier")                                             \
	X(disk_misses, "disk_misses_total", counter, DISK, "disk_misses",                          \
	  "memory misses the disk tier could not answer")                                          \
	X(disk_reads, "disk_reads_total", counter, DISK, "disk_reads",                             \
	  "records read from the store")                                                           \
	X(disk_read_bytes, "disk_read_bytes_total", counter, DISK, NULL,                           \
	  "bytes read from the store")                                                             \
	X(disk_writes, "disk_writes_total", counter, DISK, "disk_writes",                          \
	  "writes to the store (each one or more records)")                                        \
	X(disk_write_bytes, "disk_write_bytes_total", counter, DISK, NULL,                         \
	  "bytes written to the store")                                                            \
	X(disk_records, "disk_records_written_total", counter, DISK, NULL,                         \
	  "records written (objects and invalidations)")                                           \
	X(disk_errors, "disk_errors_total", counter, DISK, "disk_errors",                          \
	  "I/O errors of the store (the first disables the tier)")                                 \
	X(disk_damaged, "disk_damaged_total", counter, DISK, "disk_damaged",                       \
	  "records found damaged (reads and rebuild); never served")                               \
	X(disk_read_timeouts, "disk_read_timeouts_total", counter, DISK, NULL,                     \
	  "reads past their deadline (a miss; the tier stays on)")                                 \
	X(disk_over_budget, "disk_reads_over_budget_total", counter, DISK, NULL,                   \
	  "disk lookups sent to the origin: the reads in flight held their memory budget")         \
	X(disk_streamed, "disk_hits_streamed_total", counter, DISK, NULL,                          \
	  "disk hits sent as they were read (records over 256 KiB)")                               \
	X(disk_reinserted, "disk_reinserted_total", counter, DISK, "disk_reinserted",              \
	  "records hit since written, copied forward when their segment was written again")        \
	X(disk_reinserted_bytes, "disk_reinserted_bytes_total", counter, DISK, NULL,               \
	  "bytes of the records copied forward")                                                   \
	X(disk_reinsert_dropped, "disk_reinsert_dropped_total", counter, DISK, NULL,               \
	  "records hit since written but not copied: over the bound, invalidated, unreadable")     \
	X(disk_invals, "disk_invalidations", gauge, DISK, NULL,                                    \
	  "bans and tag purges kept to test records read back against")                            \
	X(disk_invals_pruned, "disk_invalidations_pruned_total", counter, DISK, NULL,              \
	  "bans and tag purges dropped: no record on disk is older")                               \
	X(disk_objects, "disk_objects", gauge, DISK, "disk_objects", "objects in the disk index")  \
	X(disk_bytes_used, "disk_bytes_used", gauge, DISK, "disk_bytes_used",                      \
	  "bytes of the records the index points at")                                              \
	X(disk_size, "disk_size_bytes", gauge, DISK, NULL, "bytes of the store")                   \
	X(disk_segments, "disk_segments", gauge, DISK, "disk_segments", "segments of the store")   \
	X(disk_rebuild_done, "disk_rebuild_done", gauge, DISK, "disk_rebuild_done",                \
	  "1 once the index was rebuilt from the segments at start")                               \
	X(disk_rebuild_segments, "disk_rebuild_segments", gauge, DISK, "disk_rebuild_segments",    \
	  "segments the rebuild has scanned (progress)")                                           \
	X(disk_rebuild_objects, "disk_rebuild_objects", gauge, DISK, NULL,                         \
	  "objects the rebuild found")                                                             \
	X(disk_rebuild_time, "disk_rebuild_seconds", gauge, DISK, NULL,                            \
	  "how long the rebuild took (0 while it runs)")                                           \
	X(disk_admissions, "disk_admissions_total", counter, DISK, "disk_admissions",              \
	  "stored objects the admission rule sent to disk")                                        \
	X(disk_rejections, "disk_rejections_total", counter, DISK, "disk_rejections",              \
	  "stored objects the admission rule kept in memory only")                                 \
	X(disk_admit_dropped, "disk_admit_dropped_total", counter, DISK, NULL,                     \
	  "admitted objects dropped: the writer's queue was full")                                 \
	X(disk_too_big, "disk_too_big_total", counter, DISK, NULL,                                 \
	  "records too big for a segment (not written)")                                           \
	X(disk_inval_dropped, "disk_invalidations_dropped_total", counter, DISK, NULL,             \
	  "purge, ban or tag records that found the writer's queue full")

enum stats_gauge {
#define X(id, name, type, part, json, help) G_##id,
	RC_GAUGES(X)
#undef X
	    G_COUNT
};

enum stats_part {
	STATS_ALWAYS,
	STATS_COMPRESSION,
	STATS_ALOG,
	STATS_DNS,
	STATS_DISK,    /* cache.disk is given */
	STATS_CLUSTER, /* cluster is given */
	STATS_REDIS,   /* cluster.invalidation.redis is given */
	STATS_PARTS
};

#define STATS_LOOPS_MAX	  256
#define STATS_SERVERS_MAX 512

struct stats_loop {
	const char *backend; /* "io_uring" or "epoll" (static strings) */
	uint64_t slow_tasks; /* resumptions over timeouts.task_budget */
	uint64_t max_run_ns; /* longest run between awaits since the last snapshot */
	uint64_t lag_ns;     /* longest scheduling round since the last snapshot */
};

struct stats_server {
	const char *backend, *server; /* valid while the generation read is held */
	bool up;		      /* in rotation (not down by its probes or passive health) */
	uint64_t active;	      /* exchanges in progress */
	uint64_t failed_probes;
};

/*
 * Who takes a snapshot. The loops keep one maximum each of lag and task
 * run time, reset by every read; the daemon folds each read into a
 * maximum per reader, so a dashboard reading every second does not hide
 * a spike from the next Prometheus scrape, and the other way round.
 * STATS_LIVE is `ringcache stat` (/metrics?reader=live), which reads as
 * often as the dashboard.
 */
enum stats_reader { STATS_SCRAPE, STATS_STREAM, STATS_LIVE, STATS_READERS };

struct stats {
	uint64_t time_ms;   /* wall clock of the snapshot, ms since the epoch */
	uint64_t uptime_ms; /* since the daemon started (monotonic): rates since start */
	uint64_t counter[M_COUNT];
	uint64_t close[CLOSE_COUNT];
	uint64_t lat_bucket[RC_LAT_BUCKETS + 1]; /* per bucket, not cumulative */
	uint64_t lat_sum_ns;
	uint64_t hop_bucket[RC_LAT_BUCKETS + 1]; /* cluster hops, the same way */
	uint64_t hop_sum_ns;
	uint64_t gauge[G_COUNT];
	bool has[STATS_PARTS]; /* by enum stats_part: which parts exist */
	unsigned nloops;
	struct stats_loop loop[STATS_LOOPS_MAX];
	size_t nservers;
	struct stats_server server[STATS_SERVERS_MAX];
};

/* The Q quantile (0 < Q < 1) of a latency histogram (per bucket counts,
 * RC_LAT_BUCKETS + 1 of them) in microseconds, interpolated inside its
 * bucket as Prometheus's histogram_quantile does (the +Inf bucket gives
 * the highest bound); -1 when it is empty. */
double stats_lat_quantile_us(const uint64_t *bucket, double q);

/* Prometheus text exposition of S into OUT (at most CAP bytes); the length. */
size_t stats_render_prometheus(const struct stats *s, char *out, size_t cap);
/* The /stats JSON object: counters, the gauges with a JSON name, the
 * close reasons, the latency histogram with p50 and p99, the servers and
 * the loops (docs/admin.md). One line, ending in a newline. */
size_t stats_render_json(const struct stats *s, char *out, size_t cap);

#endif
