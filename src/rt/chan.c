/* chan.c - bounded MPSC channel; wakes a parked consumer via its loop's inbox. */
#include "rt/chan.h"
#include "rt/obj.h"
#include "rt/internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#define RT_CHAN_MAGIC 0x4348414eu

struct rt_chan {
	unsigned magic;
	pthread_mutex_t lock;
	void **items;
	size_t cap, head, len;
	bool closed;
	struct rt_loop *loop;	/* consumer's loop */
	struct rt_task *waiter; /* parked consumer, or NULL */
	bool wake_posted;	/* wake_msg is in the loop's inbox */
	struct rt_msg wake_msg;
};

static void chan_wake(struct rt_msg *m);

struct rt_chan *rt_chan_create(size_t cap)
{
	assert(cap > 0 && rt_tls_loop);
	struct rt_chan *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->items = calloc(cap, sizeof(void *));
	if (!ch->items) {
		free(ch);
		return NULL;
	}
	ch->magic = RT_CHAN_MAGIC;
	ch->cap = cap;
	ch->loop = rt_tls_loop;
	ch->wake_msg.fn = chan_wake;
	pthread_mutex_init(&ch->lock, NULL);
	return ch;
}

void rt_chan_destroy(struct rt_chan **chp)
{
	struct rt_chan *ch = *chp;
	if (!ch)
		return;
	*chp = NULL;
	CHECK_OBJ_NOTNULL(ch, RT_CHAN_MAGIC);
	assert(!ch->waiter && !ch->wake_posted);
	pthread_mutex_destroy(&ch->lock);
	free(ch->items);
	free(ch);
}

/* Runs on the consumer's loop thread. */
static void chan_wake(struct rt_msg *m)
{
	struct rt_chan *ch = (struct rt_chan *)((char *)m - offsetof(struct rt_chan, wake_msg));
	pthread_mutex_lock(&ch->lock);
	struct rt_task *t = ch->waiter;
	ch->waiter = NULL;
	ch->wake_posted = false;
	pthread_mutex_unlock(&ch->lock);
	if (t)
		rt_wake(t, 0);
}

/* Called with the lock held after a state change a consumer waits for. */
static bool need_wake_locked(struct rt_chan *ch)
{
	if (!ch->waiter || ch->wake_posted)
		return false;
	ch->wake_posted = true;
	return true;
}

int rt_chan_send(struct rt_chan *ch, void *item)
{
	CHECK_OBJ_NOTNULL(ch, RT_CHAN_MAGIC);
	pthread_mutex_lock(&ch->lock);
	if (ch->closed) {
		pthread_mutex_unlock(&ch->lock);
		return -EPIPE;
	}
	if (ch->len == ch->cap) {
		pthread_mutex_unlock(&ch->lock);
		return -EAGAIN;
	}
	ch->items[(ch->head + ch->len) % ch->cap] = item;
	ch->len++;
	if (rt_tls_loop == ch->loop && ch->waiter && !ch->wake_posted) {
		/* Same loop: wake the consumer directly, no inbox round trip. */
		struct rt_task *t = ch->waiter;
		ch->waiter = NULL;
		pthread_mutex_unlock(&ch->lock);
		rt_wake(t, 0);
		return 0;
	}
	bool wake = need_wake_locked(ch);
	pthread_mutex_unlock(&ch->lock);
	if (wake)
		rt_loop_post(ch->loop, &ch->wake_msg);
	return 0;
}

void rt_chan_close(struct rt_chan *ch)
{
	CHECK_OBJ_NOTNULL(ch, RT_CHAN_MAGIC);
	pthread_mutex_lock(&ch->lock);
	ch->closed = true;
	bool wake = need_wake_locked(ch);
	pthread_mutex_unlock(&ch->lock);
	if (wake)
		rt_loop_post(ch->loop, &ch->wake_msg);
}

size_t rt_chan_len(struct rt_chan *ch)
{
	CHECK_OBJ_NOTNULL(ch, RT_CHAN_MAGIC);
	pthread_mutex_lock(&ch->lock);
	size_t n = ch->len;
	pthread_mutex_unlock(&ch->lock);
	return n;
}

static bool recv_cancel(void *arg)
{
	struct rt_chan *ch = arg;
	pthread_mutex_lock(&ch->lock);
	/* If a wake is already posted it will run chan_wake later; it finds
	 * waiter NULL and does nothing, so unregistering is always possible. */
	ch->waiter = NULL;
	pthread_mutex_unlock(&ch->lock);
	return true;
}

int rt_chan_recv(struct rt_chan *ch, void **item, rt_time_t deadline)
{
	CHECK_OBJ_NOTNULL(ch, RT_CHAN_MAGIC);
	assert(ch->loop == rt_tls_loop);
	for (;;) {
		pthread_mutex_lock(&ch->lock);
		if (ch->len) {
			*item = ch->items[ch->head];
			ch->head = (ch->head + 1) % ch->cap;
			ch->len--;
			pthread_mutex_unlock(&ch->lock);
			return 0;
		}
		if (ch->closed) {
			pthread_mutex_unlock(&ch->lock);
			return -EPIPE;
		}
		assert(!ch->waiter);
		ch->waiter = rt_task_self();
		pthread_mutex_unlock(&ch->lock);
		int r = rt_wait(deadline, recv_cancel, ch);
		if (r < 0)
			return r;
	}
}
