/* Unit tests of src/http/proxyproto.c: the spec's own examples and the
 * grammar's edges accepted, hostile headers refused at the byte that
 * proves them wrong (every shorter prefix asks for more), every split of
 * a valid header, bytes after it left alone, and the writer's headers
 * read back by the parser. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/proxyproto.h"

struct bytes {
	const char *p;
	size_t len;
};

/* A string literal with its exact length, NUL bytes included. */
#define B(s)                                                                                       \
	{                                                                                          \
		(s), sizeof(s) - 1                                                                 \
	}

/* The version 2 signature, and the fixed part of a header after it. */
#define SIG "\r\n\r\n\0\r\nQUIT\n"

struct vcase {
	struct bytes in; /* one whole header */
	uint8_t version, command, fam;
	/* Addresses as text, NULL for AF_UNSPEC (the real peer is used). */
	const char *src, *dst;
	uint16_t sport, dport;
};

struct icase {
	struct bytes in;
	int err;   /* -EPROTO or -E2BIG */
	size_t at; /* the shortest prefix that gives ERR; every shorter one gives 0 */
};

static const char PIPELINED[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

/* The spec's longest lines. */
#define FFFF6	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
#define V1_LONGEST6 "PROXY TCP6 " FFFF6 " " FFFF6 " 65535 65535\r\n"	/* 104 bytes */
#define V1_WORST    "PROXY UNKNOWN " FFFF6 " " FFFF6 " 65535 65535\r\n" /* 107 bytes */

static const struct vcase valid_table[] = {
    /* Version 1: the spec's example, its sizes, the grammar's edges. */
    {B("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), 1, PROXYPROTO_PROXY, PROXYPROTO_TCP4,
     "192.168.0.1", "192.168.0.11", 56324, 443},
    {B("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"), 1, PROXYPROTO_PROXY,
     PROXYPROTO_TCP4, "255.255.255.255", "255.255.255.255", 65535, 65535},
    {B("PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n"), 1, PROXYPROTO_PROXY, PROXYPROTO_TCP4, "0.0.0.0",
     "0.0.0.0", 0, 0},
    {B("PROXY TCP4 10.0.100.1 1.20.0.9 8 10\r\n"), 1, PROXYPROTO_PROXY, PROXYPROTO_TCP4,
     "10.0.100.1", "1.20.0.9", 8, 10},
    {B("PROXY TCP6 2001:db8::1 2001:db8::2 51000 80\r\n"), 1, PROXYPROTO_PROXY, PROXYPROTO_TCP6,
     "2001:db8::1", "2001:db8::2", 51000, 80},
    {B(V1_LONGEST6), 1, PROXYPROTO_PROXY, PROXYPROTO_TCP6, FFFF6, FFFF6, 65535, 65535},
    {B("PROXY TCP6 :: ::1 0 1\r\n"), 1, PROXYPROTO_PROXY, PROXYPROTO_TCP6, "::", "::1", 0, 1},
    {B("PROXY TCP6 2001:DB8:0:0:0:0:0:A ::ffff:192.0.2.1 1 2\r\n"), 1, PROXYPROTO_PROXY,
     PROXYPROTO_TCP6, "2001:db8::a", "::ffff:192.0.2.1", 1, 2},
    {B("PROXY TCP6 0001:0db8:0000:0000:0000:0000:0000:0001 fe80::1 443 443\r\n"), 1,
     PROXYPROTO_PROXY, PROXYPROTO_TCP6, "1:db8::1", "fe80::1", 443, 443},
    {B("PROXY UNKNOWN\r\n"), 1, PROXYPROTO_LOCAL, PROXYPROTO_UNSPEC, NULL, NULL, 0, 0},
    {B(V1_WORST), 1, PROXYPROTO_LOCAL, PROXYPROTO_UNSPEC, NULL, NULL, 0, 0},
    {B("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"), 1, PROXYPROTO_LOCAL, PROXYPROTO_UNSPEC, NULL, NULL,
     0, 0},
    {B("PROXY UNKNOWN  anything\t\x01\x7f\xff at all \r\n"), 1, PROXYPROTO_LOCAL, PROXYPROTO_UNSPEC,
     NULL, NULL, 0, 0},
    {B("PROXY UNKNOWN \r\n"), 1, PROXYPROTO_LOCAL, PROXYPROTO_UNSPEC, NULL, NULL, 0, 0},

    /* Version 2: what HAProxy sends for TCP over IPv4 (172.19.0.1:42578
     * to 172.19.0.3:80). */
    {B(SIG "\x21\x11\x00\x0c"
	   "\xac\x13\x00\x01\xac\x13\x00\x03\xa6\x52\x00\x50"),
     2, PROXYPROTO_PROXY, PROXYPROTO_TCP4, "172.19.0.1", "172.19.0.3", 42578, 80},
    /* TCP over IPv6. */
    {B(SIG "\x21\x21\x00\x24"
	   "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	   "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
	   "\xc7\x38\x01\xbb"),
     2, PROXYPROTO_PROXY, PROXYPROTO_TCP6, "2001:db8::1", "2001:db8::2", 51000, 443},
    /* TCP over IPv4 with TLVs: ALPN "h2", AUTHORITY, an empty NOOP. */
    {B(SIG "\x21\x11\x00\x22"
	   "\x0a\x00\x00\x01\x0a\x00\x00\x02\x30\x39\x01\xbb"
	   "\x01\x00\x02h2"
	   "\x02\x00\x0b"
	   "example.com"
	   "\x04\x00\x00"),
     2, PROXYPROTO_PROXY, PROXYPROTO_TCP4, "10.0.0.1", "10.0.0.2", 12345, 443},
    /* TCP over IPv6 with an SSL TLV and its sub-TLVs (contents ignored). */
    {B(SIG "\x21\x21\x00\x3e"
	   "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	   "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	   "\x00\x01\x00\x02"
	   "\x20\x00\x17\x01\x00\x00\x00\x00"
	   "\x21\x00\x07TLSv1.3"
	   "\x22\x00\x05"
	   "a.com"),
     2, PROXYPROTO_PROXY, PROXYPROTO_TCP6, "::1", "::1", 1, 2},
    /* LOCAL (a health check): nothing, a TLV, or addresses not to use. */
    {B(SIG "\x20\x00\x00\x00"), 2, PROXYPROTO_LOCAL, PROXYPROTO_UNSPEC, NULL, NULL, 0, 0},
    {B(SIG "\x20\x00\x00\x07"
	   "\x05\x00\x04uid1"),
     2, PROXYPROTO_LOCAL, PROXYPROTO_UNSPEC, NULL, NULL, 0, 0},
    {B(SIG "\x20\x11\x00\x0c"
	   "\x7f\x00\x00\x01\x7f\x00\x00\x01\x00\x01\x00\x02"),
     2, PROXYPROTO_LOCAL, PROXYPROTO_TCP4, NULL, NULL, 0, 0},
    /* PROXY for what the spec lets a receiver take as UNSPEC: UNSPEC
     * itself, UDP, a family without a transport (the rest not walked). */
    {B(SIG "\x21\x00\x00\x00"), 2, PROXYPROTO_PROXY, PROXYPROTO_UNSPEC, NULL, NULL, 0, 0},
    {B(SIG "\x21\x12\x00\x0c"
	   "\x0a\x00\x00\x01\x0a\x00\x00\x02\x00\x35\x00\x35"),
     2, PROXYPROTO_PROXY, 0x12, NULL, NULL, 0, 0},
    {B(SIG "\x21\x10\x00\x02\xff\xff"), 2, PROXYPROTO_PROXY, 0x10, NULL, NULL, 0, 0},
    {B(SIG "\x21\x01\x00\x01\x00"), 2, PROXYPROTO_PROXY, 0x01, NULL, NULL, 0, 0},
};

static const struct icase invalid_table[] = {
    /* Not PROXY at all: refused at the first byte that says so. */
    {B("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), -EPROTO, 1},
    {B("POST / HTTP/1.1\r\n"), -EPROTO, 2},
    {B("PUT / HTTP/1.1\r\n"), -EPROTO, 2},
    {B("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), -EPROTO, 3},
    {B("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), -EPROTO, 1}, /* TLS */
    {B("\r\nGET / HTTP/1.1\r\n"), -EPROTO, 3},
    {B("\0\0\0\0"), -EPROTO, 1},
    {B("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 1},
    {B("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 6},
    {B("PROXY\r\n"), -EPROTO, 6},

    /* Version 1: the protocol word. */
    {B("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 10},
    {B("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 7},
    {B("PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 10},
    {B("PROXY TCP41.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 11},
    {B("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 8},
    {B("PROXY UNKNOWNX\r\n"), -EPROTO, 14},
    {B("PROXY UNKNOWN\n"), -EPROTO, 14},
    {B("PROXY UNKNOWN\r\r\n"), -EPROTO, 15},
    {B("PROXY UNKNOWN a\nb\r\n"), -EPROTO, 16},
    {B("PROXY UNKNOWN a\rb\r\n"), -EPROTO, 17},
    /* Spaces: exactly one between fields, none at the ends. */
    {B("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 7},
    {B("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 12},
    {B("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), -EPROTO, 20},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n"), -EPROTO, 28},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n"), -EPROTO, 30},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), -EPROTO, 31},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 1\t2\r\n"), -EPROTO, 29},
    {B("PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 6},
    /* Line ends: CRLF and nothing else. */
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), -EPROTO, 31},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n"), -EPROTO, 32},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"), -EPROTO, 32},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), -EPROTO, 29}, /* no dport */
    {B("PROXY TCP4 1.2.3.4 5.6.7.8\r\n"), -EPROTO, 27},	  /* no ports */
    /* Ports. */
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n"), -EPROTO, 32},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 80 65536\r\n"), -EPROTO, 35},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n"), -EPROTO, 32},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 123456 80\r\n"), -EPROTO, 33},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 080 80\r\n"), -EPROTO, 29},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 00 80\r\n"), -EPROTO, 29},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 80 00443\r\n"), -EPROTO, 32},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 +80 80\r\n"), -EPROTO, 28},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 -1 80\r\n"), -EPROTO, 28},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 0x50 80\r\n"), -EPROTO, 29},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8 8a 80\r\n"), -EPROTO, 29},
    /* IPv4 addresses. */
    {B("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 13},
    {B("PROXY TCP4 1.02.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 15},
    {B("PROXY TCP4 1.2.3.4 5.6.7.00 1 2\r\n"), -EPROTO, 27},
    {B("PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n"), -EPROTO, 21},
    {B("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"), -EPROTO, 17},
    {B("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n"), -EPROTO, 21},
    {B("PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n"), -EPROTO, 18},
    {B("PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n"), -EPROTO, 20},
    {B("PROXY TCP4 1.2.3.4 5.6.7.8x 1 2\r\n"), -EPROTO, 27},
    {B("PROXY TCP4 255.255.255.2555 5.6.7.8 1 2\r\n"), -EPROTO, 27}, /* 16 characters */
    {B("PROXY TCP4 0x7f.0.0.1 5.6.7.8 1 2\r\n"), -EPROTO, 13},
    {B("PROXY TCP4 ::1 ::1 1 2\r\n"), -EPROTO, 12},		   /* IPv6 with TCP4 */
    {B("PROXY TCP4 1.2.3.4 ::ffff:5.6.7.8 1 2\r\n"), -EPROTO, 20}, /* ... for dst only */
    /* IPv6 addresses. */
    {B("PROXY TCP6 1.2.3.4 ::1 1 2\r\n"), -EPROTO, 19}, /* IPv4 with TCP6 */
    {B("PROXY TCP6 ::1 5.6.7.8 1 2\r\n"), -EPROTO, 23},
    {B("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n"), -EPROTO, 29},
    {B("PROXY TCP6 1::2::3 ::1 1 2\r\n"), -EPROTO, 19},
    {B("PROXY TCP6 12345:: ::1 1 2\r\n"), -EPROTO, 19},
    {B("PROXY TCP6 :::1 ::1 1 2\r\n"), -EPROTO, 16},
    {B("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"), -EPROTO, 19},
    {B("PROXY TCP6 [::1] ::1 1 2\r\n"), -EPROTO, 12},
    {B("PROXY TCP6 ::g ::1 1 2\r\n"), -EPROTO, 14},
    /* No CRLF within 107 bytes, each way of getting there. */
    {B("PROXY UNKNOWN " FFFF6 " " FFFF6 " 65535 655355\r\n"), -E2BIG, 107},
    {B("PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
     -E2BIG, 107},
    {B("PROXY TCP6 0000:0000:0000:0000:0000:ffff:255.255.255.255 "
       "0000:0000:0000:0000:0000:ffff:255.255.255.255 65535 65535\r\n"),
     -E2BIG, 107},

    /* Version 2: the signature. */
    {B("\r\n\r\n\0\r\nQUIT\r\x21\x11\x00\x0c"), -EPROTO, 12},
    {B("\r\n\r\n\x01\r\nQUIT\n\x21\x11\x00\x0c"), -EPROTO, 5},
    {B("\r\n\r\n\0\r\nquit\n\x21\x11\x00\x0c"), -EPROTO, 8},
    /* Version and command. */
    {B(SIG "\x11\x11\x00\x0c"), -EPROTO, 13}, /* version 1 */
    {B(SIG "\x01\x11\x00\x0c"), -EPROTO, 13},
    {B(SIG "\x31\x11\x00\x0c"), -EPROTO, 13},
    {B(SIG "\xf1\x11\x00\x0c"), -EPROTO, 13},
    {B(SIG "\x22\x11\x00\x0c"), -EPROTO, 13}, /* command 2 */
    {B(SIG "\x2f\x11\x00\x0c"), -EPROTO, 13},
    /* Family and transport. */
    {B(SIG "\x21\x41\x00\x0c"), -EPROTO, 14},
    {B(SIG "\x21\xf1\x00\x0c"), -EPROTO, 14},
    {B(SIG "\x21\x13\x00\x0c"), -EPROTO, 14},
    {B(SIG "\x20\x03\x00\x00"), -EPROTO, 14}, /* LOCAL too */
    /* Length: over the limit, or short of the address block. */
    {B(SIG "\x21\x11\x02\x01"), -E2BIG, 16},
    {B(SIG "\x21\x11\xff\xff"), -E2BIG, 16},
    {B(SIG "\x20\x00\x02\x01"), -E2BIG, 16},
    {B(SIG "\x21\x11\x00\x0b"
	   "\x0a\x00\x00\x01\x0a\x00\x00\x02\x30\x39\x01"),
     -EPROTO, 16},
    {B(SIG "\x21\x11\x00\x00"), -EPROTO, 16},
    {B(SIG "\x21\x21\x00\x0c"
	   "\x0a\x00\x00\x01\x0a\x00\x00\x02\x30\x39\x01\xbb"),
     -EPROTO, 16},
    {B(SIG "\x21\x31\x00\x24"), -EPROTO, 16},
    {B(SIG "\x20\x11\x00\x00"), -EPROTO, 16}, /* LOCAL says IPv4 but has no room */
    /* TLVs that do not fill the rest exactly. */
    {B(SIG "\x21\x11\x00\x0e"
	   "\x0a\x00\x00\x01\x0a\x00\x00\x02\x30\x39\x01\xbb\x04\x00"),
     -EPROTO, 16}, /* 2 bytes left: no room for a TLV header */
    {B(SIG "\x21\x11\x00\x14"
	   "\x0a\x00\x00\x01\x0a\x00\x00\x02\x30\x39\x01\xbb\x02\x00\x06"
	   "abcde"),
     -EPROTO, 31}, /* value 6 bytes, 5 left */
    {B(SIG "\x21\x11\x00\x16"
	   "\x0a\x00\x00\x01\x0a\x00\x00\x02\x30\x39\x01\xbb\x01\x00\x02h2\x02\x00\x03"
	   "ab"),
     -EPROTO, 36}, /* the second TLV overruns */
    {B(SIG "\x21\x11\x00\x12"
	   "\x0a\x00\x00\x01\x0a\x00\x00\x02\x30\x39\x01\xbb\x01\x00\x02h2\x04"),
     -EPROTO, 31}, /* 1 byte after the first TLV */
    {B(SIG "\x21\x11\x00\x0f"
	   "\x0a\x00\x00\x01\x0a\x00\x00\x02\x30\x39\x01\xbb\x01\xff\xff"),
     -EPROTO, 31},
    {B(SIG "\x20\x00\x00\x04\x05\x00\x02x"), -EPROTO, 19},
};

/* Headers too large to write out: built once per test process. */
static char v2_largest[PROXYPROTO_V2_MAX];	 /* LOCAL, one NOOP TLV filling 512 bytes */
static char v2_one_over[PROXYPROTO_V2_MAX + 1];	 /* the same, one byte longer */
static char v2_unix[16 + 216 + 7];		 /* UNIX stream, two paths and a TLV */
static char v1_cr_at_107[PROXYPROTO_V1_MAX + 1]; /* the CRLF's LF would be byte 108 */

#define N_VALID	  (sizeof(valid_table) / sizeof(valid_table[0]) + 2)
#define N_INVALID (sizeof(invalid_table) / sizeof(invalid_table[0]) + 2)

static void load_valid(struct vcase *out)
{
	memcpy(out, valid_table, sizeof(valid_table));
	size_t n = sizeof(valid_table) / sizeof(valid_table[0]);

	memcpy(v2_largest, SIG "\x20\x00\x02\x00\x04\x01\xfd", 19);
	memset(v2_largest + 19, 'n', sizeof(v2_largest) - 19);
	out[n++] = (struct vcase){
	    {v2_largest, sizeof(v2_largest)}, 2, PROXYPROTO_LOCAL, 0, NULL, NULL, 0, 0};

	memcpy(v2_unix, SIG "\x21\x31\x00\xdf", 16);
	memset(v2_unix + 16, 0, 216);
	memcpy(v2_unix + 16, "/run/client.sock", 16);
	memcpy(v2_unix + 16 + 108, "/run/ringcache.sock", 19);
	memcpy(v2_unix + 16 + 216, "\x30\x00\x04netA", 7);
	out[n++] =
	    (struct vcase){{v2_unix, sizeof(v2_unix)}, 2, PROXYPROTO_PROXY, 0x31, NULL, NULL, 0, 0};
	cr_assert_eq(n, N_VALID);
}

static void load_invalid(struct icase *out)
{
	memcpy(out, invalid_table, sizeof(invalid_table));
	size_t n = sizeof(invalid_table) / sizeof(invalid_table[0]);

	memcpy(v2_one_over, SIG "\x20\x00\x02\x01\x04\x01\xfe", 19);
	memset(v2_one_over + 19, 'n', sizeof(v2_one_over) - 19);
	out[n++] = (struct icase){{v2_one_over, sizeof(v2_one_over)}, -E2BIG, 16};

	memcpy(v1_cr_at_107, "PROXY UNKNOWN ", 14);
	memset(v1_cr_at_107 + 14, 'x', PROXYPROTO_V1_MAX - 1 - 14);
	memcpy(v1_cr_at_107 + PROXYPROTO_V1_MAX - 1, "\r\n", 2);
	out[n++] = (struct icase){{v1_cr_at_107, sizeof(v1_cr_at_107)}, -E2BIG, 107};
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

#define POISON 0xa5 /* what *out holds before a call that must not write it */

/*
 * Parse P[0..N) from a buffer of exactly N bytes, so that AddressSanitizer
 * (RINGCACHE_SANITIZE=ON) sees a read past N. When the result is not > 0,
 * *OUT must be as it was.
 */
static int parse(const char *p, size_t n, struct proxyproto *out)
{
	char *b = malloc(n ? n : 1);
	cr_assert_not_null(b);
	memcpy(b, p, n);
	struct proxyproto before;
	memset(&before, POISON, sizeof(before));
	memset(out, POISON, sizeof(*out));
	int r = proxyproto_parse(b, n, out);
	free(b);
	if (r <= 0)
		cr_assert_eq(memcmp(out, &before, sizeof(before)), 0, "out written on %d", r);
	return r;
}

/* IN followed by TAIL. */
static struct bytes concat(struct bytes in, struct bytes tail)
{
	char *p = malloc(in.len + tail.len + 1);
	cr_assert_not_null(p);
	memcpy(p, in.p, in.len);
	memcpy(p + in.len, tail.p, tail.len);
	return (struct bytes){p, in.len + tail.len};
}

/* An address as the parser reports it: family, address, port. */
static void check_addr(const struct sockaddr_storage *ss, const char *want, uint16_t port,
		       const char *name, const char *which)
{
	if (want == NULL) {
		cr_assert_eq(ss->ss_family, AF_UNSPEC, "\"%s\": %s has family %d", name, which,
			     ss->ss_family);
		return;
	}
	char text[INET6_ADDRSTRLEN];
	if (strchr(want, ':')) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		struct in6_addr a;
		cr_assert_eq(inet_pton(AF_INET6, want, &a), 1);
		cr_assert_eq(ss->ss_family, AF_INET6, "\"%s\": %s family", name, which);
		cr_assert_eq(memcmp(&s->sin6_addr, &a, 16), 0, "\"%s\": %s is %s, want %s", name,
			     which, inet_ntop(AF_INET6, &s->sin6_addr, text, sizeof(text)), want);
		cr_assert_eq(ntohs(s->sin6_port), port, "\"%s\": %s port %u, want %u", name, which,
			     ntohs(s->sin6_port), port);
		cr_assert_eq(s->sin6_flowinfo, 0);
		cr_assert_eq(s->sin6_scope_id, 0);
	} else {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		struct in_addr a;
		cr_assert_eq(inet_pton(AF_INET, want, &a), 1);
		cr_assert_eq(ss->ss_family, AF_INET, "\"%s\": %s family", name, which);
		cr_assert_eq(s->sin_addr.s_addr, a.s_addr, "\"%s\": %s is %s, want %s", name, which,
			     inet_ntop(AF_INET, &s->sin_addr, text, sizeof(text)), want);
		cr_assert_eq(ntohs(s->sin_port), port, "\"%s\": %s port %u, want %u", name, which,
			     ntohs(s->sin_port), port);
	}
}

static void check_result(const struct vcase *vc, const struct proxyproto *pp, const char *name)
{
	cr_assert_eq(pp->version, vc->version, "\"%s\": version %u", name, pp->version);
	cr_assert_eq(pp->command, vc->command, "\"%s\": command %u", name, pp->command);
	cr_assert_eq(pp->fam, vc->fam, "\"%s\": fam 0x%02x", name, pp->fam);
	check_addr(&pp->src, vc->src, vc->sport, name, "src");
	check_addr(&pp->dst, vc->dst, vc->dport, name, "dst");
}

/*
 * Feed the bytes of ALL as a caller would: what has arrived so far, in
 * pieces of STEP bytes (0: all at once), until the parser answers. Returns
 * the answer and how many bytes had arrived.
 */
static int feed(struct bytes all, size_t step, struct proxyproto *out, size_t *arrived)
{
	size_t have = 0;
	for (;;) {
		have = step == 0 || all.len - have < step ? all.len : have + step;
		int r = parse(all.p, have, out);
		if (r != 0 || have == all.len) {
			*arrived = have;
			return r;
		}
	}
}

Test(http_proxyproto, valid_headers)
{
	struct vcase cases[N_VALID];
	load_valid(cases);
	for (size_t i = 0; i < N_VALID; i++) {
		const struct vcase *vc = &cases[i];
		const char *name = show(vc->in.p, vc->in.len);
		struct proxyproto pp;
		int r = parse(vc->in.p, vc->in.len, &pp);
		cr_assert_eq(r, (int)vc->in.len, "\"%s\": %d, want %zu", name, r, vc->in.len);
		check_result(vc, &pp, name);
		if (vc->version == 1)
			cr_assert_leq(vc->in.len, PROXYPROTO_V1_MAX);
	}
}

Test(http_proxyproto, valid_headers_split_anywhere)
{
	struct vcase cases[N_VALID];
	load_valid(cases);
	for (size_t i = 0; i < N_VALID; i++) {
		const struct vcase *vc = &cases[i];
		const char *name = show(vc->in.p, vc->in.len);
		struct proxyproto pp;
		/* Every proper prefix asks for more; the whole is the header. */
		for (size_t k = 0; k < vc->in.len; k++)
			cr_assert_eq(parse(vc->in.p, k, &pp), 0, "\"%s\": prefix %zu", name, k);
		/* The client's bytes after it, arriving with it or later, are
		 * not consumed: the same length and result whatever follows. */
		struct bytes all = concat(vc->in, (struct bytes)B(PIPELINED));
		for (size_t k = vc->in.len; k <= all.len; k++) {
			cr_assert_eq(parse(all.p, k, &pp), (int)vc->in.len, "\"%s\": %zu bytes",
				     name, k);
			check_result(vc, &pp, name);
		}
		for (size_t step = 0; step <= 7; step++) {
			size_t arrived;
			int r = feed(all, step, &pp, &arrived);
			cr_assert_eq(r, (int)vc->in.len, "\"%s\": step %zu gives %d", name, step,
				     r);
			cr_assert_geq(arrived, vc->in.len);
			check_result(vc, &pp, name);
		}
		free((char *)all.p);
	}
}

Test(http_proxyproto, invalid_headers_at_the_first_wrong_byte)
{
	struct icase cases[N_INVALID];
	load_invalid(cases);
	for (size_t i = 0; i < N_INVALID; i++) {
		const struct icase *ic = &cases[i];
		const char *name = show(ic->in.p, ic->in.len);
		struct proxyproto pp;
		cr_assert(ic->at > 0 && ic->at <= ic->in.len, "\"%s\": at %zu", name, ic->at);
		for (size_t k = 0; k < ic->at; k++) {
			int r = parse(ic->in.p, k, &pp);
			cr_assert_eq(r, 0, "\"%s\": prefix %zu gives %d, want 0 before %zu", name,
				     k, r, ic->at);
		}
		for (size_t k = ic->at; k <= ic->in.len; k++) {
			int r = parse(ic->in.p, k, &pp);
			cr_assert_eq(r, ic->err, "\"%s\": %zu bytes give %d, want %d", name, k, r,
				     ic->err);
		}
		for (size_t step = 1; step <= 5; step++) {
			size_t arrived;
			cr_assert_eq(feed(ic->in, step, &pp, &arrived), ic->err, "\"%s\": step %zu",
				     name, step);
			cr_assert_geq(arrived, ic->at);
		}
	}
}

Test(http_proxyproto, prefix_of_plain_crlf)
{
	/* A connection that starts with CRLF could still be version 2, and
	 * one that starts "P" version 1: only the next bytes can tell. */
	struct proxyproto pp;
	cr_assert_eq(parse("\r\n", 2, &pp), 0);
	cr_assert_eq(parse("\r\n\r\n", 4, &pp), 0);
	cr_assert_eq(parse("P", 1, &pp), 0);
	cr_assert_eq(parse("PROXY", 5, &pp), 0);
	cr_assert_eq(parse("", 0, &pp), 0);
}

Test(http_proxyproto, never_more_with_the_max)
{
	/* PROXYPROTO_MAX bytes always decide. Any first byte: */
	char buf[PROXYPROTO_MAX];
	struct proxyproto pp;
	for (int b = 0; b < 256; b++) {
		memset(buf, b, sizeof(buf));
		cr_assert_neq(parse(buf, sizeof(buf), &pp), 0, "0x%02x...", b);
	}
	/* The longest a v1 line can be valid so far, and a v2 header that
	 * announces the most. */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "PROXY UNKNOWN ", 14);
	cr_assert_eq(parse(buf, PROXYPROTO_V1_MAX - 1, &pp), 0);
	cr_assert_eq(parse(buf, PROXYPROTO_V1_MAX, &pp), -E2BIG);
	cr_assert_eq(parse(buf, sizeof(buf), &pp), -E2BIG);
	memcpy(buf, SIG "\x20\x00\x02\x00\x04\x01\xfd", 19);
	cr_assert_eq(parse(buf, PROXYPROTO_MAX - 1, &pp), 0);
	cr_assert_eq(parse(buf, PROXYPROTO_MAX, &pp), PROXYPROTO_MAX);
}

/* ---- writing ------------------------------------------------------------------- */

static struct sockaddr_storage sa(const char *text, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':')) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		cr_assert_eq(inet_pton(AF_INET6, text, &s->sin6_addr), 1);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;
		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		cr_assert_eq(inet_pton(AF_INET, text, &s->sin_addr), 1);
	}
	return ss;
}

struct wcase {
	const char *src, *dst; /* NULL src: LOCAL */
	uint16_t sport, dport;
	struct bytes want; /* the exact header */
	/* What it parses back to (IPv4 mapped when the families differ). */
	uint8_t fam;
	const char *back_src, *back_dst;
};

static const struct wcase write_table[] = {
    {"172.19.0.1", "172.19.0.3", 42578, 80,
     B(SIG "\x21\x11\x00\x0c"
	   "\xac\x13\x00\x01\xac\x13\x00\x03\xa6\x52\x00\x50"),
     PROXYPROTO_TCP4, "172.19.0.1", "172.19.0.3"},
    {"0.0.0.0", "255.255.255.255", 0, 65535,
     B(SIG "\x21\x11\x00\x0c"
	   "\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\xff\xff"),
     PROXYPROTO_TCP4, "0.0.0.0", "255.255.255.255"},
    {"2001:db8::1", "2001:db8::2", 51000, 443,
     B(SIG "\x21\x21\x00\x24"
	   "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	   "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
	   "\xc7\x38\x01\xbb"),
     PROXYPROTO_TCP6, "2001:db8::1", "2001:db8::2"},
    {"192.0.2.7", "2001:db8::2", 1, 2,
     B(SIG "\x21\x21\x00\x24"
	   "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\x00\x02\x07"
	   "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
	   "\x00\x01\x00\x02"),
     PROXYPROTO_TCP6, "::ffff:192.0.2.7", "2001:db8::2"},
    {"2001:db8::1", "192.0.2.8", 1, 2,
     B(SIG "\x21\x21\x00\x24"
	   "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	   "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\x00\x02\x08"
	   "\x00\x01\x00\x02"),
     PROXYPROTO_TCP6, "2001:db8::1", "::ffff:192.0.2.8"},
    {NULL, NULL, 0, 0, B(SIG "\x20\x00\x00\x00"), PROXYPROTO_UNSPEC, NULL, NULL},
};

static size_t write_case(const struct wcase *w, void *out, size_t cap)
{
	if (w->src == NULL)
		return proxyproto_v2_write(out, cap, NULL, NULL);
	struct sockaddr_storage s = sa(w->src, w->sport), d = sa(w->dst, w->dport);
	return proxyproto_v2_write(out, cap, (struct sockaddr *)&s, (struct sockaddr *)&d);
}

Test(http_proxyproto, writer_round_trip)
{
	for (size_t i = 0; i < sizeof(write_table) / sizeof(write_table[0]); i++) {
		const struct wcase *w = &write_table[i];
		const char *name = w->src ? w->src : "LOCAL";
		unsigned char buf[PROXYPROTO_V2_WRITE_MAX + 8];
		memset(buf, 0xee, sizeof(buf));
		size_t n = write_case(w, buf, sizeof(buf));
		cr_assert_eq(n, w->want.len, "%s: wrote %zu, want %zu", name, n, w->want.len);
		cr_assert_leq(n, PROXYPROTO_V2_WRITE_MAX);
		cr_assert_eq(memcmp(buf, w->want.p, n), 0, "%s: wrote \"%s\"", name,
			     show((const char *)buf, n));
		cr_assert_eq(buf[n], 0xee, "%s: wrote past its length", name);

		struct proxyproto pp;
		cr_assert_eq(parse((const char *)buf, n, &pp), (int)n, "%s: does not parse", name);
		struct vcase back = {.version = 2,
				     .command = w->src ? PROXYPROTO_PROXY : PROXYPROTO_LOCAL,
				     .fam = w->fam,
				     .src = w->back_src,
				     .dst = w->back_dst,
				     .sport = w->sport,
				     .dport = w->dport};
		check_result(&back, &pp, name);

		/* Too small by one, or by all: 0 and nothing written. */
		unsigned char small[PROXYPROTO_V2_WRITE_MAX];
		for (size_t cap = 0; cap < n; cap++) {
			memset(small, 0xee, sizeof(small));
			cr_assert_eq(write_case(w, small, cap), 0, "%s: cap %zu", name, cap);
			for (size_t j = 0; j < sizeof(small); j++)
				cr_assert_eq(small[j], 0xee, "%s: cap %zu wrote byte %zu", name,
					     cap, j);
		}
		cr_assert_eq(write_case(w, small, n), n, "%s: exact cap", name);
	}
}

Test(http_proxyproto, writer_local_for_other_families)
{
	/* A client on a UNIX socket: relayed, but from nowhere an IP header
	 * can say. */
	struct sockaddr_storage un;
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	struct sockaddr_storage d = sa("127.0.0.1", 80);
	unsigned char buf[PROXYPROTO_V2_WRITE_MAX];
	size_t n =
	    proxyproto_v2_write(buf, sizeof(buf), (struct sockaddr *)&un, (struct sockaddr *)&d);
	cr_assert_eq(n, 16);
	cr_assert_eq(memcmp(buf, SIG "\x20\x00\x00\x00", 16), 0);
	struct proxyproto pp;
	cr_assert_eq(parse((const char *)buf, n, &pp), 16);
	cr_assert_eq(pp.command, PROXYPROTO_LOCAL);
	cr_assert_eq(pp.src.ss_family, AF_UNSPEC);
}

Test(http_proxyproto, v1_addresses_written_as_v2)
{
	/* What a parsed v1 header says, re-sent to a backend as v2, says the same. */
	struct vcase cases[N_VALID];
	load_valid(cases);
	size_t tried = 0;
	for (size_t i = 0; i < N_VALID; i++) {
		const struct vcase *vc = &cases[i];
		struct proxyproto pp, back;
		cr_assert_eq(parse(vc->in.p, vc->in.len, &pp), (int)vc->in.len);
		if (pp.src.ss_family == AF_UNSPEC)
			continue;
		unsigned char buf[PROXYPROTO_V2_WRITE_MAX];
		size_t n = proxyproto_v2_write(buf, sizeof(buf), (struct sockaddr *)&pp.src,
					       (struct sockaddr *)&pp.dst);
		cr_assert_gt(n, 0);
		cr_assert_eq(parse((const char *)buf, n, &back), (int)n);
		cr_assert_eq(back.command, PROXYPROTO_PROXY);
		cr_assert_eq(back.fam, pp.fam);
		cr_assert_eq(memcmp(&back.src, &pp.src, sizeof(pp.src)), 0, "%s",
			     show(vc->in.p, vc->in.len));
		cr_assert_eq(memcmp(&back.dst, &pp.dst, sizeof(pp.dst)), 0, "%s",
			     show(vc->in.p, vc->in.len));
		tried++;
	}
	cr_assert_geq(tried, 10);
}

Test(http_proxyproto, table_sizes)
{
	/* What the task asks of the tables, kept true as they change. */
	cr_assert_geq(N_VALID, 25);
	cr_assert_geq(N_INVALID, 90);
}
