/*
 * noop_server.c - the do-nothing HTTP responder: the ceiling line of
 * bench/compare.sh.
 *
 * It runs on ringcache's own runtime (src/rt: the same loops, multishot
 * accept, recv, send and deadline heap, one SO_REUSEPORT listener per loop)
 * and answers every request with one fixed response of the same bytes as
 * ringcache's 1 KiB hit (same head fields and lengths, 1,024-byte body),
 * without parsing anything but the blank line that ends a request head.
 * What ringcache spends per hit above this is its own work: parsing,
 * the cache lookup, building the head, logging and the metrics.
 *
 * Not a server: no request bodies (a request is its head), no timeouts
 * but an idle one, no graceful stop (SIGINT/SIGTERM exit at once).
 *
 * Usage: bench-noop [-l HOST:PORT] [-t THREADS]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rt/clock.h"
#include "rt/io.h"
#include "rt/loop.h"
#include "rt/task.h"

#define MAX_THREADS 64
#define IDLE_NS	    (300 * RT_SEC) /* as the servers of compare.sh */
#define BODY_LEN    1024

static char response[1024 + BODY_LEN];
static size_t response_len;
static struct sockaddr_in listen_addr;

struct noop_worker {
	pthread_t thread;
	int index;
	int lfd;
	struct rt_acceptor acc;
};

/* The head ringcache sends for bench/compare.sh's 1 KiB object, field
 * for field, with values of the same length (the Date is fixed: this
 * responder does no work per request, not even a clock read). */
static void build_response(unsigned port)
{
	int n = snprintf(response, sizeof(response),
			 "HTTP/1.1 200 OK\r\n"
			 "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
			 "Server: ringcache-origin\r\n"
			 "Content-Type: text/plain\r\n"
			 "Cache-Control: max-age=3600\r\n"
			 "X-Origin-Port: %5u\r\n"
			 "X-Origin-Request: 1\r\n"
			 "Age: 60\r\n"
			 "Cache-Status: ringcache; hit; ttl=3540\r\n"
			 "Via: 1.1 ringcache\r\n"
			 "Content-Length: %d\r\n"
			 "\r\n",
			 port, BODY_LEN);
	for (int i = 0; i < BODY_LEN; i++)
		response[n + i] =
		    (i % 37 == 36) ? '\n' : "0123456789abcdefghijklmnopqrstuvwxyz"[i % 37];
	response_len = (size_t)n + BODY_LEN;
}

/* Complete request heads in BUF[0..LEN), given the last three bytes of
 * the bytes before it in *TAIL (updated): each "\r\n\r\n" ends one. */
static unsigned count_heads(const char *buf, size_t len, uint32_t *tail)
{
	unsigned n = 0;
	uint32_t w = *tail;
	for (size_t i = 0; i < len; i++) {
		w = (w << 8) | (uint8_t)buf[i];
		if (w == 0x0d0a0d0au)
			n++;
	}
	*tail = w;
	return n;
}

static void serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[8192];
	uint32_t tail = 0;
	for (;;) {
		ssize_t r = rt_recv(fd, buf, sizeof(buf), 0, rt_clock_now() + IDLE_NS);
		if (r <= 0)
			break;
		unsigned n = count_heads(buf, (size_t)r, &tail);
		bool ok = true;
		while (n-- && ok)
			ok = rt_send_all(fd, response, response_len, rt_clock_now() + IDLE_NS) ==
			     (ssize_t)response_len;
		if (!ok)
			break;
	}
	rt_close(fd);
}

static void on_accept(struct rt_acceptor *a, int res, bool more)
{
	struct noop_worker *w =
	    (struct noop_worker *)((char *)a - offsetof(struct noop_worker, acc));
	if (res >= 0 && rt_task_spawn_detached(serve, (void *)(intptr_t)res, "noop") < 0)
		close(res);
	if (!more)
		rt_accept_multishot(&w->acc, w->lfd, on_accept); /* the kernel ended it: again */
}

static void *worker_main(void *arg)
{
	struct noop_worker *w = arg;
	int err = 0;
	struct rt_loop_opts opts = {.id = w->index};
	struct rt_loop *loop = rt_loop_create(&opts, &err);
	if (!loop) {
		fprintf(stderr, "bench-noop: loop %d: %s\n", w->index, strerror(-err));
		exit(1);
	}
	rt_accept_multishot(&w->acc, w->lfd, on_accept);
	rt_loop_run(loop);
	return NULL;
}

static int make_listener(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	/* TCP_NODELAY is inherited by accepted sockets, as ringcache's are. */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) < 0 ||
	    listen(fd, 4096) < 0) {
		perror("bench-noop: listen");
		exit(1);
	}
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-noop [-l HOST:PORT] [-t THREADS]\n");
}

int main(int argc, char **argv)
{
	const char *listen_arg = "127.0.0.1:9100";
	long nthreads = 2;
	int opt;
	while ((opt = getopt(argc, argv, "l:t:h")) != -1) {
		if (opt == 'l') {
			listen_arg = optarg;
		} else if (opt == 't') {
			nthreads = strtol(optarg, NULL, 10);
			if (nthreads < 1 || nthreads > MAX_THREADS) {
				fprintf(stderr, "bench-noop: -t wants 1..%d\n", MAX_THREADS);
				return 2;
			}
		} else {
			usage(opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	char host[64];
	const char *colon = strrchr(listen_arg, ':');
	if (!colon || (size_t)(colon - listen_arg) >= sizeof(host)) {
		usage(stderr);
		return 2;
	}
	memcpy(host, listen_arg, (size_t)(colon - listen_arg));
	host[colon - listen_arg] = '\0';
	long port = strtol(colon + 1, NULL, 10);
	listen_addr.sin_family = AF_INET;
	listen_addr.sin_port = htons((uint16_t)port);
	if (port < 1 || port > 65535 || inet_pton(AF_INET, host, &listen_addr.sin_addr) != 1) {
		fprintf(stderr, "bench-noop: bad -l %s (IPv4 HOST:PORT)\n", listen_arg);
		return 2;
	}
	build_response((unsigned)port);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* the loops inherit it */
	signal(SIGPIPE, SIG_IGN);

	static struct noop_worker workers[MAX_THREADS];
	for (long i = 0; i < nthreads; i++) {
		workers[i].index = (int)i;
		workers[i].lfd = make_listener();
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
			fprintf(stderr, "bench-noop: cannot start thread %ld\n", i);
			return 1;
		}
	}
	printf("bench-noop: listening on %s, %ld loops\n", listen_arg, nthreads);
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	_exit(0);
}
