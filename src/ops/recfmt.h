/*
 * recfmt.h - request records (ops/rlog.h) as text: the lines GET /log
 * streams and `ringcache log` prints as they come.
 *
 * The daemon formats, so that every client (curl, the CLI, the dashboard)
 * gets the same text and none needs a JSON parser. Formats:
 *
 *   json     one object per line: {"time":"2026-12-01T17:04:05.123456Z",
 *            "id":"0001000000000007","client":...,"method":...,"host":...,
 *            "target":...,"proto":"HTTP/1.1","status":200,"cache":"hit",
 *            "cache_status":...,"bytes_in":N,"bytes_out":N,"ttfb_us":N|null,
 *            "duration_us":N,"route":...|null,"reason":...|null,
 *            "backend":null|{"name","server","attempts","reused","connect_us",
 *            "ttfb_us","total_us"},"hdr":{"name":"value",...}
 *            [,"resp_hdr":{"name":"value",...}]}  (the latter when the
 *            stream carries response headers: names with RLOG_RESP_MARK)
 *            Strings escaped per RFC 8259; bytes from 0x80 up as \u00XX
 *            (records are cut at byte boundaries, so they need not be UTF-8).
 *   compact  17:04:05.123 200 hit      GET example.com/path 1.2k 0.4ms ...
 *   ncsa     NCSA combined: CLIENT - - [01/Dec/2026:17:04:05 +0000]
 *            "GET /path HTTP/1.1" 200 1234 "REFERER" "USER-AGENT"
 *            (the referer and user-agent headers, when the stream has them)
 *
 * GROUP (compact and ncsa): the backend exchange on an indented line of its
 * own under its request. Every line ends with '\n'. Nothing allocates; a
 * record always fits in RECFMT_MAX bytes.
 */
#ifndef RINGCACHE_OPS_RECFMT_H
#define RINGCACHE_OPS_RECFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/hbuf.h"
#include "ops/rlog.h"

#define RECFMT_MAX 20480

enum recfmt { RECFMT_JSON, RECFMT_COMPACT, RECFMT_NCSA };

/* Header names (each shorter than RLOG_HDR_NAME) and their values for
 * one record, in the stream's order. */
struct recfmt_hdrs {
	unsigned n;
	const char *name[RLOG_HDRS];
	const char *value[RLOG_HDRS]; /* NULL: absent */
};

/* Format REC into BUF (RECFMT_MAX bytes); returns the length. */
size_t recfmt_record(enum recfmt f, bool group, const struct rlog_rec *rec,
		     const struct recfmt_hdrs *h, char *buf);

/* The line that says records were lost: N since the last, TOTAL in all. */
size_t recfmt_lost(enum recfmt f, uint64_t n, uint64_t total, char *buf, size_t cap);

/* S as a JSON string, quotes included (the escaping of the json format). */
void recfmt_json_string(struct hbuf *b, const char *s);

/* "json", "compact", "ncsa" -> *OUT; false for anything else. */
bool recfmt_parse(const char *name, size_t len, enum recfmt *out);

#endif
