/*
 * chunked.h - incremental, strict decoder of the chunked transfer coding
 * (RFC 9112 7.1).
 *
 * After llhttp has parsed the head of a chunked message, the caller feeds the
 * body bytes, as they arrive and in any split, to chunked_feed(), which
 * removes the framing and reports the chunk data through a callback. It
 * accepts exactly the RFC 9112 grammar (chunk extensions with BWS and
 * quoted-strings, leading zeros, trailer fields) and rejects everything
 * else, a bare CR or LF anywhere in the framing included. The strictness is
 * the point: a proxy and the server behind it must agree byte for byte on
 * where a message ends, or a request the proxy thinks is one body becomes
 * two requests upstream (request smuggling). llhttp 8.1.0, which this
 * replaces for the body, takes "0\r\n\n" as a complete body.
 *
 * Chunk extensions are validated and ignored. Trailer fields are validated
 * and dropped, never reported: RFC 9110 6.5.1 lets a recipient discard them,
 * and nothing downstream of this proxy needs them.
 *
 * Limits, so a peer cannot send framing forever without data: each chunk
 * line (size and extensions, through its LF) is at most CHUNKED_MAX_LINE
 * bytes, the trailer section at most the max_trailer given to chunked_init.
 * No allocation, no I/O.
 */
#ifndef RINGCACHE_HTTP_CHUNKED_H
#define RINGCACHE_HTTP_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define CHUNKED_MAX_LINE 4096

/* ---- writing ----------------------------------------------------------------- */

/* Room for a chunk-size line: 16 hex digits, CRLF, NUL. */
#define CHUNKED_SIZE_MAX 20
/* The last chunk and the empty trailer section. */
#define CHUNKED_LAST "0\r\n\r\n"

/* Frame LEN bytes at P for sending: with CHUNKED as one chunk in IOV[0..3)
 * (its size line written into SZ), else IOV[0] the bytes alone. Returns the
 * number of iovecs used (0 when LEN is 0: an empty chunk would end the body). */
int chunked_frame(struct iovec *iov, char sz[CHUNKED_SIZE_MAX], const void *p, size_t len,
		  bool chunked);

/* ---- reading ----------------------------------------------------------------- */

/*
 * Called for each run of chunk-data bytes, in order: AT points into the
 * caller's input buffer (one call per contiguous run in one chunked_feed
 * call, not one per byte). The callback may memmove the bytes to an address
 * <= AT (the caller compacts decoded data in place): the decoder never reads
 * input before the end of a run it has already reported.
 */
typedef void (*chunked_data_fn)(void *ctx, const char *at, size_t len);

struct chunked {
	unsigned magic;	      /* set by chunked_init, checked by chunked_feed */
	uint8_t state;	      /* private: where in the grammar the next byte is */
	uint64_t left;	      /* private: the size being read, then data left in the chunk */
	uint32_t line_len;    /* private: bytes of the current chunk line so far */
	uint32_t trailer_len; /* private: bytes of the trailer section so far */
	uint32_t max_trailer;
	bool done;	   /* the final CRLF of the trailer section was consumed */
	const char *error; /* static reason string once chunked_feed failed */
};

/* Prepare C to decode one chunked body. MAX_TRAILER bounds the trailer
 * section from after the last-chunk line through the final CRLF, that CRLF
 * included: 2 accepts "0\r\n\r\n" and no trailer fields. */
void chunked_init(struct chunked *c, uint32_t max_trailer);

/*
 * Decode LEN bytes at P, calling FN(CTX, ...) for each run of chunk data.
 * Returns the number of bytes consumed: all of LEN unless the body ended
 * inside it (then c->done is true and the bytes after the final CRLF are
 * left for the next message), or -1 on a syntax or limit error (c->error
 * set; further calls keep returning -1). Any split of the same input into
 * calls gives the same data, the same end and the same error. Calling it
 * after done returns 0.
 */
long chunked_feed(struct chunked *c, const char *p, size_t len, chunked_data_fn fn, void *ctx);

#endif
