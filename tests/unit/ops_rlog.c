/*
 * Unit tests of src/ops/rlog.c (the record rings) and src/ops/recfmt.c
 * (their lines): nothing is written without a subscriber, a reader sees
 * what was written since it subscribed in order, overflow loses the
 * oldest and counts exactly that, many readers each see everything, a
 * reader that never reads costs the others nothing and learns its loss,
 * the subscriber cap, header name slots, and a writer thread racing a
 * reader never hands out a torn record.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/recfmt.h"
#include "ops/rlog.h"

static void put(struct rlog_ring *r, uint64_t n)
{
	struct rlog_rec *rec = rlog_begin(r);
	rec->status = 200;
	rec->bytes_out = n;
	rec->time_us = (int64_t)n * 3;
	snprintf(rec->target, sizeof(rec->target), "/obj/%llu", (unsigned long long)n);
	rlog_commit(r);
}

Test(rlog, off_without_subscribers)
{
	struct rlog_hub *h = rlog_hub_create(2);
	cr_assert(h);
	struct rlog_ring *r = rlog_hub_ring(h, 1);
	cr_expect(!rlog_on(r));
	cr_expect(!rlog_on(NULL));
	struct rlog_sub *s;
	cr_assert_eq(rlog_subscribe(h, NULL, 0, &s), 0);
	cr_expect(rlog_on(r));
	rlog_unsubscribe(&s);
	cr_expect_null(s);
	cr_expect(!rlog_on(r));
	rlog_hub_free(&h);
	cr_expect_null(h);
}

Test(rlog, reads_in_order_from_subscription)
{
	struct rlog_hub *h = rlog_hub_create(1);
	struct rlog_ring *r = rlog_hub_ring(h, 0);
	struct rlog_sub *s;
	put(r, 1); /* before anyone listens: not seen */
	cr_assert_eq(rlog_subscribe(h, NULL, 0, &s), 0);
	for (uint64_t i = 10; i < 20; i++)
		put(r, i);
	struct rlog_rec out;
	for (uint64_t i = 10; i < 20; i++) {
		cr_assert_eq(rlog_read(s, &out), 1);
		cr_expect_eq(out.bytes_out, i);
	}
	cr_expect_eq(rlog_read(s, &out), 0);
	cr_expect_eq(s->lost, 0);
	rlog_unsubscribe(&s);
	rlog_hub_free(&h);
}

Test(rlog, overflow_loses_the_oldest_and_counts_them)
{
	struct rlog_hub *h = rlog_hub_create(1);
	struct rlog_ring *r = rlog_hub_ring(h, 0);
	struct rlog_sub *s;
	cr_assert_eq(rlog_subscribe(h, NULL, 0, &s), 0);
	const uint64_t n = RLOG_SLOTS * 3 + 17;
	for (uint64_t i = 0; i < n; i++)
		put(r, i);
	struct rlog_rec out;
	cr_assert_eq(rlog_read(s, &out), 1);
	cr_expect_eq(s->lost, n - RLOG_SLOTS);
	cr_expect_eq(out.bytes_out, n - RLOG_SLOTS); /* the oldest still there */
	uint64_t got = 1;
	while (rlog_read(s, &out))
		got++;
	cr_expect_eq(got, RLOG_SLOTS);
	cr_expect_eq(out.bytes_out, n - 1);
	rlog_unsubscribe(&s);
	rlog_hub_free(&h);
}

Test(rlog, many_subscribers_and_one_that_never_reads)
{
	struct rlog_hub *h = rlog_hub_create(3);
	struct rlog_sub *subs[RLOG_MAX_SUBS];
	for (int i = 0; i < RLOG_MAX_SUBS; i++)
		cr_assert_eq(rlog_subscribe(h, NULL, 0, &subs[i]), 0);
	struct rlog_sub *extra;
	cr_expect_eq(rlog_subscribe(h, NULL, 0, &extra), -EBUSY);
	/* Subscriber 0 never reads; the others read after each burst. */
	struct rlog_rec out;
	for (int round = 0; round < 8; round++) {
		for (unsigned l = 0; l < 3; l++) {
			for (uint64_t i = 0; i < RLOG_SLOTS / 2; i++)
				put(rlog_hub_ring(h, l), i);
		}
		for (int k = 1; k < RLOG_MAX_SUBS; k++) {
			unsigned got = 0;
			while (rlog_read(subs[k], &out))
				got++;
			cr_assert_eq(got, 3 * RLOG_SLOTS / 2, "reader %d round %d: %u", k, round,
				     got);
			cr_assert_eq(subs[k]->lost, 0);
		}
	}
	/* The stuck one finds a ring's worth per loop and is told the rest. */
	unsigned got = 0;
	while (rlog_read(subs[0], &out))
		got++;
	cr_expect_eq(got, 3 * RLOG_SLOTS);
	cr_expect_eq(subs[0]->lost, 3ull * 8 * (RLOG_SLOTS / 2) - 3 * RLOG_SLOTS);
	/* A freed place can be taken again. */
	rlog_unsubscribe(&subs[5]);
	cr_assert_eq(rlog_subscribe(h, NULL, 0, &subs[5]), 0);
	for (int i = 0; i < RLOG_MAX_SUBS; i++)
		rlog_unsubscribe(&subs[i]);
	cr_expect_eq(atomic_load(&h->subs), 0);
	rlog_hub_free(&h);
}

Test(rlog, header_names)
{
	struct rlog_hub *h = rlog_hub_create(1);
	struct rlog_ring *r = rlog_hub_ring(h, 0);
	const char *a[] = {"user-agent", "x-foo"};
	const char *b[] = {"x-foo", "referer"};
	struct rlog_sub *sa, *sb;
	cr_assert_eq(rlog_subscribe(h, a, 2, &sa), 0);
	cr_assert_eq(rlog_subscribe(h, b, 2, &sb), 0);
	cr_expect_eq(sa->slot[1], sb->slot[0]); /* x-foo shared */
	/* The writer looks the names up in its slots. */
	struct rlog_rec *rec = rlog_begin(r);
	for (unsigned i = 0; i < RLOG_HDRS; i++) {
		const char *n = rlog_hdr_name(r, i);
		if (n)
			snprintf(rec->hdr[i], RLOG_HDR_VAL, "v-%s", n);
	}
	rlog_commit(r);
	struct rlog_rec out;
	cr_assert_eq(rlog_read(sa, &out), 1);
	cr_expect_str_eq(rlog_sub_hdr(sa, &out, 0), "v-user-agent");
	cr_expect_str_eq(rlog_sub_hdr(sa, &out, 1), "v-x-foo");
	cr_assert_eq(rlog_read(sb, &out), 1);
	cr_expect_str_eq(rlog_sub_hdr(sb, &out, 1), "v-referer");
	/* Names changed while a record was being filled: its values go. */
	rec = rlog_begin(r);
	strcpy(rec->hdr[(unsigned)sa->slot[0]], "stale");
	struct rlog_sub *sc;
	const char *c[] = {"x-new"};
	cr_assert_eq(rlog_subscribe(h, c, 1, &sc), 0);
	rlog_commit(r);
	cr_assert_eq(rlog_read(sa, &out), 1);
	cr_expect_null(rlog_sub_hdr(sa, &out, 0));
	/* Slots run out: 3 names held, 6 more do not fit, and nothing changes. */
	const char *many[] = {"h1", "h2", "h3", "h4", "h5", "h6"};
	struct rlog_sub *sd;
	cr_expect_eq(rlog_subscribe(h, many, 6, &sd), -ENOSPC);
	cr_expect_eq(rlog_subscribe(h, many, 4, &sd), 0);
	const char *bad[] = {"Bad Name"};
	struct rlog_sub *se;
	cr_expect_eq(rlog_subscribe(h, bad, 1, &se), -EINVAL);
	rlog_unsubscribe(&sa);
	rlog_unsubscribe(&sb);
	rlog_unsubscribe(&sc);
	rlog_unsubscribe(&sd);
	rlog_hub_free(&h);
}

struct race {
	struct rlog_ring *r;
	uint64_t n;
};

static void *writer(void *arg)
{
	struct race *x = arg;
	for (uint64_t i = 1; i <= x->n; i++)
		put(x->r, i);
	return NULL;
}

Test(rlog, racing_writer_never_tears_a_record)
{
	struct rlog_hub *h = rlog_hub_create(1);
	struct rlog_sub *s;
	cr_assert_eq(rlog_subscribe(h, NULL, 0, &s), 0);
	struct race x = {rlog_hub_ring(h, 0), 2000000};
	pthread_t t;
	pthread_create(&t, NULL, writer, &x);
	struct rlog_rec out;
	uint64_t got = 0, last = 0;
	for (;;) {
		if (rlog_read(s, &out)) {
			char want[32];
			snprintf(want, sizeof(want), "/obj/%llu",
				 (unsigned long long)out.bytes_out);
			cr_assert_eq(out.time_us, (int64_t)out.bytes_out * 3, "torn record");
			cr_assert_str_eq(out.target, want, "torn record");
			cr_assert_gt(out.bytes_out, last, "out of order");
			last = out.bytes_out;
			got++;
			if (last == x.n)
				break;
		} else if (atomic_load(&x.r->head) == x.n && got + s->lost == x.n) {
			break;
		}
	}
	pthread_join(t, NULL);
	while (rlog_read(s, &out))
		got++;
	cr_expect_eq(got + s->lost, x.n, "every record read or counted lost");
	rlog_unsubscribe(&s);
	rlog_hub_free(&h);
}

Test(rlog, racing_writer_never_tears_a_record_read_in_place)
{
	struct rlog_hub *h = rlog_hub_create(1);
	struct rlog_sub *s;
	cr_assert_eq(rlog_subscribe(h, NULL, 0, &s), 0);
	struct race x = {rlog_hub_ring(h, 0), 2000000};
	pthread_t t;
	pthread_create(&t, NULL, writer, &x);
	uint64_t got = 0, torn = 0, last = 0;
	for (;;) {
		const struct rlog_rec *rec = rlog_peek(s);
		if (rec) {
			/* What is read in place, judged only once done says it
			 * held: the way GET /log formats records. */
			uint64_t n = rec->bytes_out;
			int64_t tu = rec->time_us;
			char target[sizeof(rec->target)];
			memcpy(target, rec->target, sizeof(target));
			if (!rlog_peek_done(s)) {
				torn++;
				continue;
			}
			char want[32];
			snprintf(want, sizeof(want), "/obj/%llu", (unsigned long long)n);
			cr_assert_eq(tu, (int64_t)n * 3, "torn record");
			cr_assert_str_eq(target, want, "torn record");
			cr_assert_gt(n, last, "out of order");
			last = n;
			got++;
			if (last == x.n)
				break;
		} else if (atomic_load(&x.r->head) == x.n && got + s->lost == x.n) {
			break;
		}
	}
	pthread_join(t, NULL);
	while (rlog_peek(s)) {
		if (rlog_peek_done(s))
			got++;
	}
	cr_expect_eq(got + s->lost, x.n, "every record read or counted lost (%llu torn)",
		     (unsigned long long)torn);
	rlog_unsubscribe(&s);
	rlog_hub_free(&h);
}

Test(rlog, peek_done_refuses_a_record_overwritten_meanwhile)
{
	struct rlog_hub *h = rlog_hub_create(1);
	struct rlog_ring *r = rlog_hub_ring(h, 0);
	struct rlog_sub *s;
	cr_assert_eq(rlog_subscribe(h, NULL, 0, &s), 0);
	put(r, 1);
	const struct rlog_rec *rec = rlog_peek(s);
	cr_assert(rec);
	cr_expect_eq(rec->bytes_out, 1);
	for (uint64_t i = 2; i < 2 + RLOG_SLOTS; i++) /* round the ring once */
		put(r, i);
	cr_expect(!rlog_peek_done(s), "slot 0 holds another record now");
	cr_expect_eq(s->lost, 1);
	/* The rest: 2 .. RLOG_SLOTS+1 are all there. */
	uint64_t got = 0;
	while ((rec = rlog_peek(s))) {
		uint64_t n = rec->bytes_out;
		cr_assert(rlog_peek_done(s));
		cr_expect_eq(n, 2 + got);
		got++;
	}
	cr_expect_eq(got, RLOG_SLOTS);
	cr_expect_eq(s->lost, 1);
	rlog_unsubscribe(&s);
	rlog_hub_free(&h);
}

/* A writer as serve/record.c is one: skips while nobody active reads. */
static void put_or_skip(struct rlog_ring *r, uint64_t n)
{
	if (!rlog_on(r))
		return;
	if (!rlog_active(r)) {
		rlog_skip(r);
		return;
	}
	put(r, n);
}

Test(rlog, a_paused_reader_costs_writers_nothing_and_learns_its_loss)
{
	struct rlog_hub *h = rlog_hub_create(2);
	struct rlog_ring *r0 = rlog_hub_ring(h, 0), *r1 = rlog_hub_ring(h, 1);
	struct rlog_sub *s;
	cr_assert_eq(rlog_subscribe(h, NULL, 0, &s), 0);
	cr_expect(rlog_active(r0));
	for (uint64_t i = 0; i < 10; i++)
		put_or_skip(i % 2 ? r1 : r0, i);
	cr_expect(!rlog_lapped(s));
	for (uint64_t i = 10; i < 10 + RLOG_SLOTS; i++)
		put_or_skip(r0, i);
	cr_expect(rlog_lapped(s), "ring 0 went a whole ring past the reader");
	rlog_pause(s);
	rlog_pause(s); /* twice is once */
	cr_expect(rlog_on(r0), "still subscribed");
	cr_expect(!rlog_active(r0) && !rlog_active(r1));
	uint64_t head0 = atomic_load(&r0->head);
	for (uint64_t i = 0; i < 100; i++)
		put_or_skip(r1, 5000 + i);
	cr_expect_eq(atomic_load(&r1->head), 105, "skipped records still take a number");
	cr_expect_eq(atomic_load(&r0->head), head0);
	rlog_resume(s);
	cr_expect(rlog_active(r0));
	put_or_skip(r1, 9999);
	/* Ring 1: its 5 records, then 100 skipped (lost), then 9999; ring 0:
	 * RLOG_SLOTS + 5 written, the oldest 5 overwritten. */
	struct rlog_rec out;
	uint64_t got = 0;
	bool saw_last = false;
	while (rlog_read(s, &out)) {
		got++;
		saw_last |= out.bytes_out == 9999;
	}
	cr_expect(saw_last);
	cr_expect_eq(got, 5 + 1 + RLOG_SLOTS);
	cr_expect_eq(s->lost, 100 + 5);
	/* A second reader keeps writers writing while the first is paused. */
	struct rlog_sub *s2;
	cr_assert_eq(rlog_subscribe(h, NULL, 0, &s2), 0);
	rlog_pause(s);
	cr_expect(rlog_active(r0));
	rlog_unsubscribe(&s2);
	cr_expect(!rlog_active(r0));
	rlog_unsubscribe(&s); /* paused: the count stays right */
	cr_expect_eq(atomic_load(&h->active), 0);
	cr_expect_eq(atomic_load(&h->subs), 0);
	rlog_hub_free(&h);
}

Test(rlog, header_values_only_when_someone_wants_them)
{
	struct rlog_hub *h = rlog_hub_create(1);
	struct rlog_ring *r = rlog_hub_ring(h, 0);
	struct rlog_sub *s;
	cr_assert_eq(rlog_subscribe(h, NULL, 0, &s), 0);
	cr_expect(!rlog_hdrs_wanted(r));
	const char *names[] = {"user-agent"};
	struct rlog_sub *s2;
	cr_assert_eq(rlog_subscribe(h, names, 1, &s2), 0);
	cr_expect(rlog_hdrs_wanted(r));
	rlog_unsubscribe(&s2);
	cr_expect(!rlog_hdrs_wanted(r));
	rlog_unsubscribe(&s);
	rlog_hub_free(&h);
}

/* ------------------------------------------------------------------------ */
/* Lines                                                                     */

static struct rlog_rec sample(void)
{
	struct rlog_rec r;
	memset(&r, 0, sizeof(r));
	r.id = 0x0001000000000007ull;
	r.time_us = 1700000000123456; /* 2023-11-14T22:13:20.123456Z */
	r.status = 200;
	r.http_major = r.http_minor = 1;
	r.ttfb_ns = 1500000;
	r.duration_ns = 2500000;
	r.bytes_in = 90;
	r.bytes_out = 1317;
	r.be_attempts = 1;
	r.be_reused = 0;
	r.be_connect_ns = 48000;
	r.be_ttfb_ns = 342000;
	r.be_total_ns = 1871000;
	strcpy(r.verdict, "miss");
	strcpy(r.client, "192.0.2.7");
	strcpy(r.method, "GET");
	strcpy(r.host, "example.com");
	strcpy(r.target, "/a \"b\"\x01\xc3");
	strcpy(r.backend, "app");
	strcpy(r.server, "10.0.0.1:80");
	return r;
}

Test(recfmt, json)
{
	static char buf[RECFMT_MAX];
	struct rlog_rec r = sample();
	struct recfmt_hdrs h = {1, {"user-agent"}, {"curl/8"}};
	size_t n = recfmt_record(RECFMT_JSON, false, &r, &h, buf);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_expect(
	    strstr(buf, "{\"time\":\"2023-11-14T22:13:20.123456Z\",\"id\":\"0001000000000007\""),
	    "%s", buf);
	cr_expect(strstr(buf, "\"target\":\"/a \\\"b\\\"\\u0001\\u00c3\""), "%s", buf);
	cr_expect(strstr(buf, "\"ttfb_us\":1500,\"duration_us\":2500,\"route\":null"), "%s", buf);
	cr_expect(strstr(buf, "\"backend\":{\"name\":\"app\",\"server\":\"10.0.0.1:80\","
			      "\"attempts\":1,\"reused\":false,\"connect_us\":48,\"ttfb_us\":342,"
			      "\"total_us\":1871}"),
		  "%s", buf);
	cr_expect(strstr(buf, "\"hdr\":{\"user-agent\":\"curl/8\"}}\n"), "%s", buf);
	cr_expect_eq(strchr(buf, '\n'), buf + n - 1);
}

Test(recfmt, compact_grouped_and_ncsa)
{
	static char buf[RECFMT_MAX];
	struct rlog_rec r = sample();
	size_t n = recfmt_record(RECFMT_COMPACT, true, &r, NULL, buf);
	buf[n] = '\0';
	cr_expect_str_eq(buf,
			 "22:13:20.123 200 miss       GET example.com/a\\x20\\x22b\\x22\\x01\\xC3"
			 " 1317 ttfb=1.5ms dur=2.5ms\n"
			 "    backend app 10.0.0.1:80 attempts=1 reused=no connect=48us "
			 "ttfb=342us total=1.8ms\n");
	struct recfmt_hdrs h = {2, {"referer", "user-agent"}, {NULL, "curl/8"}};
	n = recfmt_record(RECFMT_NCSA, false, &r, &h, buf);
	buf[n] = '\0';
	cr_expect_str_eq(
	    buf, "192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] "
		 "\"GET /a\\x20\\x22b\\x22\\x01\\xC3 HTTP/1.1\" 200 1317 \"-\" \"curl/8\"\n");
	n = recfmt_lost(RECFMT_JSON, 5, 12, buf, sizeof(buf));
	buf[n] = '\0';
	cr_expect_str_eq(buf, "{\"lost\":5,\"lost_total\":12}\n");
}

Test(recfmt, every_field_at_its_limit_fits)
{
	static char buf[RECFMT_MAX];
	struct rlog_rec r;
	memset(&r, 0x01, sizeof(r)); /* every byte escaped */
#define FULL(f) r.f[sizeof(r.f) - 1] = '\0'
	FULL(verdict), FULL(client), FULL(method), FULL(host), FULL(target), FULL(cache_status);
	FULL(backend), FULL(server), FULL(route), FULL(reason);
	const char *vals[RLOG_HDRS];
	struct recfmt_hdrs h = {RLOG_HDRS, {0}, {0}};
	for (unsigned i = 0; i < RLOG_HDRS; i++) {
		FULL(hdr[i]);
		vals[i] = r.hdr[i];
		h.name[i] = "x-abcdefghijklmnopqrstuvwxyz012";
		h.value[i] = vals[i];
	}
	for (int f = RECFMT_JSON; f <= RECFMT_NCSA; f++)
		cr_expect_gt(recfmt_record((enum recfmt)f, true, &r, &h, buf), 0, "format %d", f);
}

/* The word-at-a-time escaping against a byte-at-a-time reference, with
 * each special byte at every position of a long string. */
static void ref_escape(const char *s, char *out)
{
	static const char hx[] = "0123456789abcdef";
	*out++ = '"';
	for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
		if (*u == '"' || *u == '\\') {
			*out++ = '\\';
			*out++ = (char)*u;
		} else if (*u < 0x20 || *u >= 0x7f) {
			out += sprintf(out, "\\u00%c%c", hx[*u >> 4], hx[*u & 15]);
		} else {
			*out++ = (char)*u;
		}
	}
	*out++ = '"';
	*out = '\0';
}

Test(recfmt, json_escaping_at_every_position)
{
	const unsigned char specials[] = {'"', '\\', 0x01, 0x1f, 0x7f, 0x80, 0xff, ' ', '~', 0x20};
	char in[48], want[400], got[400];
	for (size_t k = 0; k < sizeof(specials); k++) {
		for (size_t pos = 0; pos < 40; pos++) {
			memset(in, 'a', 40);
			in[40] = '\0';
			in[pos] = (char)specials[k];
			ref_escape(in, want);
			struct hbuf b;
			hbuf_init(&b, got, sizeof(got));
			recfmt_json_string(&b, in);
			got[b.len] = '\0';
			cr_assert_str_eq(got, want, "byte %#x at %zu", specials[k], pos);
		}
	}
}

Test(recfmt, response_headers_apart)
{
	struct rlog_rec r = sample();
	struct recfmt_hdrs h = {
	    .n = 2, .name = {"user-agent", ">content-type"}, .value = {"curl/8", "text/plain"}};
	char *buf = malloc(RECFMT_MAX);
	size_t n = recfmt_record(RECFMT_JSON, false, &r, &h, buf);
	buf[n] = '\0';
	cr_expect(strstr(buf, "\"hdr\":{\"user-agent\":\"curl/8\"},\"resp_hdr\":{\"content-type\":"
			      "\"text/plain\"}}\n"),
		  "%s", buf);
	n = recfmt_record(RECFMT_COMPACT, false, &r, &h, buf);
	buf[n] = '\0';
	cr_expect(strstr(buf, " user-agent=\"curl/8\" resp.content-type=\"text/plain\""), "%s",
		  buf);
	/* Without response names, no resp_hdr at all. */
	h.n = 1;
	n = recfmt_record(RECFMT_JSON, false, &r, &h, buf);
	buf[n] = '\0';
	cr_expect(!strstr(buf, "resp_hdr"), "%s", buf);
	free(buf);
}

Test(rlog, response_names_are_counted_apart)
{
	struct rlog_hub *h = rlog_hub_create(1);
	struct rlog_ring *r = rlog_hub_ring(h, 0);
	const char *names[] = {"user-agent", ">content-type"};
	struct rlog_sub *s;
	cr_assert_eq(rlog_subscribe(h, names, 1, &s), 0);
	cr_expect(rlog_hdrs_wanted(r) && !rlog_resp_wanted(r));
	struct rlog_sub *s2;
	cr_assert_eq(rlog_subscribe(h, names, 2, &s2), 0);
	cr_expect(rlog_resp_wanted(r));
	const char *bad[] = {">"}, *bad2[] = {">>x"};
	struct rlog_sub *s3;
	cr_expect_eq(rlog_subscribe(h, bad, 1, &s3), -EINVAL);
	cr_expect_eq(rlog_subscribe(h, bad2, 1, &s3), -EINVAL);
	rlog_unsubscribe(&s2);
	cr_expect(!rlog_resp_wanted(r) && rlog_hdrs_wanted(r));
	rlog_unsubscribe(&s);
	rlog_hub_free(&h);
}
