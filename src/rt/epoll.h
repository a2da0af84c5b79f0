/*
 * epoll.h - the second I/O backend (epoll.c), for where io_uring is not
 * allowed: Docker 25+ and containerd 2 default seccomp profiles, the
 * kernel.io_uring_disabled sysctl, old kernels. Internal to src/rt/.
 *
 * The awaitable API of io.h is kept as it is: io.c sends each call here
 * when the loop runs on epoll (one branch per call). Sockets are used
 * with MSG_DONTWAIT (and O_NONBLOCK where a call has no flags: connect,
 * accept), so an operation is tried at once and only a task whose
 * operation would block waits: its op is put on the descriptor's table
 * entry (one reader and one writer at most, as on a ring), the
 * descriptor is armed EPOLLONESHOT for what its waiters need, and the
 * task parks. Completions, cancellations and expired deadlines are all
 * queued and dispatched after epoll_wait, the way CQEs are reaped, so a
 * callback never runs inside the call that caused it and no op is left
 * pointing into a stack that moved on ("no SQE on a dead stack": an op
 * leaves the table before its task can resume). Deadlines of tasks stay
 * in deadline.c's heap (the epoll_wait timeout is its earliest entry);
 * watches, which have no task, keep theirs in a heap here. File reads
 * and writes run on a small worker pool, since a regular file is always
 * "ready" to epoll and its I/O would block the loop.
 */
#ifndef RINGCACHE_RT_EPOLL_H
#define RINGCACHE_RT_EPOLL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "rt/clock.h"
#include "rt/io.h"

struct rt_loop;

/* Set up / tear down LOOP's epoll instance and tables; 0 or -errno. */
int rt_ep_init(struct rt_loop *loop);
void rt_ep_fini(struct rt_loop *loop);

/* Wait for events at most TIMEOUT_NS (0: only look; RT_NEVER: until one),
 * then expire deadlines and dispatch every queued completion. */
void rt_ep_poll(struct rt_loop *loop, uint64_t timeout_ns);
/* Completions queued and not yet dispatched (the loop must not sleep). */
bool rt_ep_pending(const struct rt_loop *loop);

/* End OP (a task's, a watch's or an acceptor's) with -ECANCELED, queued. */
void rt_ep_cancel(struct rt_loop *loop, struct rt_op *op);

/* The eventfd read of the inbox, armed as an internal reader of EFD. */
void rt_ep_arm_internal(struct rt_loop *loop, int fd, struct rt_op *op);

int rt_ep_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, rt_time_t deadline);
int rt_ep_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, rt_time_t deadline);
ssize_t rt_ep_recv(int fd, void *buf, size_t len, int flags, rt_time_t deadline);
ssize_t rt_ep_send(int fd, const void *buf, size_t len, int flags, rt_time_t deadline);
ssize_t rt_ep_sendmsg(int fd, const struct msghdr *msg, rt_time_t deadline);
ssize_t rt_ep_read(int fd, void *buf, size_t len, off_t off, rt_time_t deadline);
ssize_t rt_ep_write(int fd, const void *buf, size_t len, off_t off, rt_time_t deadline);
int rt_ep_close(int fd);
int rt_ep_sleep_until(rt_time_t deadline);
void rt_ep_watch_readable(struct rt_watch *w, int fd, rt_time_t deadline,
			  void (*cb)(struct rt_watch *w, int res));
void rt_ep_accept_multishot(struct rt_acceptor *a, int lfd,
			    void (*cb)(struct rt_acceptor *a, int res, bool more));

#endif
