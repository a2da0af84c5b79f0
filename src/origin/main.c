/*
 * main.c - ringcache-origin: command line, listeners, loop threads, signals.
 *
 * Each of the -t loop threads has its own SO_REUSEPORT listener on the same
 * address, so the kernel spreads connections over them without any
 * cross-thread handoff. The main thread is no loop thread: it only waits
 * for SIGTERM/SIGINT (blocked everywhere else) and then stops the loops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "origin/conn.h"
#include "origin/origin.h"
#include "origin/respond.h"
#include "origin/stats.h"
#include "rt/loop.h"
#include "rt/task.h"

#define MAX_THREADS 256
/* How long a stop may take before the process exits regardless. */
#define STOP_GRACE_SEC 3

unsigned origin_port;

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int nready, nfailed;

static void usage(FILE *f)
{
	fprintf(f, "usage: ringcache-origin [-l HOST:PORT] [-t THREADS]\n"
		   "  -l HOST:PORT  listen address (default 127.0.0.1:9000; [::1]:PORT for IPv6)\n"
		   "  -t THREADS    loop threads, each with its own listener (default 1)\n");
}

/* Resolve HOST:PORT (or [V6]:PORT) once at startup. */
static int parse_addr(const char *arg, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[256];
	const char *port;
	if (arg[0] == '[') {
		const char *rb = strchr(arg, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - arg - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, arg + 1, (size_t)(rb - arg - 1));
		host[rb - arg - 1] = '\0';
		port = rb + 2;
	} else {
		const char *colon = strrchr(arg, ':');
		if (!colon || (size_t)(colon - arg) >= sizeof(host))
			return -EINVAL;
		memcpy(host, arg, (size_t)(colon - arg));
		host[colon - arg] = '\0';
		port = colon + 1;
	}
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				 .ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	int r = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (r != 0) {
		fprintf(stderr, "ringcache-origin: %s: %s\n", arg, gai_strerror(r));
		return -EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static unsigned addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof(ip));
		snprintf(out, size, "[%s]:%u", ip, addr_port(ss));
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof(ip));
		snprintf(out, size, "%s:%u", ip, addr_port(ss));
	}
}

static int make_listener(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	/* TCP_NODELAY is inherited by accepted sockets: dripped pieces and
	 * chunks must leave at once, not wait for the client's delayed ACK. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, 4096) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* SO_REUSEPORT would let us share a port with another process of the same
 * user (a stale origin from an earlier test), splitting the traffic and the
 * counters between the two. A bind without it fails if anyone holds the
 * port, so probe first; the probe also picks the port when PORT is 0. */
static int probe_port(struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	close(fd);
	set_port(ss, addr_port(&bound));
	return 0;
}

static void on_stop(struct rt_msg *msg)
{
	struct origin_worker *w =
	    (struct origin_worker *)((char *)msg - offsetof(struct origin_worker, stop_msg));
	conn_stop_all(w);
	rt_loop_stop(w->loop);
}

static void mark_ready(bool ok)
{
	pthread_mutex_lock(&ready_lock);
	if (ok)
		nready++;
	else
		nfailed++;
	pthread_cond_signal(&ready_cond);
	pthread_mutex_unlock(&ready_lock);
}

static void *worker_main(void *arg)
{
	struct origin_worker *w = arg;
	int err = 0;
	struct rt_loop_opts opts = {.id = w->index};
	w->loop = rt_loop_create(&opts, &err);
	if (!w->loop) {
		fprintf(stderr, "ringcache-origin: loop %d: %s\n", w->index, strerror(-err));
		mark_ready(false);
		return NULL;
	}
	w->stop_msg.fn = on_stop;
	if (rt_task_spawn_detached(conn_acceptor, w, "origin-accept") < 0) {
		fprintf(stderr, "ringcache-origin: loop %d: cannot spawn acceptor\n", w->index);
		rt_loop_destroy(&w->loop);
		mark_ready(false);
		return NULL;
	}
	mark_ready(true);
	rt_loop_run(w->loop);
	rt_loop_destroy(&w->loop);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *listen_arg = "127.0.0.1:9000";
	long nthreads = 1;
	int opt;
	while ((opt = getopt(argc, argv, "l:t:h")) != -1) {
		switch (opt) {
		case 'l':
			listen_arg = optarg;
			break;
		case 't': {
			char *end;
			nthreads = strtol(optarg, &end, 10);
			if (*end || nthreads < 1 || nthreads > MAX_THREADS) {
				fprintf(stderr, "ringcache-origin: -t wants 1..%d\n", MAX_THREADS);
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	struct sockaddr_storage ss;
	socklen_t sslen;
	if (parse_addr(listen_arg, &ss, &sslen) < 0) {
		fprintf(stderr, "ringcache-origin: bad listen address '%s'\n", listen_arg);
		return 2;
	}

	/* Signals go to the main thread's sigwait only; the loop threads
	 * inherit this mask. Peers that vanish must not kill us either. */
	sigset_t stop_set;
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
	signal(SIGPIPE, SIG_IGN);

	stats_init();
	respond_init();

	int r = probe_port(&ss, sslen);
	if (r < 0) {
		fprintf(stderr, "ringcache-origin: bind %s: %s\n", listen_arg, strerror(-r));
		return 1;
	}
	origin_port = addr_port(&ss);
	struct origin_worker *workers = calloc((size_t)nthreads, sizeof(*workers));
	if (!workers)
		return 1;
	for (long i = 0; i < nthreads; i++) {
		workers[i].index = (int)i;
		int fd = make_listener(&ss, sslen);
		if (fd < 0) {
			fprintf(stderr, "ringcache-origin: listen on %s: %s\n", listen_arg,
				strerror(-fd));
			return 1;
		}
		workers[i].lfd = fd;
	}

	for (long i = 0; i < nthreads; i++) {
		r = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
		if (r != 0) {
			fprintf(stderr, "ringcache-origin: pthread_create: %s\n", strerror(r));
			_exit(1);
		}
	}
	pthread_mutex_lock(&ready_lock);
	while (nready + nfailed < nthreads)
		pthread_cond_wait(&ready_cond, &ready_lock);
	pthread_mutex_unlock(&ready_lock);
	if (nfailed)
		_exit(1); /* loops already running cannot be stopped cleanly */

	char addr[INET6_ADDRSTRLEN + 16];
	format_addr(&ss, addr, sizeof(addr));
	fprintf(stderr, "ringcache-origin listening on %s\n", addr);

	int sig = 0;
	while (sigwait(&stop_set, &sig) != 0)
		;
	for (long i = 0; i < nthreads; i++)
		rt_loop_post(workers[i].loop, &workers[i].stop_msg);
	/* Cancelled tasks unwind at once; a stuck loop must not keep the
	 * process alive after a test asked it to go. */
	struct timespec limit;
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += STOP_GRACE_SEC;
	for (long i = 0; i < nthreads; i++) {
		if (pthread_timedjoin_np(workers[i].thread, NULL, &limit) != 0) {
			fprintf(stderr, "ringcache-origin: loop %ld did not stop, exiting\n", i);
			_exit(1);
		}
	}
	for (long i = 0; i < nthreads; i++)
		close(workers[i].lfd);
	free(workers);
	stats_destroy();
	return 0;
}
