/*
 * fuzz_proxyproto.c - libFuzzer harness for src/http/proxyproto.c: PROXY
 * protocol headers, versions 1 and 2, and the version 2 writer.
 *
 * The input is the first bytes of a connection on a proxy_protocol
 * listener. Checked:
 * - the parser reads nothing at or past N: every prefix is parsed from the
 *   end of an allocation of exactly its size;
 * - any split of the input gives the same answer: parsed prefix by prefix,
 *   the answer is 0 up to some length and then the same for every longer
 *   prefix (a caller re-parsing after each recv() sees what one call on
 *   the whole input sees), and never 0 from PROXYPROTO_MAX bytes on;
 * - *out is written only for a header, and a header is consistent: its
 *   length is within the input and the limits, a v1 line starts "PROXY "
 *   and ends at its first CRLF, a v2 header is 16 + its length field,
 *   addresses are given exactly for PROXY over TCP4 or TCP6, both of the
 *   header's family, with nothing else set in the sockaddr;
 * - a v1 TCP4 line is the only spelling of its addresses: printed back
 *   (inet_ntop, ports in decimal) it is the same bytes;
 * - addresses parsed from either version, written by proxyproto_v2_write
 *   or printed as a v1 line the way a sender does, parse back to the same
 *   sockaddrs; the writer refuses a buffer one byte short.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_http.h"

#include "http/proxyproto.h"

#define POISON 0xa5

/* Longer inputs add nothing: the answer is known by PROXYPROTO_MAX bytes
 * (checked), and every prefix is parsed, so keep N^2 small. */
#define MAX_INPUT (PROXYPROTO_MAX + 64)

/* Parse D[0..K) from the end of BUF[0..CAP), so that a read at or past K
 * is a heap overflow AddressSanitizer reports. *OUT untouched unless > 0. */
static int parse_at_end(const void *d, size_t k, uint8_t *buf, size_t cap, struct proxyproto *out)
{
	FZ_CHECK(k <= cap);
	uint8_t *p = buf + cap - k;
	memcpy(p, d, k);
	struct proxyproto before;
	memset(&before, POISON, sizeof(before));
	memset(out, POISON, sizeof(*out));
	int r = proxyproto_parse(p, k, out);
	FZ_CHECK(r == 0 || r == -EPROTO || r == -E2BIG || (r > 0 && (size_t)r <= k));
	if (r <= 0)
		FZ_CHECK(memcmp(out, &before, sizeof(before)) == 0);
	return r;
}

/* The address part of a sockaddr_storage: the family and, for IP, the
 * sockaddr_in/_in6 with nothing but address and port set. */
static void check_sockaddr(const struct sockaddr_storage *ss, int family)
{
	FZ_CHECK(ss->ss_family == family);
	if (family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		static const unsigned char zero[sizeof(s->sin_zero)];
		FZ_CHECK(memcmp(s->sin_zero, zero, sizeof(zero)) == 0);
	} else if (family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		FZ_CHECK(s->sin6_flowinfo == 0 && s->sin6_scope_id == 0);
	}
}

static void check_header(const uint8_t *d, int len, const struct proxyproto *pp)
{
	FZ_CHECK(len <= PROXYPROTO_MAX);
	FZ_CHECK(pp->version == 1 || pp->version == 2);
	FZ_CHECK(pp->command == PROXYPROTO_LOCAL || pp->command == PROXYPROTO_PROXY);
	if (pp->version == 1) {
		FZ_CHECK(len <= PROXYPROTO_V1_MAX && len >= 15);
		FZ_CHECK(memcmp(d, "PROXY ", 6) == 0);
		FZ_CHECK(d[len - 2] == '\r' && d[len - 1] == '\n');
		for (int i = 0; i < len - 2; i++)
			FZ_CHECK(d[i] != '\r' && d[i] != '\n');
		FZ_CHECK(pp->fam == PROXYPROTO_TCP4 || pp->fam == PROXYPROTO_TCP6 ||
			 pp->fam == PROXYPROTO_UNSPEC);
		FZ_CHECK((pp->fam == PROXYPROTO_UNSPEC) == (pp->command == PROXYPROTO_LOCAL));
	} else {
		FZ_CHECK(len >= 16 && len == 16 + (d[14] << 8 | d[15]));
		FZ_CHECK(d[12] == (0x20 | pp->command) && d[13] == pp->fam);
	}
	int family = AF_UNSPEC;
	if (pp->command == PROXYPROTO_PROXY && pp->fam == PROXYPROTO_TCP4)
		family = AF_INET;
	else if (pp->command == PROXYPROTO_PROXY && pp->fam == PROXYPROTO_TCP6)
		family = AF_INET6;
	check_sockaddr(&pp->src, family);
	check_sockaddr(&pp->dst, family);
}

static in_port_t port_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
					: ((const struct sockaddr_in6 *)ss)->sin6_port;
}

static const void *addr_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET
		   ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
		   : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
}

/* PP's addresses as the v1 line a sender prints. */
static int print_v1(const struct proxyproto *pp, char *line, size_t cap)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int af = pp->src.ss_family;
	FZ_CHECK(inet_ntop(af, addr_of(&pp->src), s, sizeof(s)));
	FZ_CHECK(inet_ntop(af, addr_of(&pp->dst), d, sizeof(d)));
	int n = snprintf(line, cap, "PROXY %s %s %s %u %u\r\n", af == AF_INET ? "TCP4" : "TCP6", s,
			 d, ntohs(port_of(&pp->src)), ntohs(port_of(&pp->dst)));
	FZ_CHECK(n > 0 && (size_t)n < cap);
	return n;
}

/* P[0..K) parsed from an allocation of exactly K bytes. */
static int parse_copy(const void *p, size_t k, struct proxyproto *out)
{
	uint8_t *b = malloc(k ? k : 1);
	FZ_CHECK(b);
	int r = parse_at_end(p, k, b, k, out);
	free(b);
	return r;
}

/* Field by field: the struct's padding is nobody's business. */
static bool same_addrs(const struct proxyproto *a, const struct proxyproto *b)
{
	return memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
	       memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

static bool same(const struct proxyproto *a, const struct proxyproto *b)
{
	return a->version == b->version && a->command == b->command && a->fam == b->fam &&
	       same_addrs(a, b);
}

static void check_same_addrs(const struct proxyproto *a, const struct proxyproto *b)
{
	FZ_CHECK(b->command == PROXYPROTO_PROXY && b->fam == a->fam);
	FZ_CHECK(same_addrs(a, b));
}

static void round_trips(const uint8_t *d, int len, const struct proxyproto *pp)
{
	uint8_t buf[PROXYPROTO_V2_WRITE_MAX];
	struct proxyproto back;

	if (pp->src.ss_family == AF_UNSPEC) {
		/* Nothing to relay: the writer's LOCAL reads back as LOCAL. */
		size_t n = proxyproto_v2_write(buf, sizeof(buf), NULL, NULL);
		FZ_CHECK(n == 16);
		FZ_CHECK(parse_copy(buf, n, &back) == 16);
		FZ_CHECK(back.command == PROXYPROTO_LOCAL && back.src.ss_family == AF_UNSPEC);
		return;
	}

	const struct sockaddr *s = (const struct sockaddr *)&pp->src;
	const struct sockaddr *t = (const struct sockaddr *)&pp->dst;
	size_t want = pp->src.ss_family == AF_INET ? 28 : 52;
	FZ_CHECK(proxyproto_v2_write(buf, want - 1, s, t) == 0);
	size_t n = proxyproto_v2_write(buf, sizeof(buf), s, t);
	FZ_CHECK(n == want);
	FZ_CHECK(parse_copy(buf, n, &back) == (int)n);
	check_same_addrs(pp, &back);

	char line[PROXYPROTO_V1_MAX + 1];
	int k = print_v1(pp, line, sizeof(line));
	FZ_CHECK(k <= PROXYPROTO_V1_MAX);
	FZ_CHECK(parse_copy(line, (size_t)k, &back) == k);
	check_same_addrs(pp, &back);
	/* Dotted quads without leading zeros and decimal ports without them
	 * spell each TCP4 line one way only: the input was that spelling. */
	if (pp->version == 1 && pp->fam == PROXYPROTO_TCP4)
		FZ_CHECK(k == len && memcmp(line, d, (size_t)len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		size = MAX_INPUT;
	uint8_t *buf = malloc(size ? size : 1);
	FZ_CHECK(buf);

	struct proxyproto whole, pp;
	int final = parse_at_end(data, size, buf, size, &whole);
	if (size >= PROXYPROTO_MAX)
		FZ_CHECK(final != 0);
	if (final > 0)
		check_header(data, final, &whole);

	/* Prefix by prefix, as bytes arrive: 0 until the answer, then it. */
	bool decided = false;
	for (size_t k = 0; k <= size; k++) {
		int r = parse_at_end(data, k, buf, size, &pp);
		if (r == 0) {
			FZ_CHECK(!decided);
			continue;
		}
		decided = true;
		FZ_CHECK(r == final);
		if (r > 0) {
			FZ_CHECK((size_t)r <= k);
			FZ_CHECK(same(&pp, &whole));
		}
	}
	free(buf);

	if (final > 0)
		round_trips(data, final, &whole);
	return 0;
}
