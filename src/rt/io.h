/*
 * io.h - awaitable io_uring operations for tasks.
 *
 * Each call fills one SQE (plus a linked timeout when DEADLINE is not
 * RT_NEVER), parks the task, and returns the CQE's result when it arrives:
 * bytes or an fd (>= 0), or a negative errno. A deadline that passes gives
 * -ETIMEDOUT; a cancelled task gets -ECANCELED. Buffers and structures
 * passed in must stay valid until the call returns, which they do when they
 * live on the task's stack: a task never resumes while its SQE is in flight.
 *
 * Must be called from a task (rt_task_self() != NULL).
 */
#ifndef RINGCACHE_RT_IO_H
#define RINGCACHE_RT_IO_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "rt/clock.h"

int rt_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, rt_time_t deadline);
int rt_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, rt_time_t deadline);
ssize_t rt_recv(int fd, void *buf, size_t len, int flags, rt_time_t deadline);
ssize_t rt_send(int fd, const void *buf, size_t len, int flags, rt_time_t deadline);
ssize_t rt_writev(int fd, const struct iovec *iov, int iovcnt, rt_time_t deadline);
ssize_t rt_read(int fd, void *buf, size_t len, off_t off, rt_time_t deadline);
ssize_t rt_write(int fd, const void *buf, size_t len, off_t off, rt_time_t deadline);
/* Close through the ring. Not affected by cancellation: cleanup must run. */
int rt_close(int fd);

/* Send every byte (loops over short sends). Returns len or a negative errno. */
ssize_t rt_send_all(int fd, const void *buf, size_t len, rt_time_t deadline);
/* Write every byte of the iovec array; IOV is modified. */
ssize_t rt_writev_all(int fd, struct iovec *iov, int iovcnt, rt_time_t deadline);

#endif
