/*
 * Compression of cached responses: the Accept-Encoding matrix, each coded
 * copy made once and then served from memory, decoding for a client that
 * cannot take the origin's coding, no-transform, HEAD and Range on coded
 * copies, the type and size rules; responses that are not stored (a
 * miss's private pipe, passes) compressed as they stream.
 *
 * Bodies are decoded with the reference libraries (zlib, libbrotlidec,
 * libzstd), not with ringcache's own codec wrapper.
 */
#include "harness.h"

#include <brotli/decode.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

TestSuite(compress, .fini = harness_fini, .timeout = 60);

/* ---- decoding with the reference libraries -------------------------------- */

static char *gunzip(const char *in, size_t n, size_t *out_len)
{
	z_stream z = {0};
	cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
	size_t cap = n * 8 + 4096, len = 0;
	char *out = malloc(cap);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	int r;
	do {
		if (len == cap)
			out = realloc(out, cap *= 2);
		z.next_out = (Bytef *)out + len;
		z.avail_out = (uInt)(cap - len);
		r = inflate(&z, Z_NO_FLUSH);
		len = cap - z.avail_out;
	} while (r == Z_OK);
	inflateEnd(&z);
	cr_assert_eq(r, Z_STREAM_END, "not a complete gzip stream (zlib %d)", r);
	*out_len = len;
	return out;
}

static char *unbrotli(const char *in, size_t n, size_t *out_len)
{
	BrotliDecoderState *s = BrotliDecoderCreateInstance(NULL, NULL, NULL);
	size_t cap = n * 16 + 4096, len = 0;
	char *out = malloc(cap);
	const uint8_t *next_in = (const uint8_t *)in;
	size_t avail_in = n;
	BrotliDecoderResult r;
	do {
		if (len == cap)
			out = realloc(out, cap *= 2);
		uint8_t *next_out = (uint8_t *)out + len;
		size_t avail_out = cap - len;
		r = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out,
						  NULL);
		len = cap - avail_out;
	} while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT);
	BrotliDecoderDestroyInstance(s);
	cr_assert_eq(r, BROTLI_DECODER_RESULT_SUCCESS, "not a complete brotli stream");
	*out_len = len;
	return out;
}

static char *unzstd(const char *in, size_t n, size_t *out_len)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	size_t cap = n * 16 + 4096;
	char *out = malloc(cap);
	ZSTD_inBuffer ib = {in, n, 0};
	ZSTD_outBuffer ob = {out, cap, 0};
	size_t r;
	do {
		if (ob.pos == ob.size) {
			out = realloc(out, cap *= 2);
			ob.dst = out;
			ob.size = cap;
		}
		r = ZSTD_decompressStream(d, &ob, &ib);
		cr_assert(!ZSTD_isError(r), "zstd: %s", ZSTD_getErrorName(r));
	} while (r != 0 && (ib.pos < ib.size || ob.pos == ob.size));
	ZSTD_freeDCtx(d);
	cr_assert_eq(r, 0, "not a complete zstd frame");
	*out_len = ob.pos;
	return out;
}

/* The body of R decoded per its Content-Encoding (a copy when identity). */
static char *decoded(const struct response *r, size_t *len)
{
	const char *ce = resp_header(r, "Content-Encoding");
	if (!ce) {
		char *c = malloc(r->body_len + 1);
		memcpy(c, r->body, r->body_len);
		*len = r->body_len;
		return c;
	}
	if (!strcmp(ce, "gzip"))
		return gunzip(r->body, r->body_len, len);
	if (!strcmp(ce, "br"))
		return unbrotli(r->body, r->body_len, len);
	if (!strcmp(ce, "zstd"))
		return unzstd(r->body, r->body_len, len);
	cr_assert_fail("unexpected Content-Encoding %s", ce);
	return NULL;
}

/* ---- helpers ------------------------------------------------------------------ */

static int admin_port;

/* Origin and daemon with compression on and the admin API. MORE: more keys
 * under compression (indented two spaces; 2 workers unless it says). */
static void start_compress(struct proc *o, struct proc *d, const char *more)
{
	admin_port = free_port();
	char extra[1024];
	snprintf(extra, sizeof(extra),
		 "cache:\n  memory: 64MiB\ncompression:\n  enabled: true\n%s"
		 "admin:\n  listen: \"127.0.0.1:%d\"\n",
		 more ? more : "  workers: 2\n", admin_port);
	start_pair_extra(o, d, extra);
	cr_assert(port_wait(admin_port, 3000), "no admin API; log:\n%s", proc_log(d));
}

/* GET (or METHOD) PATH with "Accept-Encoding: AE" (no header when NULL). */
static void get_ae(int port, const char *method, const char *path, const char *ae, const char *more,
		   struct response *r)
{
	char extra[512];
	snprintf(extra, sizeof(extra), "%s%s%s%s", ae ? "Accept-Encoding: " : "", ae ? ae : "",
		 ae ? "\r\n" : "", more ? more : "");
	http_once(port, method, path, extra[0] ? extra : NULL, r);
	cr_assert(r->status == 200 || r->status == 206 || r->status == 304, "%s %s: %s", method,
		  path, r->raw_head);
}

/* The response's body decoded must be the origin's pattern of SIZE bytes. */
static void expect_pattern_decoded(const struct response *r, size_t size, const char *what)
{
	cr_assert(r->complete, "%s: incomplete body: %s", what, r->error);
	size_t n;
	char *b = decoded(r, &n);
	cr_assert_eq(n, size, "%s: decoded %zu bytes, want %zu (head %s)", what, n, size,
		     r->raw_head);
	cr_assert_eq(pattern_mismatch(b, n, 0), -1, "%s: decoded body differs", what);
	free(b);
}

static long long metric(const char *name)
{
	struct response r;
	http_once(admin_port, "GET", "/metrics", NULL, &r);
	cr_assert_eq(r.status, 200);
	long long v = -1;
	size_t nl = strlen(name);
	for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, name, nl) && p[nl] == ' ') {
			v = strtoll(p + nl + 1, NULL, 10);
			break;
		}
	}
	response_free(&r);
	cr_assert_geq(v, 0, "no %s in /metrics", name);
	return v;
}

#define PATH_20K "/t?size=20000&cc=max-age%3D60"

/* ---- tests ---------------------------------------------------------------------- */

Test(compress, accept_encoding_matrix)
{
	struct proc o, d;
	start_compress(&o, &d, NULL);
	static const struct {
		const char *ae;	  /* NULL: no header */
		const char *want; /* Content-Encoding, NULL: none */
	} cases[] = {
	    {NULL, NULL},
	    {"identity", NULL},
	    {"gzip", "gzip"},
	    {"br", "br"},
	    {"zstd", "zstd"},
	    {"gzip, br, zstd", "br"}, /* equal q: the configured order (br, zstd, gzip) */
	    {"gzip;q=1, br;q=0.5", "gzip"},
	    {"br;q=0, gzip;q=0.2", "gzip"},
	    {"GZIP", "gzip"},
	    {"x-gzip", "gzip"},
	    {"*", "br"},
	    {"deflate, compress", NULL},
	    {"br;q=0", NULL},
	    {"gzip;q=0, identity", NULL},
	    {"zstd;q=0.9, gzip;q=0.9", "zstd"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct response r;
		get_ae(d.port, "GET", PATH_20K, cases[i].ae, NULL, &r);
		const char *ce = resp_header(&r, "Content-Encoding");
		char what[96];
		snprintf(what, sizeof(what), "Accept-Encoding: %s", cases[i].ae ?: "(none)");
		if (cases[i].want)
			cr_assert(ce && !strcmp(ce, cases[i].want), "%s: want %s, head: %s", what,
				  cases[i].want, r.raw_head);
		else
			cr_assert_null(ce, "%s: want identity, head: %s", what, r.raw_head);
		cr_assert(resp_header_has_token(&r, "Vary", "Accept-Encoding"),
			  "%s: no Vary: Accept-Encoding: %s", what, r.raw_head);
		expect_pattern_decoded(&r, 20000, what);
		if (ce)
			cr_assert_lt(r.body_len, 20000 / 4, "%s: %zu bytes is hardly compressed",
				     what, r.body_len);
		response_free(&r);
	}
	cr_assert_eq(origin_requests(o.port, NULL), 1, "one origin fetch for all of them");
	harness_end();
}

Test(compress, each_coding_is_compressed_once_then_served_from_memory)
{
	struct proc o, d;
	start_compress(&o, &d, NULL);
	static const char *const codings[] = {"gzip", "br", "zstd"};
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < 3; i++) {
			struct response r;
			get_ae(d.port, "GET", PATH_20K, codings[i], NULL, &r);
			cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", codings[i]);
			expect_pattern_decoded(&r, 20000, codings[i]);
			if (round > 0) {
				/* a finished copy has a length */
				cr_assert_eq(r.framing, FRAME_LENGTH, "round %d %s: %s", round,
					     codings[i], r.raw_head);
				cr_assert_eq(r.content_length, (long long)r.body_len);
			}
			response_free(&r);
		}
	}
	cr_assert_eq(metric("ringcache_encode_copies_total"), 3, "one copy per coding");
	cr_assert_eq(metric("ringcache_encoded_total"), 9);
	long long jobs = metric("ringcache_compression_jobs_total");
	struct response r;
	get_ae(d.port, "GET", PATH_20K, "gzip", NULL, &r);
	response_free(&r);
	cr_assert_eq(metric("ringcache_compression_jobs_total"), jobs, "a hit ran the pool");
	cr_assert_eq(origin_requests(o.port, NULL), 1);
	harness_end();
}

Test(compress, origin_encoded_body_is_stored_as_sent_and_decoded_for_others)
{
	struct proc o, d;
	start_compress(&o, &d, NULL);
	const char *path = "/enc?size=30000&encode=gzip&cc=max-age%3D60";
	struct response r;
	get_ae(d.port, "GET", path, "gzip", NULL, &r);
	cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", "gzip");
	expect_pattern_decoded(&r, 30000, "gzip as sent");
	size_t sent = r.body_len;
	response_free(&r);
	get_ae(d.port, "GET", path, "br", NULL, &r);
	cr_assert_null(resp_header(&r, "Content-Encoding"), "decoded for br-only: %s", r.raw_head);
	cr_assert_eq(r.body_len, 30000);
	expect_pattern_decoded(&r, 30000, "decoded");
	response_free(&r);
	get_ae(d.port, "GET", path, NULL, NULL, &r);
	cr_assert_null(resp_header(&r, "Content-Encoding"));
	expect_pattern_decoded(&r, 30000, "decoded, no Accept-Encoding");
	cr_assert_eq(r.framing, FRAME_LENGTH, "the decoded copy is complete now");
	response_free(&r);
	get_ae(d.port, "GET", path, "gzip", NULL, &r);
	cr_assert_eq(r.body_len, sent, "the stored gzip body is untouched");
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, NULL), 1);
	harness_end();
}

Test(compress, no_transform_types_and_small_bodies_go_as_they_are)
{
	struct proc o, d;
	start_compress(&o, &d, "  workers: 2\n  min_size: 1000\n");
	static const char *const paths[] = {
	    "/nt?size=20000&cc=max-age%3D60%2C%20no-transform",
	    "/png?size=20000&cc=max-age%3D60&hdr=Content-Type:image/png",
	    "/small?size=999&cc=max-age%3D60",
	};
	for (size_t i = 0; i < 3; i++) {
		struct response r;
		get_ae(d.port, "GET", paths[i], "gzip, br, zstd", NULL, &r);
		cr_assert_null(resp_header(&r, "Content-Encoding"), "%s: %s", paths[i], r.raw_head);
		response_free(&r);
	}
	struct response r;
	get_ae(d.port, "GET", "/big?size=1000&cc=max-age%3D60", "gzip", NULL, &r);
	cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", "gzip", "at min_size");
	response_free(&r);
	cr_assert_eq(metric("ringcache_encode_copies_total"), 1);
	harness_end();
}

Test(compress, etag_is_weakened_and_conditional_requests_match_it)
{
	struct proc o, d;
	start_compress(&o, &d, NULL);
	const char *path = "/e?size=20000&etag=v1&cc=max-age%3D60";
	struct response r;
	get_ae(d.port, "GET", path, "gzip", NULL, &r);
	cr_assert_str_eq(resp_header(&r, "ETag") ?: "", "W/\"v1\"", "head: %s", r.raw_head);
	response_free(&r);
	get_ae(d.port, "GET", path, NULL, NULL, &r);
	cr_assert_str_eq(resp_header(&r, "ETag") ?: "", "\"v1\"", "identity keeps it strong");
	response_free(&r);
	get_ae(d.port, "GET", path, "gzip", "If-None-Match: W/\"v1\"\r\n", &r);
	cr_assert_eq(r.status, 304, "head: %s", r.raw_head);
	cr_assert_str_eq(resp_header(&r, "ETag") ?: "", "W/\"v1\"");
	cr_assert(resp_header_has_token(&r, "Vary", "Accept-Encoding"));
	response_free(&r);
	harness_end();
}

Test(compress, head_and_range_on_coded_copies)
{
	struct proc o, d;
	start_compress(&o, &d, NULL);
	struct response r;
	/* HEAD before any copy exists: the head a GET would get, no copy made. */
	get_ae(d.port, "HEAD", PATH_20K, "gzip", NULL, &r);
	cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", "gzip", "%s", r.raw_head);
	response_free(&r);
	cr_assert_eq(metric("ringcache_encode_copies_total"), 0, "HEAD made a copy");
	get_ae(d.port, "GET", PATH_20K, "gzip", NULL, &r);
	size_t full_len = r.body_len;
	char *full = malloc(full_len);
	memcpy(full, r.body, full_len);
	response_free(&r);
	/* HEAD once the copy exists: its length. */
	get_ae(d.port, "HEAD", PATH_20K, "gzip", NULL, &r);
	const char *cl = resp_header(&r, "Content-Length");
	cr_assert(cl && atoll(cl) == (long long)full_len, "GET had %zu bytes; HEAD: %s", full_len,
		  r.raw_head);
	response_free(&r);
	/* A range of the coded copy is a range of its bytes. */
	get_ae(d.port, "GET", PATH_20K, "gzip", "Range: bytes=10-99\r\n", &r);
	cr_assert_eq(r.status, 206, "%s", r.raw_head);
	cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", "gzip");
	cr_assert_eq(r.body_len, 90);
	cr_assert(!memcmp(r.body, full + 10, 90), "206 bytes differ from the copy's");
	response_free(&r);
	/* If-Range with the strong ETag cannot match a coded copy: full 200. */
	get_ae(d.port, "GET", "/e2?size=20000&etag=v2&cc=max-age%3D60", "gzip", NULL, &r);
	response_free(&r);
	get_ae(d.port, "GET", "/e2?size=20000&etag=v2&cc=max-age%3D60", "gzip",
	       "Range: bytes=0-9\r\nIf-Range: \"v2\"\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	response_free(&r);
	free(full);
	harness_end();
}

Test(compress, a_streamed_miss_is_compressed_as_it_arrives)
{
	struct proc o, d;
	start_compress(&o, &d, NULL);
	/* The origin drips 4 chunks 150 ms apart; the client gets gzip bytes
	 * before the origin has finished. */
	const char *path = "/drip?size=65536&chunked=1&chunk=16384&drip=150&cc=max-age%3D60";
	struct conn c;
	conn_open(&c, d.port);
	double t0 = now_s();
	conn_sendf(&c, "GET %s HTTP/1.1\r\nHost: test.local\r\nAccept-Encoding: gzip\r\n\r\n",
		   path);
	struct response r;
	cr_assert_eq(read_response(&c, &r, 0), READ_OK);
	double t_done = now_s() - t0;
	cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", "gzip");
	cr_assert_eq(r.framing, FRAME_CHUNKED, "streamed: %s", r.raw_head);
	cr_assert_geq(r.n_chunks, 2, "the copy was sent in one piece (%zu chunks)", r.n_chunks);
	cr_assert_geq(t_done, 0.4, "the drip took %.2f s?", t_done);
	expect_pattern_decoded(&r, 65536, "streamed gzip");
	response_free(&r);
	conn_close(&c);
	harness_end();
}

/* ---- responses that are not stored ------------------------------------------ */

/*
 * GET PATH (not storable) twice with AE: the first answer is the fetch's
 * private pipe (a miss that is not stored), the second a pass (the key is
 * hit-for-miss now). Both must come coded in WANT (NULL: identity), and
 * decode to the origin's SIZE bytes.
 */
static void not_stored_twice(int port, const char *path, const char *ae, const char *want,
			     size_t size)
{
	static const char *const via[] = {"fwd=uri-miss", "detail=hit-for-miss"};
	for (int i = 0; i < 2; i++) {
		struct response r;
		get_ae(port, "GET", path, ae, NULL, &r);
		char what[256];
		snprintf(what, sizeof(what), "%s %s (%s)", path, ae ?: "(none)", via[i]);
		cr_assert(cache_status_has(&r, via[i]), "%s: Cache-Status %s", what,
			  cache_status(&r));
		const char *ce = resp_header(&r, "Content-Encoding");
		if (want)
			cr_assert(ce && !strcmp(ce, want), "%s: want %s, head: %s", what, want,
				  r.raw_head);
		else
			cr_assert_null(ce, "%s: want identity, head: %s", what, r.raw_head);
		expect_pattern_decoded(&r, size, what);
		if (want) {
			cr_assert(resp_header_has_token(&r, "Vary", "Accept-Encoding"),
				  "%s: no Vary: Accept-Encoding: %s", what, r.raw_head);
			cr_assert_null(resp_header(&r, "Content-Length"), "%s: %s", what,
				       r.raw_head);
			cr_assert_lt(r.body_len, size / 4, "%s: %zu bytes is hardly compressed",
				     what, r.body_len);
		}
		response_free(&r);
	}
}

Test(compress, pass_and_no_store_responses_are_compressed_as_accepted)
{
	struct proc o, d;
	start_compress(&o, &d, NULL);
	static const struct {
		const char *ae, *want;
	} cases[] = {
	    {"gzip", "gzip"},	{"br", "br"},	    {"zstd", "zstd"},
	    {"gzip, br", "br"}, {"identity", NULL}, {NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[96];
		snprintf(path, sizeof(path), "/ns%zu?size=20000&cc=no-store", i);
		not_stored_twice(d.port, path, cases[i].ae, cases[i].want, 20000);
		cr_assert_eq(origin_requests(o.port, path), 2, "%s: nothing stored", path);
	}
	/* An unsafe method is always passed. */
	struct response r;
	get_ae(d.port, "POST", "/post?size=20000", "gzip", "Content-Length: 0\r\n", &r);
	cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", "gzip", "%s", r.raw_head);
	expect_pattern_decoded(&r, 20000, "POST");
	response_free(&r);
	/* A strong ETag is weakened, as on a stored copy. */
	get_ae(d.port, "GET", "/et?size=20000&etag=v1&cc=no-store", "gzip", NULL, &r);
	cr_assert_str_eq(resp_header(&r, "ETag") ?: "", "W/\"v1\"", "head: %s", r.raw_head);
	response_free(&r);
	/* An HTTP/1.0 client: no chunks, the close delimits the coded body. */
	struct conn c;
	conn_open(&c, d.port);
	conn_sendf(&c, "GET /ten?size=20000&cc=no-store HTTP/1.0\r\nHost: test.local\r\n"
		       "Accept-Encoding: zstd\r\n\r\n");
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", "zstd", "%s", r.raw_head);
	cr_assert_eq(r.framing, FRAME_CLOSE, "%s", r.raw_head);
	expect_pattern_decoded(&r, 20000, "HTTP/1.0");
	response_free(&r);
	conn_close(&c);
	cr_assert_eq(metric("ringcache_encode_copies_total"), 0, "nothing was kept");
	/* 4 coded cases twice, the POST, the ETag and the HTTP/1.0 one. */
	cr_assert_eq(metric("ringcache_encoded_total"), 4 * 2 + 3);
	cr_assert_eq(metric("ringcache_cache_objects"), 0);
	harness_end();
}

Test(compress, not_stored_no_transform_small_and_encoded_bodies_go_as_they_are)
{
	struct proc o, d;
	start_compress(&o, &d, "  workers: 2\n  min_size: 1000\n");
	static const char *const paths[] = {
	    "/nt?size=20000&cc=no-store%2C%20no-transform",
	    "/png?size=20000&cc=no-store&hdr=Content-Type:image/png",
	    "/small?size=999&cc=no-store",
	};
	for (size_t i = 0; i < 3; i++)
		not_stored_twice(d.port, paths[i], "gzip, br, zstd", NULL, i == 2 ? 999 : 20000);
	/* The origin's own coding goes through untouched, to a client that
	 * takes it; a passed response is never decoded. */
	struct response r;
	get_ae(d.port, "GET", "/enc?size=20000&encode=gzip&cc=no-store", "gzip, br", NULL, &r);
	cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", "gzip", "%s", r.raw_head);
	expect_pattern_decoded(&r, 20000, "origin's gzip");
	response_free(&r);
	cr_assert_eq(metric("ringcache_compression_jobs_total"), 0, "the pool was not used");
	harness_end();
}

Test(compress, a_streamed_pass_is_compressed_as_it_streams)
{
	struct proc o, d;
	start_compress(&o, &d, NULL);
	/* Chunked, no length: 4 chunks 150 ms apart, through the pipe of a
	 * miss that is not stored, then through a pass (hit-for-miss). */
	const char *path = "/drip?size=65536&chunked=1&chunk=16384&drip=150&cc=no-store";
	static const char *const via[] = {"fwd=uri-miss", "detail=hit-for-miss"};
	for (int i = 0; i < 2; i++) {
		struct conn c;
		conn_open(&c, d.port);
		conn_sendf(&c,
			   "GET %s HTTP/1.1\r\nHost: test.local\r\nAccept-Encoding: gzip\r\n\r\n",
			   path);
		struct response r;
		cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
		cr_assert(cache_status_has(&r, via[i]), "Cache-Status %s", cache_status(&r));
		cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", "gzip", "%s",
				 r.raw_head);
		cr_assert_eq(r.framing, FRAME_CHUNKED, "streamed: %s", r.raw_head);
		cr_assert_geq(r.n_chunks, 2, "%s: sent in one piece (%zu chunks)", via[i],
			      r.n_chunks);
		expect_pattern_decoded(&r, 65536, via[i]);
		response_free(&r);
		conn_close(&c);
	}
	harness_end();
}

Test(compress, a_client_leaving_a_coded_stream_ends_it)
{
	struct proc o, d;
	start_compress(&o, &d, NULL);
	/* About 3 s of dripping; the client reads the start and goes away.
	 * The coding must end (no stream left counted, nothing waiting
	 * forever) on the miss's pipe and on the pass. */
	const char *path = "/leave?size=1000000&chunked=1&chunk=16384&drip=50&cc=no-store";
	for (int i = 0; i < 2; i++) {
		struct conn c;
		conn_open(&c, d.port);
		conn_sendf(&c, "GET %s HTTP/1.1\r\nHost: test.local\r\nAccept-Encoding: br\r\n\r\n",
			   path);
		while (!memmem(c.buf + c.off, c.len - c.off, "\r\n\r\n", 4))
			cr_assert_gt(conn_fill(&c, 5000), 0, "round %d: no head", i);
		cr_assert(memmem(c.buf + c.off, c.len - c.off, "Content-Encoding: br\r\n", 22),
			  "round %d: not coded: %.*s", i, (int)(c.len - c.off), c.buf + c.off);
		conn_close(&c);
		double until = now_s() + 20;
		while (metric("ringcache_compression_streams") != 0) {
			cr_assert_lt(now_s(), until, "round %d: the coded stream did not end", i);
			sleep_ms(50);
		}
	}
	assert_alive(&d);
	not_stored_twice(d.port, "/after?size=20000&cc=no-store", "gzip", "gzip", 20000);
	harness_end();
}

struct par {
	int port;
	char path[128];
	struct response r;
};

static void *par_get(void *arg)
{
	struct par *p = arg;
	http_once(p->port, "GET", p->path, "Accept-Encoding: br\r\n", &p->r);
	return NULL;
}

Test(compress, a_full_queue_sends_identity_and_counts_it)
{
	struct proc o, d;
	/* One slow worker (brotli at 11) and a queue of one: two copies at
	 * a time; of eight concurrent misses, the others go uncompressed. */
	start_compress(&o, &d, "  workers: 1\n  queue: 1\n  levels: {br: 11}\n");
	enum { N = 8 };
	struct par p[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		p[i].port = d.port;
		snprintf(p[i].path, sizeof(p[i].path), "/q%d?size=1048576&cc=max-age%%3D60", i);
		cr_assert_eq(pthread_create(&t[i], NULL, par_get, &p[i]), 0);
	}
	int identity = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(p[i].r.status, 200, "%s", p[i].r.raw_head);
		if (!resp_header(&p[i].r, "Content-Encoding"))
			identity++;
		expect_pattern_decoded(&p[i].r, 1048576, p[i].path);
		response_free(&p[i].r);
	}
	long long fb = metric("ringcache_compression_fallbacks_total");
	cr_assert_gt(fb, 0, "no fallback counted (%d identity responses)", identity);
	cr_assert_eq(fb, identity, "every fallback is an identity response");
	harness_end();
}

Test(compress, origin_coding_outside_codings_is_passed_to_a_client_that_takes_it)
{
	struct proc o, d;
	start_compress(&o, &d, "  workers: 2\n  codings: [gzip]\n");
	const char *path = "/b?size=30000&encode=br&cc=max-age%3D60";
	struct response r;
	get_ae(d.port, "GET", path, "br", NULL, &r);
	cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", "br", "%s", r.raw_head);
	expect_pattern_decoded(&r, 30000, "br as sent");
	response_free(&r);
	cr_assert_eq(metric("ringcache_encode_copies_total"), 0, "decoded for a br client");
	harness_end();
}

Test(compress, empty_and_corrupt_encoded_bodies)
{
	struct proc o, d;
	start_compress(&o, &d, NULL);
	/* An empty body labelled gzip decodes to an empty body. */
	struct response r;
	get_ae(d.port, "GET", "/empty?size=0&hdr=Content-Encoding:gzip&cc=max-age%3D60", NULL, NULL,
	       &r);
	cr_assert(r.complete, "%s", r.error);
	cr_assert_eq(r.body_len, 0);
	cr_assert_null(resp_header(&r, "Content-Encoding"), "%s", r.raw_head);
	response_free(&r);
	/* A body labelled gzip that is not gzip: the first client that needs
	 * it decoded sees its connection closed before the end (never a short
	 * body that looks whole); afterwards it is sent as stored. */
	const char *bad = "/bad?size=5000&hdr=Content-Encoding:gzip&cc=max-age%3D60";
	struct conn c;
	conn_open(&c, d.port);
	conn_sendf(&c, "GET %s HTTP/1.1\r\nHost: test.local\r\n\r\n", bad);
	read_response(&c, &r, 0);
	cr_assert(!(r.result == READ_OK && r.complete && !resp_header(&r, "Content-Encoding")),
		  "a corrupt source gave a clean identity response: %s", r.raw_head);
	response_free(&r);
	conn_close(&c);
	get_ae(d.port, "GET", bad, NULL, NULL, &r);
	cr_assert(r.complete, "%s", r.error);
	cr_assert_str_eq(resp_header(&r, "Content-Encoding") ?: "", "gzip", "as stored: %s",
			 r.raw_head);
	cr_assert_eq(r.body_len, 5000);
	response_free(&r);
	cr_assert_eq(metric("ringcache_compression_errors_total"), 1);
	assert_alive(&d);
	harness_end();
}
