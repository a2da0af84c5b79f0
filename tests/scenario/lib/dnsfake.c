/* dnsfake.c - a DNS server the test controls (dnsfake.h). */
#include "dnsfake.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define T_A    1
#define T_AAAA 28

#define MAX_NAMES 16
#define MAX_ADDRS 8

struct fake_name {
	char name[64];
	int n;
	int family[MAX_ADDRS];
	uint8_t addr[MAX_ADDRS][16];
};

static struct fake {
	int fd;
	uint16_t port;
	pthread_t thread;
	bool running; /* the test's thread only */
	atomic_bool stop;
	atomic_bool drop_a, drop_aaaa; /* do not answer queries of that type */
	atomic_uint queries;	       /* received, answered or not */
	pthread_mutex_t mu;
	struct fake_name names[MAX_NAMES];
	int n_names;
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

void dnsfake_set(const char *name, const char *addrs)
{
	pthread_mutex_lock(&fake.mu);
	struct fake_name *e = NULL;
	for (int i = 0; i < fake.n_names; i++) {
		if (!strcasecmp(fake.names[i].name, name))
			e = &fake.names[i];
	}
	if (!e) {
		cr_assert_lt(fake.n_names, MAX_NAMES);
		e = &fake.names[fake.n_names++];
	}
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", addrs);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		cr_assert_lt(e->n, MAX_ADDRS);
		if (inet_pton(AF_INET, tok, e->addr[e->n]) == 1)
			e->family[e->n++] = AF_INET;
		else if (inet_pton(AF_INET6, tok, e->addr[e->n]) == 1)
			e->family[e->n++] = AF_INET6;
		else
			cr_assert_fail("bad address %s", tok);
	}
	pthread_mutex_unlock(&fake.mu);
}

void dnsfake_remove(const char *name)
{
	pthread_mutex_lock(&fake.mu);
	for (int i = 0; i < fake.n_names; i++) {
		if (!strcasecmp(fake.names[i].name, name))
			fake.names[i] = fake.names[--fake.n_names];
	}
	pthread_mutex_unlock(&fake.mu);
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static unsigned get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/*
 * The answer to the query Q (LEN bytes) in OUT: 0 to drop it, else the
 * answer's length. The question is decoded (labels, then type and class),
 * copied into the answer, and followed by one record per address of the
 * asked family, each naming the question by a pointer to offset 12.
 */
static size_t fake_answer(const uint8_t *q, size_t len, uint8_t *out, size_t cap)
{
	if (len < 12 || (q[2] & 0x80) || get16(q + 4) != 1)
		return 0;
	char name[256];
	size_t nl = 0, off = 12;
	for (;;) {
		if (off >= len)
			return 0;
		unsigned l = q[off++];
		if (l == 0)
			break;
		if (l > 63 || off + l > len || nl + l + 2 > sizeof(name))
			return 0;
		if (nl)
			name[nl++] = '.';
		memcpy(name + nl, q + off, l);
		nl += l;
		off += l;
	}
	name[nl] = '\0';
	if (off + 4 > len)
		return 0;
	unsigned type = get16(q + off), cls = get16(q + off + 2);
	off += 4;
	if ((type == T_A && atomic_load(&fake.drop_a)) ||
	    (type == T_AAAA && atomic_load(&fake.drop_aaaa)))
		return 0;

	memcpy(out, q, off);			  /* id, then the question as asked */
	out[2] = (uint8_t)(0x84 | (q[2] & 0x01)); /* QR, AA, RD as asked */
	out[3] = 0x80;				  /* RA, NOERROR */
	put16(out + 6, 0);
	put16(out + 8, 0);
	put16(out + 10, 0);
	size_t n = off;
	unsigned an = 0;
	pthread_mutex_lock(&fake.mu);
	const struct fake_name *e = NULL;
	for (int i = 0; i < fake.n_names; i++) {
		if (!strcasecmp(fake.names[i].name, name))
			e = &fake.names[i];
	}
	if (!e)
		out[3] |= 3; /* NXDOMAIN */
	for (int i = 0; e && cls == 1 && i < e->n; i++) {
		int fam = type == T_A ? AF_INET : type == T_AAAA ? AF_INET6 : -1;
		if (e->family[i] != fam)
			continue;
		size_t rdlen = fam == AF_INET ? 4 : 16;
		if (n + 12 + rdlen > cap)
			break;
		out[n] = 0xc0;
		out[n + 1] = 12;
		put16(out + n + 2, type);
		put16(out + n + 4, 1);
		put16(out + n + 6, 0);
		put16(out + n + 8, 30); /* TTL */
		put16(out + n + 10, (unsigned)rdlen);
		memcpy(out + n + 12, e->addr[i], rdlen);
		n += 12 + rdlen;
		an++;
	}
	pthread_mutex_unlock(&fake.mu);
	put16(out + 6, an);
	return n;
}

static void *fake_main(void *arg)
{
	while (!atomic_load(&fake.stop)) {
		struct pollfd p = {.fd = fake.fd, .events = POLLIN};
		if (poll(&p, 1, 20) <= 0)
			continue;
		uint8_t q[512], a[512];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(fake.fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		if (r <= 0)
			continue;
		atomic_fetch_add(&fake.queries, 1);
		size_t n = fake_answer(q, (size_t)r, a, sizeof(a));
		if (n)
			sendto(fake.fd, a, n, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

uint16_t dnsfake_start(void)
{
	atomic_store(&fake.stop, false);
	atomic_store(&fake.drop_a, false);
	atomic_store(&fake.drop_aaaa, false);
	fake.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fake.fd, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(fake.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	socklen_t sl = sizeof(sin);
	cr_assert_eq(getsockname(fake.fd, (struct sockaddr *)&sin, &sl), 0);
	fake.port = ntohs(sin.sin_port);
	cr_assert_eq(pthread_create(&fake.thread, NULL, fake_main, NULL), 0);
	fake.running = true;
	return fake.port;
}

void dnsfake_stop(void)
{
	if (!fake.running)
		return;
	fake.running = false;
	atomic_store(&fake.stop, true);
	pthread_join(fake.thread, NULL);
	close(fake.fd);
}

void dnsfake_drop(bool a, bool aaaa)
{
	atomic_store(&fake.drop_a, a);
	atomic_store(&fake.drop_aaaa, aaaa);
}

unsigned dnsfake_queries(void)
{
	return atomic_load(&fake.queries);
}
