/* Unit tests of src/cache/dtier: the admission rule (pure, a function of `now`). */
#include <criterion/criterion.h>
#include <string.h>

#include "cache/dtier.h"

static struct store *st;

static void setup(void)
{
	st = store_create(1 << 20);
	cr_assert_not_null(st);
}

static void teardown(void)
{
	store_free(&st);
}

TestSuite(cache_dtier, .init = setup, .fini = teardown);

#define NOW 1700000000

/* A stored 200 of LEN body bytes, LIFETIME seconds fresh, received at NOW - AGE. */
static struct cobj *obj(size_t len, int64_t lifetime, int64_t age, bool etag)
{
	struct cobj *o = cobj_new(st);
	cr_assert_not_null(o);
	o->status = 200;
	o->lifetime = lifetime;
	memset(&o->meta, 0, sizeof(o->meta));
	o->meta.status = 200;
	o->meta.date = NOW - age;
	o->meta.expires = POLICY_NONE;
	o->meta.last_modified = POLICY_NONE;
	o->meta.age = 0;
	o->meta.request_time = NOW - age;
	o->meta.response_time = NOW - age;
	o->meta.has_etag = etag;
	static char body[65536];
	if (len)
		cr_assert_eq(cbody_append(o->body, body, len, len), 0);
	cbody_finish(o->body, true);
	return o;
}

Test(cache_dtier, admits_by_hits_freshness_left_and_size)
{
	struct dtier_conf c = {.min_ttl = 60, .max_object = 10000, .admit_hits = 2};
	struct cobj *o = obj(100, 600, 0, false);
	cr_assert_not(dtier_admits(&c, o, 1, NOW), "asked once, two wanted");
	cr_assert(dtier_admits(&c, o, 2, NOW));
	cr_assert(dtier_admits(&c, o, 3, NOW));
	cobj_release(&o);

	o = obj(100, 600, 550, false); /* 50 s left */
	cr_assert_not(dtier_admits(&c, o, 2, NOW), "less than min_ttl left");
	cr_assert(dtier_admits(&c, o, 2, NOW - 100), "as seen 100 s earlier");
	cobj_release(&o);

	o = obj(100, 10, 0, true); /* short, but it can be revalidated */
	cr_assert(dtier_admits(&c, o, 2, NOW));
	cobj_release(&o);

	o = obj(10000, 600, 0, false);
	cr_assert(dtier_admits(&c, o, 2, NOW), "max_object is inclusive");
	cobj_release(&o);
	o = obj(10001, 600, 0, false);
	cr_assert_not(dtier_admits(&c, o, 2, NOW));
	cobj_release(&o);

	o = obj(0, 600, 0, false);
	cr_assert(dtier_admits(&c, o, 2, NOW), "an empty body is a body");
	cobj_release(&o);
}

/* Purge floors (dtier.h): every record of a purged key is refused until
 * the purge's tombstone is reported written, whatever its sequence (a
 * queued object memory evicted is written after the purge); a purge whose
 * tombstone was not queued holds its key for the run. */
Test(cache_dtier, a_purge_floor_holds_until_its_tombstone_is_written)
{
	struct dfloors f = {0};
	cr_assert(dfloors_add(&f, 7, true));
	cr_expect(dfloors_held(&f, 7), "queued before the tombstone: refused");
	cr_expect(!dfloors_held(&f, 8), "another key");
	cr_assert(dfloors_add(&f, 7, true)); /* purged again */
	dfloors_written(&f, 7);
	cr_expect(dfloors_held(&f, 7), "the second tombstone is not written yet");
	dfloors_written(&f, 7);
	cr_expect(!dfloors_held(&f, 7), "both written: the hold is gone");
	cr_assert(dfloors_add(&f, 9, false)); /* -EAGAIN: never queued */
	cr_assert(dfloors_add(&f, 9, true));
	dfloors_written(&f, 9);
	cr_expect(dfloors_held(&f, 9), "kept for the run");
	dfloors_free(&f);
}
