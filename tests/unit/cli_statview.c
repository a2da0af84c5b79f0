/*
 * Unit tests of src/cli/statview.c: the live screen never writes past the
 * terminal's width (lines are cut, never wrapped), keeps to its height,
 * clamps scrolling, and shows the filter's rows only; -j is one JSON
 * object with the numbers that pass the filter.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/statview.h"

static const char text[] =
    "# HELP ringcache_requests_total client requests received, a long description that "
    "goes on and on past any narrow terminal's width\n"
    "# TYPE ringcache_requests_total counter\n"
    "ringcache_requests_total 1200\n"
    "# HELP ringcache_cache_hit_total hits\n"
    "# TYPE ringcache_cache_hit_total counter\n"
    "ringcache_cache_hit_total 900\n"
    "# HELP ringcache_cache_miss_total misses\n"
    "# TYPE ringcache_cache_miss_total counter\n"
    "ringcache_cache_miss_total 300\n"
    "# HELP ringcache_connections open\n"
    "# TYPE ringcache_connections gauge\n"
    "ringcache_connections 7\n"
    "# HELP ringcache_backend_up up\n"
    "# TYPE ringcache_backend_up gauge\n"
    "ringcache_backend_up{backend=\"app\",server=\"10.0.0.1:80\"} 0\n"
    "# TYPE ringcache_uptime_seconds gauge\n"
    "ringcache_uptime_seconds 100\n";

/* The visible text of SCREEN: escape sequences dropped, each row after
 * a newline of its own (where the cursor moves to "\033[ROW;1H"). */
static char *visible(const char *screen)
{
	char *out = calloc(strlen(screen) + 1, 1), *o = out;
	cr_assert(out);
	for (const char *p = screen; *p;) {
		if (*p == '\033') {
			const char *e = p + 1;
			if (*e == '[')
				e++;
			while (*e && !((*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z')))
				e++;
			if (*e == 'H')
				*o++ = '\n';
			p = *e ? e + 1 : e;
			continue;
		}
		*o++ = *p++;
	}
	return out;
}

/* SCREEN's widest row and its number of rows (placed by cursor moves,
 * never by newlines). */
static int widest(const char *screen, int *rows_out)
{
	cr_assert_null(strchr(screen, '\n'), "no newlines: rows are placed");
	char *vis = visible(screen);
	int widest = 0, rows = 0;
	for (const char *line = strchr(vis, '\n'); line; line = strchr(line + 1, '\n')) {
		int w = (int)strcspn(line + 1, "\n");
		if (w > widest)
			widest = w;
		rows++;
	}
	free(vis);
	*rows_out = rows;
	return widest;
}

Test(cli_statview, cut_at_width_and_height)
{
	struct prom_snap s;
	cr_assert_eq(prom_parse(&s, text, strlen(text)), 0);
	struct statview v = {.where = "127.0.0.1:9090", .interval_s = 1, .error = "", .now = 0};
	char *buf = NULL;
	size_t cap = 0, len = 0;
	for (int cols = 20; cols <= 200; cols += 30) {
		cr_assert_eq(statview_screen(&v, NULL, &s, 12, cols, &buf, &cap, &len), 0);
		cr_assert_eq(strlen(buf), len);
		int rows;
		cr_expect_leq(widest(buf, &rows), cols, "%d columns:\n%s", cols, buf);
		cr_expect_leq(rows, 12);
	}
	v.scroll = 1000;
	cr_assert_eq(statview_screen(&v, NULL, &s, 40, 120, &buf, &cap, &len), 0);
	cr_expect_eq(v.scroll, 0, "everything fits: no scrolling");
	cr_expect(strstr(buf, "cache_miss") != NULL);
	cr_expect(strstr(buf, "DOWN") != NULL, "a server out of rotation");
	const char *pats[] = {"cache_*"};
	v.pats = pats;
	v.npats = 1;
	v.error = "connect: Connection refused";
	cr_assert_eq(statview_screen(&v, NULL, &s, 40, 120, &buf, &cap, &len), 0);
	cr_expect(strstr(buf, "daemon unreachable: connect: Connection refused") != NULL);
	cr_expect(strstr(buf, "1-2 of 2") != NULL, "%s", buf);
	free(buf);
	prom_snap_free(&s);
}

Test(cli_statview, json_snapshot)
{
	struct prom_snap s;
	cr_assert_eq(prom_parse(&s, text, strlen(text)), 0);
	const char *pats[] = {"cache_*"};
	struct statview v = {.where = "h\"x", .pats = pats, .npats = 1, .error = "", .now = 5};
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	statview_json(&v, &s, f);
	fclose(f);
	cr_expect(strstr(out, "{\"admin\": \"h\\\"x\", \"time\": 5, \"uptime_seconds\": 100, "
			      "\"summary\": {\"hit_ratio\": 0.75") == out,
		  "%s", out);
	cr_expect(strstr(out, "\"cache_hit\": {\"value\": 900, \"type\": \"counter\", "
			      "\"per_second_since_start\": 9, \"description\": \"hits\"}") != NULL,
		  "%s", out);
	cr_expect(strstr(out, "\"requests\"") == NULL, "filtered out: %s", out);
	free(out);
	prom_snap_free(&s);
}

/* The disk tier's summary line: "off" without the tier, the rebuild's
 * progress while it runs, its time once done, DISABLED after an I/O
 * error. */
static char *disk_line(const char *extra)
{
	char *t = NULL;
	cr_assert(asprintf(&t, "%s%s", text, extra) > 0);
	struct prom_snap s;
	cr_assert_eq(prom_parse(&s, t, strlen(t)), 0);
	struct statview v = {.where = "x", .interval_s = 1, .error = "", .now = 0};
	char *buf = NULL;
	size_t cap = 0, len = 0;
	cr_assert_eq(statview_screen(&v, NULL, &s, 40, 200, &buf, &cap, &len), 0);
	char *vis = visible(buf);
	char *line = strstr(vis, "\ndisk ");
	cr_assert(line, "%s", vis);
	char *r = strndup(line + 1, strcspn(line + 1, "\n"));
	free(vis);
	free(buf);
	free(t);
	prom_snap_free(&s);
	return r;
}

#define DISK_METRICS(ENABLED, DONE, WALKED, SECS)                                                  \
	"# TYPE ringcache_disk_enabled gauge\nringcache_disk_enabled " ENABLED "\n"                \
	"# TYPE ringcache_disk_objects gauge\nringcache_disk_objects 6553\n"                       \
	"# TYPE ringcache_disk_bytes_used gauge\nringcache_disk_bytes_used 268435456\n"            \
	"# TYPE ringcache_disk_size_bytes gauge\nringcache_disk_size_bytes 1073741824\n"           \
	"# TYPE ringcache_disk_segments gauge\nringcache_disk_segments 128\n"                      \
	"# TYPE ringcache_disk_rebuild_done gauge\nringcache_disk_rebuild_done " DONE "\n"         \
	"# TYPE ringcache_disk_rebuild_segments gauge\nringcache_disk_rebuild_segments " WALKED    \
	"\n"                                                                                       \
	"# TYPE ringcache_disk_rebuild_seconds gauge\nringcache_disk_rebuild_seconds " SECS "\n"   \
	"# TYPE ringcache_disk_damaged_total counter\nringcache_disk_damaged_total 3\n"            \
	"# TYPE ringcache_disk_errors_total counter\nringcache_disk_errors_total 0\n"

Test(cli_statview, disk_summary_line)
{
	char *l = disk_line("");
	cr_expect_str_eq(l, "disk        off");
	free(l);
	l = disk_line(DISK_METRICS("1", "0", "37", "0"));
	cr_expect(strstr(l, "6553 objects  256.0 MiB of 1.0 GiB") != NULL, "%s", l);
	cr_expect(strstr(l, "rebuild 37 of 128 segments") != NULL, "%s", l);
	cr_expect(strstr(l, "damaged 3  errors 0") != NULL, "%s", l);
	cr_expect(strstr(l, "DISABLED") == NULL, "%s", l);
	free(l);
	l = disk_line(DISK_METRICS("1", "1", "128", "2.5"));
	cr_expect(strstr(l, "rebuild done in 2.50s") != NULL, "%s", l);
	free(l);
	l = disk_line(DISK_METRICS("0", "1", "128", "2.5"));
	cr_expect(strstr(l, "DISABLED by an I/O error") != NULL, "%s", l);
	free(l);
}
