/*
 * date.c - HTTP-date (RFC 9110 5.6.7) parsing and IMF-fixdate formatting.
 *
 * Fixed-layout parsers for the three formats, proleptic Gregorian day
 * arithmetic (days_from_civil / civil_from_days after H. Hinnant's public
 * domain algorithms). No libc time or locale functions: this runs on every
 * response carrying Date, Expires or Last-Modified.
 */
#include "http/date.h"

#include <string.h>

#define SECS_PER_DAY 86400
/* Mean Gregorian year, for the RFC 850 "more than 50 years" window. */
#define SECS_PER_YEAR 31556952

/* Range http_date_format can print with a 4-digit year:
 * 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
#define T_MIN (-62167219200LL)
#define T_MAX 253402300799LL

static const char wkday_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wkday_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
					  "Thursday", "Friday", "Saturday"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive compare of N bytes (strncasecmp follows the locale). */
static bool ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (lower(a[i]) != lower(b[i]))
			return false;
	}
	return true;
}

static int month_index(const char *p)
{
	for (int i = 0; i < 12; i++) {
		if (ieq(p, month_names[i], 3))
			return i + 1;
	}
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* N decimal digits at P, or -1. */
static int digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* Days since 1970-01-01 of civil date Y-M-D (M 1..12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* "HH:MM:SS" at P; second 60 is a leap second (RFC 9110 5.6.7). */
static bool parse_time(const char *p, int *secs)
{
	if (p[2] != ':' || p[5] != ':')
		return false;
	int h = digits(p, 2), mi = digits(p + 3, 2), s = digits(p + 6, 2);
	if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60)
		return false;
	*secs = h * 3600 + mi * 60 + s;
	return true;
}

static bool make_time(int64_t y, int m, int d, int secs, int64_t *out)
{
	if (m < 1 || d < 1 || d > days_in_month(y, m))
		return false;
	*out = days_from_civil(y, m, d) * SECS_PER_DAY + secs;
	return true;
}

/* IMF-fixdate after "Sun, ": "06 Nov 1994 08:49:37 GMT". */
static bool parse_imf(const char *p, size_t n, int64_t *out)
{
	if (n != 24 || p[2] != ' ' || p[6] != ' ' || p[11] != ' ' || p[20] != ' ' ||
	    !ieq(p + 21, "GMT", 3))
		return false;
	int d = digits(p, 2), y = digits(p + 7, 4), secs;
	if (d < 0 || y < 0 || !parse_time(p + 12, &secs))
		return false;
	return make_time(y, month_index(p + 3), d, secs, out);
}

/* RFC 850 after "Sunday, ": "06-Nov-94 08:49:37 GMT". */
static bool parse_rfc850(const char *p, size_t n, int64_t now, int64_t *out)
{
	if (n != 22 || p[2] != '-' || p[6] != '-' || p[9] != ' ' || p[18] != ' ' ||
	    !ieq(p + 19, "GMT", 3))
		return false;
	int d = digits(p, 2), m = month_index(p + 3), yy = digits(p + 7, 2), secs;
	if (d < 1 || d > 31 || m == 0 || yy < 0 || !parse_time(p + 10, &secs))
		return false;
	/* RFC 9110 5.6.7: a date more than 50 years in the future is the most
	 * recent past year with those digits. Start a century past now's and
	 * step back (at most three times) until inside the window. The window
	 * test uses the unchecked date so that 29-Feb picks its year first and
	 * is then validated in that year. */
	if (now < T_MIN)
		now = T_MIN;
	if (now > T_MAX)
		now = T_MAX;
	int64_t ny;
	int nm, nd;
	civil_from_days(floor_div(now, SECS_PER_DAY), &ny, &nm, &nd);
	int64_t limit = now + 50LL * SECS_PER_YEAR;
	int64_t y = floor_div(ny, 100) * 100 + 100 + yy;
	while (days_from_civil(y, m, d) * SECS_PER_DAY + secs > limit)
		y -= 100;
	return make_time(y, m, d, secs, out);
}

/* asctime after "Sun ": "Nov  6 08:49:37 1994" (day may be " 6" or "06"). */
static bool parse_asctime(const char *p, size_t n, int64_t *out)
{
	if (n != 20 || p[3] != ' ' || p[6] != ' ' || p[15] != ' ')
		return false;
	int d = p[4] == ' ' ? digits(p + 5, 1) : digits(p + 4, 2);
	int y = digits(p + 16, 4), secs;
	if (d < 0 || y < 0 || !parse_time(p + 7, &secs))
		return false;
	return make_time(y, month_index(p), d, secs, out);
}

bool http_date_parse(const char *s, size_t len, int64_t now, int64_t *out)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;

	/* The day name is checked for spelling only: RFC 9110 does not ask a
	 * recipient to verify it against the date, and the date is what counts. */
	size_t w = 0;
	while (w < len && ((s[w] >= 'a' && s[w] <= 'z') || (s[w] >= 'A' && s[w] <= 'Z')))
		w++;
	if (w + 2 > len)
		return false;
	bool short_day = false, long_day = false;
	for (int i = 0; i < 7; i++) {
		if (w == 3 && ieq(s, wkday_names[i], 3))
			short_day = true;
		else if (w > 3 && w == strlen(wkday_long[i]) && ieq(s, wkday_long[i], w))
			long_day = true;
	}
	const char *p = s + w + 1;
	size_t n = len - w - 1;
	if (short_day && s[w] == ',' && s[w + 1] == ' ')
		return parse_imf(p + 1, n - 1, out);
	if (long_day && s[w] == ',' && s[w + 1] == ' ')
		return parse_rfc850(p + 1, n - 1, now, out);
	if (short_day && s[w] == ' ')
		return parse_asctime(p, n, out);
	return false;
}

static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

size_t http_date_format(int64_t t, char *buf)
{
	/* Clamp so the year always has four digits and the length stays 29. */
	if (t < T_MIN)
		t = T_MIN;
	if (t > T_MAX)
		t = T_MAX;
	int64_t days = floor_div(t, SECS_PER_DAY);
	int secs = (int)(t - days * SECS_PER_DAY);
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	int wd = (int)((days % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */

	char *p = buf;
	for (int i = 0; i < 3; i++)
		*p++ = wkday_names[wd][i];
	*p++ = ',';
	*p++ = ' ';
	put2(p, d);
	p += 2;
	*p++ = ' ';
	for (int i = 0; i < 3; i++)
		*p++ = month_names[m - 1][i];
	*p++ = ' ';
	put2(p, (int)(y / 100));
	put2(p + 2, (int)(y % 100));
	p += 4;
	*p++ = ' ';
	put2(p, secs / 3600);
	p[2] = ':';
	put2(p + 3, secs / 60 % 60);
	p[5] = ':';
	put2(p + 6, secs % 60);
	p += 8;
	*p++ = ' ';
	*p++ = 'G';
	*p++ = 'M';
	*p++ = 'T';
	*p = '\0';
	return (size_t)(p - buf);
}
