/*
 * recwire.h - request records (ops/rlog.h) in the binary form GET /log
 * sends with format=bin, and its reading back: what `ringcache log`, top
 * and hist ask for, so that the daemon's loop copies fields instead of
 * formatting text (the text is made in the subcommand's process, with
 * ops/recfmt.h, the same code the daemon uses for the text formats).
 *
 * The body starts with RECWIRE_MAGIC (8 bytes), then frames:
 *
 *   u8 kind (1: record, 2: lost)  u8 0  u16 payload length  payload
 *
 * A record's payload: the fixed numbers (below, in this order; integers
 * little-endian: the build refuses a big-endian target), then the ten
 * strings (verdict, client, method, host, target, cache_status, backend,
 * server, route, reason) each as u16 length + bytes, then u8 N and N
 * request header values (the stream's names in order) the same way. A
 * lost frame's payload: u64 records lost since the last, u64 in all.
 *
 *   u64 id, i64 time_us, i64 ttfb_ns, i64 duration_ns, u64 bytes_in,
 *   u64 bytes_out, i64 be_total_ns, i64 be_connect_ns, i64 be_ttfb_ns,
 *   u16 be_attempts, i8 be_reused, u8 http_major, u8 http_minor,
 *   u16 status, u16 loop
 *
 * The reader checks every length against its room and the frame's end:
 * a frame that does not add up is an error, never a guess.
 */
#ifndef RINGCACHE_OPS_RECWIRE_H
#define RINGCACHE_OPS_RECWIRE_H

#include <stddef.h>
#include <stdint.h>

#include "ops/rlog.h"

#define RECWIRE_MAGIC	  "RCREC1\r\n"
#define RECWIRE_MAGIC_LEN 8
#define RECWIRE_MAX	  4096 /* bytes of one frame, at most */
#define RECWIRE_TYPE	  "application/vnd.ringcache.records"

enum { RECWIRE_RECORD = 1, RECWIRE_LOST = 2 };

/* REC as a frame into BUF (RECWIRE_MAX bytes), with the values of N
 * header names (VALUES[i] NULL: absent). Returns its length. */
size_t recwire_record(const struct rlog_rec *rec, const char *const *values, unsigned n, char *buf);

/* A lost frame: N since the last, TOTAL in all. */
size_t recwire_lost(uint64_t n, uint64_t total, char *buf);

/*
 * The frame at the start of BUF (LEN bytes): 0 when LEN does not hold
 * all of it yet; -1 when it is malformed; else its kind, with *USED its
 * length, and *REC filled (a record: its header values in hdr[0..N-1],
 * *NHDR = N) or *LOST_N and *LOST_TOTAL (a lost frame).
 */
int recwire_next(const char *buf, size_t len, size_t *used, struct rlog_rec *rec, unsigned *nhdr,
		 uint64_t *lost_n, uint64_t *lost_total);

#endif
