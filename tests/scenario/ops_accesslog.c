/*
 * The access log (log.access): one line per response in the combined or
 * the JSON format, every field checked against what the client saw (a
 * miss, a hit, a pass, an origin 404, hostile header bytes, over-long
 * values, requests the proxy refuses); SIGUSR1 reopens the file after a
 * rename without losing or duplicating a line; a path that cannot be
 * opened fails startup and names the path.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TestSuite(ops_accesslog, .fini = harness_fini, .timeout = 30);

/* ---- files ------------------------------------------------------------------ */

/* The whole file (malloc'd, NUL-terminated), or NULL if it cannot be read. */
static char *slurp(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			cr_assert_not_null(buf);
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		if (!n)
			break;
		len += n;
	}
	fclose(f);
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

struct lines {
	char **v; /* each line without its '\n', malloc'd */
	size_t n;
	char *text; /* the whole file */
};

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->text);
	memset(l, 0, sizeof(*l));
}

/* Split the file at PATH into lines; a file that does not end in '\n'
 * (a torn line) fails the test. A missing file has no lines. */
static void read_lines(const char *path, struct lines *l)
{
	memset(l, 0, sizeof(*l));
	size_t len = 0;
	l->text = slurp(path, &len);
	if (!l->text) {
		l->text = strdup("");
		return;
	}
	cr_assert_eq(strlen(l->text), len, "%s has a NUL byte: %s", path, excerpt(l->text, len));
	cr_assert(len == 0 || l->text[len - 1] == '\n', "%s ends in a partial line: %s", path,
		  excerpt(l->text, len));
	for (const char *p = l->text; *p;) {
		const char *e = strchr(p, '\n');
		l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
		cr_assert_not_null(l->v);
		l->v[l->n++] = strndup(p, (size_t)(e - p));
		p = e + 1;
	}
}

/* Lines in PATH (0 if it does not exist). */
static size_t count_lines(const char *path)
{
	char *t = slurp(path, NULL);
	size_t n = 0;
	for (const char *p = t; p && (p = strchr(p, '\n')); p++)
		n++;
	free(t);
	return n;
}

/* Poll (max 5 s: lines are written within about a second) until PATH has
 * at least N lines; then read them into L. */
static void wait_lines(const char *path, size_t n, struct lines *l)
{
	double until = now_s() + 5;
	while (count_lines(path) < n && now_s() < until)
		sleep_ms(20);
	read_lines(path, l);
	cr_assert_geq(l->n, n, "%s: %zu lines after 5 s, want %zu:\n%s", path, l->n, n, l->text);
}

/* The one line of L that contains NEEDLE; fails unless there is exactly one. */
static const char *line_with(const struct lines *l, const char *needle)
{
	const char *found = NULL;
	for (size_t i = 0; i < l->n; i++) {
		if (strstr(l->v[i], needle)) {
			cr_assert_null(found, "two lines with %s:\n%s\n%s", needle, found, l->v[i]);
			found = l->v[i];
		}
	}
	cr_assert_not_null(found, "no line with %s in:\n%s", needle, l->text);
	return found;
}

static size_t lines_with(const struct lines *l, const char *needle)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++)
		k += strstr(l->v[i], needle) != NULL;
	return k;
}

/* Occurrences of NEEDLE in the daemon's log. */
static int daemon_log_count(const struct proc *d, const char *needle)
{
	char *log = proc_log(d);
	int n = 0;
	for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(log);
	return n;
}

static void wait_daemon_log(const struct proc *d, const char *needle, int n)
{
	double until = now_s() + 5;
	while (daemon_log_count(d, needle) < n) {
		if (now_s() > until) {
			/* Copied out so that the failing test leaks nothing. */
			static char text[16384];
			char *log = proc_log(d);
			snprintf(text, sizeof(text), "%s", log);
			free(log);
			cr_assert_fail("no %d x \"%s\" in the daemon's log:\n%s", n, needle, text);
		}
		sleep_ms(10);
	}
}

/* Poll (max 5 s) until PATH exists: a reopen creates the file. */
static void wait_exists(const char *path, const char *what)
{
	double until = now_s() + 5;
	struct stat st;
	while (stat(path, &st) != 0) {
		cr_assert(now_s() < until, "%s: no %s after 5 s", what, path);
		sleep_ms(10);
	}
}

/* ---- the daemon ------------------------------------------------------------------ */

/* Origin and daemon writing the access log to test_dir()/NAME in FORMAT. */
static void start_logged(struct proc *o, struct proc *d, const char *name, const char *format,
			 char *path, size_t path_size)
{
	snprintf(path, path_size, "%s/%s", test_dir(), name);
	char extra[PATH_MAX + 128];
	snprintf(extra, sizeof(extra), "log:\n  access: \"%s\"\n  access_format: %s\n", path,
		 format);
	start_pair_extra(o, d, extra);
}

/* SIGTERM: the daemon drains, writes what it buffered, and exits 0. */
static void stop_clean(struct proc *d)
{
	int st = stop_proc(d);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "the daemon did not exit 0 on SIGTERM (status %#x); its log:\n%s", st,
		  proc_log(d));
}

/* ---- the requests ------------------------------------------------------------------ */

/*
 * Send RAW on a fresh connection and read one response into R; returns the
 * bytes the client received (head and body, Content-Length framed).
 */
static size_t exchange(int port, const char *raw, struct response *r)
{
	struct conn c;
	conn_open(&c, port);
	cr_assert_eq(conn_send_str(&c, raw), 0);
	cr_assert_eq(read_response(&c, r, 0), READ_OK, "%s: %s", excerpt(raw, strlen(raw)),
		     r->error);
	cr_assert(r->complete && r->framing == FRAME_LENGTH, "%s: head: %s",
		  excerpt(raw, strlen(raw)), r->raw_head);
	conn_close(&c);
	return strlen(r->raw_head) + r->body_len;
}

/* Send RAW, which the proxy refuses, and read until it closes; returns the
 * bytes received (the whole 4xx). */
static size_t refused(int port, const char *raw, int want_status)
{
	struct conn c;
	char *out;
	size_t len;
	conn_open(&c, port);
	cr_assert_eq(conn_send_str(&c, raw), 0);
	cr_assert(conn_read_until_close(&c, 5000, &out, &len), "%s: no close",
		  excerpt(raw, strlen(raw)));
	char want[32];
	int wl = snprintf(want, sizeof(want), "HTTP/1.1 %d ", want_status);
	cr_assert(len > (size_t)wl && !memcmp(out, want, (size_t)wl), "%s: got %s",
		  excerpt(raw, strlen(raw)), excerpt(out, len));
	free(out);
	conn_close(&c);
	return len;
}

/* Referer and User-Agent with bytes that need escaping: a quote, a
 * backslash, a tab (the one control byte a field value may carry), valid
 * UTF-8 (é) and a byte that is not UTF-8 (0xff). */
#define HOSTILE_REFERER "a\"b\tc\\d"
#define HOSTILE_UA	"ua \"q\" \xc3\xa9\xff end"

/* What the client saw of each request the tests send, for the lines. */
struct sent {
	size_t miss, hit, post, nf, hostile, http10, bad, nohost; /* bytes received */
	time_t t0, t1; /* wall clock before the first and after the last */
};

/* The same requests for both formats; PREFIX makes the targets unique. */
static void send_requests(int port, const char *prefix, struct sent *s)
{
	struct response r;
	char raw[4096];
	s->t0 = time(NULL);

	snprintf(raw, sizeof(raw),
		 "GET /%s/miss?size=100&cc=max-age%%3D60 HTTP/1.1\r\nHost: test.local\r\n\r\n",
		 prefix);
	s->miss = exchange(port, raw, &r);
	cr_assert(cache_status_has(&r, "stored"), "miss: Cache-Status: %s", cache_status(&r));
	cr_assert_eq(r.body_len, 100);
	response_free(&r);
	s->hit = exchange(port, raw, &r);
	cr_assert(cache_status_has(&r, "hit"), "hit: Cache-Status: %s", cache_status(&r));
	response_free(&r);

	snprintf(raw, sizeof(raw),
		 "POST /%s/post?size=10 HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n\r\n"
		 "hello",
		 prefix);
	s->post = exchange(port, raw, &r);
	cr_assert_eq(r.status, 200, "POST: %s", r.raw_head);
	response_free(&r);

	snprintf(raw, sizeof(raw), "GET /%s/nf?status=404 HTTP/1.1\r\nHost: test.local\r\n\r\n",
		 prefix);
	s->nf = exchange(port, raw, &r);
	cr_assert_eq(r.status, 404, "404: %s", r.raw_head);
	cr_assert(cache_status_has(&r, "fwd=uri-miss"), "404: Cache-Status: %s", cache_status(&r));
	response_free(&r);

	snprintf(raw, sizeof(raw),
		 "GET /%s/hostile?size=5 HTTP/1.1\r\nHost: test.local\r\nReferer: " HOSTILE_REFERER
		 "\r\nUser-Agent: " HOSTILE_UA "\r\n\r\n",
		 prefix);
	s->hostile = exchange(port, raw, &r);
	cr_assert_eq(r.status, 200, "hostile headers: %s", r.raw_head);
	response_free(&r);

	/* HTTP/1.0, and a target with a quote and a backslash (which the
	 * parser lets through). */
	snprintf(raw, sizeof(raw), "GET /%s/q\"b\\c?size=3 HTTP/1.0\r\nHost: test.local\r\n\r\n",
		 prefix);
	s->http10 = exchange(port, raw, &r);
	cr_assert_eq(r.status, 200, "HTTP/1.0: %s", r.raw_head);
	response_free(&r);

	/* Refused by the proxy itself: a request line that is not one, and a
	 * well-formed HTTP/1.1 request without Host. */
	s->bad = refused(port, "BLAH\r\n\r\n", 400);
	snprintf(raw, sizeof(raw), "GET /%s/nohost HTTP/1.1\r\n\r\n", prefix);
	s->nohost = refused(port, raw, 400);
	s->t1 = time(NULL);
}
#define N_REQUESTS 8

/* ---- combined format --------------------------------------------------------------- */

struct clf {
	char client[64], ident[8], user[8], time[40], request[8192];
	int status;
	unsigned long long bytes;
	char referer[4096], ua[8192], host[512], cache[64], rt[32], urt[32], backend[512];
};

struct cursor {
	const char *p;
	const char *line;
};

static void expect_lit(struct cursor *c, const char *lit)
{
	size_t n = strlen(lit);
	cr_assert(!strncmp(c->p, lit, n), "want \"%s\" at column %zu of:\n%s", lit,
		  (size_t)(c->p - c->line), c->line);
	c->p += n;
}

/* Up to (not including) STOP, into OUT; STOP must come. */
static void take_until(struct cursor *c, char stop, char *out, size_t cap)
{
	const char *e = strchr(c->p, stop);
	cr_assert_not_null(e, "no '%c' after column %zu of:\n%s", stop, (size_t)(c->p - c->line),
			   c->line);
	cr_assert_lt((size_t)(e - c->p), cap, "field too long in:\n%s", c->line);
	memcpy(out, c->p, (size_t)(e - c->p));
	out[e - c->p] = '\0';
	c->p = e;
}

/* A bare field: up to the next space (or the end with LAST). */
static void take_token(struct cursor *c, char *out, size_t cap, bool last)
{
	if (last) {
		size_t n = strlen(c->p);
		cr_assert_lt(n, cap);
		memcpy(out, c->p, n + 1);
		c->p += n;
		return;
	}
	take_until(c, ' ', out, cap);
	expect_lit(c, " ");
}

static void take_quoted(struct cursor *c, char *out, size_t cap)
{
	expect_lit(c, "\"");
	take_until(c, '"', out, cap);
	expect_lit(c, "\"");
}

/* Parse a combined line strictly: every field where the format puts it. */
static void clf_parse(const char *line, struct clf *f)
{
	for (const char *p = line; *p; p++)
		cr_assert((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
			  "byte %#x in a combined line (not printable ASCII):\n%s",
			  (unsigned char)*p, excerpt(line, strlen(line)));
	struct cursor c = {line, line};
	char num[32];
	take_token(&c, f->client, sizeof(f->client), false);
	take_token(&c, f->ident, sizeof(f->ident), false);
	take_token(&c, f->user, sizeof(f->user), false);
	expect_lit(&c, "[");
	take_until(&c, ']', f->time, sizeof(f->time));
	expect_lit(&c, "] ");
	take_quoted(&c, f->request, sizeof(f->request));
	expect_lit(&c, " ");
	take_token(&c, num, sizeof(num), false);
	char *end;
	f->status = (int)strtol(num, &end, 10);
	cr_assert(*num && !*end, "status \"%s\" in:\n%s", num, line);
	take_token(&c, num, sizeof(num), false);
	f->bytes = strtoull(num, &end, 10);
	cr_assert(*num && !*end, "bytes \"%s\" in:\n%s", num, line);
	take_quoted(&c, f->referer, sizeof(f->referer));
	expect_lit(&c, " ");
	take_quoted(&c, f->ua, sizeof(f->ua));
	expect_lit(&c, " host=");
	take_quoted(&c, f->host, sizeof(f->host));
	expect_lit(&c, " cache=");
	take_token(&c, f->cache, sizeof(f->cache), false);
	expect_lit(&c, "rt=");
	take_token(&c, f->rt, sizeof(f->rt), false);
	expect_lit(&c, "urt=");
	take_token(&c, f->urt, sizeof(f->urt), false);
	expect_lit(&c, "backend=");
	take_quoted(&c, f->backend, sizeof(f->backend));
	cr_assert_eq(*c.p, '\0', "trailing bytes in:\n%s", line);
}

/* SECONDS with exactly six decimals ("0.000183"), below LIMIT seconds. */
static void expect_secs(const char *s, double limit, const char *what, const char *line)
{
	const char *dot = strchr(s, '.');
	bool ok = dot && dot > s && strlen(dot + 1) == 6;
	for (const char *p = s; ok && *p; p++)
		ok = p == dot || (*p >= '0' && *p <= '9');
	cr_assert(ok, "%s \"%s\" is not seconds with microseconds in:\n%s", what, s, line);
	cr_assert_lt(strtod(s, NULL), limit, "%s %s s in:\n%s", what, s, line);
}

/* [DD/Mon/YYYY:HH:MM:SS +0000], in UTC, between T0 and T1 (a second of slack). */
static void expect_clf_time(const char *t, time_t t0, time_t t1, const char *line)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(t, "%d/%b/%Y:%H:%M:%S", &tm);
	cr_assert(end && !strcmp(end, " +0000") && strlen(t) == 26, "time [%s] in:\n%s", t, line);
	time_t v = timegm(&tm);
	cr_assert(v >= t0 - 1 && v <= t1 + 1, "time [%s] is not now (UTC) in:\n%s", t, line);
}

/* The fields every logged, parsed request shares. */
static void expect_clf_request(const struct clf *f, const char *method, const char *target,
			       int status, const char *line)
{
	char want[8192];
	snprintf(want, sizeof(want), "%s %s HTTP/1.1", method, target);
	cr_assert_str_eq(f->request, want, "request line in:\n%s", line);
	cr_assert_eq(f->status, status, "status in:\n%s", line);
	cr_assert_str_eq(f->client, "127.0.0.1", "client in:\n%s", line);
	cr_assert_str_eq(f->ident, "-", "ident in:\n%s", line);
	cr_assert_str_eq(f->user, "-", "user in:\n%s", line);
}

/*
 * The two lines of L with NEEDLE (a miss and the hit that followed it):
 * *WITH gets the one that also has MARKER, *WITHOUT the other.
 */
static void line_pair(const struct lines *l, const char *needle, const char *marker,
		      const char **with, const char **without)
{
	*with = *without = NULL;
	cr_assert_eq(lines_with(l, needle), 2, "want 2 lines with %s in:\n%s", needle, l->text);
	for (size_t i = 0; i < l->n; i++) {
		if (!strstr(l->v[i], needle))
			continue;
		if (strstr(l->v[i], marker))
			*with = l->v[i];
		else
			*without = l->v[i];
	}
	cr_assert(*with && *without, "want one line with %s and %s, one without, in:\n%s", needle,
		  marker, l->text);
}

Test(ops_accesslog, combined_lines_match_what_the_client_saw)
{
	struct proc o, d;
	char path[PATH_MAX], backend[64], raw[2048];
	start_logged(&o, &d, "access.log", "combined", path, sizeof(path));
	snprintf(backend, sizeof(backend), "app 127.0.0.1:%d", o.port);
	struct sent s;
	send_requests(d.port, "al", &s);

	/* A User-Agent over its 1024-byte limit is cut there and marked. */
	char ua[1101];
	memset(ua, 'u', 1100);
	ua[1100] = '\0';
	snprintf(raw, sizeof(raw),
		 "GET /al/longua?size=1 HTTP/1.1\r\nHost: test.local\r\nUser-Agent: %s\r\n\r\n",
		 ua);
	struct response r;
	size_t longua = exchange(d.port, raw, &r);
	response_free(&r);
	/* A fetch that fails: the origin is gone. (Its Cache-Status lived on
	 * the stack of the code that built it; the line must not read it.) */
	stop_proc(&o);
	struct conn c;
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c, "GET /al/down HTTP/1.1\r\nHost: test.local\r\n\r\n"), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert(r.status == 502 && r.complete, "origin down: %s", r.raw_head);
	size_t down = strlen(r.raw_head) + r.body_len;
	response_free(&r);
	conn_close(&c);
	/* SIGTERM: the drain writes what is buffered at once. */
	stop_clean(&d);

	struct lines l;
	read_lines(path, &l);
	cr_assert_eq(l.n, N_REQUESTS + 2, "one line per response, got:\n%s", l.text);
	struct clf f;
	const char *miss, *hit, *ln;

	/* The miss went to the origin; the hit did not. */
	line_pair(&l, "\"GET /al/miss?", "backend=\"-\"", &hit, &miss);
	clf_parse(miss, &f);
	expect_clf_request(&f, "GET", "/al/miss?size=100&cc=max-age%3D60", 200, miss);
	expect_clf_time(f.time, s.t0, s.t1, miss);
	cr_assert_eq(f.bytes, s.miss, "bytes: want the %zu the client received in:\n%s", s.miss,
		     miss);
	cr_assert_str_eq(f.referer, "-", "%s", miss);
	cr_assert_str_eq(f.ua, "-", "%s", miss);
	cr_assert_str_eq(f.host, "test.local", "%s", miss);
	cr_assert_str_eq(f.cache, "miss", "cache word in:\n%s", miss);
	expect_secs(f.rt, 5, "rt", miss);
	expect_secs(f.urt, 5, "urt", miss);
	cr_assert_leq(strtod(f.urt, NULL), strtod(f.rt, NULL), "urt > rt in:\n%s", miss);
	cr_assert_str_eq(f.backend, backend, "%s", miss);

	clf_parse(hit, &f);
	expect_clf_request(&f, "GET", "/al/miss?size=100&cc=max-age%3D60", 200, hit);
	expect_clf_time(f.time, s.t0, s.t1, hit);
	cr_assert_eq(f.bytes, s.hit, "bytes: want the %zu the client received in:\n%s", s.hit, hit);
	cr_assert_str_eq(f.cache, "hit", "cache word in:\n%s", hit);
	expect_secs(f.rt, 5, "rt", hit);
	cr_assert_str_eq(f.urt, "-", "a hit has no upstream time:\n%s", hit);
	cr_assert_str_eq(f.backend, "-", "%s", hit);

	ln = line_with(&l, "\"POST /al/post?");
	clf_parse(ln, &f);
	expect_clf_request(&f, "POST", "/al/post?size=10", 200, ln);
	cr_assert_eq(f.bytes, s.post, "bytes: want %zu in:\n%s", s.post, ln);
	cr_assert_str_eq(f.cache, "pass", "cache word in:\n%s", ln);
	expect_secs(f.urt, 5, "urt", ln);
	cr_assert_str_eq(f.backend, backend, "%s", ln);

	ln = line_with(&l, "\"GET /al/nf?");
	clf_parse(ln, &f);
	expect_clf_request(&f, "GET", "/al/nf?status=404", 404, ln);
	cr_assert_eq(f.bytes, s.nf, "bytes: want %zu in:\n%s", s.nf, ln);
	cr_assert_str_eq(f.cache, "miss", "cache word in:\n%s", ln);
	cr_assert_str_eq(f.backend, backend, "%s", ln);

	/* nginx's escaping: '"', '\\', control bytes and bytes from 0x7f up
	 * as \xHH (upper case); spaces inside quotes stay. */
	ln = line_with(&l, "\"GET /al/hostile?");
	clf_parse(ln, &f);
	expect_clf_request(&f, "GET", "/al/hostile?size=5", 200, ln);
	cr_assert_eq(f.bytes, s.hostile, "bytes: want %zu in:\n%s", s.hostile, ln);
	cr_assert_str_eq(f.referer, "a\\x22b\\x09c\\x5Cd", "referer in:\n%s", ln);
	cr_assert_str_eq(f.ua, "ua \\x22q\\x22 \\xC3\\xA9\\xFF end", "user agent in:\n%s", ln);
	cr_assert_str_eq(f.cache, "miss", "cache word in:\n%s", ln);

	/* Inside the request line, '"' and '\\' are escaped too. */
	ln = line_with(&l, "\"GET /al/q");
	clf_parse(ln, &f);
	cr_assert_str_eq(f.request, "GET /al/q\\x22b\\x5Cc?size=3 HTTP/1.0", "%s", ln);
	cr_assert_eq(f.status, 200, "%s", ln);
	cr_assert_eq(f.bytes, s.http10, "bytes: want %zu in:\n%s", s.http10, ln);

	/* Refused before a request line was read: "-" and the 400 sent. */
	ln = line_with(&l, "\"-\" 400 ");
	clf_parse(ln, &f);
	cr_assert_str_eq(f.client, "127.0.0.1", "%s", ln);
	cr_assert_eq(f.bytes, s.bad, "bytes: want the %zu the client received in:\n%s", s.bad, ln);
	cr_assert_str_eq(f.referer, "-", "%s", ln);
	cr_assert_str_eq(f.ua, "-", "%s", ln);
	cr_assert_str_eq(f.host, "-", "%s", ln);
	cr_assert_str_eq(f.cache, "error", "cache word in:\n%s", ln);
	expect_secs(f.rt, 5, "rt", ln);
	cr_assert_str_eq(f.urt, "-", "%s", ln);
	cr_assert_str_eq(f.backend, "-", "%s", ln);
	expect_clf_time(f.time, s.t0, s.t1, ln);

	/* Refused after the head was read: the request line is logged. */
	ln = line_with(&l, "\"GET /al/nohost HTTP/1.1\"");
	clf_parse(ln, &f);
	expect_clf_request(&f, "GET", "/al/nohost", 400, ln);
	cr_assert_eq(f.bytes, s.nohost, "bytes: want %zu in:\n%s", s.nohost, ln);
	cr_assert_str_eq(f.host, "-", "%s", ln);
	cr_assert_str_eq(f.cache, "error", "cache word in:\n%s", ln);
	cr_assert_str_eq(f.backend, "-", "%s", ln);

	ln = line_with(&l, "\"GET /al/down HTTP/1.1\"");
	clf_parse(ln, &f);
	expect_clf_request(&f, "GET", "/al/down", 502, ln);
	cr_assert_eq(f.bytes, down, "bytes: want %zu in:\n%s", down, ln);
	/* A miss that failed; "error" would do too. */
	cr_assert(!strcmp(f.cache, "miss") || !strcmp(f.cache, "error"), "cache word in:\n%s", ln);

	ln = line_with(&l, "\"GET /al/longua?");
	clf_parse(ln, &f);
	cr_assert_eq(f.bytes, longua, "bytes: want %zu in:\n%s", longua, ln);
	cr_assert_eq(strlen(f.ua), 1024 + 3, "user agent of %zu bytes in:\n%s", strlen(f.ua), ln);
	cr_assert(!strncmp(f.ua, ua, 1024) && !strcmp(f.ua + 1024, "..."), "user agent in:\n%s",
		  ln);
	lines_free(&l);
	harness_end();
}

/* ---- JSON format ---------------------------------------------------------------------- */

/*
 * A strict JSON checker (RFC 8259) for one line holding one flat object:
 * the top-level keys and the raw text of their values are collected.
 */
struct jkv {
	char key[64];
	const char *val; /* raw value text, in the line */
	size_t len;
};

struct jp {
	const unsigned char *p, *end;
	char err[160];
	struct jkv kv[32];
	size_t n_kv;
};

static bool jfail(struct jp *j, const char *what)
{
	if (!j->err[0])
		snprintf(j->err, sizeof(j->err), "%s at column %zu", what,
			 (size_t)(j->end - j->p) /* bytes left */);
	return false;
}

static void jws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
		j->p++;
}

static bool jhex4(struct jp *j)
{
	for (int i = 0; i < 4; i++, j->p++) {
		if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
			return jfail(j, "bad \\u escape");
	}
	return true;
}

/* A string; UTF-8 is checked strictly (no overlong forms, no surrogates). */
static bool jstring(struct jp *j)
{
	if (j->p >= j->end || *j->p != '"')
		return jfail(j, "want a string");
	j->p++;
	while (j->p < j->end) {
		unsigned c = *j->p;
		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return jfail(j, "raw control byte in a string");
		if (c == '\\') {
			j->p++;
			if (j->p >= j->end)
				return jfail(j, "cut escape");
			unsigned e = *j->p++;
			if (e == 'u') {
				if (!jhex4(j))
					return false;
			} else if (!strchr("\"\\/bfnrt", (int)e) || !e) {
				return jfail(j, "bad escape");
			}
			continue;
		}
		if (c < 0x80) {
			j->p++;
			continue;
		}
		size_t k = c >= 0xc2 && c < 0xe0    ? 2
			   : c >= 0xe0 && c < 0xf0  ? 3
			   : c >= 0xf0 && c <= 0xf4 ? 4
						    : 0;
		if (!k || (size_t)(j->end - j->p) < k)
			return jfail(j, "invalid UTF-8");
		for (size_t i = 1; i < k; i++) {
			if ((j->p[i] & 0xc0) != 0x80)
				return jfail(j, "invalid UTF-8");
		}
		if ((c == 0xe0 && j->p[1] < 0xa0) || (c == 0xed && j->p[1] >= 0xa0) ||
		    (c == 0xf0 && j->p[1] < 0x90) || (c == 0xf4 && j->p[1] >= 0x90))
			return jfail(j, "invalid UTF-8");
		j->p += k;
	}
	return jfail(j, "unterminated string");
}

static bool jdigits(struct jp *j)
{
	const unsigned char *s = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool jnumber(struct jp *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!jdigits(j))
		return jfail(j, "bad number");
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!jdigits(j))
			return jfail(j, "bad fraction");
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!jdigits(j))
			return jfail(j, "bad exponent");
	}
	return true;
}

static bool jvalue(struct jp *j, int depth);

static bool jcontainer(struct jp *j, int depth, bool object)
{
	char close = object ? '}' : ']';
	j->p++;
	jws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return true;
	}
	for (;;) {
		jws(j);
		if (object) {
			const unsigned char *ks = j->p;
			if (!jstring(j))
				return false;
			jws(j);
			if (j->p >= j->end || *j->p != ':')
				return jfail(j, "want ':'");
			j->p++;
			jws(j);
			const unsigned char *vs = j->p;
			if (!jvalue(j, depth + 1))
				return false;
			if (depth == 0 && j->n_kv < sizeof(j->kv) / sizeof(j->kv[0])) {
				struct jkv *kv = &j->kv[j->n_kv++];
				snprintf(kv->key, sizeof(kv->key), "%.*s", (int)(vs - ks), ks);
				/* The key without its quotes and the ':' after it. */
				char *q = strrchr(kv->key, '"');
				if (q)
					*q = '\0';
				memmove(kv->key, kv->key + 1, strlen(kv->key));
				kv->val = (const char *)vs;
				kv->len = (size_t)(j->p - vs);
			}
		} else if (!jvalue(j, depth + 1)) {
			return false;
		}
		jws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return true;
		}
		return jfail(j, object ? "want ',' or '}'" : "want ',' or ']'");
	}
}

static bool jvalue(struct jp *j, int depth)
{
	if (depth > 16)
		return jfail(j, "too deep");
	jws(j);
	if (j->p >= j->end)
		return jfail(j, "want a value");
	static const char *const lits[] = {"true", "false", "null"};
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(lits[i]);
		if ((size_t)(j->end - j->p) >= n && !memcmp(j->p, lits[i], n)) {
			j->p += n;
			return true;
		}
	}
	switch (*j->p) {
	case '{':
		return jcontainer(j, depth, true);
	case '[':
		return jcontainer(j, depth, false);
	case '"':
		return jstring(j);
	default:
		return jnumber(j);
	}
}

/* Check LINE is exactly one JSON object and collect its keys. */
static void json_line(const char *line, struct jp *j)
{
	memset(j, 0, sizeof(*j));
	j->p = (const unsigned char *)line;
	j->end = j->p + strlen(line);
	cr_assert(j->p < j->end && *j->p == '{', "not a JSON object:\n%s", line);
	bool ok = jcontainer(j, 0, true);
	cr_assert(ok, "invalid JSON (%s):\n%s", j->err, excerpt(line, strlen(line)));
	cr_assert_eq(j->p, j->end, "bytes after the object:\n%s", line);
}

/* The raw text of KEY's value ("\"GET\"", "200", "null"); fails if absent. */
static const char *jget(const struct jp *j, const char *key, char *out, size_t cap)
{
	for (size_t i = 0; i < j->n_kv; i++) {
		if (!strcmp(j->kv[i].key, key)) {
			cr_assert_lt(j->kv[i].len, cap);
			memcpy(out, j->kv[i].val, j->kv[i].len);
			out[j->kv[i].len] = '\0';
			return out;
		}
	}
	cr_assert_fail("no key \"%s\"", key);
	return NULL;
}

static void expect_json(const struct jp *j, const char *key, const char *want, const char *line)
{
	char v[8192];
	jget(j, key, v, sizeof(v));
	cr_assert_str_eq(v, want, "\"%s\": want %s in:\n%s", key, want, line);
}

/* A whole number of microseconds below LIMIT_US. */
static long long expect_json_us(const struct jp *j, const char *key, long long limit_us,
				const char *line)
{
	char v[64];
	jget(j, key, v, sizeof(v));
	char *end;
	long long n = strtoll(v, &end, 10);
	cr_assert(*v >= '0' && *v <= '9' && !*end && n < limit_us, "\"%s\": %s in:\n%s", key, v,
		  line);
	return n;
}

static void expect_json_bytes(const struct jp *j, size_t want, const char *line)
{
	char w[32];
	snprintf(w, sizeof(w), "%zu", want);
	expect_json(j, "bytes", w, line);
}

/* "time":"YYYY-MM-DDTHH:MM:SS.mmmZ", UTC, between T0 and T1. */
static void expect_json_time(const struct jp *j, time_t t0, time_t t1, const char *line)
{
	char v[64];
	jget(j, "time", v, sizeof(v));
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *end = strptime(v, "\"%Y-%m-%dT%H:%M:%S", &tm);
	cr_assert(end && strlen(v) == 26 && end[0] == '.' && end[1] >= '0' && end[1] <= '9' &&
		      end[2] >= '0' && end[2] <= '9' && end[3] >= '0' && end[3] <= '9' &&
		      !strcmp(end + 4, "Z\""),
		  "time %s in:\n%s", v, line);
	time_t t = timegm(&tm);
	cr_assert(t >= t0 - 1 && t <= t1 + 1, "time %s is not now (UTC) in:\n%s", v, line);
}

static const char *const json_keys[] = {
    "time",    "client",     "method", "target", "protocol",	"status",      "bytes",
    "referer", "user_agent", "host",   "cache",	 "duration_us", "upstream_us", "backend"};

Test(ops_accesslog, json_lines_are_valid_objects_with_the_fields)
{
	struct proc o, d;
	char path[PATH_MAX], backend[64], raw[2048];
	start_logged(&o, &d, "access.jsonl", "json", path, sizeof(path));
	snprintf(backend, sizeof(backend), "\"app 127.0.0.1:%d\"", o.port);
	struct sent s;
	send_requests(d.port, "aj", &s);
	/* A User-Agent of 1023 bytes then a 2-byte character: the cut at 1024
	 * must not split the character. */
	char ua[1100];
	memset(ua, 'v', 1023);
	memcpy(ua + 1023, "\xc3\xa9xyz", 6);
	snprintf(raw, sizeof(raw),
		 "GET /aj/cut?size=1 HTTP/1.1\r\nHost: test.local\r\nUser-Agent: %s\r\n\r\n", ua);
	struct response r;
	size_t cut = exchange(d.port, raw, &r);
	response_free(&r);

	/* No SIGTERM here: the lines must come within about a second. */
	struct lines l;
	wait_lines(path, N_REQUESTS + 1, &l);
	cr_assert_eq(l.n, N_REQUESTS + 1, "one line per response, got:\n%s", l.text);
	struct jp j;
	for (size_t i = 0; i < l.n; i++) {
		json_line(l.v[i], &j);
		cr_assert_eq(j.n_kv, sizeof(json_keys) / sizeof(json_keys[0]), "keys in:\n%s",
			     l.v[i]);
		for (size_t k = 0; k < j.n_kv; k++)
			cr_assert_str_eq(j.kv[k].key, json_keys[k], "key %zu in:\n%s", k, l.v[i]);
		expect_json(&j, "client", "\"127.0.0.1\"", l.v[i]);
		expect_json_time(&j, s.t0, s.t1 + 1, l.v[i]);
		expect_json_us(&j, "duration_us", 5000000, l.v[i]);
	}
	const char *miss, *hit, *ln;

	line_pair(&l, "\"target\":\"/aj/miss?", "\"backend\":null", &hit, &miss);
	json_line(miss, &j);
	expect_json(&j, "method", "\"GET\"", miss);
	expect_json(&j, "target", "\"/aj/miss?size=100&cc=max-age%3D60\"", miss);
	expect_json(&j, "protocol", "\"HTTP/1.1\"", miss);
	expect_json(&j, "status", "200", miss);
	expect_json_bytes(&j, s.miss, miss);
	expect_json(&j, "referer", "null", miss);
	expect_json(&j, "user_agent", "null", miss);
	expect_json(&j, "host", "\"test.local\"", miss);
	expect_json(&j, "cache", "\"miss\"", miss);
	long long us = expect_json_us(&j, "upstream_us", 5000000, miss);
	cr_assert_leq(us, expect_json_us(&j, "duration_us", 5000000, miss), "%s", miss);
	expect_json(&j, "backend", backend, miss);

	json_line(hit, &j);
	expect_json(&j, "status", "200", hit);
	expect_json_bytes(&j, s.hit, hit);
	expect_json(&j, "cache", "\"hit\"", hit);
	expect_json(&j, "upstream_us", "null", hit);

	ln = line_with(&l, "\"target\":\"/aj/post?");
	json_line(ln, &j);
	expect_json(&j, "method", "\"POST\"", ln);
	expect_json(&j, "status", "200", ln);
	expect_json_bytes(&j, s.post, ln);
	expect_json(&j, "cache", "\"pass\"", ln);
	expect_json_us(&j, "upstream_us", 5000000, ln);
	expect_json(&j, "backend", backend, ln);

	ln = line_with(&l, "\"target\":\"/aj/nf?");
	json_line(ln, &j);
	expect_json(&j, "status", "404", ln);
	expect_json_bytes(&j, s.nf, ln);
	expect_json(&j, "cache", "\"miss\"", ln);
	expect_json(&j, "backend", backend, ln);

	/* RFC 8259 escaping; valid UTF-8 stays, the byte that is not UTF-8
	 * is \u00XX. */
	ln = line_with(&l, "\"target\":\"/aj/hostile?");
	json_line(ln, &j);
	expect_json_bytes(&j, s.hostile, ln);
	expect_json(&j, "referer", "\"a\\\"b\\u0009c\\\\d\"", ln);
	expect_json(&j, "user_agent", "\"ua \\\"q\\\" \xc3\xa9\\u00ff end\"", ln);

	ln = line_with(&l, "\"target\":\"/aj/q");
	json_line(ln, &j);
	expect_json(&j, "target", "\"/aj/q\\\"b\\\\c?size=3\"", ln);
	expect_json(&j, "protocol", "\"HTTP/1.0\"", ln);
	expect_json_bytes(&j, s.http10, ln);

	ln = line_with(&l, "\"method\":null");
	json_line(ln, &j);
	expect_json(&j, "target", "null", ln);
	expect_json(&j, "protocol", "null", ln);
	expect_json(&j, "status", "400", ln);
	expect_json_bytes(&j, s.bad, ln);
	expect_json(&j, "host", "null", ln);
	expect_json(&j, "cache", "\"error\"", ln);
	expect_json(&j, "upstream_us", "null", ln);
	expect_json(&j, "backend", "null", ln);

	ln = line_with(&l, "\"target\":\"/aj/nohost\"");
	json_line(ln, &j);
	expect_json(&j, "method", "\"GET\"", ln);
	expect_json(&j, "status", "400", ln);
	expect_json_bytes(&j, s.nohost, ln);
	expect_json(&j, "cache", "\"error\"", ln);

	ln = line_with(&l, "\"target\":\"/aj/cut?");
	json_line(ln, &j);
	expect_json_bytes(&j, cut, ln);
	char want[1100];
	snprintf(want, sizeof(want), "\"%.1023s...\"", ua);
	expect_json(&j, "user_agent", want, ln);
	lines_free(&l);
	harness_end();
}

/* ---- SIGUSR1 ------------------------------------------------------------------------- */

/* GET PREFIXi for i in [0, N), each on its own connection. */
static void get_n(int port, const char *prefix, int n)
{
	for (int i = 0; i < n; i++) {
		char path[128];
		snprintf(path, sizeof(path), "/%s%d?size=10", prefix, i);
		struct response r;
		http_once(port, "GET", path, NULL, &r);
		cr_assert_eq(r.status, 200, "GET %s: %s", path, r.raw_head);
		response_free(&r);
	}
}

/* Lines of L for "GET /PREFIX"; every one must be there exactly once. */
static size_t count_prefix(const struct lines *l, const char *prefix, int n)
{
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		char needle[128];
		snprintf(needle, sizeof(needle), "\"GET /%s%d?size=10 HTTP/1.1\"", prefix, i);
		total += lines_with(l, needle);
	}
	return total;
}

/* 1 if the daemon has a file open whose path is PATH. */
static int holds_open(pid_t pid, const char *path)
{
	char dir[64], link[PATH_MAX + 64], target[PATH_MAX];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *dp = opendir(dir);
	if (!dp)
		return 0;
	int found = 0;
	for (struct dirent *e; (e = readdir(dp));) {
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			found |= !strcmp(target, path);
		}
	}
	closedir(dp);
	return found;
}

#define PER_ROUND 4

Test(ops_accesslog, sigusr1_reopens_after_a_rename_and_loses_nothing)
{
	struct proc o, d;
	char path[PATH_MAX], old1[PATH_MAX + 8], old2[PATH_MAX + 8];
	start_logged(&o, &d, "access.log", "combined", path, sizeof(path));
	snprintf(old1, sizeof(old1), "%s.1", path);
	snprintf(old2, sizeof(old2), "%s.2", path);
	struct lines l;

	/* Round 1 reaches the file, then logrotate's rename and signal. */
	get_n(d.port, "r1-", PER_ROUND);
	wait_lines(path, PER_ROUND, &l);
	lines_free(&l);
	cr_assert_eq(rename(path, old1), 0, "rename: %s", strerror(errno));
	cr_assert_eq(kill(d.pid, SIGUSR1), 0);
	wait_exists(path, "SIGUSR1 after a rename");

	/* Round 2 goes to the new file only. */
	get_n(d.port, "r2-", PER_ROUND);
	wait_lines(path, PER_ROUND, &l);
	cr_assert_eq(l.n, PER_ROUND, "new file:\n%s", l.text);
	cr_assert_eq(count_prefix(&l, "r2-", PER_ROUND), PER_ROUND, "new file:\n%s", l.text);
	lines_free(&l);
	read_lines(old1, &l);
	cr_assert_eq(l.n, PER_ROUND, "renamed file:\n%s", l.text);
	cr_assert_eq(count_prefix(&l, "r1-", PER_ROUND), PER_ROUND, "renamed file:\n%s", l.text);
	lines_free(&l);
	/* Nothing writes to the renamed file any more: the daemon lets go of it. */
	double until = now_s() + 5;
	while (holds_open(d.pid, old1) && now_s() < until)
		sleep_ms(20);
	cr_assert_not(holds_open(d.pid, old1), "the daemon still holds %s open", old1);

	/* Round 3 is probably still buffered when the file is renamed: each
	 * of its lines lands in one of the two files, once. Round 4 comes
	 * after the reopen and goes to the new file. */
	get_n(d.port, "r3-", PER_ROUND);
	cr_assert_eq(rename(path, old2), 0, "rename: %s", strerror(errno));
	cr_assert_eq(kill(d.pid, SIGUSR1), 0);
	wait_exists(path, "the second SIGUSR1");
	get_n(d.port, "r4-", PER_ROUND);
	stop_clean(&d);

	struct lines a, b;
	read_lines(old2, &a);
	read_lines(path, &b);
	cr_assert_eq(a.n + b.n, 3 * PER_ROUND, "%s:\n%s\n%s:\n%s", old2, a.text, path, b.text);
	cr_assert_eq(count_prefix(&a, "r2-", PER_ROUND), PER_ROUND, "%s", a.text);
	cr_assert_eq(count_prefix(&a, "r3-", PER_ROUND) + count_prefix(&b, "r3-", PER_ROUND),
		     PER_ROUND, "%s:\n%s\n%s:\n%s", old2, a.text, path, b.text);
	cr_assert_eq(count_prefix(&b, "r4-", PER_ROUND), PER_ROUND, "%s", b.text);
	lines_free(&a);
	lines_free(&b);
	read_lines(old1, &l);
	cr_assert_eq(l.n, PER_ROUND, "the first renamed file changed:\n%s", l.text);
	lines_free(&l);
	harness_end();
}

/* ---- a path that cannot be opened ---------------------------------------------------- */

/* Run the daemon with log.access LOG; it must exit non-zero and say why. */
static void expect_startup_fails(const char *name, const char *log, const char *why)
{
	struct proc o;
	start_origin(&o);
	int port = free_port();
	char extra[PATH_MAX + 64], cfg[PATH_MAX];
	snprintf(extra, sizeof(extra), "log:\n  access: \"%s\"\n", log);
	char *yaml = rc_yaml(
	    &(struct rc_cfg){.port = port, .servers = &o.port, .n_servers = 1, .extra = extra});
	write_test_file(name, yaml, cfg, sizeof(cfg));
	free(yaml);
	char *argv[] = {(char *)RINGCACHE_BIN, (char *)"-c", cfg, NULL};
	struct cmd_result r;
	run_cmd(argv, 5000, &r);
	cr_assert_not(r.timed_out, "log.access %s: the daemon started anyway; stderr:\n%s", log,
		      r.err);
	cr_assert(r.exited && r.exit_code != 0, "log.access %s: exit %d; stderr:\n%s", log,
		  r.exit_code, r.err);
	cr_assert(strstr(r.err, log), "stderr does not name %s:\n%s", log, r.err);
	cr_assert(strstr(r.err, why), "stderr does not say \"%s\":\n%s", why, r.err);
	struct conn c;
	int rc = conn_try_open(&c, port);
	if (rc == 0)
		conn_close(&c);
	cr_assert_neq(rc, 0, "127.0.0.1:%d accepts after a failed start", port);
	cmd_result_free(&r);
}

Test(ops_accesslog, unwritable_path_fails_startup_naming_it)
{
	char missing[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/no-such-dir/access.log", test_dir());
	expect_startup_fails("missing-dir.yaml", missing, "No such file or directory");
	/* A directory where the file should be. */
	expect_startup_fails("is-dir.yaml", test_dir(), "Is a directory");

	/* -t checks the file without creating the log. */
	char path[PATH_MAX], extra[PATH_MAX + 64], cfg[PATH_MAX];
	snprintf(path, sizeof(path), "%s/not-created.log", test_dir());
	snprintf(extra, sizeof(extra), "log:\n  access: \"%s\"\n", path);
	int port = free_port(), origin = free_port();
	char *yaml = rc_yaml(
	    &(struct rc_cfg){.port = port, .servers = &origin, .n_servers = 1, .extra = extra});
	write_test_file("check.yaml", yaml, cfg, sizeof(cfg));
	free(yaml);
	char *argv[] = {(char *)RINGCACHE_BIN, (char *)"-t", (char *)"-c", cfg, NULL};
	struct cmd_result r;
	run_cmd(argv, 5000, &r);
	cr_assert(r.exited && r.exit_code == 0, "-t: exit %d; stderr:\n%s", r.exit_code, r.err);
	cr_assert_neq(access(path, F_OK), 0, "-t created %s", path);
	cmd_result_free(&r);
	harness_end();
}

Test(ops_accesslog, sigusr1_that_cannot_reopen_keeps_writing_the_old_file)
{
	struct proc o, d;
	char dir[PATH_MAX], gone[PATH_MAX + 8], path[PATH_MAX + 16], moved[PATH_MAX + 32];
	snprintf(dir, sizeof(dir), "%s/logs", test_dir());
	cr_assert_eq(mkdir(dir, 0700), 0, "mkdir %s: %s", dir, strerror(errno));
	snprintf(gone, sizeof(gone), "%s.gone", dir);
	snprintf(path, sizeof(path), "%s/access.log", dir);
	snprintf(moved, sizeof(moved), "%s/access.log", gone);
	char extra[PATH_MAX + 64];
	snprintf(extra, sizeof(extra), "log:\n  access: \"%s\"\n", path);
	start_pair_extra(&o, &d, extra);
	struct lines l;

	get_n(d.port, "k1-", PER_ROUND);
	wait_lines(path, PER_ROUND, &l);
	lines_free(&l);
	/* The directory goes away: the reopen fails, the daemon says so and
	 * goes on with the file it has. */
	cr_assert_eq(rename(dir, gone), 0, "rename: %s", strerror(errno));
	cr_assert_eq(kill(d.pid, SIGUSR1), 0);
	wait_daemon_log(&d, "cannot reopen", 1);
	char *dl = proc_log(&d);
	const char *err = strstr(dl, "cannot reopen");
	const char *eol = strchr(err, '\n');
	int el = eol ? (int)(eol - err) : (int)strlen(err);
	bool named = memmem(err, (size_t)el, path, strlen(path)) != NULL;
	char line[PATH_MAX + 256];
	snprintf(line, sizeof(line), "%.*s", el, err);
	free(dl);
	cr_assert(named, "the reopen error does not name %s: %s", path, line);
	get_n(d.port, "k2-", PER_ROUND);
	wait_lines(moved, 2 * PER_ROUND, &l);
	cr_assert_eq(count_prefix(&l, "k2-", PER_ROUND), PER_ROUND, "%s", l.text);
	lines_free(&l);

	/* The directory is back: the next SIGUSR1 opens a new file. */
	cr_assert_eq(mkdir(dir, 0700), 0, "mkdir %s: %s", dir, strerror(errno));
	cr_assert_eq(kill(d.pid, SIGUSR1), 0);
	wait_exists(path, "SIGUSR1 once the directory is back");
	get_n(d.port, "k3-", PER_ROUND);
	stop_clean(&d);
	read_lines(path, &l);
	cr_assert_eq(l.n, PER_ROUND, "%s", l.text);
	cr_assert_eq(count_prefix(&l, "k3-", PER_ROUND), PER_ROUND, "%s", l.text);
	lines_free(&l);
	read_lines(moved, &l);
	cr_assert_eq(l.n, 2 * PER_ROUND, "%s", l.text);
	lines_free(&l);
	harness_end();
}

/* Requests on one keep-alive connection, each for its own target. */
struct burst {
	int port, first, n;
};

static void *burst_main(void *arg)
{
	const struct burst *b = arg;
	struct conn c;
	conn_open(&c, b->port);
	for (int i = b->first; i < b->first + b->n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/burst/%d?size=10", i);
		struct response r;
		http_req(&c, "GET", path, NULL, &r);
		cr_assert_eq(r.status, 200, "GET %s: %s", path, r.raw_head);
		response_free(&r);
	}
	conn_close(&c);
	return NULL;
}

#define BURST 1500 /* a few buffers' worth of lines per loop */

/* The number after "NAME " in Prometheus TEXT, or -1. */
static long long metric(const char *text, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, name, nl) && p[nl] == ' ')
			return strtoll(p + nl + 1, NULL, 10);
	}
	return -1;
}

Test(ops_accesslog, a_burst_across_buffer_swaps_writes_whole_lines_once)
{
	struct proc o, d;
	char path[PATH_MAX], extra[PATH_MAX + 128];
	snprintf(path, sizeof(path), "%s/burst.log", test_dir());
	int ap = free_port();
	snprintf(extra, sizeof(extra),
		 "admin:\n  listen: \"127.0.0.1:%d\"\nlog:\n  access: \"%s\"\n", ap, path);
	start_pair_extra(&o, &d, extra);
	cr_assert(port_wait(ap, 3000), "admin API; log:\n%s", proc_log(&d));
	/* Two connections, so both loops log. */
	struct burst b[2] = {{d.port, 0, BURST / 2}, {d.port, BURST / 2, BURST - BURST / 2}};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, burst_main, &b[1]), 0);
	burst_main(&b[0]);
	pthread_join(t, NULL);

	/*
	 * Every line is accounted for: written, or dropped because both of
	 * its loop's buffers were busy (a disk slower than the traffic, which
	 * a loaded machine can be for a moment). Lines are counted once their
	 * write is done: poll for that.
	 */
	long long written = -1, dropped = -1, errors = -1;
	double until = now_s() + 5;
	for (;;) {
		struct response r;
		http_once(ap, "GET", "/metrics", NULL, &r);
		cr_assert_eq(r.status, 200, "%s", r.raw_head);
		written = metric(r.body, "ringcache_access_log_lines_total");
		dropped = metric(r.body, "ringcache_access_log_dropped_total");
		errors = metric(r.body, "ringcache_access_log_write_errors_total");
		response_free(&r);
		if (written + dropped >= BURST || now_s() > until)
			break;
		sleep_ms(50);
	}
	cr_assert_eq(written + dropped, BURST, "%lld written + %lld dropped for %d responses",
		     written, dropped, BURST);
	cr_assert_eq(errors, 0);
	cr_assert_gt(written, 0);
	stop_clean(&d);

	/* The file has exactly the lines counted as written, each whole and
	 * each once. */
	struct lines l;
	read_lines(path, &l);
	cr_assert_eq((long long)l.n, written, "%zu lines in the file, %lld counted (%lld dropped)",
		     l.n, written, dropped);
	static char seen[BURST];
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < l.n; i++) {
		struct clf f;
		clf_parse(l.v[i], &f);
		int k = -1;
		cr_assert_eq(sscanf(f.request, "GET /burst/%d?size=10 HTTP/1.1", &k), 1, "%s",
			     l.v[i]);
		cr_assert(k >= 0 && k < BURST && !seen[k], "line %zu: %s", i, l.v[i]);
		seen[k] = 1;
		cr_assert_eq(f.status, 200, "%s", l.v[i]);
	}
	/* A note, not cr_log_warn: Criterion 2.4 exits 1 after any warning. */
	if (dropped)
		fprintf(stderr, "note: %lld of %d lines dropped (the disk was slow)\n", dropped,
			BURST);
	lines_free(&l);
	harness_end();
}
