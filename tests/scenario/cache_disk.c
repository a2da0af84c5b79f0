/*
 * The disk tier (issue 18) with the real daemon: a store file given by
 * cache.disk is opened, rebuilt and shown on /metrics; a second daemon on
 * the same store is refused with the store's one-line error.
 */
#include "disk.h"
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(cache_disk, .fini = harness_fini, .timeout = 60);

/* The admission keys of the daemons disk_yaml writes. */
static const char *admission = "min_ttl: 0s";

/* The daemon YAML with an admin listener on AP and a store at STORE. */
/* The memory tier of the daemons disk_yaml writes. */
static const char *memory = "64MiB";

static char *disk_yaml(int port, int origin, int ap, const char *store)
{
	char extra[PATH_MAX + 512];
	snprintf(extra, sizeof(extra),
		 "admin:\n  listen: \"127.0.0.1:%d\"\n"
		 "cache:\n  memory: %s\n"
		 "  disk: {path: \"%s\", size: 16MiB, segment_size: 1MiB, %s}\n",
		 ap, memory, store, admission);
	return rc_yaml(
	    &(struct rc_cfg){.port = port, .servers = &origin, .n_servers = 1, .extra = extra});
}

static void start_disk(struct proc *o, struct proc *d, const char *store, int *ap)
{
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	*ap = free_port();
	char *yaml = disk_yaml(d->port, o->port, *ap, store);
	start_ringcache(d, yaml);
	free(yaml);
	cr_assert(port_wait(*ap, 3000), "admin API; log:\n%s", proc_log(d));
}

Test(cache_disk, opened_rebuilt_and_locked)
{
	struct proc o, d;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d, store, &ap);
	char *m = wait_rebuilt(ap, &d, 5);
	cr_assert_eq(prom(m, "ringcache_disk_enabled"), 1, "%s", m);
	cr_assert_eq(prom(m, "ringcache_disk_segments"), 15, "16 MiB less the superblocks: %s", m);
	cr_assert_eq(prom(m, "ringcache_disk_rebuild_segments"), 15, "%s", m);
	cr_assert_eq(prom(m, "ringcache_disk_objects"), 0, "a new store: %s", m);
	cr_assert_eq(prom(m, "ringcache_disk_errors_total"), 0, "%s", m);
	free(m);

	/* A second daemon on the same store: refused, with who holds it. */
	int port2 = free_port(), ap2 = free_port();
	char *yaml = disk_yaml(port2, o.port, ap2, store);
	char cfg[PATH_MAX];
	write_test_file("second.yaml", yaml, cfg, sizeof(cfg));
	free(yaml);
	char *argv[] = {RINGCACHE_BIN, "-c", cfg, NULL};
	struct cmd_result r;
	run_cmd(argv, 10000, &r);
	cr_assert(r.exited && r.exit_code == 1, "the second daemon must fail to start:\n%s", r.err);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof(want), "cache.disk: %s: in use by another ringcache (pid %d)", store,
		 (int)d.pid);
	cr_assert(strstr(r.err, want), "no '%s' in:\n%s", want, r.err);
	cmd_result_free(&r);
	assert_alive(&d);
	harness_end();
}

#define NOBJ 40

static size_t obj_size(int i)
{
	return (size_t)(i * 997 % 30000) + 1; /* 1 B .. 30 KB, a few records per block */
}

static void obj_path(int i, char *out, size_t cap)
{
	snprintf(out, cap, "/d/%d?size=%zu&cc=max-age%%3D600", i, obj_size(i));
}

/* GET object I: the origin's body, whole; the response (caller frees). */
static void get_obj(int port, int i, struct response *r)
{
	char path[128];
	obj_path(i, path, sizeof(path));
	http_once(port, "GET", path, NULL, r);
	cr_assert_eq(r->status, 200, "%s: %s", path, r->raw_head);
	cr_assert(r->complete, "%s: %s", path, r->error);
	cr_assert_eq(r->body_len, obj_size(i), "%s", path);
	cr_assert_eq(pattern_mismatch(r->body, r->body_len, 0), -1, "%s: another body", path);
}

Test(cache_disk, restart_serves_from_disk_without_the_origin)
{
	struct proc o, d1, d2;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d1, store, &ap);
	free(wait_rebuilt(ap, &d1, 5));
	for (int i = 0; i < NOBJ; i++) {
		struct response r;
		get_obj(d1.port, i, &r);
		cr_assert(cache_status_has(&r, "stored"), "%d: %s", i, cache_status(&r));
		response_free(&r);
	}
	/* Queued is enough: SIGTERM lets the writer finish its queue. */
	char *m = wait_metric(ap, &d1, "ringcache_disk_admissions_total", NOBJ, 5);
	cr_assert_eq(prom(m, "ringcache_disk_rejections_total"), 0, "%s", m);
	free(m);
	stopped_cleanly(&d1);

	start_disk(&o, &d2, store, &ap);
	m = wait_rebuilt(ap, &d2, 5);
	cr_assert_eq(prom(m, "ringcache_disk_rebuild_objects"), NOBJ, "%s", m);
	cr_assert_eq(prom(m, "ringcache_disk_objects"), NOBJ, "%s", m);
	cr_assert_eq(prom(m, "ringcache_disk_damaged_total"), 0, "%s", m);
	free(m);
	for (int i = 0; i < NOBJ; i++) {
		struct response r;
		get_obj(d2.port, i, &r);
		cr_assert(cache_status_has(&r, "hit") && cache_status_has(&r, "detail=disk"),
			  "%d: %s", i, cache_status(&r));
		response_free(&r);
		/* Promoted: the next one is a memory hit. */
		get_obj(d2.port, i, &r);
		cr_assert(cache_status_has(&r, "hit") && !cache_status_has(&r, "detail=disk"),
			  "%d: %s", i, cache_status(&r));
		response_free(&r);
		char path[128];
		obj_path(i, path, sizeof(path));
		cr_assert_eq(origin_requests(o.port, path), 1, "%s: the origin was asked again",
			     path);
	}
	m = fetch_metrics(ap);
	cr_assert_eq(prom(m, "ringcache_disk_hits_total"), NOBJ, "%s", m);
	cr_assert_eq(prom(m, "ringcache_disk_reads_total"), NOBJ, "%s", m);
	free(m);
	harness_end();
}

/* A request that ends during the drain may still invalidate: its purge
 * is written before the writer stops, so the restart does not bring the
 * object back. */
Test(cache_disk, a_post_that_ends_during_the_drain_is_durable)
{
	struct proc o, d1, d2;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d1, store, &ap);
	free(wait_rebuilt(ap, &d1, 5));
	struct response r;
	get_obj(d1.port, 0, &r);
	response_free(&r);
	free(wait_metric(ap, &d1, "ringcache_disk_objects", 1, 5));
	char path[128];
	obj_path(0, path, sizeof(path));
	struct conn c;
	conn_open(&c, d1.port);
	cr_assert_eq(conn_sendf(&c,
				"POST %s HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n\r\n",
				path),
		     0);
	sleep_ms(200); /* the head is in; its body is not */
	cr_assert_eq(kill(d1.pid, SIGTERM), 0);
	sleep_ms(300); /* draining: no new connection, this one goes on */
	cr_assert_eq(conn_send_str(&c, "hello"), 0);
	cr_assert_eq(read_response(&c, &r, 0), 0, "the POST's answer; log:\n%s", proc_log(&d1));
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	response_free(&r);
	conn_close(&c);
	stopped_cleanly(&d1);

	start_disk(&o, &d2, store, &ap);
	free(wait_rebuilt(ap, &d2, 5));
	get_obj(d2.port, 0, &r);
	cr_assert(!cache_status_has(&r, "detail=disk"), "invalidated, yet back from disk: %s",
		  cache_status(&r));
	response_free(&r);
	int asked = origin_requests(o.port, path);
	cr_assert_eq(asked, 3, "GET, POST, and the GET after the restart (a miss): %d", asked);
	harness_end();
}

/* Bans and tag purges are kept to test records read back against, until
 * no record on disk is older: once the log has gone round they are gone. */
Test(cache_disk, bans_and_tag_purges_go_once_the_log_has_gone_round)
{
	struct proc o, d;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d, store, &ap);
	free(wait_rebuilt(ap, &d, 5));
	admin_post(ap, "/ban?url=%5E%2Fnothing");
	admin_post(ap, "/tag?tag=none");
	char *m = wait_metric(ap, &d, "ringcache_disk_invalidations", 2, 5);
	free(m);
	/* 20 MiB of objects through a 15-segment, 16 MiB store. */
	for (int i = 0; i < 70; i++) {
		char path[96];
		snprintf(path, sizeof(path), "/round/%d?size=300000&cc=max-age%%3D600", i);
		struct response r;
		http_once(d.port, "GET", path, NULL, &r);
		cr_assert_eq(r.status, 200, "%s: %s", path, r.raw_head);
		response_free(&r);
	}
	m = wait_metric(ap, &d, "ringcache_disk_invalidations", 0, 5);
	cr_assert_eq(prom(m, "ringcache_disk_invalidations_pruned_total"), 2, "%s", m);
	free(m);
	harness_end();
}

Test(cache_disk, purge_ban_and_tag_purge_survive_a_restart)
{
	static const char *const paths[] = {
	    "/p/0?size=100&cc=max-age%3D600",			 /* purged */
	    "/b/1?size=200&cc=max-age%3D600",			 /* banned */
	    "/t/2?size=300&cc=max-age%3D600&hdr=Cache-Tag:red",	 /* tag-purged */
	    "/k/3?size=400&cc=max-age%3D600&hdr=Cache-Tag:blue", /* kept */
	};
	struct proc o, d1, d2;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d1, store, &ap);
	free(wait_rebuilt(ap, &d1, 5));
	for (int i = 0; i < 4; i++) {
		struct response r;
		http_once(d1.port, "GET", paths[i], NULL, &r);
		cr_assert(cache_status_has(&r, "stored"), "%s: %s", paths[i], cache_status(&r));
		response_free(&r);
	}
	free(wait_metric(ap, &d1, "ringcache_disk_objects", 4, 5));
	char enc[256], path[512];
	snprintf(path, sizeof(path), "/purge?host=test.local&url=%s",
		 pct_encode(paths[0], enc, sizeof(enc)));
	admin_post(ap, path);
	admin_post(ap, "/ban?url=%5E%2Fb%2F");
	admin_post(ap, "/tag?tag=red");
	/* The purge left the index at once; its record, the ban's and the
	 * tag's are written before the drain ends. */
	char *m = wait_metric(ap, &d1, "ringcache_disk_objects", 3, 5);
	free(m);
	m = wait_metric(ap, &d1, "ringcache_disk_records_written_total", 4 + 3, 5);
	free(m);
	stopped_cleanly(&d1);

	start_disk(&o, &d2, store, &ap);
	m = wait_rebuilt(ap, &d2, 5);
	cr_assert_eq(prom(m, "ringcache_disk_objects"), 3, "the purged key stays out: %s", m);
	free(m);
	for (int i = 0; i < 4; i++) {
		struct response r;
		http_once(d2.port, "GET", paths[i], NULL, &r);
		cr_assert_eq(r.status, 200, "%s: %s", paths[i], r.raw_head);
		if (i < 3)
			cr_assert(!cache_status_has(&r, "hit"), "%s came back: %s", paths[i],
				  cache_status(&r));
		else
			cr_assert(cache_status_has(&r, "detail=disk"), "%s: %s", paths[i],
				  cache_status(&r));
		response_free(&r);
		cr_assert_eq(origin_requests(o.port, paths[i]), i < 3 ? 2 : 1, "%s", paths[i]);
	}
	harness_end();
}

/* Where NEEDLE first is in the store file, or -1. */
static off_t find_in(const char *store, const char *needle)
{
	FILE *f = fopen(store, "rb");
	cr_assert_not_null(f, "%s", store);
	size_t cap = 32u << 20;
	char *buf = malloc(cap);
	cr_assert_not_null(buf);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	char *at = memmem(buf, n, needle, strlen(needle));
	off_t off = at ? (off_t)(at - buf) : -1;
	free(buf);
	return off;
}

#define LONG_PATH "/long?size=900000&cc=max-age%3D600"

/* A long object stored and the daemon restarted: D2 runs on STORE, the
 * object only on disk. */
static void long_on_disk(struct proc *o, struct proc *d2, const char *store, int *ap)
{
	struct proc d1;
	start_disk(o, &d1, store, ap);
	free(wait_rebuilt(*ap, &d1, 5));
	struct response r;
	http_once(d1.port, "GET", LONG_PATH, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	response_free(&r);
	free(wait_metric(*ap, &d1, "ringcache_disk_objects", 1, 5));
	stopped_cleanly(&d1);
	start_disk(o, d2, store, ap);
	free(wait_rebuilt(*ap, d2, 5));
}

Test(cache_disk, a_long_body_is_sent_from_disk_as_it_is_read)
{
	admission = "min_ttl: 0s, page_cache: false"; /* the O_DIRECT reads */
	struct proc o, d;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	long_on_disk(&o, &d, store, &ap);
	/* A range first: answered once the record's checksum passed. */
	struct response rr;
	http_once(d.port, "GET", LONG_PATH, "Range: bytes=100-199\r\n", &rr);
	cr_assert_eq(rr.status, 206, "%s", rr.raw_head);
	cr_assert(rr.complete, "%s", rr.error);
	cr_assert_eq(rr.body_len, 100);
	cr_assert_eq(pattern_mismatch(rr.body, rr.body_len, 100), -1);
	cr_assert(cache_status_has(&rr, "detail=disk"), "%s", cache_status(&rr));
	response_free(&rr);
	for (int i = 0; i < 2; i++) {
		struct response r;
		http_once(d.port, "GET", LONG_PATH, NULL, &r);
		cr_assert_eq(r.status, 200, "%s", r.raw_head);
		cr_assert(r.complete, "%s", r.error);
		cr_assert_eq(r.body_len, 900000);
		cr_assert_eq(pattern_mismatch(r.body, r.body_len, 0), -1, "another body");
		cr_assert(!cache_status_has(&r, "detail=disk"), "%d: %s", i, cache_status(&r));
		response_free(&r);
	}
	char *m = fetch_metrics(ap);
	cr_assert_eq(prom(m, "ringcache_disk_hits_streamed_total"), 1, "%s", m);
	cr_assert_eq(prom(m, "ringcache_disk_damaged_total"), 0, "%s", m);
	free(m);
	cr_assert_eq(origin_requests(o.port, LONG_PATH), 1, "the origin was asked again");
	harness_end();
}

/* Damaged on disk after the rebuild checked it: the client gets a response
 * cut short of its Content-Length, never a complete wrong one; the next
 * request goes to the origin. */
Test(cache_disk, a_range_of_a_long_body_damaged_on_disk_is_never_answered)
{
	struct proc o, d;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	long_on_disk(&o, &d, store, &ap);
	off_t key = find_in(store, "/long?size=900000");
	cr_assert_geq(key, 0, "the record's key");
	damage(store, key + 600000, 16, 1); /* in the body, past the first window */
	struct response r;
	/* A range within the first window is not answered from bytes the
	 * checksum has not passed: the connection closes, nothing complete. */
	struct conn c;
	conn_open(&c, d.port);
	cr_assert_eq(conn_sendf(&c,
				"GET %s HTTP/1.1\r\nHost: test.local\r\nRange: bytes=0-99\r\n\r\n",
				LONG_PATH),
		     0);
	int rc = read_response(&c, &r, 0);
	cr_assert(rc != READ_OK || !r.complete, "a range of a damaged record answered: %s",
		  r.raw_head);
	response_free(&r);
	conn_close(&c);
	free(wait_metric(ap, &d, "ringcache_disk_damaged_total", 1, 5));
	/* It left the index: the next request goes to the origin. */
	http_once(d.port, "GET", LONG_PATH, NULL, &r);
	cr_assert(r.complete, "%s", r.error);
	cr_assert(!cache_status_has(&r, "detail=disk"), "%s", cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, LONG_PATH), 2);
	harness_end();
}

/* The same damage met by a plain GET: the body is cut short of its
 * Content-Length. */
Test(cache_disk, a_long_body_damaged_on_disk_is_cut_short_for_a_get)
{
	struct proc o, d;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	long_on_disk(&o, &d, store, &ap);
	off_t key = find_in(store, "/long?size=900000");
	cr_assert_geq(key, 0, "the record's key");
	damage(store, key + 600000, 16, 1);
	struct response r;
	http_once(d.port, "GET", LONG_PATH, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert(cache_status_has(&r, "detail=disk"), "%s", cache_status(&r));
	cr_assert(!r.complete, "a damaged body sent whole (%zu bytes)", r.body_len);
	cr_assert_lt(r.body_len, 900000);
	response_free(&r);
	char *m = wait_metric(ap, &d, "ringcache_disk_damaged_total", 1, 5);
	free(m);
	http_once(d.port, "GET", LONG_PATH, NULL, &r);
	cr_assert(r.complete, "%s", r.error);
	cr_assert_eq(r.body_len, 900000);
	cr_assert_eq(pattern_mismatch(r.body, r.body_len, 0), -1, "another body");
	cr_assert(!cache_status_has(&r, "detail=disk"), "%s", cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, LONG_PATH), 2);
	harness_end();
}

#define NKILL 160

Test(cache_disk, killed_while_writing_never_a_wrong_body)
{
	struct proc o, d1, d2;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d1, store, &ap);
	free(wait_rebuilt(ap, &d1, 5));
	for (int i = 0; i < NOBJ; i++) {
		struct response r;
		get_obj(d1.port, i, &r);
		response_free(&r);
	}
	free(wait_metric(ap, &d1, "ringcache_disk_objects", NOBJ, 5));
	/* More, and SIGKILL with the writer's queue not empty. */
	for (int i = NOBJ; i < NKILL; i++) {
		struct response r;
		get_obj(d1.port, i, &r);
		response_free(&r);
	}
	cr_assert_eq(kill(d1.pid, SIGKILL), 0);
	stop_proc(&d1);
	/* And a torn block in the first segment (1 MiB in: the superblocks'
	 * 8 KiB rounded up to the segment size), among the first records. */
	damage(store, (off_t)(1 << 20) + 20000, 64, 1);

	start_disk(&o, &d2, store, &ap);
	char *m = wait_rebuilt(ap, &d2, 5);
	cr_assert_geq(prom(m, "ringcache_disk_damaged_total"), 1, "the torn block: %s", m);
	double found = prom(m, "ringcache_disk_rebuild_objects");
	cr_assert(found >= 1 && found < NKILL, "%g objects found:\n%s", found, m);
	free(m);
	int from_disk = 0;
	for (int i = 0; i < NKILL; i++) {
		struct response r;
		get_obj(d2.port, i, &r); /* the origin's bytes, whether from disk or not */
		from_disk += cache_status_has(&r, "detail=disk");
		response_free(&r);
	}
	cr_assert_geq(from_disk, 1);
	m = fetch_metrics(ap);
	cr_assert_eq(prom(m, "ringcache_disk_hits_total"), from_disk, "%s", m);
	cr_assert_eq(prom(m, "ringcache_disk_errors_total"), 0, "%s", m);
	cr_assert_eq(prom(m, "ringcache_disk_enabled"), 1, "%s", m);
	free(m);
	harness_end();
}

Test(cache_disk, a_store_truncated_under_the_daemon_turns_the_tier_off_not_the_cache)
{
	struct proc o, d;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d, store, &ap);
	free(wait_rebuilt(ap, &d, 5));
	for (int i = 0; i < 10; i++) {
		struct response r;
		get_obj(d.port, i, &r);
		response_free(&r);
	}
	free(wait_metric(ap, &d, "ringcache_disk_objects", 10, 5));
	cr_assert_eq(truncate(store, 4096), 0);
	/* The writer looks at the file once a second. */
	char *m = wait_metric(ap, &d, "ringcache_disk_enabled", 0, 5);
	free(m);
	for (int i = 0; i < 20; i++) { /* old ones from memory, new ones from the origin */
		struct response r;
		get_obj(d.port, i, &r);
		response_free(&r);
	}
	cr_assert_eq(log_count(&d, "the disk tier is disabled, the memory tier goes on"), 1,
		     "one error line; log:\n%s", proc_log(&d));
	m = fetch_metrics(ap);
	cr_assert_eq(prom(m, "ringcache_responses_5xx_total"), 0, "%s", m);
	free(m);
	harness_end();
}

Test(cache_disk, admission_asks_for_hits_freshness_and_a_size)
{
	admission = "min_ttl: 60s, admit_hits: 2, max_object_size: 10KiB";
	struct proc o, d;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d, store, &ap);
	free(wait_rebuilt(ap, &d, 5));
	static const char *const paths[] = {
	    "/a/twice?size=100&cc=max-age%3D600",	      /* admitted at its second request */
	    "/a/once?size=100&cc=max-age%3D600",	      /* asked once: never decided */
	    "/a/short?size=100&cc=max-age%3D10",	      /* 10 s of freshness: rejected */
	    "/a/big?size=20000&cc=max-age%3D600",	      /* over 10 KiB: rejected */
	    "/a/revalidate?size=100&cc=max-age%3D10&etag=v1", /* short, but validators */
	};
	static const int asks[] = {2, 1, 2, 2, 2};
	for (int i = 0; i < 5; i++) {
		for (int k = 0; k < asks[i]; k++) {
			struct response r;
			http_once(d.port, "GET", paths[i], NULL, &r);
			cr_assert_eq(r.status, 200, "%s: %s", paths[i], r.raw_head);
			response_free(&r);
		}
	}
	char *m = wait_metric(ap, &d, "ringcache_disk_objects", 2, 5);
	cr_assert_eq(prom(m, "ringcache_disk_admissions_total"), 2, "%s", m);
	cr_assert_eq(prom(m, "ringcache_disk_rejections_total"), 2, "%s", m);
	free(m);
	harness_end();
}

Test(cache_disk, a_reload_changes_the_admission_rule_not_the_store)
{
	admission = "min_ttl: 0s, admit_hits: 15";
	struct proc o, d;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d, store, &ap);
	free(wait_rebuilt(ap, &d, 5));
	struct response r;
	http_once(d.port, "GET", "/r/a?size=10&cc=max-age%3D600", NULL, &r);
	response_free(&r);
	/* The same file with another rule and another store path. */
	admission = "min_ttl: 0s, admit_hits: 1";
	char other[PATH_MAX + 8];
	snprintf(other, sizeof(other), "%s2", store);
	char *yaml = disk_yaml(d.port, o.port, ap, other);
	FILE *f = fopen(d.cfg_path, "w");
	cr_assert_not_null(f);
	fputs(yaml, f);
	fclose(f);
	free(yaml);
	cr_assert_eq(kill(d.pid, SIGHUP), 0);
	free(wait_metric(ap, &d, "ringcache_config_generation", 2, 5));
	http_once(d.port, "GET", "/r/b?size=10&cc=max-age%3D600", NULL, &r);
	response_free(&r);
	char *m = wait_metric(ap, &d, "ringcache_disk_objects", 1, 5);
	cr_assert_eq(prom(m, "ringcache_disk_admissions_total"), 1, "%s", m);
	free(m);
	char want[3 * PATH_MAX + 128];
	snprintf(want, sizeof(want), "reload: cache.disk.path %s -> %s takes a restart; keeping %s",
		 store, other, store);
	cr_assert_eq(log_count(&d, want), 1, "no '%s' in:\n%s", want, proc_log(&d));
	cr_assert_eq(access(other, F_OK), -1, "the new path is not opened");
	harness_end();
}

/* GET PATH with EXTRA header lines; its X-Origin-Request (which origin
 * response it is), and whether it came from disk. */
static long origin_seq(int port, const char *path, const char *extra, bool *from_disk)
{
	struct response r;
	http_once(port, "GET", path, extra, &r);
	cr_assert_eq(r.status, 200, "%s: %s", path, r.raw_head);
	const char *v = resp_header(&r, "X-Origin-Request");
	cr_assert_not_null(v, "%s", r.raw_head);
	long n = atol(v);
	if (from_disk)
		*from_disk = cache_status_has(&r, "detail=disk");
	response_free(&r);
	return n;
}

Test(cache_disk, variants_come_back_each_to_its_request)
{
	static const char path[] = "/v?size=50&cc=max-age%3D600&hdr=Vary:Accept-Language";
	struct proc o, d1, d2;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d1, store, &ap);
	free(wait_rebuilt(ap, &d1, 5));
	long en = origin_seq(d1.port, path, "Accept-Language: en\r\n", NULL);
	long de = origin_seq(d1.port, path, "Accept-Language: de\r\n", NULL);
	cr_assert_neq(en, de);
	free(wait_metric(ap, &d1, "ringcache_disk_objects", 2, 5));
	stopped_cleanly(&d1);

	start_disk(&o, &d2, store, &ap);
	free(wait_rebuilt(ap, &d2, 5));
	bool disk;
	cr_assert_eq(origin_seq(d2.port, path, "Accept-Language: de\r\n", &disk), de);
	cr_assert(disk);
	cr_assert_eq(origin_seq(d2.port, path, "Accept-Language: en\r\n", &disk), en);
	cr_assert(disk, "the other variant, from disk too");
	/* A third language is neither: the origin answers. */
	long fr = origin_seq(d2.port, path, "Accept-Language: fr\r\n", &disk);
	cr_assert(!disk && fr != en && fr != de);
	harness_end();
}

Test(cache_disk, a_range_and_a_conditional_request_answered_from_disk)
{
	static const char path[] = "/g?size=5000&cc=max-age%3D600&etag=e1";
	struct proc o, d1, d2;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d1, store, &ap);
	free(wait_rebuilt(ap, &d1, 5));
	struct response r;
	http_once(d1.port, "GET", path, NULL, &r);
	response_free(&r);
	free(wait_metric(ap, &d1, "ringcache_disk_objects", 1, 5));
	stopped_cleanly(&d1);

	start_disk(&o, &d2, store, &ap);
	free(wait_rebuilt(ap, &d2, 5));
	http_once(d2.port, "GET", path, "Range: bytes=100-199\r\n", &r);
	cr_assert_eq(r.status, 206, "%s", r.raw_head);
	cr_assert(cache_status_has(&r, "detail=disk"), "%s", cache_status(&r));
	cr_assert_eq(r.body_len, 100);
	cr_assert_eq(pattern_mismatch(r.body, r.body_len, 100), -1);
	response_free(&r);
	http_once(d2.port, "GET", path, "If-None-Match: \"e1\"\r\n", &r);
	cr_assert_eq(r.status, 304, "%s", r.raw_head);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 1);
	harness_end();
}

Test(cache_disk, concurrent_requests_for_a_disk_object_read_it_once)
{
	static const char path[] = "/c?size=300000&cc=max-age%3D600";
	struct proc o, d1, d2;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d1, store, &ap);
	free(wait_rebuilt(ap, &d1, 5));
	struct response r;
	http_once(d1.port, "GET", path, NULL, &r);
	response_free(&r);
	free(wait_metric(ap, &d1, "ringcache_disk_objects", 1, 5));
	stopped_cleanly(&d1);

	start_disk(&o, &d2, store, &ap);
	free(wait_rebuilt(ap, &d2, 5));
	enum { K = 8 };
	struct conn c[K];
	for (int i = 0; i < K; i++)
		conn_open(&c[i], d2.port);
	for (int i = 0; i < K; i++)
		cr_assert_eq(conn_sendf(&c[i], "GET %s HTTP/1.1\r\nHost: test.local\r\n\r\n", path),
			     0);
	for (int i = 0; i < K; i++) {
		cr_assert_eq(read_response(&c[i], &r, 0), READ_OK, "%d: %s", i, r.error);
		cr_assert_eq(r.status, 200);
		cr_assert(cache_status_has(&r, "hit"), "%d: %s", i, cache_status(&r));
		cr_assert_eq(r.body_len, 300000);
		cr_assert_eq(pattern_mismatch(r.body, r.body_len, 0), -1);
		response_free(&r);
		conn_close(&c[i]);
	}
	char *m = fetch_metrics(ap);
	/* One disk lookup for all; streamed (300 KB: over 256 KiB), so two
	 * reads of a window each, and everyone was sent it as it came. */
	cr_assert_eq(prom(m, "ringcache_disk_hits_total"), 1, "one lookup for all: %s", m);
	cr_assert_eq(prom(m, "ringcache_disk_hits_streamed_total"), 1, "%s", m);
	cr_assert_eq(prom(m, "ringcache_disk_reads_total"), 2, "%s", m);
	free(m);
	cr_assert_eq(origin_requests(o.port, path), 1);
	harness_end();
}

/* A stored GET of PATH whose body takes about a second; 400 ms in, the
 * admin INVAL for it; once the body ended and the writer had time: PATH
 * again is not a hit (neither memory nor disk). */
static void invalidated_while_arriving(const char *path, const char *inval)
{
	struct proc o, d;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d, store, &ap);
	free(wait_rebuilt(ap, &d, 5));
	struct conn c;
	conn_open(&c, d.port);
	cr_assert_eq(conn_sendf(&c, "GET %s HTTP/1.1\r\nHost: test.local\r\n\r\n", path), 0);
	sleep_ms(400);
	struct response r;
	if (!strcmp(inval, "POST")) { /* an unsafe method invalidates (RFC 9111 4.4) */
		http_once(d.port, "POST", path, NULL, &r);
		cr_assert_lt(r.status, 400, "POST %s: %s", path, r.raw_head);
		response_free(&r);
	} else {
		admin_post(ap, inval);
	}
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert(cache_status_has(&r, "stored"), "%s", cache_status(&r));
	response_free(&r);
	conn_close(&c);
	sleep_ms(1500);
	http_once(d.port, "GET", path, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert(!cache_status_has(&r, "hit"), "%s after %s came back: %s", path, inval,
		  cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), strcmp(inval, "POST") ? 2 : 3, "%s", path);
	harness_end();
}

Test(cache_disk, a_post_while_the_body_arrives_is_not_undone_by_its_write)
{
	invalidated_while_arriving("/s/3?size=2000&chunk=100&drip=50&cc=max-age%3D600", "POST");
}

Test(cache_disk, a_purge_while_the_body_arrives_is_not_undone_by_its_write)
{
	static const char path[] = "/s/0?size=2000&chunk=100&drip=50&cc=max-age%3D600";
	char enc[256], inval[512];
	snprintf(inval, sizeof(inval), "/purge?host=test.local&url=%s",
		 pct_encode(path, enc, sizeof(enc)));
	invalidated_while_arriving(path, inval);
}

Test(cache_disk, a_ban_while_the_body_arrives_is_not_undone_by_its_write)
{
	invalidated_while_arriving("/s/1?size=2000&chunk=100&drip=50&cc=max-age%3D600",
				   "/ban?url=%5E%2Fs%2F1");
}

Test(cache_disk, a_tag_purge_while_the_body_arrives_is_not_undone_by_its_write)
{
	invalidated_while_arriving(
	    "/s/2?size=2000&chunk=100&drip=50&cc=max-age%3D600&hdr=Cache-Tag:green",
	    "/tag?tag=green");
}

/* A second request answered from memory while the body still arrives (a
 * hit on a filling object): the object still goes to disk once its body
 * ends, and nothing is counted as a rejection. */
Test(cache_disk, a_hit_while_the_body_arrives_does_not_keep_it_off_the_disk)
{
	static const char path[] = "/f/0?size=2000&chunk=100&drip=50&cc=max-age%3D600";
	struct proc o, d;
	start_origin(&o);
	char store[PATH_MAX];
	snprintf(store, sizeof(store), "%s/store", test_dir());
	int ap;
	start_disk(&o, &d, store, &ap);
	free(wait_rebuilt(ap, &d, 5));
	struct conn c[2];
	for (int i = 0; i < 2; i++) {
		conn_open(&c[i], d.port);
		cr_assert_eq(conn_sendf(&c[i], "GET %s HTTP/1.1\r\nHost: test.local\r\n\r\n", path),
			     0);
		sleep_ms(300);
	}
	for (int i = 0; i < 2; i++) {
		struct response r;
		cr_assert_eq(read_response(&c[i], &r, 0), READ_OK, "%d: %s", i, r.error);
		cr_assert_eq(r.status, 200);
		cr_assert_eq(r.body_len, 2000);
		response_free(&r);
		conn_close(&c[i]);
	}
	cr_assert_eq(origin_requests(o.port, path), 1);
	char *m = wait_metric(ap, &d, "ringcache_disk_objects", 1, 5);
	cr_assert_eq(prom(m, "ringcache_disk_rejections_total"), 0, "%s", m);
	cr_assert_eq(prom(m, "ringcache_disk_admissions_total"), 1, "%s", m);
	free(m);
	harness_end();
}
