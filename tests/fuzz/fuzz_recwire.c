/*
 * fuzz_recwire.c - libFuzzer harness for src/ops/recwire.c: the binary
 * record frames GET /log?format=bin sends and the subcommands read back
 * (bytes from a network peer, as far as the reader is concerned).
 *
 * The input is read as a stream of frames, as cli/recstream.c reads it.
 * Checked: a frame is taken only whole and inside the input; a record's
 * strings end inside their rooms; a record read back and written again
 * gives the same frame byte for byte (so nothing was read from past the
 * frame), and at most RECWIRE_MAX bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"

#include "ops/recwire.h"

static void strings_end(const struct rlog_rec *r)
{
	FZ_CHECK(memchr(r->verdict, 0, sizeof(r->verdict)));
	FZ_CHECK(memchr(r->client, 0, sizeof(r->client)));
	FZ_CHECK(memchr(r->method, 0, sizeof(r->method)));
	FZ_CHECK(memchr(r->host, 0, sizeof(r->host)));
	FZ_CHECK(memchr(r->target, 0, sizeof(r->target)));
	FZ_CHECK(memchr(r->cache_status, 0, sizeof(r->cache_status)));
	FZ_CHECK(memchr(r->backend, 0, sizeof(r->backend)));
	FZ_CHECK(memchr(r->server, 0, sizeof(r->server)));
	FZ_CHECK(memchr(r->route, 0, sizeof(r->route)));
	FZ_CHECK(memchr(r->reason, 0, sizeof(r->reason)));
	for (unsigned i = 0; i < RLOG_HDRS; i++)
		FZ_CHECK(memchr(r->hdr[i], 0, sizeof(r->hdr[i])));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly SIZE bytes: ASan sees any read past the end. */
	char *in = malloc(size ? size : 1);
	memcpy(in, data, size);
	struct rlog_rec *r = malloc(sizeof(*r)), *r2 = malloc(sizeof(*r2));
	char *again = malloc(RECWIRE_MAX), *again2 = malloc(RECWIRE_MAX);
	size_t pos = 0;
	while (pos < size) {
		size_t used = 0;
		unsigned nhdr = 0;
		uint64_t ln = 0, lt = 0;
		int k = recwire_next(in + pos, size - pos, &used, r, &nhdr, &ln, &lt);
		if (k <= 0)
			break;
		FZ_CHECK(used >= 4 && used <= size - pos && used <= RECWIRE_MAX);
		if (k == RECWIRE_RECORD) {
			strings_end(r);
			FZ_CHECK(nhdr <= RLOG_HDRS);
			const char *vals[RLOG_HDRS];
			for (unsigned i = 0; i < nhdr; i++)
				vals[i] = r->hdr[i];
			size_t n = recwire_record(r, vals, nhdr, again);
			FZ_CHECK(n <= RECWIRE_MAX);
			/* Written again from what was read, then read back: the
			 * same record, the same frame. */
			size_t u2 = 0;
			unsigned nh2 = 0;
			FZ_CHECK(recwire_next(again, n, &u2, r2, &nh2, &ln, &lt) == RECWIRE_RECORD);
			FZ_CHECK(u2 == n && nh2 == nhdr);
			for (unsigned i = 0; i < nh2; i++)
				vals[i] = r2->hdr[i];
			FZ_CHECK(recwire_record(r2, vals, nh2, again2) == n);
			FZ_CHECK(memcmp(again, again2, n) == 0);
		} else {
			FZ_CHECK(k == RECWIRE_LOST && used == 20);
		}
		pos += used;
	}
	free(again2);
	free(again);
	free(r2);
	free(r);
	free(in);
	return 0;
}
