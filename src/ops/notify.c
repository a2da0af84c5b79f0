/* notify.c - sd_notify datagrams to NOTIFY_SOCKET, without libsystemd. */
#include "ops/notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ops/log.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static uint64_t watchdog_usec;

int notify_init(void)
{
	const char *ws = getenv("WATCHDOG_USEC");
	const char *wp = getenv("WATCHDOG_PID");
	if (ws && *ws) {
		char *end;
		unsigned long long v = strtoull(ws, &end, 10);
		/* WATCHDOG_PID names the process meant, when set. */
		bool ours = !wp || !*wp || strtol(wp, NULL, 10) == (long)getpid();
		if (!*end && v > 0 && ours)
			watchdog_usec = v;
	}
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0;
	size_t n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(notify_addr.sun_path)) {
		log_warn("NOTIFY_SOCKET '%s' is not a unix socket path; not notifying systemd",
			 path);
		return -EINVAL;
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, n);
	/* "@name" is the abstract namespace: a leading NUL, no terminator. */
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd < 0) {
		int e = errno;
		log_warn("NOTIFY_SOCKET: socket: %s", strerror(e));
		return -e;
	}
	return 0;
}

void notify_close(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}

int notify_send(const char *msg)
{
	if (notify_fd < 0)
		return 0;
	/* Never wait for systemd: a full receive queue drops the message. */
	ssize_t w = sendto(notify_fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
			   (const struct sockaddr *)&notify_addr, notify_len);
	if (w < 0) {
		int e = errno;
		log_warn("NOTIFY_SOCKET: sendto: %s", strerror(e));
		return -e;
	}
	return 0;
}

int notify_sendf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return notify_send(buf);
}

uint64_t notify_watchdog_usec(void)
{
	return watchdog_usec;
}
