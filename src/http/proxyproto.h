/*
 * proxyproto.h - the PROXY protocol, versions 1 and 2 (HAProxy's
 * proxy-protocol.txt): the header a load balancer in front of ringcache
 * puts before the first byte of a connection to say who the client really
 * is, parsed strictly; and the version 2 header ringcache puts before a
 * backend connection that wants one. No I/O, no allocation.
 *
 * The header carries the address every log line, ACL and X-Forwarded-For
 * will trust, so the parser takes exactly the spec's grammar and refuses
 * the rest, the way chunked.h does for body framing: a header one
 * implementation reads one way and another reads another way is a spoofed
 * address. The spec also says a listener must be configured to expect the
 * header and never guess: a caller on a proxy_protocol listener parses
 * first and closes the connection on any error, a plain HTTP request
 * included. Not PROXY at all is known from the first byte that proves it
 * ("GET" at its G, TLS at 0x16, "POST" at its O): there is no waiting for
 * 8 or 16 bytes as the spec's sample code does.
 *
 * Version 1, one US-ASCII line:
 *   "PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP sport SP dport CRLF
 *   "PROXY" SP "UNKNOWN" [ SP anything but CR and LF ] CRLF
 * - exactly one SP between fields, none before the CRLF; case matters;
 * - src and dst are what inet_pton() takes for the family (TCP4: dotted
 *   quad, each octet without a leading zero, as the spec requires, so an
 *   octal-looking 010 is refused; TCP6: any RFC 4291 text form, :: and
 *   the ::ffff:a.b.c.d form included, since senders print with inet_ntop);
 * - ports are 0..65535 in decimal, no sign, no leading zero ("0" alone);
 * - a CR not followed by LF, or an LF not preceded by CR, is refused
 *   anywhere (the spec: a single CR or LF must not end the line);
 * - the line is at most PROXYPROTO_V1_MAX bytes with its CRLF; a line
 *   still valid but without its CRLF by then is -E2BIG.
 * UNKNOWN means "use the real peer": it is reported as LOCAL.
 *
 * Version 2, binary: the 12-byte signature, then
 * - the version and command byte: version 2, command LOCAL (0) or PROXY
 *   (1); anything else is refused, as the spec requires of receivers;
 * - the family and transport byte: family 0..3 (UNSPEC, INET, INET6,
 *   UNIX) in the high nibble and transport 0..2 (UNSPEC, STREAM, DGRAM)
 *   in the low one; other values are refused, as the spec requires;
 * - the length of the rest, big-endian: at most PROXYPROTO_V2_MAX bytes in
 *   all (else -E2BIG, from the 16th byte on), and at least the address
 *   block of the family and transport (12 bytes for 0x11 and 0x12, 36 for
 *   0x21 and 0x22, 216 for 0x31 and 0x32, 0 for 0x00), whatever the
 *   command: the spec says never to assume LOCAL carries no addresses;
 * - after that block, TLVs (type, 16-bit big-endian length, value) that
 *   must fill the rest exactly; their contents are ignored (a CRC32C TLV
 *   is not verified: the spec asks that only of receivers that support it).
 *   A family and transport byte without a layout in the spec (0x01, 0x02,
 *   0x10, 0x20, 0x30) is accepted with the rest of the header skipped
 *   unread, since nothing says where its TLVs would start.
 * Addresses are reported only for PROXY with TCP over IPv4 (0x11) or IPv6
 * (0x21): an HTTP connection is TCP, so UDP and UNIX (which the spec lets
 * a receiver take as UNSPEC) and UNSPEC mean "use the real peer", as LOCAL
 * does.
 */
#ifndef RINGCACHE_HTTP_PROXYPROTO_H
#define RINGCACHE_HTTP_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The longest version 1 line, CRLF included (the spec's worst case:
 * UNKNOWN with two full-length IPv6 addresses and ports). */
#define PROXYPROTO_V1_MAX 107
/* The longest version 2 header taken: the 16 fixed bytes and 512 of
 * addresses and TLVs. The spec sizes headers to fit one 536-byte segment. */
#define PROXYPROTO_V2_MAX (16 + 512)
/* proxyproto_parse never returns 0 for this many bytes or more: a caller
 * whose buffer holds PROXYPROTO_MAX bytes has its answer. */
#define PROXYPROTO_MAX PROXYPROTO_V2_MAX

/* The most proxyproto_v2_write writes: 16 bytes and two IPv6 addresses
 * with their ports. */
#define PROXYPROTO_V2_WRITE_MAX (16 + 36)

enum proxyproto_command {
	PROXYPROTO_LOCAL = 0, /* use the connection's own endpoints */
	PROXYPROTO_PROXY = 1, /* relayed: the header says from where */
};

/* The version 2 family and transport byte; version 1's TCP4, TCP6 and
 * UNKNOWN are reported as the three below. */
#define PROXYPROTO_UNSPEC 0x00
#define PROXYPROTO_TCP4	  0x11
#define PROXYPROTO_TCP6	  0x21

struct proxyproto {
	uint8_t version; /* 1 or 2 */
	uint8_t command; /* enum proxyproto_command; v1 UNKNOWN is LOCAL */
	uint8_t fam;	 /* family and transport as above (v2: the 14th byte) */
	/* The client and the address it connected to, port included
	 * (network order, as in any sockaddr): AF_INET or AF_INET6 for
	 * PROXY over TCP4 or TCP6, else both AF_UNSPEC, and the caller uses
	 * the connection's real endpoints. */
	struct sockaddr_storage src, dst;
};

/*
 * Parse the PROXY header at the start of P[0..N), the bytes received so
 * far on a connection. Returns:
 *   > 0      the header is complete and valid and is that many bytes long
 *            (the bytes after it are the client's, not consumed); *OUT set;
 *   0        P[0..N) is a valid beginning of a header: call again with more
 *            bytes (with the same ones first). Never when N >= PROXYPROTO_MAX;
 *   -EPROTO  not a PROXY header, or a malformed one;
 *   -E2BIG   valid so far but longer than PROXYPROTO_V1_MAX or
 *            PROXYPROTO_V2_MAX.
 * *OUT is written only when the result is > 0. It reads nothing at or past
 * P + N. The answer depends on the bytes alone, not on how they arrived:
 * once it is not 0 for some N it is the same for every larger N, and an
 * error is returned as soon as the bytes so far cannot begin a valid
 * header.
 */
int proxyproto_parse(const void *p, size_t n, struct proxyproto *out);

/*
 * Write a version 2 header for a connection relayed from SRC to DST (the
 * client, and the address it connected to) into OUT[0..CAP): PROXY over
 * TCP4 when both are AF_INET, over TCP6 when both are AF_INET6 or when
 * the families differ (the IPv4 one as ::ffff:a.b.c.d). LOCAL with no
 * addresses when SRC is NULL (DST is then ignored) or not AF_INET or
 * AF_INET6, such as a UNIX socket, which the spec lets a sender present
 * this way. DST must be AF_INET or AF_INET6 when SRC is. Returns the bytes
 * written (16, 28 or 52), or 0 when CAP is too small (nothing written).
 */
size_t proxyproto_v2_write(void *out, size_t cap, const struct sockaddr *src,
			   const struct sockaddr *dst);

#endif
