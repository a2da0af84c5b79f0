/* Unit tests of src/cache/drec.c: the disk tier's record format. Round
 * trips of every kind, every bit flip and every truncation detected, other
 * store ids, records walked back to back in a segment (a reused segment's
 * old tail and a rotten body among them), garbage never read as a record. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/drec.h"

#include <xxhash.h>

#define STORE 0x1122334455667788ull
#define SEG   (64u * 1024)

static uint8_t seg[SEG] __attribute__((aligned(4096)));

static const char KEY[] = "example.com\0/a/b?c=1";
#define KEY_LEN ((uint32_t)sizeof(KEY) - 1)
static const char HEAD[] = "Content-Type: text/plain\r\nETag: \"x\"\r\n";

/* A response's facts with every field set to something of its own. */
static void sample_obj(struct drec_obj *o, bool full)
{
	memset(o, 0, sizeof(*o));
	o->status = 206;
	cc_init(&o->meta.cc);
	o->meta.status = 200;
	o->meta.date = 1700000000;
	o->meta.expires = POLICY_NONE;
	o->meta.last_modified = 1690000000;
	o->meta.age = 7;
	o->meta.request_time = 1700000001;
	o->meta.response_time = 1700000002;
	o->meta.response_delay_ms = 1234;
	o->lifetime = 300;
	o->clen = -1;
	if (!full)
		return;
	struct resp_meta *m = &o->meta;
	m->cc.flags = CC_PUBLIC | CC_MUST_REVALIDATE | CC_NO_CACHE_FIELDS | CC_PRIVATE_FIELDS;
	m->cc.delta[CC_MAX_AGE] = 60;
	m->cc.delta[CC_S_MAXAGE] = (int64_t)1 << 31;
	m->cc.delta[CC_STALE_WHILE_REVALIDATE] = 0;
	m->cc.invalid = 1u << CC_MIN_FRESH;
	m->cc.present = true;
	m->cdn_cc = m->has_etag = m->vary_star = m->set_cookie = true;
	for (unsigned i = 0; i < CC_FIELDS_MAX; i++) {
		memset(m->cc.no_cache_fields.name[i], 'a' + (char)i, DREC_NAME_MAX);
		snprintf(m->cc.private_fields.name[i], 32, "x-p%u", i);
	}
	m->cc.no_cache_fields.n = m->cc.private_fields.n = CC_FIELDS_MAX;
	o->clen = 5000;
	o->partial = true;
	o->part_first = 100;
	o->part_last = 199;
	o->part_len = 5000;
	o->tags_space_sep = true;
	o->reason = "Partial Content";
	o->reason_len = 15;
	o->vary = "accept-encoding\0accept-language";
	o->vary_len = 31;
	o->vkey = "fwd|gzip\0en";
	o->vkey_len = 11;
	o->fwd_len = 4;
	o->tags = "a b c";
	o->tags_len = 5;
}

static struct drec_in obj_in(const struct drec_obj *o, uint64_t seq, uint64_t body_len)
{
	return (struct drec_in){.kind = DREC_OBJECT,
				.seq = seq,
				.key = KEY,
				.key_len = KEY_LEN,
				.obj = o,
				.head = HEAD,
				.head_len = (uint32_t)strlen(HEAD),
				.body_len = body_len};
}

static struct drec_in small_in(enum drec_kind k, uint64_t seq)
{
	struct drec_in in = {.kind = k, .seq = seq};
	switch (k) {
	case DREC_TOMBSTONE:
		in.key = KEY, in.key_len = KEY_LEN;
		break;
	case DREC_TAG:
		in.key = "product-17", in.key_len = 10, in.flags = DREC_TAG_SOFT;
		break;
	case DREC_BAN:
		in.flags = DREC_BAN_URL | DREC_BAN_HOST;
		in.url_re = "^/img/", in.url_len = 6;
		in.host_re = "example\\.com", in.host_len = 12;
		break;
	case DREC_SEGMENT:
		in.seg_index = 3;
		break;
	default:
		cr_assert_fail("not small");
	}
	return in;
}

static int64_t put(uint8_t *at, size_t cap, const struct drec_in *in, const void *body)
{
	int64_t n = drec_encode(at, cap, STORE, in, body);
	cr_assert_gt(n, 0, "encode: %lld", (long long)n);
	cr_assert_eq((uint64_t)n, drec_size(in));
	cr_assert_eq(n % 8, 0);
	return n;
}

static void names_eq(const struct cc_names *a, const struct cc_names *b)
{
	cr_assert_eq(a->n, b->n);
	for (unsigned i = 0; i < a->n; i++)
		cr_assert_str_eq(a->name[i], b->name[i]);
}

static void mem_eq(const char *a, uint32_t an, const char *b, uint32_t bn)
{
	cr_assert_eq(an, bn);
	cr_assert(an == 0 || memcmp(a, b, an) == 0);
}

static void obj_eq(const struct drec_obj *a, const struct drec_obj *b)
{
	const struct resp_meta *x = &a->meta, *y = &b->meta;
	cr_assert_eq(a->status, b->status);
	cr_assert_eq(x->status, y->status);
	cr_assert_eq(x->cc.flags, y->cc.flags);
	cr_assert_eq(x->cc.invalid, y->cc.invalid);
	cr_assert_eq(x->cc.present, y->cc.present);
	cr_assert(memcmp(x->cc.delta, y->cc.delta, sizeof(x->cc.delta)) == 0);
	names_eq(&x->cc.no_cache_fields, &y->cc.no_cache_fields);
	names_eq(&x->cc.private_fields, &y->cc.private_fields);
	cr_assert_eq(x->cdn_cc, y->cdn_cc);
	cr_assert_eq(x->has_etag, y->has_etag);
	cr_assert_eq(x->vary_star, y->vary_star);
	cr_assert_eq(x->set_cookie, y->set_cookie);
	cr_assert_eq(x->date, y->date);
	cr_assert_eq(x->expires, y->expires);
	cr_assert_eq(x->last_modified, y->last_modified);
	cr_assert_eq(x->age, y->age);
	cr_assert_eq(x->request_time, y->request_time);
	cr_assert_eq(x->response_time, y->response_time);
	cr_assert_eq(x->response_delay_ms, y->response_delay_ms);
	cr_assert_eq(a->lifetime, b->lifetime);
	cr_assert_eq(a->clen, b->clen);
	cr_assert_eq(a->partial, b->partial);
	cr_assert_eq(a->part_first, b->part_first);
	cr_assert_eq(a->part_last, b->part_last);
	cr_assert_eq(a->part_len, b->part_len);
	cr_assert_eq(a->tags_space_sep, b->tags_space_sep);
	cr_assert_eq(a->fwd_len, b->fwd_len);
	mem_eq(a->reason, a->reason_len, b->reason, b->reason_len);
	mem_eq(a->vary, a->vary_len, b->vary, b->vary_len);
	mem_eq(a->vkey, a->vkey_len, b->vkey, b->vkey_len);
	mem_eq(a->tags, a->tags_len, b->tags, b->tags_len);
}

static void in_eq(const struct drec_in *a, const struct drec_in *b)
{
	cr_assert_eq(a->kind, b->kind);
	cr_assert_eq(a->flags, b->flags);
	cr_assert_eq(a->seq, b->seq);
	mem_eq(a->key, a->key_len, b->key, b->key_len);
	mem_eq(a->head, a->head_len, b->head, b->head_len);
	cr_assert_eq(a->body_len, b->body_len);
	mem_eq(a->url_re, a->url_len, b->url_re, b->url_len);
	mem_eq(a->host_re, a->host_len, b->host_re, b->host_len);
	cr_assert_eq(a->seg_index, b->seg_index);
	if (a->kind == DREC_OBJECT)
		obj_eq(a->obj, b->obj);
}

static enum drec_result dec(const void *p, size_t n, struct drec_view *v)
{
	return drec_decode(p, n, SEG, STORE, v, NULL);
}

Test(cache_drec, object_round_trip_full_and_empty)
{
	static char body[20000];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)(i * 7);
	struct drec_obj o;
	struct drec_view v;
	for (int full = 0; full < 2; full++) {
		sample_obj(&o, full);
		uint64_t bl = full ? sizeof(body) : 0;
		struct drec_in in = obj_in(&o, 42, bl);
		if (!full)
			in.head_len = 0;
		int64_t n = put(seg, sizeof(seg), &in, body);
		cr_assert_eq(dec(seg, (size_t)n, &v), DREC_OK);
		cr_assert_eq(v.h.total, (uint64_t)n);
		cr_assert_eq(v.h.store_id, STORE);
		in_eq(&in, &v.in);
		cr_assert(bl == 0 || memcmp(v.body, body, bl) == 0);
		/* The meta answers the policy as the original does. */
		struct req_meta rq = {.method = 1};
		cc_init(&rq.cc);
		for (int64_t now = 1700000000; now < 1700000400; now += 37)
			cr_assert_eq(policy_usable(&rq, &v.obj.meta, v.obj.lifetime, false, now),
				     policy_usable(&rq, &o.meta, o.lifetime, false, now));
	}
}

Test(cache_drec, every_kind_round_trips)
{
	const enum drec_kind k[] = {DREC_TOMBSTONE, DREC_TAG, DREC_BAN, DREC_SEGMENT};
	struct drec_view v;
	for (size_t i = 0; i < 4; i++) {
		struct drec_in in = small_in(k[i], 9 + i);
		int64_t n = put(seg, sizeof(seg), &in, NULL);
		cr_assert_eq(dec(seg, (size_t)n, &v), DREC_OK, "kind %d", k[i]);
		in_eq(&in, &v.in);
		cr_assert_null(v.body);
	}
	/* A hard tag purge, a ban of one side only, each side empty. */
	struct drec_in in = small_in(DREC_TAG, 5);
	in.flags = 0;
	put(seg, sizeof(seg), &in, NULL);
	cr_assert_eq(dec(seg, SEG, &v), DREC_OK);
	cr_assert_eq(v.in.flags, 0);
	for (uint16_t f = DREC_BAN_URL; f <= (DREC_BAN_URL | DREC_BAN_HOST); f++) {
		in = (struct drec_in){
		    .kind = DREC_BAN, .seq = 6, .flags = f, .url_re = "", .host_re = ""};
		put(seg, sizeof(seg), &in, NULL);
		cr_assert_eq(dec(seg, SEG, &v), DREC_OK);
		in_eq(&in, &v.in);
	}
}

Test(cache_drec, invalid_parts_are_not_encoded)
{
	static uint8_t buf[4096];
	struct drec_obj o;
	sample_obj(&o, true);
	struct drec_in in = small_in(DREC_TOMBSTONE, 1);
	in.body_len = 1;
	cr_assert_eq(drec_size(&in), 0, "a tombstone with a body");
	in = small_in(DREC_BAN, 1);
	in.flags = 0;
	cr_assert_eq(drec_size(&in), 0, "a ban of nothing");
	in = small_in(DREC_BAN, 1);
	in.url_re = "a\0b", in.url_len = 3;
	cr_assert_eq(drec_size(&in), 0, "a NUL in a regex");
	in = small_in(DREC_TAG, 0);
	cr_assert_eq(drec_size(&in), 0, "sequence 0");
	in = obj_in(&o, 1, 0);
	o.fwd_len = o.vkey_len + 1;
	cr_assert_eq(drec_size(&in), 0, "fwd_len past the vkey");
	sample_obj(&o, true);
	o.part_last = o.part_len;
	cr_assert_eq(drec_size(&in), 0, "a part past its length");
	sample_obj(&o, true);
	o.meta.cc.private_fields.name[3][0] = '\0';
	cr_assert_eq(drec_size(&in), 0, "an empty field name");
	sample_obj(&o, true);
	in.body_len = UINT64_MAX - 100;
	cr_assert_eq(drec_size(&in), 0, "a length that overflows");
	in.body_len = 0;
	cr_assert_eq(drec_encode(buf, 100, STORE, &in, NULL), -ENOSPC);
	cr_assert_eq(drec_encode(buf, sizeof(buf), 0, &in, NULL), -EINVAL);
	in.kind = 9;
	cr_assert_eq(drec_encode(buf, sizeof(buf), STORE, &in, NULL), -EINVAL);
}

/* The "every corruption of every field detected": each single bit
 * of the record flipped, in the header, every part and the padding. */
static void every_bit(const struct drec_in *in, const void *body)
{
	static uint8_t rec[4096];
	int64_t n = put(rec, sizeof(rec), in, body);
	struct drec_view v;
	for (int64_t i = 0; i < n; i++)
		for (int b = 0; b < 8; b++) {
			rec[i] ^= (uint8_t)(1u << b);
			enum drec_result r = dec(rec, (size_t)n, &v);
			cr_assert_neq(r, DREC_OK, "kind %d: byte %lld bit %d flipped: ok", in->kind,
				      (long long)i, b);
			/* Only the magic's bits read as "no record"; nothing is
			 * another store's, which the header check rules out. */
			cr_assert(r == DREC_CORRUPT || (i < 4 && r == DREC_END), "byte %lld: %s",
				  (long long)i, drec_result_name(r));
			rec[i] ^= (uint8_t)(1u << b);
		}
	cr_assert_eq(dec(rec, (size_t)n, &v), DREC_OK);
}

Test(cache_drec, every_bit_flip_is_detected)
{
	struct drec_obj o;
	sample_obj(&o, false);
	struct drec_in in = obj_in(&o, 77, 13); /* 13: padding of 3 bytes */
	every_bit(&in, "hello, world!");
	sample_obj(&o, true);
	o.meta.cc.no_cache_fields.n = o.meta.cc.private_fields.n = 2;
	every_bit(&in, "hello, world!");
	const enum drec_kind k[] = {DREC_TOMBSTONE, DREC_TAG, DREC_BAN, DREC_SEGMENT};
	for (size_t i = 0; i < 4; i++) {
		in = small_in(k[i], 1000 + i);
		every_bit(&in, NULL);
	}
}

Test(cache_drec, every_truncation_is_cut)
{
	struct drec_obj o;
	sample_obj(&o, true);
	struct drec_in in = obj_in(&o, 5, 100);
	static char body[100];
	int64_t n = put(seg, sizeof(seg), &in, body);
	struct drec_view v;
	for (int64_t len = 0; len < n; len++) {
		uint64_t need = 0;
		cr_assert_eq(drec_decode(seg, (size_t)len, SEG, STORE, &v, &need), DREC_CUT,
			     "cut at %lld", (long long)len);
		cr_assert_eq(need, len < DREC_HDR ? DREC_HDR : (uint64_t)n);
		cr_assert_gt(need, (uint64_t)len);
	}
	/* A record longer than what is left of its segment was never written. */
	cr_assert_eq(drec_decode(seg, (size_t)n, (size_t)n - 8, STORE, &v, NULL), DREC_CORRUPT);
	/* No room for even a header: the segment's end. */
	cr_assert_eq(drec_decode(seg, 63, 63, STORE, &v, NULL), DREC_END);
}

Test(cache_drec, another_store_id_is_foreign)
{
	struct drec_in in = small_in(DREC_TAG, 3);
	put(seg, sizeof(seg), &in, NULL);
	struct drec_view v;
	cr_assert_eq(drec_decode(seg, SEG, SEG, STORE + 1, &v, NULL), DREC_FOREIGN);
	cr_assert_eq(drec_decode(seg, SEG, SEG, STORE, &v, NULL), DREC_OK);
}

Test(cache_drec, pieces_make_the_same_record)
{
	static char body[9001];
	static uint8_t a[16384], b[16384];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (char)(i ^ (i >> 8));
	struct drec_obj o;
	sample_obj(&o, true);
	struct drec_in in = obj_in(&o, 99, sizeof(body));
	int64_t n = put(a, sizeof(a), &in, body);

	memset(b, 0xee, sizeof(b));
	struct drec_enc e;
	int64_t front = drec_begin(&e, b, sizeof(b), STORE, &in);
	cr_assert_gt(front, 0);
	cr_assert_eq(drec_begin(&e, b, (size_t)front - 1, STORE, &in), -ENOSPC);
	front = drec_begin(&e, b, sizeof(b), STORE, &in);
	for (size_t off = 0, step = 1; off < sizeof(body); off += step, step = step * 3 + 1) {
		size_t k = sizeof(body) - off < step ? sizeof(body) - off : step;
		memcpy(b + front + off, body + off, k);
		drec_body(&e, body + off, k);
	}
	int pad = drec_end(&e, b);
	cr_assert(pad >= 0 && pad < 8);
	memset(b + front + sizeof(body), 0, (size_t)pad);
	cr_assert_eq(front + (int64_t)sizeof(body) + pad, n);
	cr_assert(memcmp(a, b, (size_t)n) == 0, "one call and pieces write the same bytes");

	/* A reader: the header alone, the front, then the checksum over
	 * pieces that cut through the checksum field too. */
	struct drec_head h;
	cr_assert_eq(drec_head(a, DREC_HDR, SEG, STORE, &h, NULL), DREC_OK);
	cr_assert_eq(h.total, (uint64_t)n);
	cr_assert_eq(h.front, (uint32_t)front);
	struct drec_view v;
	cr_assert_eq(drec_front(a, &h, &v), DREC_OK);
	in_eq(&in, &v.in);
	for (size_t step = 1; step < 200; step += 13) {
		struct drec_sum s;
		drec_sum_begin(&s);
		for (size_t off = 0; off < (size_t)n; off += step)
			drec_sum_update(&s, a + off,
					(size_t)n - off < step ? (size_t)n - off : step);
		cr_assert(drec_sum_check(&s, &h), "pieces of %zu", step);
	}
	struct drec_sum s;
	drec_sum_begin(&s);
	a[front + 5] ^= 1;
	drec_sum_update(&s, a, (size_t)n);
	cr_assert_not(drec_sum_check(&s, &h), "a flipped body bit");
	a[front + 5] ^= 1;
	drec_sum_begin(&s);
	drec_sum_update(&s, a, (size_t)n - 8);
	cr_assert_not(drec_sum_check(&s, &h), "too few bytes");

	struct drec_enc e2;
	drec_begin(&e2, b, sizeof(b), STORE, &in);
	drec_body(&e2, body, 10);
	cr_assert_eq(drec_end(&e2, b), -EINVAL, "a short body");
}

/* A segment's records, SEGMENT first, as a writer packs them. */
static size_t fill(uint64_t seq, unsigned nobj, size_t off)
{
	struct drec_obj o;
	sample_obj(&o, true);
	struct drec_in in = small_in(DREC_SEGMENT, seq++);
	in.seg_index = 3;
	off += (size_t)put(seg + off, SEG - off, &in, NULL);
	for (unsigned i = 0; i < nobj; i++) {
		static const char body[] = "0123456789abcdef0123456789";
		struct drec_in a = obj_in(&o, seq++, i % sizeof(body));
		off += (size_t)put(seg + off, SEG - off, &a, body);
		struct drec_in b = small_in(i % 2 ? DREC_TAG : DREC_TOMBSTONE, seq++);
		off += (size_t)put(seg + off, SEG - off, &b, NULL);
	}
	return off;
}

Test(cache_drec, a_segment_walks_in_order)
{
	memset(seg, 0, sizeof(seg));
	size_t end = fill(100, 20, 0);
	struct drec_walk w;
	struct drec_view v;
	drec_walk_init(&w, seg, SEG, SEG, STORE, 3);
	uint64_t seq = 100;
	size_t off = 0;
	unsigned n = 0;
	enum drec_result r;
	while ((r = drec_walk_next(&w, &v)) == DREC_OK) {
		cr_assert_eq(v.h.seq, seq++);
		cr_assert_eq((const uint8_t *)v.in.key - DREC_HDR, seg + off,
			     "record %u at the offset after the one before", n);
		cr_assert_eq(off % 8, 0);
		off += v.h.total;
		n++;
	}
	cr_assert_eq(r, DREC_END);
	cr_assert_eq(n, 41);
	cr_assert_eq(off, end);
	cr_assert_eq(drec_walk_next(&w, &v), DREC_END, "the end stays the end");

	/* Another segment index: not this segment's records. */
	drec_walk_init(&w, seg, SEG, SEG, STORE, 4);
	cr_assert_eq(drec_walk_next(&w, &v), DREC_CORRUPT);

	/* Read in pieces: CUT asks for more, then the walk goes on. */
	drec_walk_init(&w, seg, 100, SEG, STORE, 3);
	n = 0;
	for (size_t len = 100;;) {
		r = drec_walk_next(&w, &v);
		if (r == DREC_CUT) {
			w.len = len += 100;
			continue;
		}
		if (r != DREC_OK)
			break;
		n++;
	}
	cr_assert_eq(r, DREC_END);
	cr_assert_eq(n, 41);
}

Test(cache_drec, a_reused_segment_stops_at_its_old_tail)
{
	memset(seg, 0, sizeof(seg));
	fill(100, 20, 0);
	/* Used again from the start, later: fewer records, the old ones
	 * (whole, checksummed, this store's) behind them. */
	size_t end = fill(500, 3, 0);
	struct drec_walk w;
	struct drec_view v;
	drec_walk_init(&w, seg, SEG, SEG, STORE, 3);
	unsigned n = 0;
	enum drec_result r;
	while ((r = drec_walk_next(&w, &v)) == DREC_OK)
		n++;
	/* Both fills wrote the same sizes, so an old record starts right at
	 * the new end: whole, but older than the one before it. */
	cr_assert_eq(n, 7);
	cr_assert_eq(w.off, end);
	cr_assert_eq(r, DREC_STALE, "%s", drec_result_name(r));
}

Test(cache_drec, a_rotten_body_costs_one_record)
{
	memset(seg, 0, sizeof(seg));
	fill(100, 5, 0);
	struct drec_walk w;
	struct drec_view v;
	drec_walk_init(&w, seg, SEG, SEG, STORE, 3);
	cr_assert_eq(drec_walk_next(&w, &v), DREC_OK);
	size_t second = w.off;
	struct drec_head h;
	cr_assert_eq(drec_head(seg + second, SEG, SEG - second, STORE, &h, NULL), DREC_OK);
	seg[second + h.front - 3] ^= 0x40; /* in the head lines */
	cr_assert_eq(drec_walk_next(&w, &v), DREC_CORRUPT);
	cr_assert_eq(w.off, second + h.total, "skipped by its checked length");
	unsigned n = 0;
	while (drec_walk_next(&w, &v) == DREC_OK)
		n++;
	cr_assert_eq(n, 9);
	/* A rotten header ends the walk: its length cannot be trusted. */
	seg[second + h.front - 3] ^= 0x40;
	seg[second + 30] ^= 1;
	drec_walk_init(&w, seg, SEG, SEG, STORE, 3);
	cr_assert_eq(drec_walk_next(&w, &v), DREC_OK);
	cr_assert_eq(drec_walk_next(&w, &v), DREC_CORRUPT);
	cr_assert_eq(drec_walk_next(&w, &v), DREC_CORRUPT);
	cr_assert_eq(w.off, second);
}

Test(cache_drec, garbage_and_zeroes_are_never_records)
{
	struct drec_view v;
	memset(seg, 0, sizeof(seg));
	for (size_t off = 0; off < 4096; off += 8)
		cr_assert_eq(drec_decode(seg + off, SEG - off, SEG - off, STORE, &v, NULL),
			     DREC_END);
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < sizeof(seg); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		seg[i] = (uint8_t)x;
	}
	for (size_t off = 0; off + 8 < SEG; off += 8) {
		enum drec_result r = drec_decode(seg + off, SEG - off, SEG - off, STORE, &v, NULL);
		cr_assert(r == DREC_END || r == DREC_CORRUPT, "%zu: %s", off, drec_result_name(r));
	}
	/* Garbage behind a good magic: still not a record. */
	for (size_t off = 0; off + 64 < SEG; off += 64) {
		uint32_t m = DREC_MAGIC;
		memcpy(seg + off, &m, 4);
		enum drec_result r = drec_decode(seg + off, SEG - off, SEG - off, STORE, &v, NULL);
		cr_assert_eq(r, DREC_CORRUPT, "%zu: %s", off, drec_result_name(r));
	}
}

/* Lengths that overflow 64 bits, with a total of 0, under a header check
 * that holds: corrupt, not a record of 0 bytes (fuzz_drec found it). */
Test(cache_drec, overflowing_lengths_are_corrupt)
{
	struct drec_obj o;
	sample_obj(&o, false);
	struct drec_in in = obj_in(&o, 3, 0);
	put(seg, sizeof(seg), &in, NULL);
	for (uint64_t total = 0; total <= 64; total += 64) {
		uint64_t body = UINT64_MAX - 70;
		memcpy(seg + 24, &body, 8);
		memcpy(seg + 32, &total, 8);
		uint32_t check = (uint32_t)XXH3_64bits(seg, 52);
		memcpy(seg + 52, &check, 4);
		struct drec_view v;
		struct drec_head h;
		cr_assert_eq(drec_head(seg, SEG, SEG, STORE, &h, NULL), DREC_CORRUPT);
		cr_assert_eq(dec(seg, SEG, &v), DREC_CORRUPT);
	}
}

Test(cache_drec, a_copy_keeps_the_version_it_copies)
{
	struct drec_obj o;
	struct drec_view v;
	sample_obj(&o, false);
	/* A first write: its own sequence. */
	struct drec_in in = obj_in(&o, 42, 0);
	int64_t n = put(seg, sizeof(seg), &in, NULL);
	cr_assert_eq(dec(seg, (size_t)n, &v), DREC_OK);
	cr_expect_eq(v.obj.version, 42);
	/* A reinserted copy: written at 90, still version 42. */
	o.version = 42;
	in = obj_in(&o, 90, 0);
	n = put(seg, sizeof(seg), &in, NULL);
	cr_assert_eq(dec(seg, (size_t)n, &v), DREC_OK);
	cr_expect_eq(v.obj.version, 42);
	cr_expect_eq(v.h.seq, 90);
	/* A version newer than the record itself: no writer makes that. */
	o.version = 91;
	n = put(seg, sizeof(seg), &in, NULL);
	cr_expect_eq(dec(seg, (size_t)n, &v), DREC_CORRUPT);
}
