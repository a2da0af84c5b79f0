/* Unit tests of src/serve/tunnel.c's two decisions: does a request open a
 * tunnel (the method, the protocol, its route), and does a 101 switch to
 * what it asked for. The relay itself is exercised over real sockets in
 * tests/scenario/route_websocket.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "http/msg.h"
#include "serve/tunnel.h"

static struct hfield req_fields[32], resp_fields[32];
static char req_buf[4096], resp_buf[4096];
static struct req r;
static struct config_route ws_on = {.websocket = true}, ws_off = {.websocket = false};

static void parse_into(struct hmsg *m, enum hmsg_kind kind, struct hfield *fields, char *buf,
		       const char *text)
{
	size_t len = strlen(text);
	cr_assert_lt(len, 4096);
	memcpy(buf, text, len);
	hmsg_init(m, kind, fields, 32, 4096);
	hmsg_next(m, buf, 0);
	long n = hmsg_feed(m, 0, (uint32_t)len);
	cr_assert_geq(n, 0, "%s: %s", text, m->error ? m->error : "");
	cr_assert(m->headers_done, "%s", text);
}

/* R holds the request line LINE with FIELDS, not routed. */
static void request(const char *line, const char *fields)
{
	char text[2048];
	snprintf(text, sizeof(text), "%s\r\nHost: a\r\n%s\r\n", line, fields);
	memset(&r, 0, sizeof(r));
	parse_into(&r.req, HMSG_REQUEST, req_fields, req_buf, text);
}

static void response(const char *text)
{
	parse_into(&r.resp, HMSG_RESPONSE, resp_fields, resp_buf, text);
}

#define HANDSHAKE "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"

Test(serve_tunnel, a_websocket_get_asks)
{
	request("GET /ws HTTP/1.1", HANDSHAKE);
	cr_assert(tunnel_asked(&r));
	request("GET /ws HTTP/1.1",
		"Connection: keep-alive, upgrade\r\nUpgrade: h2c, WebSocket\r\n");
	cr_assert(tunnel_asked(&r), "websocket among other protocols");
}

Test(serve_tunnel, other_methods_versions_and_protocols_do_not)
{
	request("POST /ws HTTP/1.1", HANDSHAKE "Content-Length: 0\r\n");
	cr_assert_not(tunnel_asked(&r), "POST");
	request("HEAD /ws HTTP/1.1", HANDSHAKE);
	cr_assert_not(tunnel_asked(&r), "HEAD");
	request("GET /ws HTTP/1.0", HANDSHAKE);
	cr_assert_not(tunnel_asked(&r), "HTTP/1.0");
	request("GET /ws HTTP/1.1", "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
				    "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n");
	cr_assert_not(tunnel_asked(&r), "h2c");
	request("GET /ws HTTP/1.1", "Upgrade: websocket\r\n");
	cr_assert_not(tunnel_asked(&r), "no Connection: upgrade");
	request("GET /ws HTTP/1.1", "Connection: upgrade\r\n");
	cr_assert_not(tunnel_asked(&r), "no Upgrade");
}

Test(serve_tunnel, the_route_decides)
{
	request("GET /ws HTTP/1.1", HANDSHAKE);
	r.route.active = true;
	r.route.route = &ws_off;
	cr_assert_not(tunnel_asked(&r), "a route with websocket: false");
	r.route.route = &ws_on;
	cr_assert(tunnel_asked(&r), "a route with websocket: true");
	r.route.route = NULL;
	cr_assert(tunnel_asked(&r), "the default route (no route matched)");
	r.route.active = false;
	r.route.route = &ws_off;
	cr_assert(tunnel_asked(&r), "routing did not run: no route applies");
}

Test(serve_tunnel, a_101_must_switch_to_websocket_for_a_request_that_asked)
{
	request("GET /ws HTTP/1.1", HANDSHAKE);
	r.upgrade = true;
	response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\n\r\n");
	cr_assert(tunnel_101_ok(&r));
	response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
	cr_assert_not(tunnel_101_ok(&r), "another protocol");
	response("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n");
	cr_assert_not(tunnel_101_ok(&r), "no protocol");
	response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket, h2c\r\n\r\n");
	cr_assert_not(tunnel_101_ok(&r), "two protocols");
	/* A request that was not let through as an upgrade opens nothing,
	 * whatever the 101 says. */
	r.upgrade = false;
	response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\n\r\n");
	cr_assert_not(tunnel_101_ok(&r));
}
