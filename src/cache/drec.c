/* drec.c - the disk tier's record format (drec.h has the layout). */
#include "cache/drec.h"

#include <errno.h>
#include <string.h>

#include "cache/dle.h"

#if defined(__x86_64__)
/* Debian's libxxhash picks the widest vector unit at run time behind
 * these names (AVX-512 or AVX2 over the SSE2 baseline it is built for):
 * the record checksum is most of a disk hit's own CPU. */
#include <xxh_x86dispatch.h>
#endif

_Static_assert(CC_N_DELTA == 6, "the meta holds six delta directives");
_Static_assert(CC_FIELDS_MAX <= 255 && sizeof(((struct cc_names *)0)->name[0]) == 32,
	       "a name count fits a byte, a name 31 bytes");

/* Header offsets. */
enum {
	H_MAGIC = 0,
	H_KIND = 4,
	H_FLAGS = 6,
	H_STORE = 8,
	H_SEQ = 16,
	H_BODY = 24,
	H_TOTAL = 32,
	H_KEY = 40,
	H_META = 44,
	H_HEAD = 48,
	H_CHECK = 52,
	H_SUM = 56,
};

/* OBJECT meta offsets. */
enum {
	M_STATUS = 0,
	M_MSTATUS = 2,
	M_BITS = 4,
	M_CCFLAGS = 8,
	M_CCINVALID = 12,
	M_DELTA = 16,
	M_DATE = 64,
	M_EXPIRES = 72,
	M_LASTMOD = 80,
	M_AGE = 88,
	M_REQTIME = 96,
	M_RESPTIME = 104,
	M_DELAY = 112,
	M_LIFETIME = 120,
	M_CLEN = 128,
	M_PFIRST = 136,
	M_PLAST = 144,
	M_PLEN = 152,
	M_FWD = 160,
	M_NNOCACHE = 164,
	M_NPRIVATE = 165,
	M_ZERO = 166,
	M_VERSION = 168,
};
_Static_assert(M_VERSION + 8 == DREC_META_FIXED, "the fixed meta ends at DREC_META_FIXED");

enum {
	B_CDN_CC = 1u << 0,
	B_HAS_ETAG = 1u << 1,
	B_VARY_STAR = 1u << 2,
	B_SET_COOKIE = 1u << 3,
	B_CC_PRESENT = 1u << 4,
	B_PARTIAL = 1u << 5,
	B_TAGS_SPACE = 1u << 6,
	B_ALL = (1u << 7) - 1,
};

#define CC_FLAGS_ALL   ((uint32_t)CC_MAX_STALE_ANY * 2 - 1)
#define CC_INVALID_ALL ((1u << CC_N_DELTA) - 1)
#define DELTA_MAX      ((int64_t)1 << 31)

static const uint8_t zero8[8];

static int64_t geti64(const uint8_t *p)
{
	return (int64_t)get64(p);
}

const char *drec_result_name(enum drec_result r)
{
	switch (r) {
	case DREC_OK:
		return "ok";
	case DREC_END:
		return "end";
	case DREC_CUT:
		return "cut";
	case DREC_CORRUPT:
		return "corrupt";
	case DREC_FOREIGN:
		return "foreign";
	case DREC_STALE:
		return "stale";
	}
	return "?";
}

/* --- validation, shared by both directions ----------------------------- */

static size_t names_len(const struct cc_names *l)
{
	size_t n = 0;
	for (unsigned i = 0; i < l->n; i++)
		n += 1 + strnlen(l->name[i], sizeof(l->name[i]));
	return n;
}

static bool names_ok(const struct cc_names *l)
{
	if (l->n > CC_FIELDS_MAX)
		return false;
	for (unsigned i = 0; i < l->n; i++) {
		size_t n = strnlen(l->name[i], sizeof(l->name[i]));
		if (n < 1 || n > DREC_NAME_MAX)
			return false;
	}
	return true;
}

static bool str_ok(const char *s, uint32_t n)
{
	return n == 0 || s;
}

static bool obj_ok(const struct drec_obj *o)
{
	const struct resp_meta *m = &o->meta;
	if (o->status < 100 || o->status > 999 || m->status < 100 || m->status > 999)
		return false;
	if ((m->cc.flags & ~CC_FLAGS_ALL) || (m->cc.invalid & ~CC_INVALID_ALL))
		return false;
	for (int i = 0; i < CC_N_DELTA; i++)
		if (m->cc.delta[i] != CC_UNSET &&
		    (m->cc.delta[i] < 0 || m->cc.delta[i] > DELTA_MAX))
			return false;
	if (!names_ok(&m->cc.no_cache_fields) || !names_ok(&m->cc.private_fields))
		return false;
	if (o->lifetime < 0 || o->clen < -1)
		return false;
	if (o->partial ? !(o->part_first <= o->part_last && o->part_last < o->part_len)
		       : (o->part_first | o->part_last | o->part_len) != 0)
		return false;
	if (o->fwd_len > o->vkey_len)
		return false;
	return str_ok(o->reason, o->reason_len) && str_ok(o->vary, o->vary_len) &&
	       str_ok(o->vkey, o->vkey_len) && str_ok(o->tags, o->tags_len);
}

static uint64_t obj_meta_len(const struct drec_obj *o)
{
	return DREC_META_FIXED + 16 + (uint64_t)o->reason_len + o->vary_len + o->vkey_len +
	       o->tags_len + names_len(&o->meta.cc.no_cache_fields) +
	       names_len(&o->meta.cc.private_fields);
}

static bool regex_ok(const char *s, uint32_t n, bool present)
{
	if (!present)
		return n == 0;
	return str_ok(s, n) && (n == 0 || !memchr(s, '\0', n));
}

/* IN's meta length, or -1 when IN is not a record ringcache writes. */
static int64_t in_meta_len(const struct drec_in *in)
{
	if (in->seq == 0 || !str_ok(in->key, in->key_len) || !str_ok(in->head, in->head_len))
		return -1;
	bool no_head = in->head_len == 0 && in->body_len == 0;
	uint64_t meta;
	switch (in->kind) {
	case DREC_OBJECT:
		if (in->flags || in->key_len == 0 || !in->obj || !obj_ok(in->obj))
			return -1;
		meta = obj_meta_len(in->obj);
		break;
	case DREC_TOMBSTONE:
		if (in->flags || in->key_len == 0 || !no_head)
			return -1;
		meta = 0;
		break;
	case DREC_BAN:
		if ((in->flags & ~(DREC_BAN_URL | DREC_BAN_HOST)) || !in->flags || in->key_len ||
		    !no_head || !regex_ok(in->url_re, in->url_len, in->flags & DREC_BAN_URL) ||
		    !regex_ok(in->host_re, in->host_len, in->flags & DREC_BAN_HOST))
			return -1;
		meta = 8 + (uint64_t)in->url_len + in->host_len;
		break;
	case DREC_TAG:
		if ((in->flags & ~DREC_TAG_SOFT) || in->key_len == 0 || !no_head)
			return -1;
		meta = 0;
		break;
	case DREC_SEGMENT:
		if (in->flags || in->key_len || !no_head)
			return -1;
		meta = 8;
		break;
	default:
		return -1;
	}
	return meta > UINT32_MAX ? -1 : (int64_t)meta;
}

/* The total of a record with these parts, 0 on overflow or a front that
 * does not fit 32 bits. */
static uint64_t total_of(uint32_t key, uint32_t meta, uint32_t head, uint64_t body, uint32_t *front)
{
	uint64_t f = (uint64_t)DREC_HDR + key + meta + head, t;
	if (f > UINT32_MAX || __builtin_add_overflow(f, body, &t) ||
	    __builtin_add_overflow(t, DREC_ALIGN - 1, &t))
		return 0;
	if (front)
		*front = (uint32_t)f;
	return t & ~(uint64_t)(DREC_ALIGN - 1);
}

uint64_t drec_size(const struct drec_in *in)
{
	int64_t meta = in_meta_len(in);
	if (meta < 0)
		return 0;
	return total_of(in->key_len, (uint32_t)meta, in->head_len, in->body_len, NULL);
}

/* --- encoding ---------------------------------------------------------- */

static uint8_t *put_str32(uint8_t *p, const char *s, uint32_t n)
{
	put32(p, n);
	if (n)
		memcpy(p + 4, s, n);
	return p + 4 + n;
}

static uint8_t *put_names(uint8_t *p, const struct cc_names *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		size_t n = strnlen(l->name[i], sizeof(l->name[i]));
		*p++ = (uint8_t)n;
		memcpy(p, l->name[i], n);
		p += n;
	}
	return p;
}

static uint8_t *put_obj(uint8_t *p, const struct drec_obj *o, uint64_t seq)
{
	const struct resp_meta *m = &o->meta;
	uint32_t bits = (m->cdn_cc ? B_CDN_CC : 0) | (m->has_etag ? B_HAS_ETAG : 0) |
			(m->vary_star ? B_VARY_STAR : 0) | (m->set_cookie ? B_SET_COOKIE : 0) |
			(m->cc.present ? B_CC_PRESENT : 0) | (o->partial ? B_PARTIAL : 0) |
			(o->tags_space_sep ? B_TAGS_SPACE : 0);
	memset(p, 0, DREC_META_FIXED);
	put16(p + M_STATUS, (uint16_t)o->status);
	put16(p + M_MSTATUS, (uint16_t)m->status);
	put32(p + M_BITS, bits);
	put32(p + M_CCFLAGS, m->cc.flags);
	put32(p + M_CCINVALID, m->cc.invalid);
	for (int i = 0; i < CC_N_DELTA; i++)
		put64(p + M_DELTA + 8 * i, (uint64_t)m->cc.delta[i]);
	put64(p + M_DATE, (uint64_t)m->date);
	put64(p + M_EXPIRES, (uint64_t)m->expires);
	put64(p + M_LASTMOD, (uint64_t)m->last_modified);
	put64(p + M_AGE, (uint64_t)m->age);
	put64(p + M_REQTIME, (uint64_t)m->request_time);
	put64(p + M_RESPTIME, (uint64_t)m->response_time);
	put64(p + M_DELAY, (uint64_t)m->response_delay_ms);
	put64(p + M_LIFETIME, (uint64_t)o->lifetime);
	put64(p + M_CLEN, (uint64_t)o->clen);
	put64(p + M_PFIRST, o->part_first);
	put64(p + M_PLAST, o->part_last);
	put64(p + M_PLEN, o->part_len);
	put32(p + M_FWD, o->fwd_len);
	put64(p + M_VERSION, o->version ? o->version : seq); /* 0: a first write */
	p[M_NNOCACHE] = (uint8_t)m->cc.no_cache_fields.n;
	p[M_NPRIVATE] = (uint8_t)m->cc.private_fields.n;
	p += DREC_META_FIXED;
	p = put_str32(p, o->reason, o->reason_len);
	p = put_str32(p, o->vary, o->vary_len);
	p = put_str32(p, o->vkey, o->vkey_len);
	p = put_str32(p, o->tags, o->tags_len);
	p = put_names(p, &m->cc.no_cache_fields);
	return put_names(p, &m->cc.private_fields);
}

int64_t drec_begin(struct drec_enc *e, void *out, size_t cap, uint64_t store_id,
		   const struct drec_in *in)
{
	int64_t meta = in_meta_len(in);
	uint32_t front;
	uint64_t total =
	    meta < 0 ? 0
		     : total_of(in->key_len, (uint32_t)meta, in->head_len, in->body_len, &front);
	if (!total || !store_id)
		return -EINVAL;
	if (cap < front)
		return -ENOSPC;
	uint8_t *p = out;
	put32(p + H_MAGIC, DREC_MAGIC);
	put16(p + H_KIND, (uint16_t)in->kind);
	put16(p + H_FLAGS, in->flags);
	put64(p + H_STORE, store_id);
	put64(p + H_SEQ, in->seq);
	put64(p + H_BODY, in->body_len);
	put64(p + H_TOTAL, total);
	put32(p + H_KEY, in->key_len);
	put32(p + H_META, (uint32_t)meta);
	put32(p + H_HEAD, in->head_len);
	put32(p + H_CHECK, (uint32_t)XXH3_64bits(p, H_CHECK));
	put64(p + H_SUM, 0);
	uint8_t *q = p + DREC_HDR;
	if (in->key_len)
		memcpy(q, in->key, in->key_len);
	q += in->key_len;
	switch (in->kind) {
	case DREC_OBJECT:
		q = put_obj(q, in->obj, in->seq);
		break;
	case DREC_BAN:
		q = put_str32(q, in->url_re, in->url_len);
		q = put_str32(q, in->host_re, in->host_len);
		break;
	case DREC_SEGMENT:
		put64(q, in->seg_index);
		q += 8;
		break;
	default:
		break;
	}
	if (in->head_len)
		memcpy(q, in->head, in->head_len);
	q += in->head_len;
	/* put_obj's lengths and in_meta_len's must be the same arithmetic. */
	if ((size_t)(q - p) != front)
		__builtin_trap();
	XXH3_64bits_reset(&e->st);
	XXH3_64bits_update(&e->st, p, front);
	e->body_len = in->body_len;
	e->body_done = 0;
	e->total = total;
	e->front = front;
	return front;
}

void drec_body(struct drec_enc *e, const void *p, size_t n)
{
	if (n)
		XXH3_64bits_update(&e->st, p, n);
	e->body_done += n;
}

int drec_end(struct drec_enc *e, void *rec)
{
	if (e->body_done != e->body_len)
		return -EINVAL;
	unsigned pad = (unsigned)(e->total - e->front - e->body_len);
	if (pad)
		XXH3_64bits_update(&e->st, zero8, pad);
	put64((uint8_t *)rec + H_SUM, XXH3_64bits_digest(&e->st));
	return (int)pad;
}

int64_t drec_encode(void *out, size_t cap, uint64_t store_id, const struct drec_in *in,
		    const void *body)
{
	uint64_t total = drec_size(in);
	if (!total || !store_id || (in->body_len && !body))
		return -EINVAL;
	if (cap < total)
		return -ENOSPC;
	struct drec_enc e;
	int64_t front = drec_begin(&e, out, cap, store_id, in);
	if (front < 0)
		return front;
	uint8_t *p = (uint8_t *)out + front;
	if (in->body_len)
		memcpy(p, body, in->body_len);
	drec_body(&e, p, in->body_len);
	int pad = drec_end(&e, out);
	memset(p + in->body_len, 0, (size_t)pad);
	return (int64_t)total;
}

/* --- decoding ---------------------------------------------------------- */

/* A cursor over a part's bytes: every read is checked against its end. */
struct rd {
	const uint8_t *p, *end;
};

static bool rd_str32(struct rd *r, const char **s, uint32_t *n)
{
	if (r->end - r->p < 4)
		return false;
	uint32_t l = get32(r->p);
	r->p += 4;
	if ((size_t)(r->end - r->p) < l)
		return false;
	*s = (const char *)r->p;
	*n = l;
	r->p += l;
	return true;
}

static bool rd_names(struct rd *r, struct cc_names *l, unsigned n)
{
	if (n > CC_FIELDS_MAX)
		return false;
	l->n = n;
	for (unsigned i = 0; i < n; i++) {
		if (r->p == r->end)
			return false;
		unsigned len = *r->p++;
		if (len < 1 || len > DREC_NAME_MAX || (size_t)(r->end - r->p) < len ||
		    memchr(r->p, '\0', len))
			return false;
		memcpy(l->name[i], r->p, len);
		memset(l->name[i] + len, 0, sizeof(l->name[i]) - len);
		r->p += len;
	}
	return true;
}

static bool get_obj(const uint8_t *p, uint32_t len, struct drec_obj *o)
{
	if (len < DREC_META_FIXED)
		return false;
	memset(o, 0, sizeof(*o));
	struct resp_meta *m = &o->meta;
	uint32_t bits = get32(p + M_BITS);
	if ((bits & ~B_ALL) || get16(p + M_ZERO))
		return false;
	o->status = get16(p + M_STATUS);
	m->status = get16(p + M_MSTATUS);
	m->cdn_cc = bits & B_CDN_CC;
	m->has_etag = bits & B_HAS_ETAG;
	m->vary_star = bits & B_VARY_STAR;
	m->set_cookie = bits & B_SET_COOKIE;
	m->cc.present = bits & B_CC_PRESENT;
	o->partial = bits & B_PARTIAL;
	o->tags_space_sep = bits & B_TAGS_SPACE;
	m->cc.flags = get32(p + M_CCFLAGS);
	m->cc.invalid = get32(p + M_CCINVALID);
	for (int i = 0; i < CC_N_DELTA; i++)
		m->cc.delta[i] = geti64(p + M_DELTA + 8 * i);
	m->date = geti64(p + M_DATE);
	m->expires = geti64(p + M_EXPIRES);
	m->last_modified = geti64(p + M_LASTMOD);
	m->age = geti64(p + M_AGE);
	m->request_time = geti64(p + M_REQTIME);
	m->response_time = geti64(p + M_RESPTIME);
	m->response_delay_ms = geti64(p + M_DELAY);
	o->lifetime = geti64(p + M_LIFETIME);
	o->clen = geti64(p + M_CLEN);
	o->part_first = get64(p + M_PFIRST);
	o->part_last = get64(p + M_PLAST);
	o->part_len = get64(p + M_PLEN);
	o->fwd_len = get32(p + M_FWD);
	o->version = get64(p + M_VERSION);
	struct rd r = {p + DREC_META_FIXED, p + len};
	return rd_str32(&r, &o->reason, &o->reason_len) && rd_str32(&r, &o->vary, &o->vary_len) &&
	       rd_str32(&r, &o->vkey, &o->vkey_len) && rd_str32(&r, &o->tags, &o->tags_len) &&
	       rd_names(&r, &m->cc.no_cache_fields, p[M_NNOCACHE]) &&
	       rd_names(&r, &m->cc.private_fields, p[M_NPRIVATE]) && r.p == r.end;
}

enum drec_result drec_head(const void *buf, size_t avail, size_t room, uint64_t store_id,
			   struct drec_head *h, uint64_t *need)
{
	const uint8_t *p = buf;
	if (avail > room)
		avail = room;
	if (room < DREC_HDR)
		return DREC_END;
	if (avail >= 4 && get32(p + H_MAGIC) != DREC_MAGIC)
		return DREC_END;
	if (avail < DREC_HDR) {
		if (need)
			*need = DREC_HDR;
		return DREC_CUT;
	}
	if (get32(p + H_CHECK) != (uint32_t)XXH3_64bits(p, H_CHECK))
		return DREC_CORRUPT;
	h->store_id = get64(p + H_STORE);
	if (h->store_id != store_id)
		return DREC_FOREIGN;
	h->kind = get16(p + H_KIND);
	h->flags = get16(p + H_FLAGS);
	h->seq = get64(p + H_SEQ);
	h->body_len = get64(p + H_BODY);
	h->total = get64(p + H_TOTAL);
	h->key_len = get32(p + H_KEY);
	h->meta_len = get32(p + H_META);
	h->head_len = get32(p + H_HEAD);
	h->sum = get64(p + H_SUM);
	/* total_of says 0 for lengths that overflow: a total of 0 must not
	 * match it (found by fuzz_drec). */
	uint64_t t = total_of(h->key_len, h->meta_len, h->head_len, h->body_len, &h->front);
	if (h->seq == 0 || t == 0 || t != h->total || h->total > room)
		return DREC_CORRUPT;
	/* The shape of each kind, so that a reader of the header alone knows
	 * what it is about to read (drec_front checks the rest). */
	bool small = h->head_len == 0 && h->body_len == 0;
	bool ok;
	switch (h->kind) {
	case DREC_OBJECT:
		ok = !h->flags && h->key_len && h->meta_len >= DREC_META_FIXED;
		break;
	case DREC_TOMBSTONE:
		ok = !h->flags && h->key_len && !h->meta_len && small;
		break;
	case DREC_BAN:
		ok = h->flags && !(h->flags & ~(DREC_BAN_URL | DREC_BAN_HOST)) && !h->key_len &&
		     h->meta_len >= 8 && small;
		break;
	case DREC_TAG:
		ok = !(h->flags & ~DREC_TAG_SOFT) && h->key_len && !h->meta_len && small;
		break;
	case DREC_SEGMENT:
		ok = !h->flags && !h->key_len && h->meta_len == 8 && small;
		break;
	default:
		ok = false;
	}
	return ok ? DREC_OK : DREC_CORRUPT;
}

enum drec_result drec_front(const void *buf, const struct drec_head *h, struct drec_view *v)
{
	const uint8_t *p = buf;
	memset(&v->in, 0, sizeof(v->in));
	v->h = *h;
	v->body = NULL;
	struct drec_in *in = &v->in;
	in->kind = h->kind;
	in->flags = h->flags;
	in->seq = h->seq;
	in->key = (const char *)p + DREC_HDR;
	in->key_len = h->key_len;
	const uint8_t *meta = p + DREC_HDR + h->key_len;
	in->head = (const char *)meta + h->meta_len;
	in->head_len = h->head_len;
	in->body_len = h->body_len;
	struct rd r = {meta, meta + h->meta_len};
	switch (h->kind) {
	case DREC_OBJECT:
		/* A copy keeps the version it copies: never newer than itself. */
		if (!get_obj(meta, h->meta_len, &v->obj) || !v->obj.version ||
		    v->obj.version > h->seq)
			return DREC_CORRUPT;
		in->obj = &v->obj;
		break;
	case DREC_BAN:
		if (!rd_str32(&r, &in->url_re, &in->url_len) ||
		    !rd_str32(&r, &in->host_re, &in->host_len) || r.p != r.end)
			return DREC_CORRUPT;
		break;
	case DREC_SEGMENT:
		in->seg_index = get64(meta);
		break;
	default:
		break;
	}
	/* The rules an encoder is held to hold for what was read. */
	int64_t ml = in_meta_len(in);
	return ml == (int64_t)h->meta_len ? DREC_OK : DREC_CORRUPT;
}

void drec_sum_begin(struct drec_sum *s)
{
	XXH3_64bits_reset(&s->st);
	s->done = 0;
}

void drec_sum_update(struct drec_sum *s, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	/* The checksum field [H_SUM, DREC_HDR) counts as zeroes. */
	if (s->done < DREC_HDR && n) {
		uint64_t a = s->done, b = s->done + n;
		size_t before = a < H_SUM ? (size_t)((b < H_SUM ? b : H_SUM) - a) : 0;
		if (before)
			XXH3_64bits_update(&s->st, p, before);
		uint64_t za = a + before, zb = b < DREC_HDR ? b : DREC_HDR;
		if (zb > za)
			XXH3_64bits_update(&s->st, zero8, (size_t)(zb - za));
		size_t used = (size_t)(zb > za ? zb - a : before);
		p += used;
		n -= used;
		s->done += used;
	}
	if (n)
		XXH3_64bits_update(&s->st, p, n);
	s->done += n;
}

bool drec_sum_check(struct drec_sum *s, const struct drec_head *h)
{
	return s->done == h->total && XXH3_64bits_digest(&s->st) == h->sum;
}

enum drec_result drec_decode(const void *buf, size_t avail, size_t room, uint64_t store_id,
			     struct drec_view *v, uint64_t *need)
{
	const uint8_t *p = buf;
	struct drec_head h;
	enum drec_result r = drec_head(p, avail, room, store_id, &h, need);
	if (r != DREC_OK)
		return r;
	if (avail < h.total) {
		if (need)
			*need = h.total;
		return DREC_CUT;
	}
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, p, H_SUM);
	XXH3_64bits_update(&st, zero8, 8);
	XXH3_64bits_update(&st, p + DREC_HDR, (size_t)(h.total - DREC_HDR));
	if (XXH3_64bits_digest(&st) != h.sum)
		return DREC_CORRUPT;
	uint64_t end = h.front + h.body_len;
	for (uint64_t i = end; i < h.total; i++)
		if (p[i])
			return DREC_CORRUPT;
	r = drec_front(p, &h, v);
	if (r == DREC_OK && h.kind == DREC_OBJECT)
		v->body = (const char *)p + h.front;
	return r;
}

/* --- walking a segment ------------------------------------------------- */

void drec_walk_init(struct drec_walk *w, const void *buf, size_t len, size_t seg_size,
		    uint64_t store_id, uint64_t seg_index)
{
	*w = (struct drec_walk){.buf = buf,
				.len = len < seg_size ? len : seg_size,
				.seg_size = seg_size,
				.store_id = store_id,
				.seg_index = seg_index,
				.stop = DREC_OK};
}

static enum drec_result walk_stop(struct drec_walk *w, enum drec_result r)
{
	w->stop = r;
	return r;
}

enum drec_result drec_walk_next(struct drec_walk *w, struct drec_view *v)
{
	if (w->stop != DREC_OK)
		return w->stop;
	if (w->len > w->seg_size)
		w->len = w->seg_size;
	const uint8_t *p = w->buf + w->off;
	size_t avail = w->len - w->off, room = w->seg_size - w->off;
	enum drec_result r = drec_decode(p, avail, room, w->store_id, v, NULL);
	if (r == DREC_CUT)
		return r; /* more of the segment may come: not the end */
	if (r == DREC_CORRUPT) {
		/* A header that passes gives a length to skip by; the first
		 * record must be whole, or the segment is not known to be ours. */
		struct drec_head h;
		if (w->last_seq == 0 || drec_head(p, avail, room, w->store_id, &h, NULL) != DREC_OK)
			return walk_stop(w, r);
		if (h.seq <= w->last_seq)
			return walk_stop(w, DREC_STALE);
		w->last_seq = h.seq;
		w->off += (size_t)h.total;
		w->skipped = h;
		return r;
	}
	if (r != DREC_OK)
		return walk_stop(w, r);
	if (w->last_seq && v->h.seq <= w->last_seq)
		return walk_stop(w, DREC_STALE);
	bool first = w->last_seq == 0, seg = v->h.kind == DREC_SEGMENT;
	if (first != seg || (seg && v->in.seg_index != w->seg_index))
		return walk_stop(w, DREC_CORRUPT);
	w->last_seq = v->h.seq;
	w->off += (size_t)v->h.total;
	return DREC_OK;
}
