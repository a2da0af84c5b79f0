/*
 * notify.h - the systemd notification protocol (sd_notify), spoken directly.
 *
 * systemd passes NOTIFY_SOCKET (a filesystem path, or "@name" for the
 * abstract namespace) to a Type=notify service; the service sends it
 * datagrams of newline-separated KEY=VALUE lines: READY=1, RELOADING=1 with
 * MONOTONIC_USEC=, STOPPING=1, STATUS=text, WATCHDOG=1. The protocol is a
 * single sendto, so it is written here instead of linking libsystemd.
 *
 * Everything is a no-op without NOTIFY_SOCKET (not under systemd). Called
 * from the main thread only; never from a loop thread (sendto on a unix
 * datagram socket can block when the receiver's queue is full).
 */
#ifndef RINGCACHE_OPS_NOTIFY_H
#define RINGCACHE_OPS_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment.
 * 0, or -errno when NOTIFY_SOCKET is set but unusable (logged). */
int notify_init(void);
void notify_close(void);

/* Send MSG ("READY=1\nSTATUS=..."), as is. 0, -errno, or 0 when disabled. */
int notify_send(const char *msg);
/* printf-style notify_send. */
int notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd asked for (WatchdogSec=), in microseconds;
 * 0 when there is none (or it is meant for another process). */
uint64_t notify_watchdog_usec(void);

#endif
