/* statcalc.c - rates, ratios, window quantiles and -f filters for `ringcache stat`. */
#include "cli/statcalc.h"

#include <fnmatch.h>
#include <math.h>
#include <string.h>

double stat_interval(const struct prom_snap *prev, const struct prom_snap *cur)
{
	if (!prev || !prev->n || prev->uptime_s < 0 || cur->uptime_s < 0)
		return -1;
	double dt = cur->uptime_s - prev->uptime_s;
	return dt > 0 ? dt : -1;
}

double stat_prev_value(const struct prom_snap *prev, const struct prom_snap *cur, size_t i)
{
	if (!prev)
		return NAN;
	const char *name = cur->s[i].name;
	if (i < prev->n && !strcmp(prev->s[i].name, name))
		return prev->s[i].value;
	const struct prom_series *s = prom_find(prev, name);
	return s ? s->value : NAN;
}

double stat_rate(double before, double now, double dt)
{
	if (dt <= 0 || isnan(before) || now < before)
		return NAN;
	return (now - before) / dt;
}

double stat_avg(double value, double uptime)
{
	return uptime > 0 ? value / uptime : NAN;
}

double stat_hit_ratio(double hits, double misses)
{
	return hits + misses > 0 ? hits / (hits + misses) : NAN;
}

double stat_latency_quantile(const struct prom_snap *prev, const struct prom_snap *cur, double q)
{
	size_t n = cur->nlat;
	if (n < 2 || (prev && prev->nlat != n))
		return NAN;
	double b[PROM_LAT_MAX], total = 0;
	for (size_t i = 0; i < n; i++) {
		b[i] = cur->lat_bucket[i] - (prev ? prev->lat_bucket[i] : 0);
		if (b[i] < 0)
			return NAN; /* restarted in between */
		total += b[i];
	}
	if (total <= 0)
		return NAN;
	double rank = q * total, cum = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		if (b[i] > 0 && cum + b[i] >= rank) {
			double lo = i ? cur->lat_le[i - 1] : 0, hi = cur->lat_le[i];
			return lo + (hi - lo) * (rank - cum) / b[i];
		}
		cum += b[i];
	}
	return cur->lat_le[n - 2]; /* in +Inf: the highest finite bound */
}

static bool matches(const char *pat, const char *name)
{
	if (strpbrk(pat, "*?["))
		return fnmatch(pat, name, 0) == 0;
	return strstr(name, pat) != NULL;
}

bool stat_filter_pass(const char *const *pats, size_t n, const char *name)
{
	bool included = false, any_include = false;
	for (size_t i = 0; i < n; i++) {
		if (pats[i][0] == '^') {
			if (matches(pats[i] + 1, name))
				return false;
		} else {
			any_include = true;
			included = included || matches(pats[i], name);
		}
	}
	return included || !any_include;
}
