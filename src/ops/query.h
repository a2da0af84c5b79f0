/*
 * query.h - the record query language of `ringcache log -q` and GET /log:
 * parsed once into a small compiled form, evaluated against each record
 * without allocating.
 *
 *   query   := or
 *   or      := and { "or" and }
 *   and     := unary { "and" unary }
 *   unary   := "not" unary | "(" or ")" | test
 *   test    := FIELD [ OP VALUE ]            a FIELD alone: non-empty / non-zero
 *   OP      := == != < <= > >= ~ !~         ~ !~: PCRE2 regex match on a string field
 *   VALUE   := "string" | 'string' | NUMBER [unit] | word
 *
 * Fields (query_field_names lists them): numbers (status, bytes_in,
 * bytes_out, attempts, reused, loop, id), durations (ttfb, duration,
 * be_total, be_connect, be_ttfb: compared with 200ms, 1.5s, 10us, 2m, or a
 * bare number of milliseconds), sizes (bytes_in, bytes_out: 10k, 4KiB,
 * 1MB, 512B; k/M/G are powers of 1024 as the config's sizes), strings
 * (client, method, host, target, cache, cache_status, backend, server,
 * route, reason), request headers as hdr.NAME and response headers as
 * resp.NAME (lower-case; kept as ">NAME", RLOG_RESP_MARK). Strings
 * compare with == != (exact, case-sensitive) and the regexes; numbers with
 * all six comparisons. A duration or size unit on a field of another kind
 * is an error. Keywords and field names are case-insensitive. An empty
 * query matches every record.
 *
 * Errors carry the 1-based column of the token at fault.
 */
#ifndef RINGCACHE_OPS_QUERY_H
#define RINGCACHE_OPS_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "ops/rlog.h"

#define QUERY_MAX_LEN	2048 /* bytes of query text */
#define QUERY_MAX_NODES 64   /* tests and operators */
#define QUERY_MAX_STR	256  /* a string value's room */

struct query_node;

struct query {
	unsigned magic;
	unsigned n;
	int root; /* -1: empty query, matches everything */
	struct query_node *nodes;
	/* Header names the query reads (hdr.NAME; resp.NAME as ">NAME"), in first-use
	 * order; a test of name I reads value hslot[I] of the record (its
	 * index in the record's hdr[], by default I: query_bind_hdr moves it). */
	unsigned nhdr;
	char hdr[RLOG_HDRS][RLOG_HDR_NAME];
	int8_t hslot[RLOG_HDRS];
};

struct query_error {
	unsigned col; /* 1-based; 0 when no error */
	char msg[160];
};

/* Compile SRC into Q (which the caller owns; query_fini frees what it
 * holds). 0, or -EINVAL with *ERR set (Q then needs no query_fini), or
 * -ENOMEM. */
int query_compile(struct query *q, const char *src, struct query_error *err);

/* Does REC match? Allocates nothing (each regex has its match data). */
bool query_match(const struct query *q, const struct rlog_rec *rec);

/* Read header name I (of q->hdr) from record slot SLOT instead. */
void query_bind_hdr(struct query *q, unsigned i, unsigned slot);

/* Free the compiled regexes and nodes; Q may be compiled again after. */
void query_fini(struct query *q);

/* "status, ttfb, ..." for messages and help. */
extern const char query_field_names[];

#endif
