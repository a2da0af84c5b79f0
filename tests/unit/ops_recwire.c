/*
 * Unit tests of src/ops/recwire.c: a record survives the trip through a
 * frame field for field (strings at their rooms, header values, lengths
 * from the writer or found), a lost frame, a frame cut anywhere asks for
 * more, and a frame whose lengths do not add up is refused, never read
 * past its end.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ops/recwire.h"

static void fill(char *d, size_t room, char c)
{
	memset(d, c, room - 1);
	d[room - 1] = '\0';
}

static struct rlog_rec full(void)
{
	struct rlog_rec r;
	memset(&r, 0, sizeof(r));
	r.id = 0x0001000000000007ull;
	r.time_us = 1700000000123456;
	r.ttfb_ns = -1;
	r.duration_ns = 2500000;
	r.bytes_in = 90;
	r.bytes_out = UINT64_MAX;
	r.be_total_ns = 1871000;
	r.be_connect_ns = 0;
	r.be_ttfb_ns = 342000;
	r.be_attempts = 3;
	r.be_reused = -1;
	r.http_major = 1;
	r.http_minor = 1;
	r.status = 503;
	r.loop = 7;
	fill(r.verdict, sizeof(r.verdict), 'v');
	fill(r.client, sizeof(r.client), 'c');
	fill(r.method, sizeof(r.method), 'm');
	fill(r.host, sizeof(r.host), 'h');
	fill(r.target, sizeof(r.target), 't');
	fill(r.cache_status, sizeof(r.cache_status), 's');
	fill(r.backend, sizeof(r.backend), 'b');
	fill(r.server, sizeof(r.server), 'S');
	fill(r.route, sizeof(r.route), 'r');
	fill(r.reason, sizeof(r.reason), 'R');
	return r;
}

static void same(const struct rlog_rec *a, const struct rlog_rec *b)
{
	cr_expect_eq(a->id, b->id);
	cr_expect_eq(a->time_us, b->time_us);
	cr_expect_eq(a->ttfb_ns, b->ttfb_ns);
	cr_expect_eq(a->duration_ns, b->duration_ns);
	cr_expect_eq(a->bytes_in, b->bytes_in);
	cr_expect_eq(a->bytes_out, b->bytes_out);
	cr_expect_eq(a->be_total_ns, b->be_total_ns);
	cr_expect_eq(a->be_connect_ns, b->be_connect_ns);
	cr_expect_eq(a->be_ttfb_ns, b->be_ttfb_ns);
	cr_expect_eq(a->be_attempts, b->be_attempts);
	cr_expect_eq(a->be_reused, b->be_reused);
	cr_expect_eq(a->http_major, b->http_major);
	cr_expect_eq(a->http_minor, b->http_minor);
	cr_expect_eq(a->status, b->status);
	cr_expect_eq(a->loop, b->loop);
	cr_expect_str_eq(a->verdict, b->verdict);
	cr_expect_str_eq(a->client, b->client);
	cr_expect_str_eq(a->method, b->method);
	cr_expect_str_eq(a->host, b->host);
	cr_expect_str_eq(a->target, b->target);
	cr_expect_str_eq(a->cache_status, b->cache_status);
	cr_expect_str_eq(a->backend, b->backend);
	cr_expect_str_eq(a->server, b->server);
	cr_expect_str_eq(a->route, b->route);
	cr_expect_str_eq(a->reason, b->reason);
}

Test(recwire, every_field_at_its_room_round_trips)
{
	struct rlog_rec r = full();
	char v[RLOG_HDRS][RLOG_HDR_VAL];
	const char *vals[RLOG_HDRS];
	for (unsigned i = 0; i < RLOG_HDRS; i++) {
		fill(v[i], sizeof(v[i]), (char)('0' + i));
		vals[i] = i == 3 ? NULL : v[i];
	}
	char *buf = malloc(RECWIRE_MAX);
	size_t n = recwire_record(&r, vals, RLOG_HDRS, buf);
	cr_assert_leq(n, RECWIRE_MAX);
	struct rlog_rec out;
	memset(&out, 0x55, sizeof(out));
	size_t used = 0;
	unsigned nh = 99;
	uint64_t ln, lt;
	cr_assert_eq(recwire_next(buf, n, &used, &out, &nh, &ln, &lt), RECWIRE_RECORD);
	cr_expect_eq(used, n);
	same(&out, &r);
	cr_assert_eq(nh, RLOG_HDRS);
	for (unsigned i = 0; i < RLOG_HDRS; i++)
		cr_expect_str_eq(out.hdr[i], i == 3 ? "" : v[i]);
	free(buf);
}

Test(recwire, writer_lengths_are_used_and_checked)
{
	struct rlog_rec r = full();
	strcpy(r.target, "/short");
	strcpy(r.host, "example.com");
	r.lens = true;
	for (unsigned i = 0; i < RLOG_NSTR; i++)
		r.len[i] = 0;
	r.len[RLOG_S_TARGET] = 6;
	r.len[RLOG_S_HOST] = 7; /* a writer may cut; the frame says what it says */
	r.len[RLOG_S_CLIENT] = 60000; /* past its room: not believed */
	char buf[RECWIRE_MAX];
	size_t n = recwire_record(&r, NULL, 0, buf);
	struct rlog_rec out;
	size_t used;
	unsigned nh;
	uint64_t ln, lt;
	cr_assert_eq(recwire_next(buf, n, &used, &out, &nh, &ln, &lt), RECWIRE_RECORD);
	cr_expect_str_eq(out.target, "/short");
	cr_expect_str_eq(out.host, "example");
	cr_expect_str_eq(out.client, r.client, "found by its end instead");
	cr_expect_str_eq(out.verdict, "");
	cr_expect_eq(nh, 0);
}

Test(recwire, lost_frames_and_a_stream_of_several)
{
	char buf[3 * RECWIRE_MAX];
	struct rlog_rec a = full(), b = full();
	strcpy(b.target, "/b");
	size_t n = recwire_record(&a, NULL, 0, buf);
	n += recwire_lost(5, 12, buf + n);
	n += recwire_record(&b, NULL, 0, buf + n);
	size_t pos = 0, used;
	struct rlog_rec out;
	unsigned nh;
	uint64_t ln = 0, lt = 0;
	cr_assert_eq(recwire_next(buf, n, &used, &out, &nh, &ln, &lt), RECWIRE_RECORD);
	pos += used;
	cr_assert_eq(recwire_next(buf + pos, n - pos, &used, &out, &nh, &ln, &lt), RECWIRE_LOST);
	cr_expect_eq(ln, 5);
	cr_expect_eq(lt, 12);
	pos += used;
	cr_assert_eq(recwire_next(buf + pos, n - pos, &used, &out, &nh, &ln, &lt), RECWIRE_RECORD);
	cr_expect_str_eq(out.target, "/b");
	pos += used;
	cr_expect_eq(pos, n);
}

Test(recwire, a_cut_frame_asks_for_more)
{
	struct rlog_rec r = full();
	char buf[RECWIRE_MAX];
	size_t n = recwire_record(&r, NULL, 0, buf);
	struct rlog_rec out;
	size_t used;
	unsigned nh;
	uint64_t ln, lt;
	for (size_t k = 0; k < n; k++)
		cr_assert_eq(recwire_next(buf, k, &used, &out, &nh, &ln, &lt), 0, "at %zu", k);
}

Test(recwire, lengths_that_do_not_add_up_are_refused)
{
	struct rlog_rec r = full();
	strcpy(r.target, "/x");
	char buf[RECWIRE_MAX];
	size_t n = recwire_record(&r, NULL, 0, buf);
	struct rlog_rec out;
	size_t used;
	unsigned nh;
	uint64_t ln, lt;
	char bad[RECWIRE_MAX];
	/* An unknown kind, a reserved byte set, a payload too long. */
	memcpy(bad, buf, n);
	bad[0] = 9;
	cr_expect_eq(recwire_next(bad, n, &used, &out, &nh, &ln, &lt), -1);
	memcpy(bad, buf, n);
	bad[1] = 1;
	cr_expect_eq(recwire_next(bad, n, &used, &out, &nh, &ln, &lt), -1);
	memcpy(bad, buf, n);
	uint16_t big = RECWIRE_MAX;
	memcpy(bad + 2, &big, 2);
	cr_expect_eq(recwire_next(bad, n, &used, &out, &nh, &ln, &lt), -1);
	/* A payload one byte short or long of its strings. */
	for (int d = -1; d <= 1; d += 2) {
		memcpy(bad, buf, n);
		uint16_t pl;
		memcpy(&pl, bad + 2, 2);
		pl = (uint16_t)(pl + d);
		memcpy(bad + 2, &pl, 2);
		bad[n] = 0;
		cr_expect_eq(recwire_next(bad, n + 1, &used, &out, &nh, &ln, &lt), -1, "%+d", d);
	}
	/* The verdict's length (first string, after the 81 fixed bytes) past
	 * its room. */
	memcpy(bad, buf, n);
	uint16_t vl = 16;
	memcpy(bad + 4 + 81, &vl, 2);
	cr_expect_eq(recwire_next(bad, n, &used, &out, &nh, &ln, &lt), -1);
	/* Random bytes: refused or asked for more, never read past LEN. */
	srand(17);
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand() % 200);
		char *junk = malloc(len ? len : 1);
		for (size_t k = 0; k < len; k++)
			junk[k] = (char)rand();
		if (len)
			junk[0] = (char)(1 + rand() % 2);
		if (len > 1)
			junk[1] = 0;
		int k = recwire_next(junk, len, &used, &out, &nh, &ln, &lt);
		cr_assert(k == 0 || k == -1 || (k > 0 && used <= len));
		free(junk);
	}
}
