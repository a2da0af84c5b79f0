/* io.c - awaitable operations (io.h): the io_uring backend, with deadlines
 * (deadline.c), fd watches and multishot accept; a loop on epoll takes
 * each call to epoll.c instead (one branch per call). */
#include "rt/io.h"
#include "rt/epoll.h"
#include "rt/internal.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>

/* Fill one SQE through PREP, put the deadline in the loop's heap (deadline.c:
 * it cancels the op if it passes), park until the CQE. */
#define RT_IO(prep_call)                                                                           \
	do {                                                                                       \
		struct rt_loop *loop = rt_tls_loop;                                                \
		struct rt_task *t = loop ? loop->current : NULL;                                   \
		assert(t && "rt I/O outside a task");                                              \
		if (t->cancelled)                                                                  \
			return -ECANCELED;                                                         \
		struct rt_op op = {.task = t};                                                     \
		struct io_uring_sqe *sqe = rt_sqe_get(loop, 1);                                    \
		prep_call;                                                                         \
		io_uring_sqe_set_data(sqe, &op);                                                   \
		t->timed_out = false;                                                              \
		if (deadline != RT_NEVER)                                                          \
			rt_dl_arm(loop, t, deadline);                                              \
		t->io_op = &op;                                                                    \
		rt_park();                                                                         \
		t->io_op = NULL;                                                                   \
		rt_dl_disarm(loop, t);                                                             \
		/* The deadline cancelled the op: report it as a timeout. */                       \
		if (op.res == -ECANCELED && t->timed_out && !t->cancelled)                         \
			return -ETIMEDOUT;                                                         \
		return op.res;                                                                     \
	} while (0)

int rt_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, rt_time_t deadline)
{
	if (rt_tls_loop && rt_tls_loop->ep)
		return rt_ep_accept(fd, addr, addrlen, deadline);
	RT_IO(io_uring_prep_accept(sqe, fd, addr, addrlen, SOCK_CLOEXEC));
}

int rt_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, rt_time_t deadline)
{
	if (rt_tls_loop && rt_tls_loop->ep)
		return rt_ep_connect(fd, addr, addrlen, deadline);
	RT_IO(io_uring_prep_connect(sqe, fd, addr, addrlen));
}

ssize_t rt_recv(int fd, void *buf, size_t len, int flags, rt_time_t deadline)
{
	if (rt_tls_loop && rt_tls_loop->ep)
		return rt_ep_recv(fd, buf, len, flags, deadline);
	RT_IO(io_uring_prep_recv(sqe, fd, buf, len, flags));
}

ssize_t rt_send(int fd, const void *buf, size_t len, int flags, rt_time_t deadline)
{
	if (rt_tls_loop && rt_tls_loop->ep)
		return rt_ep_send(fd, buf, len, flags, deadline);
	RT_IO(io_uring_prep_send(sqe, fd, buf, len, flags | MSG_NOSIGNAL));
}

ssize_t rt_writev(int fd, const struct iovec *iov, int iovcnt, rt_time_t deadline)
{
	/* sendmsg rather than writev: MSG_NOSIGNAL, so a peer that went away
	 * is an -EPIPE result and not a SIGPIPE. */
	struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	if (rt_tls_loop && rt_tls_loop->ep)
		return rt_ep_sendmsg(fd, &msg, deadline);
	RT_IO(io_uring_prep_sendmsg(sqe, fd, &msg, MSG_NOSIGNAL));
}

ssize_t rt_read(int fd, void *buf, size_t len, off_t off, rt_time_t deadline)
{
	if (rt_tls_loop && rt_tls_loop->ep)
		return rt_ep_read(fd, buf, len, off, deadline);
	RT_IO(io_uring_prep_read(sqe, fd, buf, (unsigned)len, (__u64)off));
}

ssize_t rt_write(int fd, const void *buf, size_t len, off_t off, rt_time_t deadline)
{
	if (rt_tls_loop && rt_tls_loop->ep)
		return rt_ep_write(fd, buf, len, off, deadline);
	RT_IO(io_uring_prep_write(sqe, fd, buf, (unsigned)len, (__u64)off));
}

int rt_close(int fd)
{
	struct rt_loop *loop = rt_tls_loop;
	struct rt_task *t = loop ? loop->current : NULL;
	if (loop && loop->ep)
		return rt_ep_close(fd);
	if (!t)
		return close(fd) == 0 ? 0 : -errno;
	struct rt_op op = {.task = t};
	struct io_uring_sqe *sqe = rt_sqe_get(loop, 1);
	io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data(sqe, &op);
	/* Not cancellable on purpose: rt_task_cancel only targets io_op. */
	rt_park();
	return op.res;
}

int rt_sleep_until(rt_time_t deadline)
{
	struct rt_loop *loop = rt_tls_loop;
	if (loop->ep)
		return rt_ep_sleep_until(deadline);
	struct rt_task *t = loop->current;
	assert(t);
	if (t->cancelled)
		return -ECANCELED;
	if (deadline == RT_NEVER)
		deadline = rt_clock_now() + 3650ull * 24 * 3600 * RT_SEC;
	struct rt_op op = {.task = t};
	struct __kernel_timespec ts = {.tv_sec = (long long)(deadline / RT_SEC),
				       .tv_nsec = (long long)(deadline % RT_SEC)};
	struct io_uring_sqe *sqe = rt_sqe_get(loop, 1);
	io_uring_prep_timeout(sqe, &ts, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data(sqe, &op);
	t->io_op = &op;
	rt_park();
	t->io_op = NULL;
	if (op.res == -ETIME)
		return 0;
	return op.res == 0 ? 0 : -ECANCELED;
}

ssize_t rt_send_all(int fd, const void *buf, size_t len, rt_time_t deadline)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = rt_send(fd, (const char *)buf + done, len - done, 0, deadline);
		if (n < 0)
			return n;
		if (n == 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return (ssize_t)len;
}

ssize_t rt_writev_all(int fd, struct iovec *iov, int iovcnt, rt_time_t deadline)
{
	size_t total = 0;
	while (iovcnt > 0) {
		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		ssize_t n = rt_writev(fd, iov, iovcnt > 1024 ? 1024 : iovcnt, deadline);
		if (n < 0)
			return n;
		if (n == 0)
			return -EPIPE;
		total += (size_t)n;
		size_t left = (size_t)n;
		while (iovcnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0 && left) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return (ssize_t)total;
}

static void watch_on_cqe(struct rt_op *op, int res, unsigned flags)
{
	struct rt_watch *w = (struct rt_watch *)op;
	rt_tls_loop->nwatches--;
	w->armed = false;
	/* A fired linked timeout cancels the poll: report it as a timeout. */
	if (res == -ECANCELED && !w->cancelled)
		res = -ETIMEDOUT;
	w->cb(w, res);
}

void rt_watch_readable(struct rt_watch *w, int fd, rt_time_t deadline,
		       void (*cb)(struct rt_watch *w, int res))
{
	struct rt_loop *loop = rt_tls_loop;
	assert(loop && !w->armed);
	if (loop->ep) {
		rt_ep_watch_readable(w, fd, deadline, cb);
		return;
	}
	w->op = (struct rt_op){.on_cqe = watch_on_cqe};
	w->cb = cb;
	w->armed = true;
	w->cancelled = false;
	struct io_uring_sqe *sqe = rt_sqe_get(loop, deadline == RT_NEVER ? 1 : 2);
	io_uring_prep_poll_add(sqe, fd, POLLIN | POLLRDHUP);
	io_uring_sqe_set_data(sqe, &w->op);
	if (deadline != RT_NEVER) {
		sqe->flags |= IOSQE_IO_LINK;
		w->ts.tv_sec = (long long)(deadline / RT_SEC);
		w->ts.tv_nsec = (long long)(deadline % RT_SEC);
		struct io_uring_sqe *tsqe = io_uring_get_sqe(&loop->ring);
		io_uring_prep_link_timeout(tsqe, &w->ts, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data(tsqe, NULL);
	}
	loop->nwatches++;
}

void rt_watch_cancel(struct rt_watch *w)
{
	if (!w->armed || w->cancelled)
		return;
	w->cancelled = true;
	rt_op_cancel(rt_tls_loop, &w->op);
}

static void acceptor_on_cqe(struct rt_op *op, int res, unsigned flags)
{
	struct rt_acceptor *a = (struct rt_acceptor *)op;
	bool more = flags & IORING_CQE_F_MORE;
	if (!more) {
		rt_tls_loop->nwatches--;
		a->armed = false;
	}
	a->cb(a, res, more);
}

void rt_accept_multishot(struct rt_acceptor *a, int lfd,
			 void (*cb)(struct rt_acceptor *a, int res, bool more))
{
	struct rt_loop *loop = rt_tls_loop;
	assert(loop && !a->armed);
	if (loop->ep) {
		rt_ep_accept_multishot(a, lfd, cb);
		return;
	}
	a->op = (struct rt_op){.on_cqe = acceptor_on_cqe};
	a->cb = cb;
	a->armed = true;
	a->cancelled = false;
	struct io_uring_sqe *sqe = rt_sqe_get(loop, 1);
	/* No address buffer: one buffer would be overwritten by every accept
	 * before its CQE is read; the caller asks getpeername when it needs to. */
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, &a->op);
	loop->nwatches++;
}

void rt_acceptor_cancel(struct rt_acceptor *a)
{
	if (!a->armed || a->cancelled)
		return;
	a->cancelled = true;
	rt_op_cancel(rt_tls_loop, &a->op);
}
