/*
 * chan.h - bounded multi-producer, single-consumer channel of pointers.
 *
 * The consumer is a task on the loop that created the channel; producers
 * may be any thread (other loops, worker threads). Sending never blocks:
 * a full channel answers -EAGAIN, which is the backpressure signal (the
 * compression path serves identity encoding instead of queueing without
 * bound). A producer that finds the consumer parked wakes its loop through
 * the loop's inbox (eventfd), so a parked consumer costs nothing.
 *
 * The mutex is held only to move a pointer in or out, never across an
 * await.
 */
#ifndef RINGCACHE_RT_CHAN_H
#define RINGCACHE_RT_CHAN_H

#include <stdbool.h>
#include <stddef.h>

#include "rt/clock.h"

struct rt_chan;

/* Create on the consumer's loop (the current one). CAP > 0. */
struct rt_chan *rt_chan_create(size_t cap);
/* Destroy; the caller guarantees no producer or consumer uses it any more.
 * Items still queued are not freed. NULLs *chp. */
void rt_chan_destroy(struct rt_chan **chp);

/* Any thread. 0, -EAGAIN when full, -EPIPE once closed. */
int rt_chan_send(struct rt_chan *ch, void *item);
/* Consumer task only. 0 with *item set; -EPIPE when closed and empty;
 * -ETIMEDOUT; -ECANCELED. */
int rt_chan_recv(struct rt_chan *ch, void **item, rt_time_t deadline);
/* Any thread: later sends fail, the consumer drains what is left. */
void rt_chan_close(struct rt_chan *ch);
size_t rt_chan_len(struct rt_chan *ch);

#endif
