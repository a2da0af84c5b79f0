/*
 * fuzz_drec.c - libFuzzer harness for src/cache/drec.c and dsuper.c: the
 * disk tier's record and superblock decoders (what a restart reads back
 * from a file that a crash, bit rot or an older formatting may have left).
 *
 * Input: a mode byte, then bytes. Every decode reads from an allocation of
 * exactly the bytes it is given, so ASan sees any read past them.
 *   mode % 3 == 0  raw: the bytes as the start of a segment (decoded with
 *                  the segment's room as given and larger; walked), and as
 *                  the superblock area.
 *   mode % 3 == 1  resealed: the bytes with their header check and checksum
 *                  made right (and the store id ours), so the fuzzer reaches
 *                  the field checks behind them.
 *   mode % 3 == 2  built: a valid record made from the bytes (kind, parts),
 *                  then one bit flipped and the record cut where the bytes
 *                  say.
 * Checked: OK only when the checksum over the record holds (recomputed in
 * pieces by drec_sum_*), the record lies inside what was given, and
 * encoding the decoded view again gives the same bytes (one encoding per
 * record: nothing a decoder accepts is ambiguous); a flipped bit is never
 * OK; a cut record is CUT; a walk ends and its records are back to back;
 * a superblock decoded OK encodes to the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"

#include "cache/drec.h"
#include "cache/dsuper.h"

#define STORE 0x5ca1ab1e0ddba11ull

static void check_ok(const uint8_t *p, size_t avail, const struct drec_view *v)
{
	FZ_CHECK(v->h.total <= avail && v->h.total % DREC_ALIGN == 0);
	FZ_CHECK(v->h.store_id == STORE);
	struct drec_sum s;
	drec_sum_begin(&s);
	for (size_t off = 0, step = 1; off < v->h.total; off += step, step = step * 2 + 3)
		drec_sum_update(&s, p + off, v->h.total - off < step ? v->h.total - off : step);
	FZ_CHECK(drec_sum_check(&s, &v->h));
	/* The decoded view encodes back to the very same bytes. */
	FZ_CHECK(drec_size(&v->in) == v->h.total);
	uint8_t *q = malloc(v->h.total);
	FZ_CHECK(q);
	FZ_CHECK(drec_encode(q, v->h.total, STORE, &v->in, v->body) == (int64_t)v->h.total);
	FZ_CHECK(memcmp(p, q, v->h.total) == 0);
	free(q);
}

static void decode(const uint8_t *data, size_t n, size_t room)
{
	struct drec_view v;
	uint64_t need = 0;
	enum drec_result r = drec_decode(data, n, room, STORE, &v, &need);
	if (r == DREC_OK)
		check_ok(data, n, &v);
	if (r == DREC_CUT)
		FZ_CHECK(need > n && need <= room);
	struct drec_head h;
	enum drec_result rh = drec_head(data, n, room, STORE, &h, NULL);
	FZ_CHECK(rh == r || (rh == DREC_OK && (r == DREC_CUT || r == DREC_CORRUPT)));
}

static void walk(const uint8_t *data, size_t n)
{
	struct drec_walk w;
	struct drec_view v;
	drec_walk_init(&w, data, n, n, STORE, 0);
	size_t off = 0;
	for (;;) {
		enum drec_result r = drec_walk_next(&w, &v);
		FZ_CHECK(r != DREC_CUT); /* the whole segment is given */
		if (r == DREC_OK) {
			FZ_CHECK((const uint8_t *)v.in.key == data + off + DREC_HDR);
			check_ok(data + off, n - off, &v);
		} else if (r != DREC_CORRUPT || w.stop != DREC_OK) {
			break;
		}
		FZ_CHECK(w.off > off && w.off <= n && w.off % DREC_ALIGN == 0);
		off = w.off;
	}
}

static void superblock(const uint8_t *data, size_t n)
{
	struct dsuper sb;
	int which = -1;
	uint64_t fsize = n >= 8 ? (uint64_t)data[0] << (data[1] % 40) : 0;
	enum dsuper_result r = dsuper_decode(data, n, fsize, &sb, &which, NULL);
	if (r == DSUPER_OK || r == DSUPER_MISFIT) {
		FZ_CHECK(which == 0 || which == 1);
		FZ_CHECK((size_t)(which + 1) * DSUPER_BLOCK <= n);
		uint8_t out[DSUPER_BLOCK];
		FZ_CHECK(dsuper_encode(&sb, out) == 0);
		FZ_CHECK(memcmp(out, data + (size_t)which * DSUPER_BLOCK, DSUPER_BLOCK) == 0);
		FZ_CHECK((r == DSUPER_OK) == (dsuper_span(&sb) <= fsize));
	}
}

static void reseal(uint8_t *p, size_t n)
{
	if (n < DREC_HDR)
		return;
	uint32_t magic = DREC_MAGIC;
	uint64_t store = STORE, zero = 0, total;
	memcpy(p, &magic, 4);
	memcpy(p + 8, &store, 8);
	uint32_t check = (uint32_t)XXH3_64bits(p, 52);
	memcpy(p + 52, &check, 4);
	memcpy(&total, p + 32, 8);
	memcpy(p + 56, &zero, 8);
	uint64_t sum = XXH3_64bits(p, total < n ? (size_t)total : n);
	memcpy(p + 56, &sum, 8);
}

/* A valid record from the input: kind and lengths from its first bytes,
 * the parts' bytes from the rest. */
static void built(const uint8_t *d, size_t n)
{
	if (n < 8)
		return;
	static const char zeros[4096];
	const char *s = (const char *)d + 8;
	size_t sn = n - 8;
	struct drec_obj o;
	memset(&o, 0, sizeof(o));
	cc_init(&o.meta.cc);
	o.status = o.meta.status = 100 + d[1] % 900;
	o.meta.cc.flags = d[2] & 0x1fff;
	o.meta.cc.no_cache_fields.n = d[3] % 3;
	o.meta.cc.private_fields.n = d[3] / 3 % 3;
	for (unsigned i = 0; i < 2; i++) {
		snprintf(o.meta.cc.no_cache_fields.name[i], 32, "x-%u", d[4] + i);
		snprintf(o.meta.cc.private_fields.name[i], 32, "set-cookie%u", i);
	}
	o.lifetime = d[4];
	o.clen = (int64_t)d[5] - 1;
	uint32_t a = sn ? d[5] % (sn + 1) : 0, b = sn ? d[6] % (sn + 1) : 0;
	o.reason = s, o.reason_len = a;
	o.vkey = s, o.vkey_len = b, o.fwd_len = b / 2;
	o.tags = s, o.tags_len = d[7] % 8 < sn ? d[7] % 8 : 0;
	struct drec_in in = {.kind = 1 + d[0] % 5, .seq = 1 + d[2]};
	switch (in.kind) {
	case DREC_OBJECT:
		in.obj = &o;
		in.key = s, in.key_len = a ? a : 1;
		in.head = s, in.head_len = b;
		in.body_len = d[7] * 13;
		break;
	case DREC_TOMBSTONE:
	case DREC_TAG:
		in.key = s, in.key_len = a ? a : 1;
		in.flags = in.kind == DREC_TAG ? d[3] & DREC_TAG_SOFT : 0;
		break;
	case DREC_BAN:
		in.flags = 1 + d[3] % 3;
		in.url_re = "^/a", in.url_len = in.flags & DREC_BAN_URL ? 3 : 0;
		in.host_re = "h", in.host_len = in.flags & DREC_BAN_HOST ? 1 : 0;
		break;
	default:
		in.seg_index = d[4];
	}
	if (in.key_len > sn)
		in.key = zeros;
	uint64_t total = drec_size(&in);
	FZ_CHECK(total > 0);
	uint8_t *rec = malloc(total);
	FZ_CHECK(rec);
	FZ_CHECK(drec_encode(rec, total, STORE, &in, zeros) == (int64_t)total);
	struct drec_view v;
	FZ_CHECK(drec_decode(rec, total, total, STORE, &v, NULL) == DREC_OK);
	check_ok(rec, total, &v);
	/* One bit flipped: never OK. */
	size_t bit = ((size_t)d[1] << 8 | d[6]) % (total * 8);
	rec[bit / 8] ^= (uint8_t)(1u << bit % 8);
	FZ_CHECK(drec_decode(rec, total, total, STORE, &v, NULL) != DREC_OK);
	rec[bit / 8] ^= (uint8_t)(1u << bit % 8);
	/* Cut: CUT, reading only what is left (from an allocation that size). */
	size_t cut = ((size_t)d[5] << 8 | d[7]) % total;
	uint8_t *c = malloc(cut ? cut : 1);
	FZ_CHECK(c);
	memcpy(c, rec, cut);
	FZ_CHECK(drec_decode(c, cut, total + 4096, STORE, &v, NULL) == DREC_CUT);
	free(c);
	free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned mode = data[0] % 3;
	size_t n = size - 1;
	uint8_t *p = malloc(n ? n : 1);
	FZ_CHECK(p);
	memcpy(p, data + 1, n);
	if (mode == 0) {
		decode(p, n, n);
		decode(p, n, n + 8 * 1024 * 1024);
		walk(p, n);
		superblock(p, n);
		/* Both copies from a short input (run.sh's -max_len is 8192,
		 * the mode byte included): the rest of the area as zeroes. */
		if (n > DSUPER_BLOCK && n < DSUPER_AREA) {
			uint8_t *a = calloc(1, DSUPER_AREA);
			FZ_CHECK(a);
			memcpy(a, p, n);
			superblock(a, DSUPER_AREA);
			free(a);
		}
	} else if (mode == 1) {
		reseal(p, n);
		decode(p, n, n);
		walk(p, n);
	} else {
		built(p, n);
	}
	free(p);
	return 0;
}
