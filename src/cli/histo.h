/*
 * histo.h - the histogram behind `ringcache hist`: response times of hits
 * and of everything else over a sliding window of whole seconds, on a
 * log-scale axis from 1 us to 10 s, and its drawing into a text grid, as
 * varnishhist draws it (hits '|', others '#').
 *
 * Fixed buckets: HISTO_PER_DECADE per power of ten from 1 us to 10 s (a
 * bucket is 6% wide), times under 1 us in the first and from 10 s on in the
 * last; one set per second of the window, so counts age out a second at a
 * time. Memory is fixed at creation (window x 2 x HISTO_BUCKETS counters),
 * whatever the traffic. Time is an argument (NOW, whole seconds), so the
 * tests need no sleeps.
 *
 * Quantiles are read from the buckets: the geometric middle of the bucket
 * the rank falls in, so within 3% of the true value.
 */
#ifndef RINGCACHE_CLI_HISTO_H
#define RINGCACHE_CLI_HISTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HISTO_DECADES	 7 /* 1 us .. 10 s */
#define HISTO_PER_DECADE 40
#define HISTO_BUCKETS	 (HISTO_DECADES * HISTO_PER_DECADE)
#define HISTO_MAX_WINDOW 600 /* seconds */

enum histo_kind { HISTO_HIT, HISTO_OTHER, HISTO_NKIND };

struct histo;

/* WINDOW seconds (1..HISTO_MAX_WINDOW); NULL on ENOMEM or a bad window. */
struct histo *histo_create(unsigned window);
void histo_free(struct histo **hp);

/* The bucket of a time of NS nanoseconds (negative: 0). */
unsigned histo_bucket(int64_t ns);
/* The lower edge of bucket B in nanoseconds. */
double histo_bucket_lo_ns(unsigned b);

/* Count one response time NS of KIND at second NOW (an older NOW counts
 * into the current second). */
void histo_add(struct histo *h, enum histo_kind kind, int64_t ns, int64_t now);
/* Move the window to second NOW: seconds that left it are cleared. */
void histo_advance(struct histo *h, int64_t now);

/* Count of KIND in the window, and its quantile Q (0..1) in nanoseconds
 * (0 when the count is 0). */
uint64_t histo_count(struct histo *h, int64_t now, enum histo_kind kind);
double histo_quantile_ns(struct histo *h, int64_t now, enum histo_kind kind, double q);

/*
 * Draw the window at NOW into OUT (CAP bytes): ROWS lines of COLS
 * characters, each column a slice of the log axis (left: 1 us), hits
 * stacked at the bottom as '|', others above them as '#', scaled so the
 * tallest column fits (a count that is not 0 shows at least one
 * character); then a ruler and a line of labels (1us 10us .. 10s). Each
 * line ends in '\n'; OUT is NUL-terminated. *PER_ROW gets the count one
 * character stands for. The length, or 0 when CAP is too small (it needs
 * (ROWS + 2) x (COLS + 1) + 1) or COLS < 16 or ROWS < 1.
 */
size_t histo_render(struct histo *h, int64_t now, unsigned cols, unsigned rows, char *out,
		    size_t cap, uint64_t *per_row);

/* "12.3us", "4.56ms", "1.20s" into OUT (at least 16 bytes). */
const char *histo_fmt_ns(double ns, char *out, size_t cap);

#endif
