/* Unit tests of src/serve/deliver.c's deliver_fits: which requests stored
 * parts answer by themselves (the lookup asks it under the shard lock). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "serve/deliver.h"

struct msg {
	char buf[4096];
	struct hfield f[32];
	struct hmsg m;
};

static void request(struct msg *h, const char *method, const char *lines)
{
	snprintf(h->buf, sizeof(h->buf), "%s /x HTTP/1.1\r\nHost: h\r\n%s\r\n", method, lines);
	hmsg_init(&h->m, HMSG_REQUEST, h->f, 32, sizeof(h->buf));
	hmsg_next(&h->m, h->buf, 0);
	long r = hmsg_feed(&h->m, 0, (uint32_t)strlen(h->buf));
	cr_assert(r > 0 && h->m.headers_done, "parse failed: %s", h->buf);
}

/* Parts 10..49 of 100 bytes. */
static struct cobj parts(void)
{
	static char hdrs[] = "Content-Type: text/plain\r\nETag: \"e\"\r\n";
	return (struct cobj){.partial = true,
			     .part_first = 10,
			     .part_last = 49,
			     .part_len = 100,
			     .status = 206,
			     .hdrs = hdrs,
			     .hdrs_len = sizeof(hdrs) - 1};
}

static bool fits(const char *method, const char *lines)
{
	struct msg q;
	struct cobj o = parts();
	request(&q, method, lines);
	return deliver_fits(&o, &q.m);
}

Test(serve_deliver, ranges_inside_the_parts)
{
	cr_assert(fits("GET", "Range: bytes=10-49\r\n"));
	cr_assert(fits("GET", "Range: bytes=20-29\r\n"));
	cr_assert(fits("GET", "Range: bytes=10-19, 40-49\r\n")); /* multipart */
	cr_assert(fits("GET", "Range: bytes=100-\r\n"));	 /* 416 needs the length only */
	cr_assert(fits("GET", "Range: bytes=-0\r\n"));
}

Test(serve_deliver, what_parts_cannot_answer)
{
	static const char *const no[] = {
	    "",						 /* the whole representation */
	    "Range: bytes=0-9\r\n",			 /* before the parts */
	    "Range: bytes=45-55\r\n",			 /* past their end */
	    "Range: bytes=-10\r\n",			 /* 90-99 */
	    "Range: bytes=10-\r\n",			 /* 10-99 */
	    "Range: bytes=10-19,60-69\r\n",		 /* one range of two outside */
	    "Range: bytes=9-1\r\n",			 /* invalid: the whole */
	    "Range: items=10-19\r\n",			 /* another unit: the whole */
	    "Range: bytes=10-19\r\nIf-Range: \"e\"\r\n", /* may ask for the whole */
	    "Range: bytes=10-19\r\nRange: bytes=20-29\r\n",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_expect(!fits("GET", no[i]), "%s", no[i]);
	cr_assert(!fits("HEAD", "Range: bytes=10-19\r\n")); /* HEAD has no ranges */
	/* A complete object is not asked. */
	struct msg q;
	struct cobj o = parts();
	o.partial = false;
	request(&q, "GET", "Range: bytes=10-19\r\n");
	cr_assert(!deliver_fits(&o, &q.m));
}

Test(serve_deliver, tiny_parts_too_many_for_their_size)
{
	/* 16 one-byte parts of 40 stored bytes: the part heads would make the
	 * answer far larger than the representation, which is then the
	 * answer: not the parts'. */
	char v[512];
	size_t l = (size_t)snprintf(v, sizeof(v), "Range: bytes=");
	for (int i = 0; i < 16; i++)
		l += (size_t)snprintf(v + l, sizeof(v) - l, "%s%d-%d", i ? "," : "", 10 + 2 * i,
				      10 + 2 * i);
	snprintf(v + l, sizeof(v) - l, "\r\n");
	struct msg q;
	struct cobj o = parts();
	o.part_len = 50; /* 2 * 50 + 1024 < 16 part heads */
	o.part_last = 49;
	request(&q, "GET", v);
	cr_assert(!deliver_fits(&o, &q.m));
}
