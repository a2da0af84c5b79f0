/*
 * proxyproto.c - PROXY protocol headers, versions 1 and 2.
 *
 * The parser keeps no state between calls: each call reads the header from
 * its first byte, left to right, and stops at the first byte that is wrong
 * or missing. A header is at most PROXYPROTO_MAX bytes, so reading it again
 * as more arrives costs little, and an answer that depends on nothing but
 * the bytes before the position it is decided at is the same for every
 * split of the input.
 */
#include "http/proxyproto.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

static const unsigned char V2_SIG[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
#define V2_FIXED 16 /* the signature, version and command, family, length */

/* ---- version 1 ----------------------------------------------------------------- */

/* What each step of the line gives: the grammar goes on, the bytes ran
 * out first, or the byte just read cannot be there. */
enum step { OK, MORE, BAD };

/* The line so far: P[i..lim) is still to be read, and lim is never past
 * PROXYPROTO_V1_MAX, so running out at lim == PROXYPROTO_V1_MAX means the
 * line is too long. */
struct line {
	const unsigned char *p;
	size_t i, lim;
};

static bool next(struct line *l, unsigned char *ch)
{
	if (l->i == l->lim)
		return false;
	*ch = l->p[l->i++];
	return true;
}

/* The bytes of S (no NUL among them), one by one. */
static enum step lit(struct line *l, const char *s)
{
	for (unsigned char ch; *s; s++) {
		if (!next(l, &ch))
			return MORE;
		if (ch != (unsigned char)*s)
			return BAD;
	}
	return OK;
}

static bool is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_hex(unsigned char ch)
{
	return is_digit(ch) || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
}

/*
 * An address of family AF and the SP after it, into A (a struct in_addr
 * or in6_addr). The bytes are checked one at a time against what the
 * family's text form can hold, so that garbage is refused where it starts;
 * inet_pton, which wants the whole text, has the last word at the SP.
 */
static enum step addr(struct line *l, int af, void *a)
{
	const size_t max = af == AF_INET ? INET_ADDRSTRLEN - 1 : INET6_ADDRSTRLEN - 1;
	char text[INET6_ADDRSTRLEN];
	size_t len = 0;
	unsigned char ch;

	for (;;) {
		if (!next(l, &ch))
			return MORE;
		if (ch == ' ')
			break;
		if (len == max)
			return BAD;
		if (af == AF_INET) {
			if (!is_digit(ch) && ch != '.')
				return BAD;
			/* A 0 that starts an octet must be the whole octet: the
			 * spec refuses 010 as possibly octal, and so does glibc's
			 * inet_pton, but not every libc's. */
			if (is_digit(ch) && len > 0 && text[len - 1] == '0' &&
			    (len == 1 || text[len - 2] == '.'))
				return BAD;
		} else if (!is_hex(ch) && ch != ':' && ch != '.') {
			return BAD;
		}
		text[len++] = (char)ch;
	}
	if (len == 0) /* two SPs in a row */
		return BAD;
	text[len] = '\0';
	return inet_pton(af, text, a) == 1 ? OK : BAD;
}

/* A port in decimal and the byte END after it, into *PORT (network order). */
static enum step port(struct line *l, unsigned char end, in_port_t *port)
{
	unsigned v = 0;
	size_t len = 0;
	unsigned char ch;

	for (;;) {
		if (!next(l, &ch))
			return MORE;
		if (ch == end && len > 0)
			break;
		/* Not a digit, a digit after a leading 0, or one too many. */
		if (!is_digit(ch) || (len == 1 && v == 0))
			return BAD;
		v = v * 10 + (unsigned)(ch - '0');
		len++;
		if (v > 65535)
			return BAD;
	}
	*port = htons((uint16_t)v);
	return OK;
}

#define TRY(e)                                                                                     \
	do {                                                                                       \
		enum step s_ = (e);                                                                \
		if (s_ != OK)                                                                      \
			return s_;                                                                 \
	} while (0)

/* The line from its first byte, into *R. */
static enum step v1_line(struct line *l, struct proxyproto *r)
{
	unsigned char ch;

	TRY(lit(l, "PROXY "));
	if (l->i == l->lim)
		return MORE;
	if (l->p[l->i] == 'U') {
		TRY(lit(l, "UNKNOWN"));
		/* The spec: the rest of the line may be omitted, and whatever
		 * is there ignored; only a lone CR or LF would be ambiguous. */
		if (!next(l, &ch))
			return MORE;
		if (ch == ' ') {
			do {
				if (!next(l, &ch))
					return MORE;
				if (ch == '\n')
					return BAD;
			} while (ch != '\r');
		} else if (ch != '\r') {
			return BAD;
		}
		TRY(lit(l, "\n"));
		r->command = PROXYPROTO_LOCAL;
		r->fam = PROXYPROTO_UNSPEC;
		return OK;
	}

	TRY(lit(l, "TCP"));
	if (!next(l, &ch))
		return MORE;
	if (ch != '4' && ch != '6')
		return BAD;
	TRY(lit(l, " "));
	r->command = PROXYPROTO_PROXY;
	if (ch == '4') {
		struct sockaddr_in *s = (struct sockaddr_in *)&r->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&r->dst;
		r->fam = PROXYPROTO_TCP4;
		s->sin_family = d->sin_family = AF_INET;
		TRY(addr(l, AF_INET, &s->sin_addr));
		TRY(addr(l, AF_INET, &d->sin_addr));
		TRY(port(l, ' ', &s->sin_port));
		TRY(port(l, '\r', &d->sin_port));
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&r->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&r->dst;
		r->fam = PROXYPROTO_TCP6;
		s->sin6_family = d->sin6_family = AF_INET6;
		TRY(addr(l, AF_INET6, &s->sin6_addr));
		TRY(addr(l, AF_INET6, &d->sin6_addr));
		TRY(port(l, ' ', &s->sin6_port));
		TRY(port(l, '\r', &d->sin6_port));
	}
	return lit(l, "\n");
}

static int v1_parse(const unsigned char *p, size_t n, struct proxyproto *out)
{
	struct line l = {.p = p, .lim = n < PROXYPROTO_V1_MAX ? n : PROXYPROTO_V1_MAX};
	struct proxyproto r = {.version = 1};

	switch (v1_line(&l, &r)) {
	case OK:
		*out = r;
		return (int)l.i;
	case MORE:
		return n >= PROXYPROTO_V1_MAX ? -E2BIG : 0;
	case BAD:
		break;
	}
	return -EPROTO;
}

/* ---- version 2 ----------------------------------------------------------------- */

/* The address block of a family and transport byte the spec gives a
 * layout, or -1. */
static int v2_block(uint8_t fam)
{
	switch (fam) {
	case 0x00:
		return 0;
	case 0x11: /* TCP and UDP over IPv4: two addresses, two ports */
	case 0x12:
		return 2 * 4 + 2 * 2;
	case 0x21: /* ... over IPv6 */
	case 0x22:
		return 2 * 16 + 2 * 2;
	case 0x31: /* UNIX stream and datagram: two sun_path */
	case 0x32:
		return 2 * 108;
	}
	return -1;
}

static int v2_parse(const unsigned char *p, size_t n, struct proxyproto *out)
{
	if (memcmp(p, V2_SIG, n < sizeof(V2_SIG) ? n : sizeof(V2_SIG)) != 0)
		return -EPROTO;
	if (n < 13)
		return 0;
	uint8_t ver_cmd = p[12];
	if (ver_cmd >> 4 != 2 || (ver_cmd & 0x0f) > PROXYPROTO_PROXY)
		return -EPROTO;
	if (n < 14)
		return 0;
	uint8_t fam = p[13];
	if (fam >> 4 > 3 || (fam & 0x0f) > 2)
		return -EPROTO;
	if (n < V2_FIXED)
		return 0;
	size_t total = V2_FIXED + ((size_t)p[14] << 8 | p[15]);
	if (total > PROXYPROTO_V2_MAX)
		return -E2BIG;

	int block = v2_block(fam);
	if (block >= 0) {
		if (total < V2_FIXED + (size_t)block)
			return -EPROTO;
		/* Each TLV is checked as soon as its 3 bytes are here; a
		 * remainder too short for one is known from the lengths alone. */
		size_t off = V2_FIXED + (size_t)block;
		while (off < total) {
			if (total - off < 3)
				return -EPROTO;
			if (n < off + 3)
				return 0;
			size_t len = (size_t)p[off + 1] << 8 | p[off + 2];
			if (len > total - off - 3)
				return -EPROTO;
			off += 3 + len;
		}
	}
	if (n < total)
		return 0;

	struct proxyproto r = {.version = 2, .command = ver_cmd & 0x0f, .fam = fam};
	const unsigned char *a = p + V2_FIXED;
	if (r.command == PROXYPROTO_PROXY && fam == PROXYPROTO_TCP4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&r.src;
		struct sockaddr_in *d = (struct sockaddr_in *)&r.dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);
		memcpy(&d->sin_port, a + 10, 2);
	} else if (r.command == PROXYPROTO_PROXY && fam == PROXYPROTO_TCP6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&r.src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&r.dst;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
	}
	*out = r;
	return (int)total;
}

int proxyproto_parse(const void *p, size_t n, struct proxyproto *out)
{
	const unsigned char *b = p;

	assert(out != NULL);
	if (n == 0)
		return 0;
	/* The first byte picks the version, and refuses everything else. */
	if (b[0] == 'P')
		return v1_parse(b, n, out);
	if (b[0] == V2_SIG[0])
		return v2_parse(b, n, out);
	return -EPROTO;
}

/* ---- writing ------------------------------------------------------------------- */

static bool is_ip(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET || sa->sa_family == AF_INET6;
}

/* SA's address as 16 bytes at A (an IPv4 one mapped) and its port at PORT. */
static void put_v6(const struct sockaddr *sa, unsigned char *a, unsigned char *port)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		memcpy(a, &s->sin6_addr, 16);
		memcpy(port, &s->sin6_port, 2);
	} else {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		memset(a, 0, 10);
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &s->sin_addr, 4);
		memcpy(port, &s->sin_port, 2);
	}
}

size_t proxyproto_v2_write(void *out, size_t cap, const struct sockaddr *src,
			   const struct sockaddr *dst)
{
	unsigned char h[PROXYPROTO_V2_WRITE_MAX];
	size_t len;

	memcpy(h, V2_SIG, sizeof(V2_SIG));
	if (src == NULL || !is_ip(src)) {
		h[12] = 0x20 | PROXYPROTO_LOCAL;
		h[13] = PROXYPROTO_UNSPEC;
		len = 0;
	} else {
		assert(dst != NULL && is_ip(dst));
		h[12] = 0x20 | PROXYPROTO_PROXY;
		if (src->sa_family == AF_INET && dst->sa_family == AF_INET) {
			const struct sockaddr_in *s = (const struct sockaddr_in *)src;
			const struct sockaddr_in *d = (const struct sockaddr_in *)dst;
			h[13] = PROXYPROTO_TCP4;
			memcpy(h + 16, &s->sin_addr, 4);
			memcpy(h + 20, &d->sin_addr, 4);
			memcpy(h + 24, &s->sin_port, 2);
			memcpy(h + 26, &d->sin_port, 2);
			len = 12;
		} else {
			h[13] = PROXYPROTO_TCP6;
			put_v6(src, h + 16, h + 48);
			put_v6(dst, h + 32, h + 50);
			len = 36;
		}
	}
	h[14] = (unsigned char)(len >> 8);
	h[15] = (unsigned char)len;
	if (cap < V2_FIXED + len)
		return 0;
	memcpy(out, h, V2_FIXED + len);
	return V2_FIXED + len;
}
