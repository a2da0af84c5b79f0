/* histo.c - windowed log-scale response-time buckets and their drawing (see histo.h). */
#include "cli/histo.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTO_MAGIC 0x4157015bu

struct histo {
	unsigned magic;
	unsigned window;
	bool started;
	int64_t cur;   /* the second slot cur % window counts */
	uint32_t *cnt; /* window x HISTO_NKIND x HISTO_BUCKETS */
	uint64_t *sum; /* HISTO_NKIND x HISTO_BUCKETS: over the window, kept as slots change */
};

struct histo *histo_create(unsigned window)
{
	if (window < 1 || window > HISTO_MAX_WINDOW)
		return NULL;
	struct histo *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->magic = HISTO_MAGIC;
	h->window = window;
	h->cnt = calloc((size_t)window * HISTO_NKIND * HISTO_BUCKETS, sizeof(*h->cnt));
	h->sum = calloc((size_t)HISTO_NKIND * HISTO_BUCKETS, sizeof(*h->sum));
	if (!h->cnt || !h->sum) {
		histo_free(&h);
		return NULL;
	}
	return h;
}

void histo_free(struct histo **hp)
{
	struct histo *h = *hp;
	if (!h)
		return;
	assert(h->magic == HISTO_MAGIC);
	free(h->cnt);
	free(h->sum);
	h->magic = 0;
	free(h);
	*hp = NULL;
}

unsigned histo_bucket(int64_t ns)
{
	if (ns < 1000)
		return 0;
	double b = floor(log10((double)ns / 1000.0) * HISTO_PER_DECADE);
	if (b >= HISTO_BUCKETS)
		return HISTO_BUCKETS - 1;
	/* log10 may land a hair under an exact edge (10^k): the edge belongs
	 * to the bucket above. */
	unsigned i = (unsigned)b;
	if (i + 1 < HISTO_BUCKETS && (double)ns >= histo_bucket_lo_ns(i + 1))
		i++;
	return i;
}

double histo_bucket_lo_ns(unsigned b)
{
	return 1000.0 * pow(10.0, (double)b / HISTO_PER_DECADE);
}

static unsigned slot_of(const struct histo *h, int64_t sec)
{
	int64_t w = h->window, m = sec % w;
	return (unsigned)(m < 0 ? m + w : m);
}

static uint32_t *slot_counts(struct histo *h, unsigned slot)
{
	return h->cnt + (size_t)slot * HISTO_NKIND * HISTO_BUCKETS;
}

void histo_advance(struct histo *h, int64_t now)
{
	assert(h->magic == HISTO_MAGIC);
	if (!h->started) {
		h->started = true;
		h->cur = now;
		return;
	}
	if (now <= h->cur)
		return;
	int64_t steps = now - h->cur;
	if (steps > h->window)
		steps = h->window;
	for (int64_t s = 1; s <= steps; s++) {
		uint32_t *c = slot_counts(h, slot_of(h, h->cur + s));
		for (size_t i = 0; i < HISTO_NKIND * HISTO_BUCKETS; i++) {
			h->sum[i] -= c[i];
			c[i] = 0;
		}
	}
	h->cur = now;
}

void histo_add(struct histo *h, enum histo_kind kind, int64_t ns, int64_t now)
{
	assert(kind < HISTO_NKIND);
	histo_advance(h, now);
	size_t i = (size_t)kind * HISTO_BUCKETS + histo_bucket(ns);
	slot_counts(h, slot_of(h, h->cur))[i]++;
	h->sum[i]++;
}

uint64_t histo_count(struct histo *h, int64_t now, enum histo_kind kind)
{
	histo_advance(h, now);
	uint64_t n = 0;
	for (unsigned b = 0; b < HISTO_BUCKETS; b++)
		n += h->sum[(size_t)kind * HISTO_BUCKETS + b];
	return n;
}

double histo_quantile_ns(struct histo *h, int64_t now, enum histo_kind kind, double q)
{
	uint64_t n = histo_count(h, now, kind);
	if (n == 0)
		return 0;
	/* The rank of the q-th value, 1-based, as the nearest-rank method. */
	uint64_t rank = (uint64_t)ceil(q * (double)n);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned b = 0; b < HISTO_BUCKETS; b++) {
		seen += h->sum[(size_t)kind * HISTO_BUCKETS + b];
		if (seen >= rank)
			return sqrt(histo_bucket_lo_ns(b) * histo_bucket_lo_ns(b + 1));
	}
	return histo_bucket_lo_ns(HISTO_BUCKETS);
}

/* Up-rounded division for counts that must show when not 0. */
static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

size_t histo_render(struct histo *h, int64_t now, unsigned cols, unsigned rows, char *out,
		    size_t cap, uint64_t *per_row)
{
	if (cols < 16 || rows < 1 || cap < (size_t)(rows + 2) * (cols + 1) + 1)
		return 0;
	histo_advance(h, now);
	uint64_t *col = calloc((size_t)cols * HISTO_NKIND, sizeof(*col));
	if (!col)
		return 0;
	for (unsigned b = 0; b < HISTO_BUCKETS; b++) {
		unsigned c = (unsigned)((uint64_t)b * cols / HISTO_BUCKETS);
		for (int k = 0; k < HISTO_NKIND; k++)
			col[(size_t)c * HISTO_NKIND + k] += h->sum[(size_t)k * HISTO_BUCKETS + b];
	}
	/* One character per 1, 2, 5, 10, 20, 50, ... so the scale reads easily;
	 * each part up-rounded, so the tallest may need a row more than its sum. */
	uint64_t scale = 1;
	for (int step = 0;; step++) {
		bool fits = true;
		for (unsigned c = 0; c < cols && fits; c++) {
			uint64_t need = ceil_div(col[(size_t)c * HISTO_NKIND + HISTO_HIT], scale) +
					ceil_div(col[(size_t)c * HISTO_NKIND + HISTO_OTHER], scale);
			fits = need <= rows;
		}
		if (fits)
			break;
		scale = (step % 3 == 1) ? scale / 2 * 5 : scale * 2;
	}
	*per_row = scale;
	char *p = out;
	for (unsigned r = rows; r >= 1; r--) { /* r: the row's height, top first */
		for (unsigned c = 0; c < cols; c++) {
			uint64_t hh = ceil_div(col[(size_t)c * HISTO_NKIND + HISTO_HIT], scale);
			uint64_t oh = ceil_div(col[(size_t)c * HISTO_NKIND + HISTO_OTHER], scale);
			*p++ = r <= hh ? '|' : r <= hh + oh ? '#' : ' ';
		}
		*p++ = '\n';
	}
	free(col);
	/* The ruler, a '+' where each decade starts, and its labels. */
	static const char *const labels[HISTO_DECADES + 1] = {"1us",  "10us",  "100us", "1ms",
							      "10ms", "100ms", "1s",	"10s"};
	char *ruler = p, *lab = p + cols + 1;
	memset(ruler, '-', cols);
	memset(lab, ' ', cols);
	ruler[cols] = lab[cols] = '\n';
	for (unsigned d = 0; d <= HISTO_DECADES; d++) {
		unsigned c = d == HISTO_DECADES ? cols - 1 : d * cols / HISTO_DECADES;
		ruler[c] = '+';
		size_t l = strlen(labels[d]);
		unsigned at = c + l > cols ? cols - (unsigned)l : c;
		memcpy(lab + at, labels[d], l);
	}
	p = lab + cols + 1;
	*p = '\0';
	return (size_t)(p - out);
}

const char *histo_fmt_ns(double ns, char *out, size_t cap)
{
	if (ns < 1e3)
		snprintf(out, cap, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(out, cap, "%.1fus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(out, cap, "%.2fms", ns / 1e6);
	else
		snprintf(out, cap, "%.2fs", ns / 1e9);
	return out;
}
