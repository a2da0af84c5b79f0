/*
 * io.h - awaitable I/O operations for tasks, on the loop's backend:
 * io_uring (this file's comments describe it), or epoll where io_uring is
 * refused (epoll.h: the same contract, met with readiness and retries).
 *
 * Each call fills one SQE, puts DEADLINE (unless RT_NEVER) in the loop's
 * deadline heap, parks the task, and returns the CQE's result when it
 * arrives: bytes or an fd (>= 0), or a negative errno. A deadline that
 * passes cancels the operation and gives -ETIMEDOUT; a cancelled task gets
 * -ECANCELED. Buffers and structures
 * passed in must stay valid until the call returns, which they do when they
 * live on the task's stack: a task never resumes while its SQE is in flight.
 *
 * Must be called from a task (rt_task_self() != NULL).
 */
#ifndef RINGCACHE_RT_IO_H
#define RINGCACHE_RT_IO_H

#include <linux/time_types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "rt/clock.h"

struct rt_task;

/*
 * An operation in flight. Its address is the SQE's user_data. A task's op
 * lives on the task's stack; an internal op (wait timer, eventfd read, fd
 * watch) has task == NULL and is completed by on_cqe on the loop thread.
 */
struct rt_op {
	struct rt_task *task;
	void (*on_cqe)(struct rt_op *op, int res, unsigned flags);
	int res;
	unsigned flags;
};

/*
 * Watch an fd for readability without a task (an idle keep-alive
 * connection costs its record and nothing else: no stack, no buffer).
 * When FD becomes readable, the DEADLINE passes or the watch is
 * cancelled, CB runs once on the loop thread with res > 0 (poll mask),
 * -ETIMEDOUT or -ECANCELED. The record must stay valid until then; the
 * loop does not finish while watches are armed.
 */
struct rt_watch {
	struct rt_op op;
	union {
		struct __kernel_timespec ts; /* io_uring: its linked timeout */
		struct {
			rt_time_t at;
			uint32_t idx;
		} ep; /* epoll: its entry in the watch deadline heap */
	};
	void (*cb)(struct rt_watch *w, int res);
	bool armed;
	bool cancelled;
};

/*
 * Multishot accept: one armed SQE accepts every connection that reaches a
 * listener, with no task round trip in between, so a burst of thousands of
 * connects drains the kernel's accept queue at once instead of one
 * connection per scheduling round (a full queue drops SYNs and costs the
 * client a 1 s retransmit). CB runs on the loop thread once per CQE: RES is
 * an accepted fd (>= 0, close-on-exec, now owned by CB) or a negative
 * errno; MORE is false on the last call (an error, a cancel, or the kernel
 * ending the multishot), after which the record may be armed again or
 * freed. The loop does not finish while an acceptor is armed.
 */
struct rt_acceptor {
	struct rt_op op;
	void (*cb)(struct rt_acceptor *a, int res, bool more);
	bool armed;
	bool cancelled;
};

/* Arm A on listener LFD (on the current loop; callable outside a task). */
void rt_accept_multishot(struct rt_acceptor *a, int lfd,
			 void (*cb)(struct rt_acceptor *a, int res, bool more));
/* Stop an armed acceptor: its last callback (MORE false) follows. No-op
 * when not armed or already cancelled. */
void rt_acceptor_cancel(struct rt_acceptor *a);

int rt_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, rt_time_t deadline);
int rt_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, rt_time_t deadline);
ssize_t rt_recv(int fd, void *buf, size_t len, int flags, rt_time_t deadline);
ssize_t rt_send(int fd, const void *buf, size_t len, int flags, rt_time_t deadline);
ssize_t rt_writev(int fd, const struct iovec *iov, int iovcnt, rt_time_t deadline);
ssize_t rt_read(int fd, void *buf, size_t len, off_t off, rt_time_t deadline);
ssize_t rt_write(int fd, const void *buf, size_t len, off_t off, rt_time_t deadline);
/* Close through the ring. Not affected by cancellation: cleanup must run. */
int rt_close(int fd);

/* Arm W (on the current loop; callable outside a task). */
void rt_watch_readable(struct rt_watch *w, int fd, rt_time_t deadline,
		       void (*cb)(struct rt_watch *w, int res));
/* Cancel an armed watch: its callback runs with -ECANCELED (or with the
 * result that was already on its way). No-op when not armed. */
void rt_watch_cancel(struct rt_watch *w);

/* Send every byte (loops over short sends). Returns len or a negative errno. */
ssize_t rt_send_all(int fd, const void *buf, size_t len, rt_time_t deadline);
/* Write every byte of the iovec array; IOV is modified. */
ssize_t rt_writev_all(int fd, struct iovec *iov, int iovcnt, rt_time_t deadline);

#endif
