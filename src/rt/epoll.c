/* epoll.c - the epoll I/O backend behind io.h's awaitable API (epoll.h). */
#include "rt/epoll.h"
#include "rt/internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "rt/workpool.h"

/*
 * An op waiting here carries where it waits in its flags: the direction
 * (bits 0-1), "its completion is queued" (bit 2) and the descriptor (from
 * bit 3). Flags are io_uring's CQE flags otherwise; on this backend
 * nothing else reads them.
 */
#define EP_IN	   1u
#define EP_OUT	   2u
#define EP_QUEUED  4u
#define EP_FD(op)  ((int)((op)->flags >> 3))
#define EP_DIR(op) ((op)->flags & 3u)

/* Events taken per epoll_wait, and accepts per readiness of a listener
 * (then it is re-armed: other descriptors get their turn). */
#define EP_EVENTS     256
#define EP_ACCEPT_MAX 64
/* Operations that completed at once in a row before the task yields: on
 * a ring every operation passes through the scheduler; here one that
 * never blocks would keep its loop to itself. */
#define EP_STREAK_MAX 32

#define WH_NONE UINT32_MAX

struct ep_fd {
	struct rt_op *in, *out; /* at most one reader and one writer, as on a ring */
	bool added;		/* in the epoll set, as far as we know */
};

struct rt_ep {
	int epfd;
	bool no_pwait2; /* the kernel lacks epoll_pwait2: millisecond timeouts */
	struct ep_fd *fds;
	size_t nfds;
	/* Completions queued for dispatch (after epoll_wait, like CQEs). */
	struct rt_op **done;
	size_t ndone, done_cap;
	/* Deadlines of watches (they have no task for deadline.c's heap). */
	struct rt_watch **wh;
	uint32_t wh_len, wh_cap;
	unsigned streak;
	struct epoll_event evs[EP_EVENTS];
};

/* ---- completions ----------------------------------------------------------- */

static void queue_done(struct rt_ep *ep, struct rt_op *op, int res)
{
	if (ep->ndone == ep->done_cap) {
		size_t cap = ep->done_cap ? ep->done_cap * 2 : 256;
		struct rt_op **d = realloc(ep->done, cap * sizeof(*d));
		/* A pointer per op in flight: without it an op could never end,
		 * so this aborts, as deadline.c's heap does. */
		assert(d);
		ep->done = d;
		ep->done_cap = cap;
	}
	op->res = res;
	op->flags |= EP_QUEUED;
	ep->done[ep->ndone++] = op;
}

static void dispatch(struct rt_loop *l)
{
	struct rt_ep *ep = l->ep;
	/* Callbacks may queue more (an acceptor's, a cancel): those run too. */
	for (size_t i = 0; i < ep->ndone; i++) {
		struct rt_op *op = ep->done[i];
		op->flags &= ~EP_QUEUED;
		if (op->task) {
			struct rt_task *t = op->task;
			assert(t->state == T_WAITING);
			t->wake_res = op->res;
			rt_runq_push(l, t);
		} else {
			op->on_cqe(op, op->res, op->flags);
		}
	}
	ep->ndone = 0;
}

bool rt_ep_pending(const struct rt_loop *loop)
{
	return loop->ep->ndone > 0;
}

/* ---- the descriptor table ---------------------------------------------------- */

static struct ep_fd *fd_get(struct rt_ep *ep, int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= ep->nfds) {
		size_t n = ep->nfds ? ep->nfds : 1024;
		while (n <= (size_t)fd)
			n *= 2;
		struct ep_fd *f = realloc(ep->fds, n * sizeof(*f));
		if (!f)
			return NULL;
		memset(f + ep->nfds, 0, (n - ep->nfds) * sizeof(*f));
		ep->fds = f;
		ep->nfds = n;
	}
	return &ep->fds[fd];
}

/*
 * Tell the kernel what FD's waiters need; 0 or -errno. Every time: what
 * the kernel holds for a descriptor number cannot be known from here,
 * since a plain close() (a listener the main thread closed after a
 * reload, a socket closed outside rt_close) takes the file out of the
 * set and the number comes back as another file. So the answer decides:
 * a number the set does not have (ENOENT) is added, one it has (EEXIST)
 * modified. A oneshot that fired needs this call anyway.
 */
static int fd_arm(struct rt_ep *ep, int fd)
{
	struct ep_fd *f = &ep->fds[fd];
	uint32_t want = (f->in ? EPOLLIN | EPOLLRDHUP : 0) | (f->out ? EPOLLOUT : 0);
	if (!want)
		return 0;
	struct epoll_event ev = {.events = want | EPOLLONESHOT, .data.fd = fd};
	int r = epoll_ctl(ep->epfd, f->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
	if (r < 0 && (errno == ENOENT || errno == EEXIST))
		r = epoll_ctl(ep->epfd, errno == ENOENT ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
	if (r < 0)
		return -errno;
	f->added = true;
	return 0;
}

/* Put OP on FD's table entry for DIR and arm the descriptor: 0, or
 * -errno (-EPERM: not a descriptor epoll can watch, a regular file). */
static int fd_wait_add(struct rt_ep *ep, int fd, unsigned dir, struct rt_op *op)
{
	struct ep_fd *f = fd_get(ep, fd);
	if (!f)
		return -ENOMEM;
	struct rt_op **slot = dir == EP_IN ? &f->in : &f->out;
	/* Two readers (or writers) of one descriptor would take each other's
	 * bytes on a ring too: the callers never do it. */
	assert(!*slot);
	*slot = op;
	op->flags = (unsigned)fd << 3 | dir;
	int r = fd_arm(ep, fd);
	if (r < 0) {
		*slot = NULL;
		op->flags = 0;
	}
	return r;
}

/* Take OP off its table entry (it is not waiting any more). */
static void fd_wait_drop(struct rt_ep *ep, struct rt_op *op)
{
	unsigned dir = EP_DIR(op);
	if (!dir)
		return;
	int fd = EP_FD(op);
	if ((size_t)fd < ep->nfds) {
		struct ep_fd *f = &ep->fds[fd];
		if (dir == EP_IN && f->in == op)
			f->in = NULL;
		if (dir == EP_OUT && f->out == op)
			f->out = NULL;
	}
	op->flags &= ~3u;
}

/* ---- watch deadlines ----------------------------------------------------------- */

static void wh_set(struct rt_ep *ep, uint32_t i, struct rt_watch *w)
{
	ep->wh[i] = w;
	w->ep.idx = i;
}

static void wh_up(struct rt_ep *ep, uint32_t i)
{
	struct rt_watch *w = ep->wh[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (ep->wh[p]->ep.at <= w->ep.at)
			break;
		wh_set(ep, i, ep->wh[p]);
		i = p;
	}
	wh_set(ep, i, w);
}

static void wh_down(struct rt_ep *ep, uint32_t i)
{
	struct rt_watch *w = ep->wh[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= ep->wh_len)
			break;
		if (c + 1 < ep->wh_len && ep->wh[c + 1]->ep.at < ep->wh[c]->ep.at)
			c++;
		if (w->ep.at <= ep->wh[c]->ep.at)
			break;
		wh_set(ep, i, ep->wh[c]);
		i = c;
	}
	wh_set(ep, i, w);
}

static void wh_push(struct rt_ep *ep, struct rt_watch *w, rt_time_t at)
{
	if (ep->wh_len == ep->wh_cap) {
		uint32_t cap = ep->wh_cap ? ep->wh_cap * 2 : 1024;
		struct rt_watch **h = realloc(ep->wh, cap * sizeof(*h));
		assert(h); /* as queue_done */
		ep->wh = h;
		ep->wh_cap = cap;
	}
	w->ep.at = at;
	wh_set(ep, ep->wh_len++, w);
	wh_up(ep, w->ep.idx);
}

static void wh_remove(struct rt_ep *ep, struct rt_watch *w)
{
	uint32_t i = w->ep.idx;
	if (i == WH_NONE)
		return;
	w->ep.idx = WH_NONE;
	struct rt_watch *last = ep->wh[--ep->wh_len];
	if (i == ep->wh_len)
		return;
	wh_set(ep, i, last);
	wh_up(ep, i);
	wh_down(ep, last->ep.idx);
}

/* ---- loop side ------------------------------------------------------------------- */

int rt_ep_init(struct rt_loop *loop)
{
	struct rt_ep *ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ep->epfd < 0) {
		int e = -errno;
		free(ep);
		return e;
	}
	loop->ep = ep;
	return 0;
}

void rt_ep_fini(struct rt_loop *loop)
{
	struct rt_ep *ep = loop->ep;
	if (!ep)
		return;
	close(ep->epfd);
	free(ep->fds);
	free(ep->done);
	free(ep->wh);
	free(ep);
	loop->ep = NULL;
}

void rt_ep_cancel(struct rt_loop *loop, struct rt_op *op)
{
	struct rt_ep *ep = loop->ep;
	if (op->flags & EP_QUEUED)
		return; /* its result is on its way already, as a CQE would be */
	fd_wait_drop(ep, op);
	queue_done(ep, op, -ECANCELED);
}

void rt_ep_arm_internal(struct rt_loop *loop, int fd, struct rt_op *op)
{
	int r = fd_wait_add(loop->ep, fd, EP_IN, op);
	/* The inbox's eventfd: failing to watch it would strand every message
	 * another thread posts; nothing on this loop could work. */
	assert(r == 0);
	(void)r;
}

static void on_event(struct rt_ep *ep, int fd, uint32_t e)
{
	if (fd < 0 || (size_t)fd >= ep->nfds)
		return;
	struct ep_fd *f = &ep->fds[fd]; /* oneshot: disabled until armed again */
	if (f->in && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		struct rt_op *op = f->in;
		fd_wait_drop(ep, op);
		queue_done(ep, op, (int)(e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)));
	}
	if (f->out && (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
		struct rt_op *op = f->out;
		fd_wait_drop(ep, op);
		queue_done(ep, op, (int)(e & (EPOLLOUT | EPOLLHUP | EPOLLERR)));
	}
	if (f->in || f->out) {
		int r = fd_arm(ep, fd);
		if (r < 0) { /* the descriptor went bad under its waiters: end them */
			struct rt_op *ops[2] = {f->in, f->out};
			for (int i = 0; i < 2; i++) {
				if (ops[i]) {
					fd_wait_drop(ep, ops[i]);
					queue_done(ep, ops[i], r);
				}
			}
		}
	}
}

static void watch_expire(struct rt_ep *ep, rt_time_t now)
{
	while (ep->wh_len && ep->wh[0]->ep.at <= now) {
		struct rt_watch *w = ep->wh[0];
		wh_remove(ep, w);
		if (w->op.flags & EP_QUEUED)
			continue; /* readiness came first */
		fd_wait_drop(ep, &w->op);
		queue_done(ep, &w->op, -ETIMEDOUT);
	}
}

void rt_ep_poll(struct rt_loop *l, uint64_t timeout_ns)
{
	struct rt_ep *ep = l->ep;
	if (ep->ndone)
		timeout_ns = 0; /* completions wait: only look */
	rt_time_t now = rt_clock_now();
	rt_time_t next = rt_dl_next(l);
	if (ep->wh_len && ep->wh[0]->ep.at < next)
		next = ep->wh[0]->ep.at;
	if (next != RT_NEVER) {
		uint64_t d = next > now ? next - now : 0;
		if (d < timeout_ns)
			timeout_ns = d;
	}
	int n;
	if (!ep->no_pwait2) {
		struct timespec ts = {.tv_sec = (time_t)(timeout_ns / RT_SEC),
				      .tv_nsec = (long)(timeout_ns % RT_SEC)};
		n = epoll_pwait2(ep->epfd, ep->evs, EP_EVENTS, timeout_ns == RT_NEVER ? NULL : &ts,
				 NULL);
		if (n < 0 && errno == ENOSYS)
			ep->no_pwait2 = true; /* before 5.11 */
	}
	if (ep->no_pwait2) {
		int ms = timeout_ns == RT_NEVER ? -1
			 : timeout_ns > 24ull * 3600 * RT_SEC
			     ? 24 * 3600 * 1000
			     : (int)((timeout_ns + RT_MS - 1) / RT_MS);
		n = epoll_wait(ep->epfd, ep->evs, EP_EVENTS, ms);
	}
	for (int i = 0; i < n; i++)
		on_event(ep, ep->evs[i].data.fd, ep->evs[i].events);
	now = rt_clock_now();
	rt_dl_expire(l, now);
	watch_expire(ep, now);
	dispatch(l);
}

/* ---- task side --------------------------------------------------------------------- */

static struct rt_task *current(void)
{
	struct rt_loop *l = rt_tls_loop;
	struct rt_task *t = l ? l->current : NULL;
	assert(t && "rt I/O outside a task");
	return t;
}

/* An operation that did not wait: count it, and now and then let the
 * other tasks of the loop run (see EP_STREAK_MAX). */
static void ran_at_once(void)
{
	struct rt_ep *ep = rt_tls_loop->ep;
	if (++ep->streak >= EP_STREAK_MAX) {
		ep->streak = 0;
		(void)rt_task_yield(); /* a cancel shows at the next call */
	}
}

/* Park the current task until FD is ready for DIR, DEADLINE passes or it
 * is cancelled: 0, -ETIMEDOUT, -ECANCELED or -errno. */
static int wait_fd(int fd, unsigned dir, rt_time_t deadline)
{
	struct rt_loop *l = rt_tls_loop;
	struct rt_task *t = l->current;
	struct rt_ep *ep = l->ep;
	if (t->cancelled)
		return -ECANCELED;
	ep->streak = 0;
	struct rt_op op = {.task = t};
	int r = fd_wait_add(ep, fd, dir, &op);
	if (r == -EPERM)
		return 0; /* not pollable (a regular file): always ready */
	if (r < 0)
		return r;
	t->timed_out = false;
	if (deadline != RT_NEVER)
		rt_dl_arm(l, t, deadline);
	t->io_op = &op;
	rt_park();
	t->io_op = NULL;
	rt_dl_disarm(l, t);
	/* Off the table already (readiness, a cancel or the deadline took it
	 * off before queueing): nothing points at this stack frame now. */
	assert(!EP_DIR(&op) && !(op.flags & EP_QUEUED));
	if (op.res == -ECANCELED)
		return t->timed_out && !t->cancelled ? -ETIMEDOUT : -ECANCELED;
	return op.res < 0 ? op.res : 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int rt_ep_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, rt_time_t deadline)
{
	struct rt_task *t = current();
	int r = set_nonblock(fd);
	if (r < 0)
		return r;
	for (;;) {
		if (t->cancelled)
			return -ECANCELED;
		int c = accept4(fd, addr, addrlen, SOCK_CLOEXEC);
		if (c >= 0) {
			ran_at_once();
			return c;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if ((r = wait_fd(fd, EP_IN, deadline)) < 0)
			return r;
	}
}

int rt_ep_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, rt_time_t deadline)
{
	struct rt_task *t = current();
	if (t->cancelled)
		return -ECANCELED;
	int r = set_nonblock(fd);
	if (r < 0)
		return r;
	if (connect(fd, addr, addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	if ((r = wait_fd(fd, EP_OUT, deadline)) < 0)
		return r;
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		return -errno;
	return -err;
}

ssize_t rt_ep_recv(int fd, void *buf, size_t len, int flags, rt_time_t deadline)
{
	struct rt_task *t = current();
	for (;;) {
		if (t->cancelled)
			return -ECANCELED;
		ssize_t n = recv(fd, buf, len, flags | MSG_DONTWAIT);
		if (n >= 0) {
			ran_at_once();
			return n;
		}
		if (errno == EINTR)
			continue;
		/* A caller's own MSG_DONTWAIT asks for -EAGAIN, as on a ring. */
		if (errno != EAGAIN || (flags & MSG_DONTWAIT))
			return -errno;
		int r = wait_fd(fd, EP_IN, deadline);
		if (r < 0)
			return r;
	}
}

ssize_t rt_ep_send(int fd, const void *buf, size_t len, int flags, rt_time_t deadline)
{
	struct rt_task *t = current();
	for (;;) {
		if (t->cancelled)
			return -ECANCELED;
		ssize_t n = send(fd, buf, len, flags | MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			ran_at_once();
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || (flags & MSG_DONTWAIT))
			return -errno;
		int r = wait_fd(fd, EP_OUT, deadline);
		if (r < 0)
			return r;
	}
}

ssize_t rt_ep_sendmsg(int fd, const struct msghdr *msg, rt_time_t deadline)
{
	struct rt_task *t = current();
	for (;;) {
		if (t->cancelled)
			return -ECANCELED;
		ssize_t n = sendmsg(fd, msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			ran_at_once();
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		int r = wait_fd(fd, EP_OUT, deadline);
		if (r < 0)
			return r;
	}
}

/* ---- files: on workers ---------------------------------------------------------------- */

static struct rt_workpool *file_pool;
static pthread_once_t file_pool_once = PTHREAD_ONCE_INIT;

static void file_pool_make(void)
{
	/* Two threads: the access log's writes of every loop, and the odd
	 * read; a queue deep enough that loops rarely wait for room. */
	file_pool = rt_workpool_create(2, 1024);
}

struct file_job {
	int fd;
	bool write;
	void *buf;
	size_t len;
	off_t off;
	ssize_t res;
};

static void file_job_run(void *arg)
{
	struct file_job *j = arg;
	ssize_t n;
	do {
		if (j->off == (off_t)-1) /* the file position, as a ring's -1 offset */
			n = j->write ? write(j->fd, j->buf, j->len) : read(j->fd, j->buf, j->len);
		else
			n = j->write ? pwrite(j->fd, j->buf, j->len, j->off)
				     : pread(j->fd, j->buf, j->len, j->off);
	} while (n < 0 && errno == EINTR);
	j->res = n < 0 ? -errno : n;
}

static ssize_t file_io(struct file_job *j, rt_time_t deadline)
{
	struct rt_task *t = current();
	pthread_once(&file_pool_once, file_pool_make);
	if (!file_pool)
		return -ENOMEM;
	for (;;) {
		if (t->cancelled)
			return -ECANCELED;
		int r = rt_workpool_run(file_pool, file_job_run, j, deadline);
		if (r == 0)
			return j->res;
		if (r != -EAGAIN)
			return r;
		/* The queue is full: a moment, then again (within DEADLINE). */
		rt_time_t at = rt_clock_now() + RT_MS;
		if (deadline != RT_NEVER && at > deadline)
			return -ETIMEDOUT;
		if ((r = rt_ep_sleep_until(at)) < 0)
			return r;
	}
}

ssize_t rt_ep_read(int fd, void *buf, size_t len, off_t off, rt_time_t deadline)
{
	struct file_job j = {.fd = fd, .buf = buf, .len = len, .off = off};
	return file_io(&j, deadline);
}

ssize_t rt_ep_write(int fd, const void *buf, size_t len, off_t off, rt_time_t deadline)
{
	struct file_job j = {.fd = fd, .write = true, .buf = (void *)buf, .len = len, .off = off};
	return file_io(&j, deadline);
}

int rt_ep_close(int fd)
{
	struct rt_loop *l = rt_tls_loop;
	struct rt_ep *ep = l ? l->ep : NULL;
	if (ep && fd >= 0 && (size_t)fd < ep->nfds) {
		struct ep_fd *f = &ep->fds[fd];
		/* Waiters of a descriptor being closed end as on a ring, where
		 * the close cancels what is in flight on it. */
		struct rt_op *ops[2] = {f->in, f->out};
		for (int i = 0; i < 2; i++) {
			if (ops[i]) {
				fd_wait_drop(ep, ops[i]);
				queue_done(ep, ops[i], -ECANCELED);
			}
		}
		if (f->added)
			epoll_ctl(ep->epfd, EPOLL_CTL_DEL, fd, NULL);
		*f = (struct ep_fd){0};
	}
	return close(fd) == 0 ? 0 : -errno;
}

int rt_ep_sleep_until(rt_time_t deadline)
{
	struct rt_loop *l = rt_tls_loop;
	struct rt_task *t = current();
	if (t->cancelled)
		return -ECANCELED;
	l->ep->streak = 0;
	struct rt_op op = {.task = t};
	t->timed_out = false;
	/* The heap is the timer: the deadline "cancels" the op, which is how
	 * a sleep ends. */
	rt_dl_arm(l, t,
		  deadline == RT_NEVER ? rt_clock_now() + 3650ull * 24 * 3600 * RT_SEC : deadline);
	t->io_op = &op;
	rt_park();
	t->io_op = NULL;
	rt_dl_disarm(l, t);
	return t->timed_out && !t->cancelled ? 0 : -ECANCELED;
}

/* ---- watches and acceptors --------------------------------------------------------------- */

static void ep_watch_cqe(struct rt_op *op, int res, unsigned flags)
{
	(void)flags;
	struct rt_watch *w = (struct rt_watch *)op;
	rt_tls_loop->nwatches--;
	w->armed = false;
	wh_remove(rt_tls_loop->ep, w);
	if (res == -ECANCELED && !w->cancelled)
		res = -ETIMEDOUT;
	w->cb(w, res);
}

void rt_ep_watch_readable(struct rt_watch *w, int fd, rt_time_t deadline,
			  void (*cb)(struct rt_watch *w, int res))
{
	struct rt_loop *l = rt_tls_loop;
	struct rt_ep *ep = l->ep;
	w->op = (struct rt_op){.on_cqe = ep_watch_cqe};
	w->cb = cb;
	w->armed = true;
	w->cancelled = false;
	w->ep.idx = WH_NONE;
	l->nwatches++;
	int r = fd_wait_add(ep, fd, EP_IN, &w->op);
	if (r < 0) {
		/* Not pollable or bad: answered at once (queued), as a ring's
		 * poll would complete with the error or the readiness. */
		queue_done(ep, &w->op, r == -EPERM ? POLLIN : r);
		return;
	}
	if (deadline != RT_NEVER)
		wh_push(ep, w, deadline);
}

static void acceptor_end(struct rt_acceptor *a, int res)
{
	rt_tls_loop->nwatches--;
	a->armed = false;
	a->cb(a, res, false);
}

static void ep_acceptor_cqe(struct rt_op *op, int res, unsigned flags)
{
	(void)flags;
	struct rt_acceptor *a = (struct rt_acceptor *)op;
	struct rt_ep *ep = rt_tls_loop->ep;
	int lfd = EP_FD(op);
	if (res < 0) {
		acceptor_end(a, res);
		return;
	}
	for (int i = 0; i < EP_ACCEPT_MAX; i++) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0) {
			a->cb(a, c, true);
			if (a->cancelled) {
				/* Cancelled from its callback: end now, as the
				 * ring's cancel would end the multishot. */
				if (!(op->flags & EP_QUEUED))
					queue_done(ep, op, -ECANCELED);
				return;
			}
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN) {
			acceptor_end(a, -errno); /* EMFILE and the like: the caller re-arms */
			return;
		}
		break;
	}
	int r = fd_wait_add(ep, lfd, EP_IN, op);
	if (r < 0)
		acceptor_end(a, r);
}

void rt_ep_accept_multishot(struct rt_acceptor *a, int lfd,
			    void (*cb)(struct rt_acceptor *a, int res, bool more))
{
	struct rt_loop *l = rt_tls_loop;
	a->op = (struct rt_op){.on_cqe = ep_acceptor_cqe};
	a->cb = cb;
	a->armed = true;
	a->cancelled = false;
	l->nwatches++;
	int r = set_nonblock(lfd);
	if (r == 0)
		r = fd_wait_add(l->ep, lfd, EP_IN, &a->op);
	if (r < 0) {
		a->op.flags = (unsigned)lfd << 3;
		queue_done(l->ep, &a->op, r);
	}
}
