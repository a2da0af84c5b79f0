/* Unit tests of src/http/chunked.c: the RFC 9112 7.1 grammar accepted and
 * refused byte for byte, limits, pipelined bytes left unconsumed, the same
 * result for every split of the input, and in-place compaction of the data. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/chunked.h"

#define DEFAULT_TRAILER 1024
#define POISON		0xee /* written over data the callback moved away */

struct bytes {
	const char *p;
	size_t len;
};

/* A string literal with its exact length, NUL bytes included. */
#define B(s)                                                                                       \
	{                                                                                          \
		(s), sizeof(s) - 1                                                                 \
	}

struct vcase {
	struct bytes in;      /* the chunked body */
	struct bytes data;    /* what it decodes to */
	struct bytes tail;    /* pipelined bytes after it, to be left unconsumed */
	uint32_t max_trailer; /* 0: DEFAULT_TRAILER */
};

struct icase {
	struct bytes in;
	const char *error; /* the expected reason */
	uint32_t max_trailer;
};

static const char PIPELINED[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

static const struct vcase valid_table[] = {
    /* Plain bodies. */
    {B("0\r\n\r\n"), B(""), B(""), 0},
    {B("5\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), B("hello world"), B(""), 0},
    {B("1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n"), B("abc"), B(""), 0},
    /* Framing look-alikes and NULs inside chunk data are data. */
    {B("7\r\n0\r\n\r\n\r\n\r\n0\r\n\r\n"), B("0\r\n\r\n\r\n"), B(""), 0},
    {B("3\r\n\0\n\r\r\n0\r\n\r\n"), B("\0\n\r"), B(""), 0},
    /* Hex digits in either case, leading zeros, a last chunk of zeros. */
    {B("a\r\n0123456789\r\n0\r\n\r\n"), B("0123456789"), B(""), 0},
    {B("A\r\n0123456789\r\n0\r\n\r\n"), B("0123456789"), B(""), 0},
    {B("1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"), B("abcdefghijklmnopqrstuvwxyz"), B(""), 0},
    {B("1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"), B("abcdefghijklmnopqrstuvwxyz"), B(""), 0},
    {B("0005\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("00000000000000000005\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5\r\nhello\r\n000\r\n\r\n"), B("hello"), B(""), 0},
    /* Chunk extensions: every form of the grammar. */
    {B("5 ;a=b\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5; a = b\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5;a\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5;a;b=c\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5;a ;b\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5;a=\"x\\\"y;z\"\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5;a=\"x\\\\\"\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5;a=\"b=c;d\";e=\"\"\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5;a=\"\x80\xff\t \x21\x23\x5b\x5d\x7e\"\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5;a=\"\\\t\\ \\\x80\\a\\\x7e\"\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5\t;\ta\t=\t\"q\"\t; b \t;c=d\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""), 0},
    {B("5;!#$%&'*+-.^_`|~09azAZ=!#$%&'*+-.^_`|~09azAZ\r\nhello\r\n0\r\n\r\n"), B("hello"), B(""),
     0},
    {B("5;a=b\r\nhello\r\n0;last;n=\"v\"\r\n\r\n"), B("hello"), B(""), 0},
    /* Trailer sections (validated, then dropped). */
    {B("0\r\nX-Sum: abc\r\n\r\n"), B(""), B(""), 0},
    {B("5\r\nhello\r\n0\r\nA: 1\r\nB: 2\r\nC:3\r\n\r\n"), B("hello"), B(""), 0},
    {B("0\r\nEmpty:\r\nAlso-Empty: \t \r\n\r\n"), B(""), B(""), 0},
    {B("0\r\nX: \t v a\tl \t \r\n\r\n"), B(""), B(""), 0},
    {B("0\r\nX: caf\xc3\xa9 \"q\" \\ ; = :\r\n\r\n"), B(""), B(""), 0},
    {B("0\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n"), B(""), B(""), 0},
    /* Pipelined bytes after the end belong to the next message. */
    {B("5\r\nhello\r\n0\r\n\r\n"), B("hello"), B(PIPELINED), 0},
    {B("0\r\nX: y\r\n\r\n"), B(""), B(PIPELINED), 0},
    {B("0\r\n\r\n"), B(""), B("\r\n\r\n"), 0},
    {B("0\r\n\r\n"), B(""), B("0\r\n\r\n"), 0},
    /* Limits, exactly reached. */
    {B("0\r\n\r\n"), B(""), B(""), 2},
    {B("0\r\nX: 12345\r\n\r\n"), B(""), B(""), 12},
};

static const struct icase invalid_table[] = {
    /* Bare LF or CR in the framing. */
    {B("0\r\n\n"), "bare CR or LF in chunked framing", 0},
    {B("0\r\nX: y\n\r\n"), "bare CR or LF in chunked framing", 0},
    {B("0\r\nX: y\r\n\n"), "bare CR or LF in chunked framing", 0},
    {B("0\n\r\n"), "bare CR or LF in chunked framing", 0},
    {B("5\nhello\r\n"), "bare CR or LF in chunked framing", 0},
    {B("5\r\nhello\n"), "bare CR or LF in chunked framing", 0},
    {B("5\rX\n"), "bare CR or LF in chunked framing", 0},
    {B("5\r\r\n"), "bare CR or LF in chunked framing", 0},
    {B("5;a=b\rhello"), "bare CR or LF in chunked framing", 0},
    {B("5\r\nhello\r\r\n"), "bare CR or LF in chunked framing", 0},
    {B("5\r\nhello\rX"), "bare CR or LF in chunked framing", 0},
    {B("0\r\n\r\r\n"), "bare CR or LF in chunked framing", 0},
    {B("0\r\n\rX"), "bare CR or LF in chunked framing", 0},
    {B("0\r\nX: y\r\r\n"), "bare CR or LF in chunked framing", 0},
    {B("5;a=\"b\nc\"\r\n"), "bare CR or LF in chunked framing", 0},
    /* After chunk data exactly CRLF. */
    {B("5\r\nhelloXX"), "expected CRLF after chunk data", 0},
    {B("5\r\nhello0\r\n\r\n"), "expected CRLF after chunk data", 0},
    {B("5\r\nhello \r\n"), "expected CRLF after chunk data", 0},
    /* Chunk size. */
    {B("\r\n"), "invalid chunk size", 0},
    {B(";a\r\n"), "invalid chunk size", 0},
    {B("x\r\n"), "invalid chunk size", 0},
    {B("-5\r\n"), "invalid chunk size", 0},
    {B("+5\r\n"), "invalid chunk size", 0},
    {B("0x5\r\n"), "invalid chunk size", 0},
    {B(" 5\r\n"), "invalid chunk size", 0},
    {B("\t5\r\n"), "invalid chunk size", 0},
    {B("5g\r\n"), "invalid chunk size", 0},
    {B("10000000000000000\r\n"), "chunk size too large", 0},
    {B("FFFFFFFFFFFFFFFF1\r\n"), "chunk size too large", 0},
    {B("0000123456789abcdef01\r\n"), "chunk size too large", 0},
    /* Chunk extensions. */
    {B("5 \r\n"), "invalid chunk extension", 0},
    {B("5\t\r\n"), "invalid chunk extension", 0},
    {B("5 a\r\n"), "invalid chunk extension", 0},
    {B("5;\r\n"), "invalid chunk extension", 0},
    {B("5; \r\n"), "invalid chunk extension", 0},
    {B("5;;a\r\n"), "invalid chunk extension", 0},
    {B("5;a;\r\n"), "invalid chunk extension", 0},
    {B("5;=b\r\n"), "invalid chunk extension", 0},
    {B("5;a=\r\n"), "invalid chunk extension", 0},
    {B("5;a= \r\n"), "invalid chunk extension", 0},
    {B("5;a==b\r\n"), "invalid chunk extension", 0},
    {B("5;a \r\n"), "invalid chunk extension", 0},
    {B("5;a=b \r\n"), "invalid chunk extension", 0},
    {B("5;a=\"b\" \r\n"), "invalid chunk extension", 0},
    {B("5;a=\"b\r\n"), "invalid chunk extension", 0},
    {B("5;a=\"b\rc\"\r\n"), "invalid chunk extension", 0},
    {B("5;a=b c\r\n"), "invalid chunk extension", 0},
    {B("5;a b\r\n"), "invalid chunk extension", 0},
    {B("5;a=\"x\"y\r\n"), "invalid chunk extension", 0},
    {B("5;a=\"x\"\"y\"\r\n"), "invalid chunk extension", 0},
    {B("5;\"a\"=b\r\n"), "invalid chunk extension", 0},
    {B("5;a=b\"c\"\r\n"), "invalid chunk extension", 0},
    {B("5;a=\x01\r\n"), "invalid chunk extension", 0},
    {B("5;a(b)=c\r\n"), "invalid chunk extension", 0},
    {B("5;a=b,c\r\n"), "invalid chunk extension", 0},
    {B("5;a=\"\x7f\"\r\n"), "invalid chunk extension", 0},
    {B("5;a=\"\0\"\r\n"), "invalid chunk extension", 0},
    {B("5;a=\"\\\x01\"\r\n"), "invalid chunk extension", 0},
    {B("5;a=\"\\\x7f\"\r\n"), "invalid chunk extension", 0},
    {B("5;a=\"\\\r\n"), "invalid chunk extension", 0},
    /* Trailer section. */
    {B("0\r\nX: a\r\n b\r\n\r\n"), "obs-fold in trailer section", 0},
    {B("0\r\n\tb\r\n\r\n"), "obs-fold in trailer section", 0},
    {B("0\r\nNoColon\r\n\r\n"), "invalid trailer field", 0},
    {B("0\r\n: v\r\n\r\n"), "invalid trailer field", 0},
    {B("0\r\nX : y\r\n\r\n"), "invalid trailer field", 0},
    {B("0\r\nX(y): z\r\n\r\n"), "invalid trailer field", 0},
    {B("0\r\nX: a\x01"
       "b\r\n\r\n"),
     "invalid trailer field", 0},
    {B("0\r\nX: a\x7f\r\n\r\n"), "invalid trailer field", 0},
    {B("0\r\nX: \0\r\n\r\n"), "invalid trailer field", 0},
    {B("0\r\nX: a\x1f\r\n\r\n"), "invalid trailer field", 0},
    /* Limits, exceeded by one byte. */
    {B("0\r\n\r\n"), "trailer section too large", 1},
    {B("0\r\nX: 12345\r\n\r\n"), "trailer section too large", 11},
};

/* Bodies too large to write out: built once per test process. */
static char big_chunk[7 + 65536 + 7];	       /* one 64 KiB chunk */
static char line_max[CHUNKED_MAX_LINE + 12];   /* a chunk line of exactly the limit */
static char line_over[CHUNKED_MAX_LINE + 1];   /* one byte over it */
static char trailer_over[DEFAULT_TRAILER + 8]; /* trailer section one byte over */

#define N_VALID	  (sizeof(valid_table) / sizeof(valid_table[0]) + 2)
#define N_INVALID (sizeof(invalid_table) / sizeof(invalid_table[0]) + 2)

static void load_valid(struct vcase *out)
{
	memcpy(out, valid_table, sizeof(valid_table));
	size_t n = sizeof(valid_table) / sizeof(valid_table[0]);

	memcpy(big_chunk, "10000\r\n", 7);
	for (size_t i = 0; i < 65536; i++)
		big_chunk[7 + i] = (char)('a' + i % 26);
	memcpy(big_chunk + 7 + 65536, "\r\n0\r\n\r\n", 7);
	out[n++] = (struct vcase){{big_chunk, sizeof(big_chunk)}, {big_chunk + 7, 65536}, B(""), 0};

	/* "5;aaa...a\r\n" of CHUNKED_MAX_LINE bytes, then the data. */
	char *p = line_max;
	memcpy(p, "5;", 2);
	memset(p + 2, 'a', CHUNKED_MAX_LINE - 4);
	memcpy(p + CHUNKED_MAX_LINE - 2, "\r\nhello\r\n0\r\n\r\n", 14);
	out[n++] = (struct vcase){{line_max, sizeof(line_max)}, B("hello"), B(""), 0};
	cr_assert_eq(n, N_VALID);
}

static void load_invalid(struct icase *out)
{
	memcpy(out, invalid_table, sizeof(invalid_table));
	size_t n = sizeof(invalid_table) / sizeof(invalid_table[0]);

	/* The LF of this line is its byte CHUNKED_MAX_LINE + 1. */
	memcpy(line_over, "5;", 2);
	memset(line_over + 2, 'a', CHUNKED_MAX_LINE - 3);
	memcpy(line_over + CHUNKED_MAX_LINE - 1, "\r\n", 2);
	out[n++] = (struct icase){{line_over, sizeof(line_over)}, "chunk line too long", 0};

	/* "0\r\nX: vvv...v\r\n\r\n" whose trailer section is DEFAULT_TRAILER + 1 bytes. */
	memcpy(trailer_over, "0\r\nX: ", 6);
	memset(trailer_over + 6, 'v', DEFAULT_TRAILER - 6);
	memcpy(trailer_over + DEFAULT_TRAILER, "\r\n\r\n", 4);
	out[n++] =
	    (struct icase){{trailer_over, DEFAULT_TRAILER + 4}, "trailer section too large", 0};
	cr_assert_eq(n, N_INVALID);
}

/* C-escaped and shortened, for failure messages. */
static const char *show(const char *p, size_t len)
{
	static char out[128];
	size_t o = 0;
	for (size_t i = 0; i < len && o < sizeof(out) - 8; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == '\r')
			o += (size_t)sprintf(out + o, "\\r");
		else if (ch == '\n')
			o += (size_t)sprintf(out + o, "\\n");
		else if (ch == '"' || ch == '\\')
			o += (size_t)sprintf(out + o, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			o += (size_t)sprintf(out + o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	if (o >= sizeof(out) - 8)
		o += (size_t)sprintf(out + o, "...");
	out[o] = '\0';
	return out;
}

/* The callback the real caller uses: compact decoded data at the start of
 * the input buffer, then poison what the move left behind, so a decoder
 * that read reported bytes again would see garbage. */
struct sink {
	char *base;
	size_t out;   /* decoded bytes at base */
	size_t calls; /* callbacks */
};

static void compact(void *ctx, const char *at, size_t len)
{
	struct sink *s = ctx;
	char *dst = s->base + s->out;
	cr_assert(len > 0, "empty run reported");
	cr_assert(at >= dst, "run reported before data already decoded");
	memmove(dst, at, len);
	char *from = dst + len > at ? dst + len : (char *)at;
	memset(from, POISON, (size_t)(at + len - from));
	s->out += len;
	s->calls++;
}

struct result {
	size_t consumed; /* sum of what the calls returned */
	bool done;
	const char *error;
	size_t calls;
	size_t data_len;
	char *buf; /* the decoded data at its start; free it */
};

/*
 * Decode IN as a caller would, in pieces: two calls split at CUT when STEP
 * is 0, else pieces of STEP bytes. Each call is offered what has arrived and
 * not been consumed; a call that is neither the end nor an error must take
 * all of it. After the end, a further call must return 0.
 */
static struct result decode(struct bytes in, uint32_t max_trailer, size_t cut, size_t step)
{
	struct result r = {.buf = malloc(in.len + 1)};
	cr_assert_not_null(r.buf);
	memcpy(r.buf, in.p, in.len);
	struct sink s = {.base = r.buf};
	struct chunked c;
	chunked_init(&c, max_trailer ? max_trailer : DEFAULT_TRAILER);

	size_t pos = 0;
	while (pos < in.len) {
		size_t end = step ? pos + step : pos < cut ? cut : in.len;
		if (end > in.len)
			end = in.len;
		long n = chunked_feed(&c, r.buf + pos, end - pos, compact, &s);
		if (n < 0) {
			cr_assert_eq(n, -1);
			cr_assert_not_null(c.error);
			r.error = c.error;
			cr_assert_eq(chunked_feed(&c, r.buf + pos, in.len - pos, compact, &s), -1,
				     "call after an error");
			cr_assert_eq(c.error, r.error);
			break;
		}
		cr_assert(c.done || (size_t)n == end - pos, "took %ld of %zu before the end", n,
			  end - pos);
		cr_assert(c.error == NULL);
		pos += (size_t)n;
		if (c.done) {
			size_t calls = s.calls;
			cr_assert_eq(chunked_feed(&c, r.buf + pos, in.len - pos, compact, &s), 0,
				     "call after the end");
			cr_assert_eq(s.calls, calls);
			cr_assert(c.done);
			break;
		}
	}
	r.consumed = pos;
	r.done = c.done;
	r.calls = s.calls;
	r.data_len = s.out;
	return r;
}

/* IN followed by TAIL, in a buffer that is not NUL-terminated. */
static struct bytes concat(struct bytes in, struct bytes tail)
{
	char *p = malloc(in.len + tail.len + 1);
	cr_assert_not_null(p);
	memcpy(p, in.p, in.len);
	memcpy(p + in.len, tail.p, tail.len);
	return (struct bytes){p, in.len + tail.len};
}

static void check_valid(const struct vcase *vc, size_t cut, size_t step)
{
	struct bytes all = concat(vc->in, vc->tail);
	struct result r = decode(all, vc->max_trailer, cut, step);
	const char *name = show(vc->in.p, vc->in.len);
	cr_assert_null(r.error, "\"%s\" (cut %zu, step %zu): %s", name, cut, step, r.error);
	cr_assert(r.done, "\"%s\" (cut %zu, step %zu): not done", name, cut, step);
	cr_assert_eq(r.consumed, vc->in.len, "\"%s\" (cut %zu, step %zu): consumed %zu, want %zu",
		     name, cut, step, r.consumed, vc->in.len);
	cr_assert_eq(r.data_len, vc->data.len,
		     "\"%s\" (cut %zu, step %zu): %zu data bytes, want %zu", name, cut, step,
		     r.data_len, vc->data.len);
	cr_assert_eq(memcmp(r.buf, vc->data.p, vc->data.len), 0,
		     "\"%s\" (cut %zu, step %zu): wrong data", name, cut, step);
	free(r.buf);
	free((char *)all.p);
}

static void check_invalid(const struct icase *ic, size_t cut, size_t step, size_t want_data_len,
			  const char *want_data)
{
	struct result r = decode(ic->in, ic->max_trailer, cut, step);
	const char *name = show(ic->in.p, ic->in.len);
	cr_assert_not_null(r.error, "\"%s\" (cut %zu, step %zu): accepted", name, cut, step);
	cr_assert_str_eq(r.error, ic->error, "\"%s\" (cut %zu, step %zu): \"%s\", want \"%s\"",
			 name, cut, step, r.error, ic->error);
	cr_assert(!r.done);
	cr_assert_eq(r.data_len, want_data_len, "\"%s\" (cut %zu, step %zu): data differs", name,
		     cut, step);
	cr_assert_eq(memcmp(r.buf, want_data, want_data_len), 0);
	free(r.buf);
}

Test(http_chunked, valid_bodies_in_one_call)
{
	struct vcase cases[N_VALID];
	load_valid(cases);
	for (size_t i = 0; i < N_VALID; i++)
		check_valid(&cases[i], SIZE_MAX, 0);
}

Test(http_chunked, invalid_bodies_in_one_call)
{
	struct icase cases[N_INVALID];
	load_invalid(cases);
	for (size_t i = 0; i < N_INVALID; i++) {
		struct result r = decode(cases[i].in, cases[i].max_trailer, SIZE_MAX, 0);
		const char *name = show(cases[i].in.p, cases[i].in.len);
		cr_expect_not_null(r.error, "\"%s\": accepted", name);
		if (r.error)
			cr_expect_str_eq(r.error, cases[i].error, "\"%s\": \"%s\", want \"%s\"",
					 name, r.error, cases[i].error);
		free(r.buf);
	}
}

Test(http_chunked, valid_bodies_split_anywhere, .timeout = 120)
{
	struct vcase cases[N_VALID];
	load_valid(cases);
	for (size_t i = 0; i < N_VALID; i++) {
		size_t len = cases[i].in.len + cases[i].tail.len;
		for (size_t cut = 0; cut <= len; cut++)
			check_valid(&cases[i], cut, 0);
		check_valid(&cases[i], 0, 1);
		check_valid(&cases[i], 0, 3);
	}
}

Test(http_chunked, invalid_bodies_split_anywhere, .timeout = 120)
{
	struct icase cases[N_INVALID];
	load_invalid(cases);
	for (size_t i = 0; i < N_INVALID; i++) {
		/* Whatever data came before the error, it is the same in every split. */
		struct result whole = decode(cases[i].in, cases[i].max_trailer, SIZE_MAX, 0);
		for (size_t cut = 0; cut <= cases[i].in.len; cut++)
			check_invalid(&cases[i], cut, 0, whole.data_len, whole.buf);
		check_invalid(&cases[i], 0, 1, whole.data_len, whole.buf);
		check_invalid(&cases[i], 0, 3, whole.data_len, whole.buf);
		free(whole.buf);
	}
}

static void collect(void *ctx, const char *at, size_t len)
{
	struct sink *s = ctx;
	memcpy(s->base + s->out, at, len);
	s->out += len;
	s->calls++;
}

Test(http_chunked, one_callback_per_contiguous_run)
{
	static const char body[] = "5\r\nhello\r\n6;x=\"y\"\r\n world\r\n0\r\nT: v\r\n\r\n";
	char out[sizeof(body)];
	struct sink s = {.base = out};
	struct chunked c;
	chunked_init(&c, DEFAULT_TRAILER);
	cr_assert_eq(chunked_feed(&c, body, sizeof(body) - 1, collect, &s), (long)sizeof(body) - 1);
	cr_assert(c.done);
	cr_assert_eq(s.calls, 2);
	cr_assert_eq(s.out, 11);
	cr_assert_eq(memcmp(out, "hello world", 11), 0);

	/* A chunk split over calls: one run per call that holds some of it. */
	chunked_init(&c, DEFAULT_TRAILER);
	s = (struct sink){.base = out};
	cr_assert_eq(chunked_feed(&c, body, 5, collect, &s), 5); /* "5\r\nhe" */
	cr_assert_eq(chunked_feed(&c, body + 5, 6, collect, &s), 6);
	cr_assert_eq(s.calls, 2);
	cr_assert_eq(s.out, 5);

	/* The 64 KiB chunk in one call is one callback. */
	struct vcase cases[N_VALID];
	load_valid(cases);
	struct result r = decode(cases[N_VALID - 2].in, 0, SIZE_MAX, 0);
	cr_assert(r.done);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.data_len, 65536);
	free(r.buf);
}

Test(http_chunked, data_compacted_in_place)
{
	/* The real caller: decoded data lands at the start of the very buffer
	 * the framing came in, overwriting it, while decoding continues. */
	char buf[] = "3\r\nabc\r\n4;e=\"\\\"\"\r\ndefg\r\n1\r\nh\r\n0\r\nX: y\r\n\r\nNEXT";
	const size_t len = sizeof(buf) - 1;
	struct sink s = {.base = buf};
	struct chunked c;
	chunked_init(&c, DEFAULT_TRAILER);
	size_t pos = 0;
	while (!c.done && pos < len) {
		size_t n = len - pos < 2 ? len - pos : 2;
		long got = chunked_feed(&c, buf + pos, n, compact, &s);
		cr_assert_geq(got, 0, "%s", c.error);
		pos += (size_t)got;
	}
	cr_assert(c.done);
	cr_assert_eq(pos, len - 4);
	cr_assert_eq(s.out, 8);
	cr_assert_eq(memcmp(buf, "abcdefgh", 8), 0);
	cr_assert_eq(memcmp(buf + pos, "NEXT", 4), 0);
}

Test(http_chunked, calls_after_done_or_error)
{
	char out[16];
	struct sink s = {.base = out};
	struct chunked c;
	chunked_init(&c, DEFAULT_TRAILER);
	cr_assert_eq(chunked_feed(&c, "0\r\n\r\nGET", 8, collect, &s), 5);
	cr_assert(c.done);
	cr_assert_eq(chunked_feed(&c, "GET", 3, collect, &s), 0);
	cr_assert_eq(chunked_feed(&c, "5\r\nhello\r\n", 10, collect, &s), 0);
	cr_assert_eq(chunked_feed(&c, "", 0, collect, &s), 0);
	cr_assert(c.done);
	cr_assert_null(c.error);
	cr_assert_eq(s.calls, 0);

	chunked_init(&c, DEFAULT_TRAILER);
	cr_assert_eq(chunked_feed(&c, "5\r\nhe", 5, collect, &s), 5);
	cr_assert_eq(chunked_feed(&c, "llo\r\nzz", 7, collect, &s), -1);
	const char *err = c.error;
	cr_assert_str_eq(err, "invalid chunk size");
	cr_assert_eq(chunked_feed(&c, "0\r\n\r\n", 5, collect, &s), -1);
	cr_assert_eq(chunked_feed(&c, "", 0, collect, &s), -1);
	cr_assert_eq(c.error, err);
	cr_assert(!c.done);
	cr_assert_eq(s.out, 5);
	cr_assert_eq(memcmp(out, "hello", 5), 0);

	/* An empty call before anything is a no-op. */
	chunked_init(&c, DEFAULT_TRAILER);
	cr_assert_eq(chunked_feed(&c, "", 0, collect, &s), 0);
	cr_assert(!c.done && !c.error);
}

Test(http_chunked, largest_chunk_size_is_accepted)
{
	/* 2^64 - 1 fits; the body is simply incomplete. */
	static const char *const sizes[] = {"FFFFFFFFFFFFFFFF\r\n", "ffffffffffffffff;a=b\r\n",
					    "00000000FFFFFFFFFFFFFFFF\r\n"};
	char out[8];
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct sink s = {.base = out};
		struct chunked c;
		chunked_init(&c, DEFAULT_TRAILER);
		size_t len = strlen(sizes[i]);
		cr_assert_eq(chunked_feed(&c, sizes[i], len, collect, &s), (long)len, "%s: %s",
			     sizes[i], c.error);
		cr_assert_eq(chunked_feed(&c, "abcdefg", 7, collect, &s), 7);
		cr_assert(!c.done && !c.error);
		cr_assert_eq(s.out, 7);
	}
}

Test(http_chunked, table_sizes)
{
	/* What the task asks of the tables, kept true as they change. */
	cr_assert_geq(N_VALID, 25);
	cr_assert_geq(N_INVALID, 35);
}
