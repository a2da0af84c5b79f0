/* canned.c - a raw backend whose answers the test writes (canned.h). */
#include "canned.h"
#include "harness.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CANNED_BUF (256 * 1024)

int canned_send(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static size_t content_length(const char *head, size_t len)
{
	for (size_t i = 0; i + 16 < len; i++) {
		if (head[i] == '\n' && strncasecmp(head + i + 1, "content-length:", 15) == 0)
			return (size_t)strtoul(head + i + 16, NULL, 10);
	}
	return 0;
}

static void serve_conn(int c, struct canned *cb, canned_fn fn, void *ctx)
{
	char *buf = malloc(CANNED_BUF);
	size_t len = 0;
	if (!buf)
		return;
	for (;;) {
		char *end = memmem(buf, len, "\r\n\r\n", 4);
		size_t hl = end ? (size_t)(end + 4 - buf) : 0;
		size_t bl = end ? content_length(buf, hl) : 0;
		if (!end || len < hl + bl) {
			if (len == CANNED_BUF)
				break;
			ssize_t n = recv(c, buf + len, CANNED_BUF - len, 0);
			if (n <= 0)
				break;
			len += (size_t)n;
			continue;
		}
		struct canned_req rq = {
		    .head = buf, .head_len = hl, .body = buf + hl, .body_len = bl};
		sscanf(buf, "%15s %511s", rq.method, rq.path);
		atomic_fetch_add(cb->requests, 1);
		if (fn(c, &rq, ctx) < 0)
			break;
		memmove(buf, buf + hl + bl, len - hl - bl);
		len -= hl + bl;
	}
	free(buf);
}

void canned_start(struct canned *cb, int seconds, canned_fn fn, void *ctx)
{
	cb->port = free_port();
	cb->requests = mmap(NULL, sizeof(*cb->requests), PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(cb->requests, MAP_FAILED);
	atomic_init(cb->requests, 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)cb->port),
				 .sin_addr.s_addr = htonl(0x7f000001)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 64), 0);
	cb->pid = fork();
	cr_assert_geq(cb->pid, 0);
	if (cb->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test */
		signal(SIGCHLD, SIG_IGN);	  /* no zombies */
		alarm((unsigned)seconds);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL); /* ends with canned_stop */
				alarm((unsigned)seconds);
				serve_conn(c, cb, fn, ctx);
				_exit(0);
			}
			close(c);
		}
	}
	close(fd);
}

void canned_stop(struct canned *cb)
{
	if (cb->pid > 0) {
		kill(cb->pid, SIGKILL);
		waitpid(cb->pid, NULL, 0);
		cb->pid = 0;
	}
}

long canned_requests(const struct canned *cb)
{
	return atomic_load(cb->requests);
}
