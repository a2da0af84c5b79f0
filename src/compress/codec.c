/* codec.c - one streaming interface over zlib (gzip), brotli and zstd. */
#define ZLIB_CONST
#include "compress/codec.h"
#include "rt/obj.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define CODEC_MAGIC 0x434f4443u

/* RFC 9659: a zstd content coding needs at most an 8 MiB window. */
#define ZSTD_WINDOW_LOG_MAX 23
#define BROTLI_WINDOW	    22

struct codec {
	unsigned magic;
	enum coding coding;
	bool encoder;
	/* Decoder: the input so far ends exactly at the end of a stream
	 * (a gzip member, a zstd frame, the brotli stream). */
	bool at_end;
	/* zstd decoder: the last call may have left output in the context. */
	bool pending;
	/* A CODEC_FINISH completed: only empty calls are valid now. */
	bool finished;
	int err; /* sticky */
	union {
		z_stream z;
		BrotliEncoderState *be;
		BrotliDecoderState *bd;
		ZSTD_CCtx *zc;
		ZSTD_DCtx *zd;
	} u;
};

/* One codec_run call's buffers and how far it got in each. */
struct io {
	const uint8_t *in;
	size_t in_len, in_pos;
	uint8_t *out;
	size_t out_cap, out_pos;
};

/* --- identity ------------------------------------------------------------ */

static int copy_run(struct io *io)
{
	size_t n = io->in_len - io->in_pos;
	if (n > io->out_cap - io->out_pos)
		n = io->out_cap - io->out_pos;
	memcpy(io->out + io->out_pos, io->in + io->in_pos, n);
	io->in_pos += n;
	io->out_pos += n;
	return io->in_pos < io->in_len;
}

/* --- gzip (zlib) --------------------------------------------------------- */

/* zlib counts in uInt; a larger chunk just takes another call (return 1). */
static void z_load(z_stream *z, const struct io *io)
{
	size_t ni = io->in_len - io->in_pos, no = io->out_cap - io->out_pos;
	z->next_in = io->in + io->in_pos;
	z->avail_in = ni > UINT_MAX ? UINT_MAX : (uInt)ni;
	z->next_out = io->out + io->out_pos;
	z->avail_out = no > UINT_MAX ? UINT_MAX : (uInt)no;
}

static void z_store(const z_stream *z, struct io *io)
{
	io->in_pos = (size_t)(z->next_in - io->in);
	io->out_pos = (size_t)(z->next_out - io->out);
}

static int z_err(int zr)
{
	return zr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
}

static int gzip_enc(struct codec *k, struct io *io, enum codec_op op)
{
	z_stream *z = &k->u.z;
	int want = op == CODEC_FINISH ? Z_FINISH : op == CODEC_FLUSH ? Z_SYNC_FLUSH : Z_NO_FLUSH;
	for (;;) {
		z_load(z, io);
		/* Flush or finish only once the last of IN is in zlib's hands. */
		int flush = z->avail_in == io->in_len - io->in_pos ? want : Z_NO_FLUSH;
		size_t in0 = io->in_pos, out0 = io->out_pos;
		int zr = deflate(z, flush);
		z_store(z, io);
		if (zr == Z_STREAM_END)
			return 0;
		/* Z_BUF_ERROR only says this call could do nothing more. */
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return z_err(zr);
		if (io->out_pos == io->out_cap) {
			/* Without a flush, bytes zlib holds back are its own
			 * business until the next call. A flush must be retried:
			 * zlib cannot tell whether its marker went out, so the
			 * retry may add a harmless 5-byte empty block. */
			unsigned pend = 0;
			if (flush != Z_NO_FLUSH || io->in_pos < io->in_len)
				return 1;
			deflatePending(z, &pend, NULL);
			return pend > 0;
		}
		if (io->in_pos == io->in_len && flush != Z_FINISH)
			return 0;
		if (io->in_pos == in0 && io->out_pos == out0)
			return -EINVAL; /* room on both sides and stuck: a library bug */
	}
}

static int gzip_dec(struct codec *k, struct io *io)
{
	z_stream *z = &k->u.z;
	for (;;) {
		if (k->at_end) {
			if (io->in_pos == io->in_len)
				return 0;
			/* RFC 1952: a gzip file is a series of members. Anything
			 * that is not another member fails its header check. */
			if (inflateReset(z) != Z_OK)
				return -EINVAL;
			k->at_end = false;
		}
		z_load(z, io);
		size_t in0 = io->in_pos, out0 = io->out_pos;
		int zr = inflate(z, Z_NO_FLUSH);
		z_store(z, io);
		if (zr == Z_STREAM_END) {
			k->at_end = true;
			continue;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return z_err(zr);
		if (io->out_pos == io->out_cap)
			return 1;
		if (io->in_pos == io->in_len)
			return 0;
		if (io->in_pos == in0 && io->out_pos == out0)
			return -EINVAL; /* room on both sides and stuck: a library bug */
	}
}

/* --- brotli -------------------------------------------------------------- */

static int br_enc(struct codec *k, struct io *io, enum codec_op op)
{
	BrotliEncoderOperation bop = op == CODEC_FINISH	 ? BROTLI_OPERATION_FINISH
				     : op == CODEC_FLUSH ? BROTLI_OPERATION_FLUSH
							 : BROTLI_OPERATION_PROCESS;
	for (;;) {
		size_t ai = io->in_len - io->in_pos, ao = io->out_cap - io->out_pos;
		const uint8_t *ni = io->in + io->in_pos;
		uint8_t *no = io->out + io->out_pos;
		/* Fails only on allocation failure, or if the caller changed
		 * OP while a flush or finish was under way. */
		if (!BrotliEncoderCompressStream(k->u.be, bop, &ai, &ni, &ao, &no, NULL))
			return -ENOMEM;
		bool progress = ni != io->in + io->in_pos || no != io->out + io->out_pos;
		io->in_pos = (size_t)(ni - io->in);
		io->out_pos = (size_t)(no - io->out);
		if (op == CODEC_FINISH ? BrotliEncoderIsFinished(k->u.be)
				       : ai == 0 && !BrotliEncoderHasMoreOutput(k->u.be))
			return 0;
		if (ao == 0)
			return 1;
		if (!progress)
			return -EINVAL; /* room on both sides and stuck: a library bug */
	}
}

static int br_dec_err(BrotliDecoderState *d)
{
	switch (BrotliDecoderGetErrorCode(d)) {
	case BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES:
	case BROTLI_DECODER_ERROR_ALLOC_TREE_GROUPS:
	case BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MAP:
	case BROTLI_DECODER_ERROR_ALLOC_RING_BUFFER_1:
	case BROTLI_DECODER_ERROR_ALLOC_RING_BUFFER_2:
	case BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES:
		return -ENOMEM;
	default:
		return -EINVAL;
	}
}

static int br_dec(struct codec *k, struct io *io)
{
	for (;;) {
		size_t ai = io->in_len - io->in_pos, ao = io->out_cap - io->out_pos;
		if (k->at_end)
			return ai ? -EINVAL : 0; /* a brotli stream is one stream */
		const uint8_t *ni = io->in + io->in_pos;
		uint8_t *no = io->out + io->out_pos;
		BrotliDecoderResult r =
		    BrotliDecoderDecompressStream(k->u.bd, &ai, &ni, &ao, &no, NULL);
		io->in_pos = (size_t)(ni - io->in);
		io->out_pos = (size_t)(no - io->out);
		switch (r) {
		case BROTLI_DECODER_RESULT_SUCCESS:
			k->at_end = true;
			continue;
		case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
			/* Says so even when OUT filled up with decoded bytes
			 * still in the ring buffer (after an encoder flush, the
			 * receiver needs them now). */
			if (!BrotliDecoderHasMoreOutput(k->u.bd))
				return 0;
			if (ao == 0)
				return 1;
			continue;
		case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
			return 1;
		default:
			return br_dec_err(k->u.bd);
		}
	}
}

/* --- zstd ---------------------------------------------------------------- */

static int zstd_err(size_t r)
{
	return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? -ENOMEM : -EINVAL;
}

static int zstd_enc(struct codec *k, struct io *io, enum codec_op op)
{
	ZSTD_EndDirective mode = op == CODEC_FINISH  ? ZSTD_e_end
				 : op == CODEC_FLUSH ? ZSTD_e_flush
						     : ZSTD_e_continue;
	for (;;) {
		ZSTD_inBuffer ib = {io->in, io->in_len, io->in_pos};
		ZSTD_outBuffer ob = {io->out, io->out_cap, io->out_pos};
		size_t r = ZSTD_compressStream2(k->u.zc, &ob, &ib, mode);
		bool progress = ib.pos != io->in_pos || ob.pos != io->out_pos;
		io->in_pos = ib.pos;
		io->out_pos = ob.pos;
		if (ZSTD_isError(r))
			return zstd_err(r);
		/* For flush and end R is what is left to write; 0 also means
		 * all input was taken. */
		if (mode == ZSTD_e_continue ? ib.pos == ib.size : r == 0)
			return 0;
		if (ob.pos == ob.size)
			return 1;
		if (!progress)
			return -EINVAL; /* room on both sides and stuck: a library bug */
	}
}

static int zstd_dec(struct codec *k, struct io *io)
{
	for (;;) {
		/* Calls that can make no progress are skipped: zstd counts
		 * them and fails after 16 in a row. */
		if (io->in_pos == io->in_len && !k->pending)
			return 0;
		ZSTD_inBuffer ib = {io->in, io->in_len, io->in_pos};
		ZSTD_outBuffer ob = {io->out, io->out_cap, io->out_pos};
		size_t r = ZSTD_decompressStream(k->u.zd, &ob, &ib);
		if (ZSTD_isError(r))
			return zstd_err(r);
		bool progress = ib.pos != io->in_pos || ob.pos != io->out_pos;
		io->in_pos = ib.pos;
		io->out_pos = ob.pos;
		/* R is 0 exactly when a frame ended and is flushed; the next
		 * bytes must start another frame (or a skippable one). */
		if (progress)
			k->at_end = r == 0;
		k->pending = ob.pos == ob.size && r != 0;
		if (ob.pos == ob.size)
			return io->in_pos < io->in_len || k->pending;
		if (!progress && io->in_pos < io->in_len)
			return -EINVAL; /* room on both sides and stuck: a library bug */
	}
}

/* --- the interface ------------------------------------------------------- */

struct level_range {
	int min, max, dflt;
};

static const struct level_range levels[CODING__N] = {
    [CODING_IDENTITY] = {INT_MIN, INT_MAX, 0},
    [CODING_GZIP] = {1, 9, 6},
    [CODING_BR] = {0, 11, 5},
    [CODING_ZSTD] = {1, 19, 3},
};

static struct codec *codec_alloc(enum coding c, bool encoder)
{
	if ((unsigned)c >= CODING__N) {
		errno = EINVAL;
		return NULL;
	}
	struct codec *k = calloc(1, sizeof(*k));
	if (!k)
		return NULL;
	k->magic = CODEC_MAGIC;
	k->coding = c;
	k->encoder = encoder;
	return k;
}

/* Frees K after a failed library setup; errno says why. */
static struct codec *codec_fail(struct codec *k, int err)
{
	codec_free(&k);
	errno = err;
	return NULL;
}

struct codec *codec_encoder_new(enum coding c, int level)
{
	struct codec *k = codec_alloc(c, true);
	if (!k)
		return NULL;
	if (level == -1)
		level = levels[c].dflt;
	if (level < levels[c].min || level > levels[c].max)
		return codec_fail(k, EINVAL);
	switch (c) {
	case CODING_IDENTITY:
		break;
	case CODING_GZIP: {
		/* windowBits 15 + 16: the gzip wrapper, not zlib's. */
		int zr = deflateInit2(&k->u.z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
		if (zr != Z_OK) {
			k->coding = CODING_IDENTITY; /* nothing for codec_free to end */
			return codec_fail(k, zr == Z_MEM_ERROR ? ENOMEM : EINVAL);
		}
		break;
	}
	case CODING_BR:
		k->u.be = BrotliEncoderCreateInstance(NULL, NULL, NULL);
		if (!k->u.be || !BrotliEncoderSetParameter(k->u.be, BROTLI_PARAM_QUALITY, level) ||
		    !BrotliEncoderSetParameter(k->u.be, BROTLI_PARAM_LGWIN, BROTLI_WINDOW))
			return codec_fail(k, ENOMEM);
		break;
	case CODING_ZSTD:
		/* Levels up to 19 keep windowLog <= 23, so the output stays
		 * decodable under RFC 9659's limit. The checksum costs 4 bytes
		 * and lets the receiver catch corruption. */
		k->u.zc = ZSTD_createCCtx();
		if (!k->u.zc ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(k->u.zc, ZSTD_c_compressionLevel, level)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(k->u.zc, ZSTD_c_checksumFlag, 1)))
			return codec_fail(k, ENOMEM);
		break;
	default:
		assert(0);
	}
	return k;
}

struct codec *codec_decoder_new(enum coding c)
{
	struct codec *k = codec_alloc(c, false);
	if (!k)
		return NULL;
	switch (c) {
	case CODING_IDENTITY:
		break;
	case CODING_GZIP: {
		/* 15 + 16 accepts only the gzip wrapper (+32 would also take zlib). */
		int zr = inflateInit2(&k->u.z, 15 + 16);
		if (zr != Z_OK) {
			k->coding = CODING_IDENTITY;
			return codec_fail(k, zr == Z_MEM_ERROR ? ENOMEM : EINVAL);
		}
		break;
	}
	case CODING_BR:
		/* Large windows (a brotli extension) stay off: at most 16 MiB. */
		k->u.bd = BrotliDecoderCreateInstance(NULL, NULL, NULL);
		if (!k->u.bd)
			return codec_fail(k, ENOMEM);
		break;
	case CODING_ZSTD:
		k->u.zd = ZSTD_createDCtx();
		if (!k->u.zd || ZSTD_isError(ZSTD_DCtx_setParameter(k->u.zd, ZSTD_d_windowLogMax,
								    ZSTD_WINDOW_LOG_MAX)))
			return codec_fail(k, ENOMEM);
		break;
	default:
		assert(0);
	}
	return k;
}

int codec_run(struct codec *k, const void *in, size_t in_len, size_t *in_used, void *out,
	      size_t out_cap, size_t *out_len, enum codec_op op)
{
	CHECK_OBJ_NOTNULL(k, CODEC_MAGIC);
	assert(out && out_cap > 0 && (in || in_len == 0));
	assert(op == CODEC_CONTINUE || op == CODEC_FLUSH || op == CODEC_FINISH);
	*in_used = 0;
	*out_len = 0;
	if (k->err)
		return k->err;
	if (k->finished)
		return in_len ? (k->err = -EINVAL) : 0;

	/* Libraries may do arithmetic on IN even when it is empty. */
	struct io io = {in ? in : "", in_len, 0, out, out_cap, 0};
	int r;
	if (k->coding == CODING_IDENTITY)
		r = copy_run(&io);
	else if (k->encoder)
		r = k->coding == CODING_GZIP ? gzip_enc(k, &io, op)
		    : k->coding == CODING_BR ? br_enc(k, &io, op)
					     : zstd_enc(k, &io, op);
	else
		r = k->coding == CODING_GZIP ? gzip_dec(k, &io)
		    : k->coding == CODING_BR ? br_dec(k, &io)
					     : zstd_dec(k, &io);
	/* A decoder that consumed everything, has room left and still is
	 * not at a stream end was given a truncated stream. */
	if (r == 0 && op == CODEC_FINISH && !k->encoder && k->coding != CODING_IDENTITY &&
	    !k->at_end)
		r = -EINVAL;
	*in_used = io.in_pos;
	*out_len = io.out_pos;
	if (r < 0)
		k->err = r;
	else if (r == 0 && op == CODEC_FINISH)
		k->finished = true;
	return r;
}

void codec_free(struct codec **kp)
{
	struct codec *k = *kp;
	if (!k)
		return;
	CHECK_OBJ_NOTNULL(k, CODEC_MAGIC);
	switch (k->coding) {
	case CODING_GZIP:
		if (k->encoder)
			deflateEnd(&k->u.z);
		else
			inflateEnd(&k->u.z);
		break;
	case CODING_BR:
		if (k->encoder)
			BrotliEncoderDestroyInstance(k->u.be);
		else
			BrotliDecoderDestroyInstance(k->u.bd);
		break;
	case CODING_ZSTD:
		if (k->encoder)
			ZSTD_freeCCtx(k->u.zc);
		else
			ZSTD_freeDCtx(k->u.zd);
		break;
	default:
		break;
	}
	k->magic = 0;
	free(k);
	*kp = NULL;
}
