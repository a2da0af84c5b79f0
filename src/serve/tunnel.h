/*
 * tunnel.h - WebSocket tunnels: a client connection that a 101 made a
 * byte stream to a backend connection, both ways, until both sides close.
 *
 * Which requests: a GET in HTTP/1.1 whose Connection lists "upgrade" and
 * whose Upgrade lists "websocket" (http/upgrade.h), on a route that allows
 * it (routes[].websocket, default true; every request without routes). It
 * is passed, never looked up or stored (Cache-Status "fwd=request;
 * detail=upgrade"), with its Upgrade fields and "Connection: upgrade",
 * sent once on a fresh backend connection that is never pooled afterwards
 * (serve/pass.c, backend/exchange.c). Any other Upgrade (h2c, a route
 * with websocket: false, HTTP/1.0, another method) is ignored as RFC
 * 9110 7.8 lets a server: the field is hop-by-hop and removed, and the
 * request is an ordinary one.
 *
 * The 101: it must switch to websocket and nothing else, or it is a 502
 * (and a 101 to a request that asked nothing is one in the exchange
 * already); any other answer is relayed as an ordinary pass. The 101 head
 * goes to the client with Upgrade and "Connection: upgrade" and the
 * access log line is written then (status 101, cache=tunnel): the tunnel
 * itself may last hours.
 *
 * The tunnel: the connection's task relays client -> backend, a second
 * task ("tunnel", in the worker's task group) backend -> client, each with
 * its own buffer of the connection's mapping, so memory is bounded and
 * neither direction waits for the other. Bytes read past the heads (a
 * client's frames sent with the handshake, a server's first frames with
 * the 101) go first. A side that closes has the other side's write half
 * shut down (half-close), and the tunnel ends when both have closed; a
 * reset or a failed send (timeouts.send) ends it at once with both
 * connections reset, and timeouts.tunnel without a byte either way with
 * both closed. A drain leaves tunnels open until its
 * deadline (they are busy connections); the force step cancels both
 * tasks. The connection is one of limits.max_connections throughout.
 *
 * Counted: tunnels_opened, tunnel_client_bytes, tunnel_backend_bytes (and
 * the client and backend byte counters), the gauge tunnels_open, and the
 * close reasons tunnel_closed, tunnel_idle (draining at a forced drain,
 * send_failed when the client stops reading).
 */
#ifndef RINGCACHE_SERVE_TUNNEL_H
#define RINGCACHE_SERVE_TUNNEL_H

#include <stdbool.h>

#include "serve/req.h"

/* Does R (its head checked and routed) ask for a tunnel that ringcache
 * makes? */
bool tunnel_asked(const struct req *r);

/* Does the 101 in R->resp switch to the protocol R asked for? */
bool tunnel_101_ok(const struct req *r);

/*
 * After REQ_TUNNEL (the 101 sent, r->tunnel holding the backend
 * connection): relay until the tunnel ends, then close the backend
 * connection. Returns REQ_CLOSE, or REQ_ABORT when the client connection
 * should be reset (a side broke off, or a send to the client failed);
 * r->close says why.
 */
enum req_result tunnel_run(struct req *r);

#endif
