/*
 * interim.h - an interim (1xx) response head as a proxy forwards it.
 *
 * RFC 9110 15.2: a proxy forwards the 1xx responses it did not ask for
 * itself. What goes to the client is the status line and the end-to-end
 * fields; the hop-by-hop ones (RFC 9110 7.6.1) stay on the backend's
 * connection. Used by a pass (serve/pass.c), which writes the head to its
 * client at once, and by a fetch (serve/fetch.c), which queues it for the
 * client waiting on the miss.
 */
#ifndef RINGCACHE_HTTP_INTERIM_H
#define RINGCACHE_HTTP_INTERIM_H

#include "http/hbuf.h"
#include "http/msg.h"

/* Write interim response M into B as HTTP/1.1. 0, or -1 when B overflowed
 * (then nothing of it should be sent). */
int interim_head_build(struct hbuf *b, const struct hmsg *m);

#endif
