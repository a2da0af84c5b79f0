/*
 * codec.h - streaming content-coding encoders and decoders (gzip, br, zstd).
 *
 * One interface over zlib, brotli and zstd so the proxy can compress a
 * response or decode an origin's body chunk by chunk, with an output buffer
 * of the caller's size per call: nothing here grows without bound, so the
 * caller alone decides how much expansion a body may have.
 *
 * A codec is used by one thread at a time (a worker) and may move between
 * threads between calls; it holds no locks and no thread-local state.
 *
 * Formats: gzip is the RFC 1952 wrapper (not raw zlib, which the gzip
 * decoder rejects); concatenated gzip members and concatenated zstd frames
 * decode as one body, as gzip(1) and zstd(1) do, but anything else after
 * the end of a stream is an error. The zstd decoder refuses windows over
 * 8 MiB (RFC 9659, what browsers accept), so a hostile stream cannot make
 * a worker allocate more. Empty input is not a valid compressed stream.
 * CODING_IDENTITY is a plain copy, so a pipeline needs no special case.
 */
#ifndef RINGCACHE_COMPRESS_CODEC_H
#define RINGCACHE_COMPRESS_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include "http/coding.h"


enum codec_op {
	CODEC_CONTINUE, /* take input, emit what is ready */
	CODEC_FLUSH,	/* also make everything taken so far decodable now */
	CODEC_FINISH,	/* no more input follows: end (or check the end of) the stream */
};

struct codec;

/* LEVEL: gzip 1-9, br 0-11, zstd 1-19 (above 19 zstd windows exceed what
 * browsers accept), ignored for identity; -1 picks a proxy's default (gzip 6,
 * br 5, zstd 3). NULL with errno EINVAL (bad coding or level) or ENOMEM. */
struct codec *codec_encoder_new(enum coding c, int level);
struct codec *codec_decoder_new(enum coding c);

/*
 * Consume IN[0..in_len) and write into OUT[0..out_cap) (out_cap > 0);
 * *in_used and *out_len say how much of each. Returns:
 *   1  OUT is full and more output may be pending: call again with the
 *      rest of the input (IN + *in_used) and the same op (the next call
 *      may produce nothing and return 0);
 *   0  all input consumed and OP is complete: for CODEC_FLUSH every byte fed
 *      so far is decodable from the output, for CODEC_FINISH the stream
 *      has ended (encoder: trailer written; decoder: the stream was whole);
 *  -EINVAL  decoder: corrupt, truncated (CODEC_FINISH before the end) or
 *      trailing data; encoder: input after CODEC_FINISH completed;
 *  -ENOMEM.
 * Errors are sticky. Decoders emit what they can on every call, so for
 * them CODEC_FLUSH is CODEC_CONTINUE.
 */
int codec_run(struct codec *k, const void *in, size_t in_len, size_t *in_used, void *out,
	      size_t out_cap, size_t *out_len, enum codec_op op);

/* Free K and its library state; NULLs *kp (NULL is fine). */
void codec_free(struct codec **kp);

#endif
