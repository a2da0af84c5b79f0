/* Unit tests of src/compress/codec.c: round trips through every coding with
 * random chunking and tiny output buffers, flush, cross-checks against the
 * libraries' one-shot APIs, and rejection of corrupt, truncated, trailing
 * and oversized-window streams. */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_windowLog bounds */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

#include "compress/codec.h"

static const enum coding all[] = {CODING_IDENTITY, CODING_GZIP, CODING_BR, CODING_ZSTD};
static const enum coding packed[] = {CODING_GZIP, CODING_BR, CODING_ZSTD};

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void buf_put(struct buf *b, const void *s, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		cr_assert(b->p);
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){0};
}

static uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 32);
}

/* LEN bytes of text from a small vocabulary: compresses well, not trivially. */
static uint8_t *text(size_t len, uint64_t seed)
{
	static const char *const words[] = {"cache ", "proxy ",	 "origin ", "header ",
					    "vary ",  "stale ",	 "fresh ",  "\n",
					    "<div>",  "</div> ", "gzip ",   "brotli "};
	uint8_t *t = malloc(len);
	cr_assert(t);
	for (size_t i = 0; i < len;) {
		const char *w = words[rnd(&seed) % (sizeof(words) / sizeof(words[0]))];
		for (; *w && i < len; w++)
			t[i++] = (uint8_t)*w;
	}
	return t;
}

static uint8_t *noise(size_t len, uint64_t seed)
{
	uint8_t *t = malloc(len);
	cr_assert(t);
	for (size_t i = 0; i < len; i++)
		t[i] = (uint8_t)rnd(&seed);
	return t;
}

/*
 * Run all of IN through K in chunks of 1..MAXIN bytes (0: one chunk) with an
 * OUTCAP-byte output buffer, ending with OP on the last chunk, and append
 * the output to OUT. Checks the return contract on every call. Returns 0 or
 * the first error.
 */
static int pump(struct codec *k, const uint8_t *in, size_t len, size_t maxin, size_t outcap,
		enum codec_op last_op, uint64_t *seed, struct buf *out)
{
	uint8_t *ob = malloc(outcap);
	cr_assert(ob);
	size_t pos = 0;
	int r = 0;
	do {
		size_t n = len - pos;
		if (maxin && n > 0 && seed) {
			size_t c = 1 + rnd(seed) % maxin;
			n = c < n ? c : n;
		}
		enum codec_op op = pos + n == len ? last_op : CODEC_CONTINUE;
		size_t off = 0;
		do {
			size_t used = SIZE_MAX, got = SIZE_MAX;
			r = codec_run(k, in + pos + off, n - off, &used, ob, outcap, &got, op);
			cr_assert_leq(used, n - off);
			cr_assert_leq(got, outcap);
			buf_put(out, ob, got);
			off += used;
			if (r < 0)
				goto out;
			cr_assert(r == 0 || r == 1, "rc %d", r);
			if (r == 1)
				cr_assert_eq(got, outcap, "1 only when OUT is full");
		} while (r == 1);
		cr_assert_eq(off, n, "0 means all input was consumed");
		pos += n;
	} while (pos < len);
out:
	free(ob);
	return r;
}

/* Encode IN with C at LEVEL (whole, large buffers): the compressed bytes. */
static struct buf encode(enum coding c, int level, const uint8_t *in, size_t len)
{
	struct buf b = {0};
	struct codec *k = codec_encoder_new(c, level);
	cr_assert(k, "encoder %s level %d", coding_name(c), level);
	cr_assert_eq(pump(k, in, len, 0, 65536, CODEC_FINISH, NULL, &b), 0);
	codec_free(&k);
	cr_assert_null(k);
	return b;
}

/* Decode IN with C; the return code of the last call, output in *OUT. */
static int decode(enum coding c, const uint8_t *in, size_t len, size_t maxin, size_t outcap,
		  struct buf *out)
{
	uint64_t seed = 0x9e3779b97f4a7c15u ^ len;
	struct codec *k = codec_decoder_new(c);
	cr_assert(k);
	int r = pump(k, in, len, maxin, outcap, CODEC_FINISH, &seed, out);
	codec_free(&k);
	return r;
}

/* Round trip IN through C, with chunking and buffer sizes as given. */
static void round_trip(enum coding c, const uint8_t *in, size_t len, size_t maxin, size_t outcap,
		       size_t *zlen)
{
	uint64_t seed = 0x1234567 + len + c;
	struct buf z = {0}, d = {0};
	struct codec *k = codec_encoder_new(c, -1);
	cr_assert(k);
	cr_assert_eq(pump(k, in, len, maxin, outcap, CODEC_FINISH, &seed, &z), 0);
	codec_free(&k);
	cr_assert_eq(decode(c, z.p, z.len, maxin, outcap, &d), 0, "%s decode", coding_name(c));
	cr_assert_eq(d.len, len, "%s: %zu bytes back, want %zu", coding_name(c), d.len, len);
	cr_assert(len == 0 || memcmp(d.p, in, len) == 0, "%s: bytes differ", coding_name(c));
	if (zlen)
		*zlen = z.len;
	buf_free(&z);
	buf_free(&d);
}

Test(compress_codec, names_and_parse)
{
	for (int c = 0; c < CODING__N; c++) {
		const char *n = coding_name(c);
		cr_expect_eq(coding_parse(n, strlen(n)), c, "%s", n);
	}
	cr_expect_str_eq(coding_name(CODING_BR), "br");
	cr_expect_str_eq(coding_name(CODING__N), "?");
	static const struct {
		const char *s;
		int want;
	} cases[] = {
	    {"GZIP", CODING_GZIP},
	    {"gZiP", CODING_GZIP},
	    {"x-gzip", CODING_GZIP},
	    {"X-GZip", CODING_GZIP},
	    {"BR", CODING_BR},
	    {"Zstd", CODING_ZSTD},
	    {"IDENTITY", CODING_IDENTITY},
	    {"deflate", -1},
	    {"compress", -1},
	    {"gzip2", -1},
	    {"gzi", -1},
	    {"x-gzi", -1},
	    {"", -1},
	    {"*", -1},
	    {"x-br", -1},
	    {" gzip", -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(coding_parse(cases[i].s, strlen(cases[i].s)), cases[i].want, "'%s'",
			     cases[i].s);
	/* Length-delimited: "gzipper" cut to 4 is gzip. */
	cr_expect_eq(coding_parse("gzipper", 4), CODING_GZIP);
}

Test(compress_codec, empty_and_one_byte)
{
	for (size_t i = 0; i < 4; i++) {
		size_t zlen;
		round_trip(all[i], (const uint8_t *)"", 0, 0, 65536, &zlen);
		cr_expect(all[i] == CODING_IDENTITY ? zlen == 0 : zlen > 0,
			  "%s: an empty body still has a header", coding_name(all[i]));
		round_trip(all[i], (const uint8_t *)"x", 1, 0, 65536, NULL);
		round_trip(all[i], (const uint8_t *)"x", 1, 1, 1, NULL);
	}
}

Test(compress_codec, text_1mib_random_chunks_tiny_buffers, .timeout = 120)
{
	size_t len = 1 << 20;
	uint8_t *t = text(len, 42);
	for (size_t i = 0; i < 4; i++) {
		size_t zlen;
		round_trip(all[i], t, len, 4096, 7, &zlen);
		if (all[i] != CODING_IDENTITY)
			cr_expect_lt(zlen, len / 3, "%s compresses text: %zu", coding_name(all[i]),
				     zlen);
		round_trip(all[i], t, len, 100000, 65536, NULL);
	}
	free(t);
}

Test(compress_codec, incompressible)
{
	size_t len = 256 << 10;
	uint8_t *t = noise(len, 7);
	for (size_t i = 0; i < 4; i++) {
		size_t zlen;
		round_trip(all[i], t, len, 3000, 4096, &zlen);
		cr_expect_lt(zlen, len + len / 100 + 1024, "%s expands random data by %zu",
			     coding_name(all[i]), zlen - len);
		round_trip(all[i], t, len, 1, 7, NULL);
	}
	free(t);
}

Test(compress_codec, every_level)
{
	static const int range[CODING__N][2] = {{0, 0}, {1, 9}, {0, 11}, {1, 19}};
	uint8_t *t = text(20000, 3);
	for (size_t i = 0; i < 3; i++) {
		enum coding c = packed[i];
		for (int l = range[c][0]; l <= range[c][1]; l++) {
			struct buf z = encode(c, l, t, 20000), d = {0};
			cr_assert_eq(decode(c, z.p, z.len, 0, 65536, &d), 0, "%s %d",
				     coding_name(c), l);
			cr_assert(d.len == 20000 && memcmp(d.p, t, 20000) == 0);
			buf_free(&z);
			buf_free(&d);
		}
		/* -1 is the default, any other value out of range fails. */
		int bad[] = {range[c][0] - 1, range[c][1] + 1, -2, 1000};
		for (size_t j = 0; j < 4; j++) {
			if (bad[j] == -1)
				continue;
			errno = 0;
			cr_expect_null(codec_encoder_new(c, bad[j]), "%s %d", coding_name(c),
				       bad[j]);
			cr_expect_eq(errno, EINVAL);
		}
		struct codec *k = codec_encoder_new(c, -1);
		cr_expect(k);
		codec_free(&k);
	}
	cr_expect_null(codec_encoder_new(CODING__N, -1));
	cr_expect_null(codec_decoder_new((enum coding)99));
	free(t);
}

/* After CODEC_FLUSH the receiver decodes everything fed so far, without
 * the end of the stream. */
Test(compress_codec, flush_makes_prefix_decodable)
{
	size_t len = 90000, cuts[] = {1, 30000, 30001, 90000};
	uint8_t *t = text(len, 9);
	for (size_t i = 0; i < 3; i++) {
		enum coding c = packed[i];
		struct codec *e = codec_encoder_new(c, -1), *d = codec_decoder_new(c);
		cr_assert(e && d);
		struct buf z = {0}, out = {0};
		size_t fed = 0, zdone = 0;
		for (size_t j = 0; j < 4; j++) {
			/* Encode up to the cut, flush through a 7-byte buffer. */
			cr_assert_eq(pump(e, t + fed, cuts[j] - fed, 0, 7, CODEC_FLUSH, NULL, &z),
				     0);
			fed = cuts[j];
			/* A second flush with nothing new is harmless. */
			cr_assert_eq(pump(e, NULL, 0, 0, 7, CODEC_FLUSH, NULL, &z), 0);
			cr_assert_eq(
			    pump(d, z.p + zdone, z.len - zdone, 0, 7, CODEC_CONTINUE, NULL, &out),
			    0);
			zdone = z.len;
			cr_assert_eq(out.len, fed, "%s: %zu of %zu flushed bytes decodable",
				     coding_name(c), out.len, fed);
			cr_assert(memcmp(out.p, t, fed) == 0);
		}
		cr_assert_eq(pump(e, NULL, 0, 0, 7, CODEC_FINISH, NULL, &z), 0);
		cr_assert_eq(pump(d, z.p + zdone, z.len - zdone, 0, 7, CODEC_FINISH, NULL, &out),
			     0);
		cr_assert_eq(out.len, len);
		codec_free(&e);
		codec_free(&d);
		buf_free(&z);
		buf_free(&out);
	}
	free(t);
}

/* Our output decodes with each library's one-shot decoder, and the gzip
 * decoder takes what zlib's own gzip writer produces. */
Test(compress_codec, cross_check_with_libraries)
{
	size_t len = 100000;
	uint8_t *t = text(len, 5), *d = malloc(len + 1);
	cr_assert(d);

	struct buf z = encode(CODING_GZIP, -1, t, len);
	cr_assert(z.len > 18 && z.p[0] == 0x1f && z.p[1] == 0x8b && z.p[2] == 8, "gzip header");
	z_stream s = {0};
	cr_assert_eq(inflateInit2(&s, 15 + 16), Z_OK);
	s.next_in = z.p;
	s.avail_in = (uInt)z.len;
	s.next_out = d;
	s.avail_out = (uInt)len + 1;
	cr_assert_eq(inflate(&s, Z_FINISH), Z_STREAM_END);
	cr_assert_eq(s.total_out, len);
	cr_assert_eq(s.avail_in, 0);
	cr_assert(memcmp(d, t, len) == 0);
	inflateEnd(&s);
	buf_free(&z);

	z = encode(CODING_ZSTD, -1, t, len);
	cr_assert_eq(ZSTD_decompress(d, len + 1, z.p, z.len), len);
	cr_assert(memcmp(d, t, len) == 0);
	buf_free(&z);

	z = encode(CODING_BR, -1, t, len);
	size_t dl = len + 1;
	cr_assert_eq(BrotliDecoderDecompress(z.len, z.p, &dl, d), BROTLI_DECODER_RESULT_SUCCESS);
	cr_assert(dl == len && memcmp(d, t, len) == 0);
	buf_free(&z);

	/* zlib's gzip writer, with a file name in the header. */
	z_stream w = {0};
	gz_header h = {.name = (Bytef *)"index.html", .os = 3};
	cr_assert_eq(deflateInit2(&w, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
	cr_assert_eq(deflateSetHeader(&w, &h), Z_OK);
	size_t cap = deflateBound(&w, len);
	uint8_t *g = malloc(cap);
	w.next_in = t;
	w.avail_in = (uInt)len;
	w.next_out = g;
	w.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&w, Z_FINISH), Z_STREAM_END);
	struct buf out = {0};
	cr_assert_eq(decode(CODING_GZIP, g, w.total_out, 999, 7, &out), 0);
	cr_assert(out.len == len && memcmp(out.p, t, len) == 0);
	deflateEnd(&w);
	buf_free(&out);
	free(g);
	free(t);
	free(d);
}

/* One decoder call over a whole stream: its return code. */
static int decode_rc(enum coding c, const uint8_t *in, size_t len)
{
	struct buf out = {0};
	int r = decode(c, in, len, 0, 1 << 20, &out);
	buf_free(&out);
	return r;
}

Test(compress_codec, gzip_decoder_rejects_raw_zlib)
{
	uint8_t src[] = "hello hello hello", z[64];
	uLongf zl = sizeof(z);
	cr_assert_eq(compress2(z, &zl, src, sizeof(src), 6), Z_OK);
	cr_expect_eq(decode_rc(CODING_GZIP, z, zl), -EINVAL);
}

Test(compress_codec, corrupt_truncated_trailing)
{
	size_t len = 65536;
	uint8_t *t = text(len, 11);
	for (size_t i = 0; i < 3; i++) {
		enum coding c = packed[i];
		struct buf z = encode(c, -1, t, len);
		const char *n = coding_name(c);
		cr_assert_eq(decode_rc(c, z.p, z.len), 0);

		/* Truncated anywhere, including to nothing. */
		size_t cuts[] = {0, 1, 2, z.len / 2, z.len - 1};
		for (size_t j = 0; j < 5; j++)
			cr_expect_eq(decode_rc(c, z.p, cuts[j]), -EINVAL, "%s cut to %zu", n,
				     cuts[j]);

		/* Trailing bytes after a complete stream. */
		struct buf tr = {0};
		buf_put(&tr, z.p, z.len);
		buf_put(&tr, "x", 1);
		cr_expect_eq(decode_rc(c, tr.p, tr.len), -EINVAL, "%s + 'x'", n);
		buf_put(&tr, "garbage!", 8);
		cr_expect_eq(decode_rc(c, tr.p, tr.len), -EINVAL, "%s + garbage", n);
		buf_free(&tr);

		/* gzip and zstd carry checksums, so a flipped bit anywhere
		 * is caught; brotli has none, so only invalid structure is. */
		if (c != CODING_BR) {
			for (size_t at = 10; at < z.len; at += z.len / 7) {
				z.p[at] ^= 0x10;
				cr_expect_eq(decode_rc(c, z.p, z.len), -EINVAL, "%s flip at %zu", n,
					     at);
				z.p[at] ^= 0x10;
			}
		}
		buf_free(&z);
	}
	uint8_t junk[64];
	memset(junk, 0xff, sizeof(junk));
	cr_expect_eq(decode_rc(CODING_BR, junk, sizeof(junk)), -EINVAL);
	cr_expect_eq(decode_rc(CODING_ZSTD, junk, sizeof(junk)), -EINVAL);
	cr_expect_eq(decode_rc(CODING_GZIP, junk, sizeof(junk)), -EINVAL);
	free(t);
}

/* RFC 1952 members and zstd frames concatenate; brotli streams do not. */
Test(compress_codec, concatenated_streams)
{
	for (size_t i = 0; i < 3; i++) {
		enum coding c = packed[i];
		struct buf a = encode(c, -1, (const uint8_t *)"first,", 6);
		struct buf b = encode(c, -1, (const uint8_t *)"second", 6), out = {0};
		buf_put(&a, b.p, b.len);
		int r = decode(c, a.p, a.len, 5, 3, &out);
		if (c == CODING_BR) {
			cr_expect_eq(r, -EINVAL);
		} else {
			cr_expect_eq(r, 0, "%s", coding_name(c));
			cr_expect(out.len == 12 && memcmp(out.p, "first,second", 12) == 0);
		}
		buf_free(&a);
		buf_free(&b);
		buf_free(&out);
	}
}

/* A zstd frame asking for a WLOG-bit window, streamed so the size is not
 * known up front and the frame header carries the window. */
static struct buf zstd_window_frame(int wlog, const uint8_t *t, size_t len)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	cr_assert_eq(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, wlog)), 0);
	struct buf z = {.p = malloc(ZSTD_compressBound(len) + 64)};
	ZSTD_inBuffer ib = {t, len, 0};
	ZSTD_outBuffer ob = {z.p, ZSTD_compressBound(len) + 64, 0};
	cr_assert_eq(ZSTD_isError(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue)), 0);
	ZSTD_inBuffer none = {NULL, 0, 0};
	cr_assert_eq(ZSTD_compressStream2(cc, &ob, &none, ZSTD_e_end), 0);
	z.len = ob.pos;
	ZSTD_freeCCtx(cc);
	return z;
}

Test(compress_codec, zstd_window_limit)
{
	uint8_t *t = text(4096, 1);
	struct buf ok = zstd_window_frame(23, t, 4096), big = zstd_window_frame(24, t, 4096);
	cr_expect_eq(decode_rc(CODING_ZSTD, ok.p, ok.len), 0, "8 MiB window is fine");
	cr_expect_eq(decode_rc(CODING_ZSTD, big.p, big.len), -EINVAL, "16 MiB is refused");
	buf_free(&ok);
	buf_free(&big);
	free(t);
}

Test(compress_codec, finish_is_final_and_errors_stick)
{
	uint8_t ob[64];
	size_t used, got;
	for (size_t i = 0; i < 4; i++) {
		struct codec *k = codec_encoder_new(all[i], -1);
		cr_assert_eq(codec_run(k, "ab", 2, &used, ob, sizeof(ob), &got, CODEC_FINISH), 0);
		cr_expect_eq(used, 2);
		/* Finishing again is a no-op; more input is a caller bug. */
		cr_expect_eq(codec_run(k, NULL, 0, &used, ob, sizeof(ob), &got, CODEC_FINISH), 0);
		cr_expect_eq(got, 0);
		cr_expect_eq(codec_run(k, "c", 1, &used, ob, sizeof(ob), &got, CODEC_CONTINUE),
			     -EINVAL);
		cr_expect_eq(codec_run(k, NULL, 0, &used, ob, sizeof(ob), &got, CODEC_FINISH),
			     -EINVAL, "sticky");
		codec_free(&k);
		cr_expect_null(k);
		codec_free(&k); /* NULL is fine */
	}
	struct codec *d = codec_decoder_new(CODING_GZIP);
	cr_expect_eq(codec_run(d, "nope", 4, &used, ob, sizeof(ob), &got, CODEC_CONTINUE), -EINVAL);
	cr_expect_eq(codec_run(d, NULL, 0, &used, ob, sizeof(ob), &got, CODEC_CONTINUE), -EINVAL);
	codec_free(&d);
}
