/*
 * date.h - HTTP-date (RFC 9110 5.6.7) parsing and formatting.
 *
 * Times are Unix seconds (int64_t). Parsing accepts the three formats a
 * recipient must accept: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"),
 * obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT", two-digit years
 * interpreted per RFC 9110: more than 50 years in the future means the past
 * century) and asctime ("Sun Nov  6 08:49:37 1994"). Anything else, including
 * trailing garbage, zones other than GMT, a missing comma, doubled spaces,
 * one-digit hours or days (except asctime's " 6") and out-of-range fields
 * (31 Apr, 29 Feb 2023, 24:00:00), is invalid. Two deliberate leniencies
 * (RFC 9110 5.6.7 asks recipients to be robust): day names, month names and
 * "GMT" match in any case, and the day name must be a real one but is not
 * checked against the date. Second 60 (leap second) is accepted and reads
 * as the next minute. No locale, no timezone database, no libc time parsing
 * (strptime depends on the locale): pure arithmetic.
 */
#ifndef RINGCACHE_HTTP_DATE_H
#define RINGCACHE_HTTP_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parse S[0..LEN). Returns true and sets *OUT, or false when invalid.
 * Leading and trailing OWS (SP / HTAB) are ignored. NOW is the current Unix
 * time, used only for the RFC 850 two-digit year rule. */
bool http_date_parse(const char *s, size_t len, int64_t now, int64_t *out);

/* Format T as IMF-fixdate into BUF (at least 30 bytes, NUL-terminated);
 * returns 29. T is clamped to years 0000..9999 so the length is fixed. */
size_t http_date_format(int64_t t, char *buf);

#endif
