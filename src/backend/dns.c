/* dns.c - the resolver thread: a c-ares channel, a poll loop, the names. */
#include "backend/dns.h"
#include "rt/obj.h"

#include <ares.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rt/clock.h"

#define DNS_NAME_MAGIC	 0x444e534eu /* "DNSN" */
#define DNS_LOOKUP_MAGIC 0x444e534cu /* "DNSL" */
#define DNS_HOST_MAX	 255

#define DEFAULT_INTERVAL (5 * RT_SEC)
#define DEFAULT_TIMEOUT	 (1 * RT_SEC)
#define DEFAULT_TRIES	 2
#define DEFAULT_DEADLINE (10 * RT_SEC)
#define LONGEST		 (366 * 86400 * RT_SEC)

struct dns_lookup;

/* A name followed, owned by the resolver (under its lock). */
struct dns_name_rt {
	unsigned magic;
	char *host;
	uint16_t port;
	void *arg;
	struct dns_set *set;  /* last good set; NULL until the first success */
	struct dns_lookup *l; /* the lookup in flight, or NULL */
	rt_time_t due;	      /* next lookup, when none is in flight */
	unsigned failures;    /* in a row */
};

/* One family's half of a lookup: an ares_getaddrinfo call of its own, so
 * that a family whose query fails (an AAAA query that times out) keeps its
 * addresses while the other's answer is followed. */
struct dns_half {
	struct dns_lookup *l;
	int status; /* c-ares's, once back */
	struct ares_addrinfo *res;
};

/*
 * One lookup of a name: two c-ares calls, A and AAAA. c-ares keeps the
 * pointers until it calls back, which may be after the name went away
 * (dns_update) or gave up on it (the deadline): then NAME is NULL and the
 * answers are dropped. Freed when both halves are back.
 */
struct dns_lookup {
	unsigned magic;
	struct dns *d;
	struct dns_name_rt *name;
	rt_time_t started;
	unsigned pending;	 /* halves not back yet */
	struct dns_half half[2]; /* [0] AF_INET, [1] AF_INET6 */
};

struct dns_sock {
	int fd;
	bool rd, wr;
};

struct dns {
	unsigned magic;
	struct dns_opts opts; /* servers copied */
	pthread_t thread;
	int efd; /* eventfd: dns_update, dns_refresh and dns_stop wake the thread */

	/* Everything below is under LOCK, which the resolver thread holds
	 * except while it waits in poll(). */
	pthread_mutex_t lock;
	bool stopping, refresh;
	struct dns_name_rt **names;
	size_t n_names;
	ares_channel ch;
	struct dns_sock *socks; /* the channel's sockets (ARES_OPT_SOCK_STATE_CB) */
	size_t n_socks, cap_socks;

	_Atomic uint64_t lookups, failures, changes, abandoned;
};

/* ------------------------------------------------------------------------ */
/* Sets                                                                     */

int dns_addr_cmp(const struct dns_addr *a, const struct dns_addr *b)
{
	int fa = a->sa.ss_family, fb = b->sa.ss_family;
	if (fa != fb)
		return fa == AF_INET ? -1 : fb == AF_INET ? 1 : fa - fb;
	if (fa == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->sa, *y = (const void *)&b->sa;
		int c = memcmp(&x->sin_addr, &y->sin_addr, sizeof(x->sin_addr));
		if (c)
			return c;
		return (int)ntohs(x->sin_port) - (int)ntohs(y->sin_port);
	}
	assert(fa == AF_INET6);
	const struct sockaddr_in6 *x = (const void *)&a->sa, *y = (const void *)&b->sa;
	int c = memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	if (c)
		return c;
	if (x->sin6_scope_id != y->sin6_scope_id)
		return x->sin6_scope_id < y->sin6_scope_id ? -1 : 1;
	return (int)ntohs(x->sin6_port) - (int)ntohs(y->sin6_port);
}

static int addr_qsort_cmp(const void *a, const void *b)
{
	return dns_addr_cmp(a, b);
}

struct dns_set *dns_set_hold(struct dns_set *s)
{
	CHECK_OBJ_NOTNULL(s, DNS_SET_MAGIC);
	unsigned old = atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	assert(old > 0);
	return s;
}

void dns_set_put(struct dns_set **sp)
{
	assert(sp);
	struct dns_set *s = *sp;
	*sp = NULL;
	if (!s)
		return;
	CHECK_OBJ_NOTNULL(s, DNS_SET_MAGIC);
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
		FINI_OBJ(s);
		free(s);
	}
}

bool dns_set_equal(const struct dns_set *a, const struct dns_set *b)
{
	if (!a || !b)
		return a == b;
	CHECK_OBJ_NOTNULL(a, DNS_SET_MAGIC);
	CHECK_OBJ_NOTNULL(b, DNS_SET_MAGIC);
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		if (dns_addr_cmp(&a->addr[i], &b->addr[i]) != 0)
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* Lookups (resolver thread, lock held)                                     */

static int status_errno(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
		return -ENOENT;
	case ARES_ENODATA:
		return -ENODATA;
	case ARES_ETIMEOUT:
		return -ETIMEDOUT;
	case ARES_ECONNREFUSED:
		return -ECONNREFUSED;
	case ARES_ENOMEM:
		return -ENOMEM;
	case ARES_EBADNAME:
	case ARES_EBADFAMILY:
	case ARES_EBADHINTS:
	case ARES_EBADFLAGS:
	case ARES_EBADQUERY:
	case ARES_EBADSTR:
	case ARES_ESERVICE:
		return -EINVAL;
	default: /* SERVFAIL, REFUSED, FORMERR, NOTIMP, a bad answer, EOF, ... */
		return -EIO;
	}
}

static const int half_family[2] = {AF_INET, AF_INET6};

/* What a half says about its family. */
enum half_says {
	HALF_ADDRS,	/* addresses */
	HALF_NONE,	/* none: NXDOMAIN or NODATA, an answer */
	HALF_FAILED,	/* no answer (timeout, SERVFAIL, ...): the family keeps its addresses */
	HALF_CANCELLED, /* the channel went */
};

static size_t half_count(const struct dns_half *h, int family)
{
	size_t n = 0;
	for (const struct ares_addrinfo_node *x = h->res ? h->res->nodes : NULL; x;
	     x = x->ai_next) {
		if (x->ai_family == family &&
		    x->ai_addrlen >= (family == AF_INET ? sizeof(struct sockaddr_in)
							: sizeof(struct sockaddr_in6)))
			n++;
	}
	return n;
}

static enum half_says half_says(const struct dns_half *h, int family)
{
	switch (h->status) {
	case ARES_SUCCESS:
		return half_count(h, family) ? HALF_ADDRS : HALF_NONE;
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
	case ARES_ENODATA:
		return HALF_NONE;
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED:
		return HALF_CANCELLED;
	default:
		return HALF_FAILED;
	}
}

/* Append H's addresses of FAMILY to S with PORT. */
static void half_copy(struct dns_set *s, const struct dns_half *h, int family, uint16_t port)
{
	for (const struct ares_addrinfo_node *x = h->res->nodes; x; x = x->ai_next) {
		if (x->ai_family != family)
			continue;
		struct dns_addr *a = &s->addr[s->n];
		memset(a, 0, sizeof(*a));
		if (family == AF_INET && x->ai_addrlen >= sizeof(struct sockaddr_in)) {
			const struct sockaddr_in *src = (const void *)x->ai_addr;
			struct sockaddr_in *in = (void *)&a->sa;
			in->sin_family = AF_INET;
			in->sin_addr = src->sin_addr;
			in->sin_port = htons(port);
			a->salen = sizeof(*in);
		} else if (family == AF_INET6 && x->ai_addrlen >= sizeof(struct sockaddr_in6)) {
			const struct sockaddr_in6 *src = (const void *)x->ai_addr;
			struct sockaddr_in6 *in6 = (void *)&a->sa;
			in6->sin6_family = AF_INET6;
			in6->sin6_addr = src->sin6_addr;
			in6->sin6_scope_id = src->sin6_scope_id;
			in6->sin6_port = htons(port);
			a->salen = sizeof(*in6);
		} else {
			continue;
		}
		s->n++;
	}
}

static void report(struct dns *d, struct dns_name_rt *nm, int status, bool changed, const char *why)
{
	struct dns_event ev = {
	    .host = nm->host,
	    .port = nm->port,
	    .arg = nm->arg,
	    .status = status,
	    .changed = changed,
	    .failures = nm->failures,
	    .why = why,
	    .set = nm->set,
	};
	d->opts.on_event(d->opts.ctx, &ev);
}

static void lookup_failed(struct dns *d, struct dns_name_rt *nm, int status, const char *why)
{
	nm->failures++;
	atomic_fetch_add_explicit(&d->failures, 1, memory_order_relaxed);
	report(d, nm, status, false, why);
}

/* A new set succeeded the lookup: report it if it differs, or if the name
 * failed before. Takes S. */
static void lookup_succeeded(struct dns *d, struct dns_name_rt *nm, struct dns_set *s)
{
	bool recovered = nm->failures > 0;
	nm->failures = 0;
	if (dns_set_equal(s, nm->set)) {
		dns_set_put(&s);
		if (recovered)
			report(d, nm, 0, false, NULL);
		return;
	}
	dns_set_put(&nm->set);
	nm->set = s;
	atomic_fetch_add_explicit(&d->changes, 1, memory_order_relaxed);
	report(d, nm, 0, true, NULL);
}

/*
 * Both halves are back: the lookup succeeded when a family gave addresses.
 * The new set is the addresses given, plus the last set's addresses of a
 * family whose query failed; a family DNS says has none loses its own.
 * Otherwise it failed, and the name keeps its last set.
 */
static void lookup_finish(struct dns *d, struct dns_name_rt *nm, struct dns_lookup *l)
{
	enum half_says says[2];
	bool addrs = false;
	for (int f = 0; f < 2; f++) {
		says[f] = half_says(&l->half[f], half_family[f]);
		if (says[f] == HALF_CANCELLED) {
			nm->due = rt_clock_now(); /* refresh or stop: not the name's failure */
			return;
		}
		addrs |= says[f] == HALF_ADDRS;
	}
	nm->due = rt_clock_now() + d->opts.interval_ns;
	atomic_fetch_add_explicit(&d->lookups, 1, memory_order_relaxed);
	if (!addrs) {
		/* A failed half's reason first (it may not be the name's fault),
		 * then NXDOMAIN, then NODATA. */
		int st = ARES_ENODATA;
		if (says[0] == HALF_FAILED)
			st = l->half[0].status;
		else if (says[1] == HALF_FAILED)
			st = l->half[1].status;
		else if (status_errno(l->half[0].status) == -ENOENT ||
			 status_errno(l->half[1].status) == -ENOENT)
			st = ARES_ENOTFOUND;
		lookup_failed(d, nm, status_errno(st), ares_strerror(st));
		return;
	}
	size_t cap = 0;
	for (int f = 0; f < 2; f++) {
		if (says[f] == HALF_ADDRS)
			cap += half_count(&l->half[f], half_family[f]);
		else if (says[f] == HALF_FAILED && nm->set)
			cap += nm->set->n; /* at most */
	}
	struct dns_set *s = malloc(sizeof(*s) + cap * sizeof(s->addr[0]));
	if (!s) {
		lookup_failed(d, nm, -ENOMEM, "out of memory");
		return;
	}
	s->magic = DNS_SET_MAGIC;
	atomic_init(&s->refs, 1);
	s->n = 0;
	for (int f = 0; f < 2; f++) {
		if (says[f] == HALF_ADDRS) {
			half_copy(s, &l->half[f], half_family[f], nm->port);
		} else if (says[f] == HALF_FAILED && nm->set) {
			for (size_t i = 0; i < nm->set->n; i++) {
				if (nm->set->addr[i].sa.ss_family == half_family[f])
					s->addr[s->n++] = nm->set->addr[i];
			}
		}
	}
	assert(s->n > 0 && s->n <= cap);
	qsort(s->addr, s->n, sizeof(s->addr[0]), addr_qsort_cmp);
	size_t m = 1;
	for (size_t i = 1; i < s->n; i++) {
		if (dns_addr_cmp(&s->addr[m - 1], &s->addr[i]) != 0)
			s->addr[m++] = s->addr[i];
	}
	s->n = m;
	lookup_succeeded(d, nm, s);
}

static void lookup_free(struct dns_lookup *l)
{
	for (int f = 0; f < 2; f++) {
		if (l->half[f].res)
			ares_freeaddrinfo(l->half[f].res);
	}
	FINI_OBJ(l);
	free(l);
}

static void half_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_half *h = arg;
	struct dns_lookup *l = h->l;
	CHECK_OBJ_NOTNULL(l, DNS_LOOKUP_MAGIC);
	assert(l->pending > 0);
	h->status = status;
	h->res = res;
	if (--l->pending)
		return;
	struct dns_name_rt *nm = l->name;
	if (nm) { /* else dropped by dns_update or abandoned at its deadline */
		CHECK_OBJ_NOTNULL(nm, DNS_NAME_MAGIC);
		assert(nm->l == l);
		nm->l = NULL;
		lookup_finish(l->d, nm, l);
	}
	lookup_free(l);
}

static void lookup_start(struct dns *d, struct dns_name_rt *nm, rt_time_t now)
{
	assert(!nm->l);
	struct dns_lookup *l = malloc(sizeof(*l));
	if (!l) {
		nm->due = now + d->opts.interval_ns;
		lookup_failed(d, nm, -ENOMEM, "out of memory");
		return;
	}
	INIT_OBJ(l, DNS_LOOKUP_MAGIC);
	l->d = d;
	l->name = nm;
	l->started = now;
	l->pending = 2;
	nm->l = l;
	for (int f = 0; f < 2; f++) {
		l->half[f].l = l;
		/* No service: the port is the name's. NOSORT: the set is sorted
		 * here, and RFC 6724 sorting connects a UDP socket per address. */
		struct ares_addrinfo_hints hints = {
		    .ai_flags = ARES_AI_NOSORT,
		    .ai_family = half_family[f],
		    .ai_socktype = SOCK_STREAM,
		};
		/* May call half_done before it returns (/etc/hosts, a bad name):
		 * after the second call L may be gone. */
		ares_getaddrinfo(d->ch, nm->host, NULL, &hints, half_done, &l->half[f]);
	}
}

/* The lookup of NM passed its deadline: give up on it (c-ares may still
 * answer; half_done then finds no name). */
static void lookup_abandon(struct dns *d, struct dns_name_rt *nm, rt_time_t now)
{
	CHECK_OBJ_NOTNULL(nm->l, DNS_LOOKUP_MAGIC);
	nm->l->name = NULL;
	nm->l = NULL;
	nm->due = now + d->opts.interval_ns;
	atomic_fetch_add_explicit(&d->lookups, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->abandoned, 1, memory_order_relaxed);
	lookup_failed(d, nm, -ETIMEDOUT, "lookup deadline passed");
}

/* ------------------------------------------------------------------------ */
/* The channel                                                              */

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	size_t i = 0;
	while (i < d->n_socks && d->socks[i].fd != fd)
		i++;
	if (!readable && !writable) {
		if (i < d->n_socks)
			d->socks[i] = d->socks[--d->n_socks];
		return;
	}
	if (i == d->n_socks) {
		if (d->n_socks == d->cap_socks) {
			size_t cap = d->cap_socks ? 2 * d->cap_socks : 8;
			struct dns_sock *ns = realloc(d->socks, cap * sizeof(*ns));
			if (!ns) {
				/* Unwatched, the socket's queries end at their timeouts
				 * (ares_process_fd runs on every wake). */
				return;
			}
			d->socks = ns;
			d->cap_socks = cap;
		}
		d->socks[d->n_socks++].fd = fd;
	}
	d->socks[i].rd = readable;
	d->socks[i].wr = writable;
}

static int channel_new(struct dns *d, ares_channel *out)
{
	struct ares_options o = {0};
	uint64_t ms = d->opts.timeout_ns / RT_MS;
	o.timeout = ms < 1 ? 1 : ms > 600000 ? 600000 : (int)ms;
	o.tries = (int)d->opts.tries;
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = d;
	int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
	ares_channel ch;
	int rc = ares_init_options(&ch, &o, mask);
	if (rc != ARES_SUCCESS)
		return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
	if (d->opts.servers) {
		rc = ares_set_servers_ports_csv(ch, d->opts.servers);
		if (rc != ARES_SUCCESS) {
			ares_destroy(ch);
			return rc == ARES_ENOMEM ? -ENOMEM : -EINVAL;
		}
	}
	*out = ch;
	return 0;
}

/* dns_refresh: a new channel (resolv.conf read again), every name now. A
 * channel that cannot be made leaves the old one. */
static void channel_renew(struct dns *d)
{
	ares_channel ch;
	if (channel_new(d, &ch) == 0) {
		ares_channel old = d->ch;
		d->ch = ch;
		ares_destroy(old); /* half_done with ARES_EDESTRUCTION: due now */
	}
	rt_time_t now = rt_clock_now();
	for (size_t i = 0; i < d->n_names; i++)
		d->names[i]->due = now;
}

/* ------------------------------------------------------------------------ */
/* The thread                                                               */

/* Start what is due, abandon what is overdue; the next time to look. */
static rt_time_t names_run(struct dns *d)
{
	rt_time_t now = rt_clock_now();
	rt_time_t next = RT_NEVER;
	for (size_t i = 0; i < d->n_names; i++) {
		struct dns_name_rt *nm = d->names[i];
		if (nm->l && now - nm->l->started >= d->opts.deadline_ns)
			lookup_abandon(d, nm, now);
		if (!nm->l && nm->due <= now)
			lookup_start(d, nm, now);
		rt_time_t t = nm->l ? nm->l->started + d->opts.deadline_ns : nm->due;
		if (t < next)
			next = t;
	}
	return next;
}

static int poll_timeout_ms(struct dns *d, rt_time_t next)
{
	struct timeval tv, *tvp = ares_timeout(d->ch, NULL, &tv);
	rt_time_t now = rt_clock_now();
	if (tvp) {
		rt_time_t t =
		    now + (rt_time_t)tvp->tv_sec * RT_SEC + (rt_time_t)tvp->tv_usec * 1000;
		if (t < next)
			next = t;
	}
	if (next == RT_NEVER)
		return -1;
	if (next <= now)
		return 0;
	uint64_t ms = (next - now + RT_MS - 1) / RT_MS; /* up: no early wake and spin */
	return ms > 3600000 ? 3600000 : (int)ms;
}

static void *dns_main(void *arg)
{
	struct dns *d = arg;
	struct pollfd *fds = NULL;
	size_t cap = 0;
	pthread_mutex_lock(&d->lock);
	while (!d->stopping) {
		if (d->refresh) {
			d->refresh = false;
			channel_renew(d);
		}
		int timeout = poll_timeout_ms(d, names_run(d));
		size_t n = d->n_socks + 1;
		if (n > cap) {
			struct pollfd *nf = realloc(fds, n * sizeof(*nf));
			if (nf) {
				fds = nf;
				cap = n;
			} else {
				n = cap; /* watch fewer sockets; timeouts still end their queries */
				if (timeout < 0 || timeout > 100)
					timeout = 100;
			}
		}
		if (!n) {
			/* Not even the eventfd: wait a little and try again. */
			pthread_mutex_unlock(&d->lock);
			poll(NULL, 0, 100);
			pthread_mutex_lock(&d->lock);
			continue;
		}
		fds[0] = (struct pollfd){.fd = d->efd, .events = POLLIN};
		for (size_t i = 1; i < n; i++) {
			const struct dns_sock *s = &d->socks[i - 1];
			fds[i] = (struct pollfd){
			    .fd = s->fd,
			    .events = (short)((s->rd ? POLLIN : 0) | (s->wr ? POLLOUT : 0)),
			};
		}
		pthread_mutex_unlock(&d->lock);
		int r = poll(fds, n, timeout);
		pthread_mutex_lock(&d->lock);
		if (r > 0 && fds[0].revents) {
			uint64_t v;
			ssize_t rr = read(d->efd, &v, sizeof(v));
			(void)rr; /* EAGAIN: another wake took it */
		}
		for (size_t i = 1; r > 0 && i < n; i++) {
			short ev = fds[i].revents;
			if (!ev)
				continue;
			int rfd = ev & (POLLIN | POLLERR | POLLHUP) ? fds[i].fd : ARES_SOCKET_BAD;
			int wfd = ev & (POLLOUT | POLLERR | POLLHUP) ? fds[i].fd : ARES_SOCKET_BAD;
			ares_process_fd(d->ch, rfd, wfd);
		}
		/* Timeouts of the tries (and of sockets that broke). */
		ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	}
	ares_destroy(d->ch); /* lookups in flight end with ARES_EDESTRUCTION */
	d->ch = NULL;
	pthread_mutex_unlock(&d->lock);
	free(fds);
	return NULL;
}

static void wake(struct dns *d)
{
	uint64_t one = 1;
	ssize_t r = write(d->efd, &one, sizeof(one));
	(void)r; /* only fails when the counter is full: it is awake anyway */
}

/* ------------------------------------------------------------------------ */
/* The API                                                                  */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;

static void library_init(void)
{
	library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static void name_free(struct dns_name_rt **np)
{
	struct dns_name_rt *nm;
	TAKE_OBJ_NOTNULL(nm, np, DNS_NAME_MAGIC);
	if (nm->l) {
		CHECK_OBJ_NOTNULL(nm->l, DNS_LOOKUP_MAGIC);
		nm->l->name = NULL; /* half_done frees the lookup */
	}
	dns_set_put(&nm->set);
	free(nm->host);
	FINI_OBJ(nm);
	free(nm);
}

static void dns_free(struct dns *d)
{
	for (size_t i = 0; i < d->n_names; i++)
		name_free(&d->names[i]);
	free(d->names);
	free(d->socks);
	free((char *)d->opts.servers);
	if (d->efd >= 0)
		close(d->efd);
	pthread_mutex_destroy(&d->lock);
	FINI_OBJ(d);
	free(d);
}

struct dns *dns_start(const struct dns_opts *opts, int *err)
{
	assert(opts && opts->on_event && err);
	pthread_once(&library_once, library_init);
	if (library_status != ARES_SUCCESS) {
		*err = -ENOMEM;
		return NULL;
	}
	struct dns *d = malloc(sizeof(*d));
	if (!d) {
		*err = -ENOMEM;
		return NULL;
	}
	INIT_OBJ(d, DNS_MAGIC);
	d->efd = -1;
	pthread_mutex_init(&d->lock, NULL);
	d->opts = *opts;
	d->opts.servers = NULL;
	if (!d->opts.interval_ns)
		d->opts.interval_ns = DEFAULT_INTERVAL;
	if (!d->opts.timeout_ns)
		d->opts.timeout_ns = DEFAULT_TIMEOUT;
	if (!d->opts.tries)
		d->opts.tries = DEFAULT_TRIES;
	if (!d->opts.deadline_ns)
		d->opts.deadline_ns = DEFAULT_DEADLINE;
	/* Bounded, so that now + interval or + deadline cannot wrap. */
	if (d->opts.interval_ns > LONGEST)
		d->opts.interval_ns = LONGEST;
	if (d->opts.deadline_ns > LONGEST)
		d->opts.deadline_ns = LONGEST;
	if (d->opts.tries > 100)
		d->opts.tries = 100;
	if (opts->servers && !(d->opts.servers = strdup(opts->servers))) {
		*err = -ENOMEM;
		goto fail;
	}
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd < 0) {
		*err = -errno;
		goto fail;
	}
	int r = channel_new(d, &d->ch);
	if (r < 0) {
		*err = r;
		goto fail;
	}
	/* The thread starts with every signal blocked: they are the main
	 * thread's (sigwait), and poll must not be interrupted by them. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&d->thread, NULL, dns_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		ares_destroy(d->ch);
		*err = -r;
		goto fail;
	}
	pthread_setname_np(d->thread, "rc-dns");
	return d;
fail:
	dns_free(d);
	return NULL;
}

static struct dns_name_rt *find(struct dns_name_rt **names, size_t n, const char *host,
				uint16_t port)
{
	for (size_t i = 0; i < n; i++) {
		if (names[i] && names[i]->port == port && strcmp(names[i]->host, host) == 0)
			return names[i];
	}
	return NULL;
}

int dns_update(struct dns *d, const struct dns_name *names, size_t n)
{
	CHECK_OBJ_NOTNULL(d, DNS_MAGIC);
	assert(!pthread_equal(pthread_self(), d->thread)); /* not from on_event */
	for (size_t i = 0; i < n; i++) {
		size_t len = names[i].host ? strlen(names[i].host) : 0;
		if (!len || len > DNS_HOST_MAX)
			return -EINVAL;
		for (size_t j = 0; j < i; j++) {
			if (names[j].port == names[i].port && !strcmp(names[j].host, names[i].host))
				return -EINVAL;
		}
	}
	/* Everything that can fail before the lock; NULL: a kept name. */
	struct dns_name_rt **next = calloc(n ? n : 1, sizeof(*next));
	if (!next)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct dns_name_rt *nm = malloc(sizeof(*nm));
		char *host = strdup(names[i].host);
		if (!nm || !host) {
			free(nm);
			free(host);
			for (size_t j = 0; j < i; j++)
				name_free(&next[j]);
			free(next);
			return -ENOMEM;
		}
		INIT_OBJ(nm, DNS_NAME_MAGIC);
		nm->host = host;
		nm->port = names[i].port;
		nm->arg = names[i].arg;
		next[i] = nm;
	}

	pthread_mutex_lock(&d->lock);
	rt_time_t now = rt_clock_now();
	for (size_t i = 0; i < n; i++) {
		struct dns_name_rt *kept = find(d->names, d->n_names, names[i].host, names[i].port);
		if (kept) {
			name_free(&next[i]);
			kept->arg = names[i].arg;
			next[i] = kept;
			/* Taken out of the old list, so what is left there goes. */
			for (size_t j = 0; j < d->n_names; j++) {
				if (d->names[j] == kept)
					d->names[j] = NULL;
			}
		} else {
			next[i]->due = now;
		}
	}
	for (size_t j = 0; j < d->n_names; j++) {
		if (d->names[j])
			name_free(&d->names[j]);
	}
	free(d->names);
	d->names = next;
	d->n_names = n;
	pthread_mutex_unlock(&d->lock);
	wake(d);
	return 0;
}

void dns_refresh(struct dns *d)
{
	CHECK_OBJ_NOTNULL(d, DNS_MAGIC);
	assert(!pthread_equal(pthread_self(), d->thread));
	pthread_mutex_lock(&d->lock);
	d->refresh = true;
	pthread_mutex_unlock(&d->lock);
	wake(d);
}

void dns_stop(struct dns **dp)
{
	struct dns *d;
	TAKE_OBJ_NOTNULL(d, dp, DNS_MAGIC);
	assert(!pthread_equal(pthread_self(), d->thread));
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_mutex_unlock(&d->lock);
	wake(d);
	pthread_join(d->thread, NULL);
	dns_free(d);
}

void dns_counts_read(struct dns *d, struct dns_counts *out)
{
	CHECK_OBJ_NOTNULL(d, DNS_MAGIC);
	out->lookups = atomic_load_explicit(&d->lookups, memory_order_relaxed);
	out->failures = atomic_load_explicit(&d->failures, memory_order_relaxed);
	out->changes = atomic_load_explicit(&d->changes, memory_order_relaxed);
	out->abandoned = atomic_load_explicit(&d->abandoned, memory_order_relaxed);
}
