/*
 * The test origin's WebSocket side on its own, no daemon in between.
 *
 * The WebSocket tunnel scenarios trust both ends: that ringcache-origin
 * answers upgrades and echoes frames as docs/origin.md says, and that the
 * harness's client (lib/ws.h) frames, masks and checks correctly. These
 * tests check the two against each other (and the accept key against
 * RFC 6455's own example), so a tunnel test failure can be blamed on the
 * proxy.
 */
#include "harness.h"
#include "ws.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

TestSuite(origin_ws, .fini = harness_fini, .timeout = 30);

/* The origin's count of 101s sent. */
static long long origin_upgrades(int port)
{
	struct response r;
	http_get_once(port, "/__stats?upgrades", &r);
	cr_assert_eq(r.status, 200);
	long long n = json_number(r.body, "upgrades", -1);
	response_free(&r);
	return n;
}

/* N bytes of every byte value, for binary messages. */
static char *bytes_make(size_t n)
{
	char *p = malloc(n + 1);
	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * 7 + i / 251);
	p[n] = '\0';
	return p;
}

Test(origin_ws, accept_key_is_rfc6455s_example)
{
	char accept[WS_ACCEPT_LEN + 1];
	ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", accept);
	cr_assert_str_eq(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

Test(origin_ws, handshake_answers_101_and_is_counted)
{
	struct proc o;
	struct conn c;
	struct response r;
	char port[16];
	start_origin(&o);
	conn_open(&c, o.port);
	ws_handshake(&c, "/chat?room=1", NULL, &r);
	snprintf(port, sizeof(port), "%d", o.port);
	cr_assert_str_eq(resp_header(&r, "X-Origin-Port") ?: "(none)", port);
	cr_assert_null(resp_header(&r, "Content-Length"), "head: %s", r.raw_head);
	cr_assert_null(resp_header(&r, "Transfer-Encoding"), "head: %s", r.raw_head);
	response_free(&r);
	cr_assert_eq(conn_pending(&c), 0);
	ws_expect_echo(&c, WS_TEXT, "hi", 2, 1);

	cr_assert_eq(origin_requests(o.port, "/chat?room=1"), 1);
	cr_assert_eq(origin_requests(o.port, NULL), 1);
	cr_assert_eq(origin_upgrades(o.port), 1);
	ws_close_handshake(&c, 1000, NULL);
	conn_close(&c);
}

Test(origin_ws, messages_of_every_length_encoding_echo)
{
	/* 7-bit lengths up to 125, 16-bit from 126 to 65535, 64-bit beyond. */
	static const size_t sizes[] = {0, 1, 125, 126, 127, 1000, 65535, 65536, 70000};
	struct proc o;
	struct conn c;
	start_origin(&o);
	ws_open(&c, o.port, "/ws");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *bin = bytes_make(sizes[i]);
		char *text = pattern_make(sizes[i]);
		ws_expect_echo(&c, WS_BINARY, bin, sizes[i], 1);
		ws_expect_echo(&c, WS_TEXT, text, sizes[i], 1);
		free(bin);
		free(text);
	}
	const char *utf8 = "gr\xc3\xbc\xc3\x9f"
			   "e, \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x8c\x8d";
	ws_expect_echo(&c, WS_TEXT, utf8, strlen(utf8), 1);
	/* Many small ones back to back, each answered in turn. */
	for (int i = 0; i < 100; i++) {
		char m[32];
		int n = snprintf(m, sizeof(m), "message %d", i);
		ws_expect_echo(&c, i % 2 ? WS_TEXT : WS_BINARY, m, (size_t)n, 1);
	}
	ws_close_handshake(&c, 1000, "done");
	conn_close(&c);
}

Test(origin_ws, fragmented_messages_echo_as_one_frame)
{
	struct proc o;
	struct conn c;
	start_origin(&o);
	ws_open(&c, o.port, "/frag");
	char *text = pattern_make(1000);
	char *bin = bytes_make(70000);
	ws_expect_echo(&c, WS_TEXT, text, 1000, 5);
	ws_expect_echo(&c, WS_BINARY, bin, 70000, 3);
	/* A UTF-8 character split between two fragments is still text. */
	ws_expect_echo(&c, WS_TEXT, "\xe4\xb8\x96", 3, 2);
	/* Empty fragments are fragments too. */
	ws_expect_echo(&c, WS_BINARY, "ab", 2, 4);

	/* A control frame between fragments is answered at once; the
	 * message is echoed when its last fragment came. */
	cr_assert_eq(ws_send_raw(&c, WS_TEXT, 1, "first ", 6), 0);
	cr_assert_eq(ws_send_frame(&c, WS_PING, "between", 7), 0);
	cr_assert_eq(ws_send_raw(&c, WS_CONT, 1, "second ", 7), 0);
	cr_assert_eq(ws_send_raw(&c, WS_FIN | WS_CONT, 1, "last", 4), 0);
	ws_expect_frame(&c, WS_PONG, "between", 7);
	ws_expect_frame(&c, WS_TEXT, "first second last", 17);
	free(text);
	free(bin);
	ws_close_handshake(&c, 1000, NULL);
	conn_close(&c);
}

Test(origin_ws, ping_gets_pong_and_pong_gets_nothing)
{
	struct proc o;
	struct conn c;
	start_origin(&o);
	ws_open(&c, o.port, "/ping");
	char *p125 = pattern_make(125);
	cr_assert_eq(ws_send_frame(&c, WS_PING, "hello", 5), 0);
	ws_expect_frame(&c, WS_PONG, "hello", 5);
	cr_assert_eq(ws_send_frame(&c, WS_PING, NULL, 0), 0);
	ws_expect_frame(&c, WS_PONG, NULL, 0);
	cr_assert_eq(ws_send_frame(&c, WS_PING, p125, 125), 0);
	ws_expect_frame(&c, WS_PONG, p125, 125);
	/* An unsolicited pong is no message: the next frame is the echo. */
	cr_assert_eq(ws_send_frame(&c, WS_PONG, "unasked", 7), 0);
	ws_expect_echo(&c, WS_TEXT, "after", 5, 1);
	free(p125);
	ws_close_handshake(&c, 1000, NULL);
	conn_close(&c);
}

Test(origin_ws, close_is_echoed_and_the_origin_closes)
{
	struct proc o;
	struct conn c;
	start_origin(&o);
	ws_open(&c, o.port, "/c1");
	ws_close_handshake(&c, 1000, "bye");
	conn_close(&c);

	ws_open(&c, o.port, "/c2");
	ws_close_handshake(&c, 4001, "application code");
	conn_close(&c);

	/* An empty close gets an empty close. */
	ws_open(&c, o.port, "/c3");
	cr_assert_eq(ws_send_close(&c, -1, NULL), 0);
	struct ws_frame f;
	cr_assert_eq(ws_read_frame(&c, &f, -1), WS_READ_OK, "%s", f.error);
	cr_assert_eq(f.opcode, WS_CLOSE);
	cr_assert_eq(f.len, 0);
	ws_frame_free(&f);
	cr_assert(conn_wait_closed(&c, 3000));
	conn_close(&c);
}

Test(origin_ws, frames_sent_with_the_handshake_are_answered)
{
	struct proc o;
	struct conn c;
	struct response r;
	char key[WS_KEY_LEN + 1];
	int on = 1, off = 0;
	start_origin(&o);
	conn_open(&c, o.port);
	ws_make_key(key);
	/* Corked: the request and the frames leave in one segment, so the
	 * origin reads them in one go and must keep the frames. */
	cr_assert_eq(setsockopt(c.fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)), 0);
	cr_assert_eq(ws_send_upgrade(&c, "/early", key, NULL), 0);
	cr_assert_eq(ws_send_text(&c, "early one"), 0);
	cr_assert_eq(ws_send_frame(&c, WS_PING, "p", 1), 0);
	cr_assert_eq(setsockopt(c.fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off)), 0);
	read_response(&c, &r, 0);
	const char *why = ws_check_101(&r, key);
	cr_assert_null(why, "%s", why);
	response_free(&r);
	ws_expect_frame(&c, WS_TEXT, "early one", 9);
	ws_expect_frame(&c, WS_PONG, "p", 1);
	ws_close_handshake(&c, 1000, NULL);
	conn_close(&c);
}

Test(origin_ws, connection_and_upgrade_tokens_in_any_case_and_lists)
{
	struct proc o;
	struct conn c;
	struct response r;
	char key[WS_KEY_LEN + 1];
	start_origin(&o);
	conn_open(&c, o.port);
	ws_make_key(key);
	cr_assert_eq(conn_sendf(&c,
				"GET /tokens HTTP/1.1\r\nHost: h\r\n"
				"Connection: keep-alive\r\nconnection: x-other,  UPGRADE \r\n"
				"upgrade: h2c, WebSocket\r\nsec-websocket-version: 13\r\n"
				"SEC-WEBSOCKET-KEY: %s\r\n\r\n",
				key),
		     0);
	read_response(&c, &r, 0);
	const char *why = ws_check_101(&r, key);
	cr_assert_null(why, "%s", why);
	response_free(&r);
	ws_expect_echo(&c, WS_BINARY, "x", 1, 1);
	conn_close(&c);
}

/* A request that must be refused with STATUS, after which the origin closes. */
struct bad_case {
	const char *what;
	const char *request;
	int status;
};

Test(origin_ws, bad_handshakes_are_refused)
{
	static const struct bad_case cases[] = {
	    {"no key",
	     "GET /b HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Version: 13\r\n\r\n",
	     400},
	    {"a key of 15 bytes",
	     "GET /b HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n\r\n",
	     400},
	    {"a key that is no base64",
	     "GET /b HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n\r\n",
	     400},
	    {"two keys",
	     "GET /b HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	     400},
	    {"no version",
	     "GET /b HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	     400},
	    {"no Connection: upgrade",
	     "GET /b HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	     400},
	    {"a key without Upgrade",
	     "GET /b HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	     400},
	    {"POST",
	     "POST /b HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	     "Content-Length: 0\r\n\r\n",
	     400},
	    {"HTTP/1.0",
	     "GET /b HTTP/1.0\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	     400},
	    {"version 8",
	     "GET /b HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	     "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
	     426},
	};
	struct proc o;
	start_origin(&o);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *k = &cases[i];
		struct conn c;
		struct response r;
		conn_open(&c, o.port);
		cr_assert_eq(conn_send_str(&c, k->request), 0);
		cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s: %s", k->what, r.error);
		cr_assert_eq(r.status, k->status, "%s: %s", k->what, r.raw_head);
		cr_assert(r.complete, "%s: %s", k->what, r.error);
		cr_assert_null(resp_header(&r, "Sec-WebSocket-Accept"), "%s", k->what);
		cr_assert(resp_header_has_token(&r, "Connection", "close"), "%s: %s", k->what,
			  r.raw_head);
		cr_assert_not_null(strstr(r.body, "WebSocket handshake"), "%s: %s", k->what,
				   r.body);
		if (k->status == 426) {
			cr_assert_str_eq(resp_header(&r, "Sec-WebSocket-Version") ?: "(none)",
					 "13");
			cr_assert(resp_header_has_token(&r, "Upgrade", "websocket"), "%s",
				  r.raw_head);
		}
		response_free(&r);
		cr_assert(conn_wait_closed(&c, 3000), "%s: the connection stayed open", k->what);
		conn_close(&c);
	}
	cr_assert_eq(origin_upgrades(o.port), 0);
	cr_assert_eq(origin_requests(o.port, "/b"), (long)(sizeof(cases) / sizeof(cases[0])));
}

/* One frame that breaks RFC 6455, and the close code it must get. */
struct proto_case {
	const char *what;
	unsigned b0;
	int masked;
	const char *payload;
	size_t len;
	int code;
};

Test(origin_ws, protocol_errors_close_with_their_codes)
{
	static const char p126[126] = {0};
	static const struct proto_case cases[] = {
	    {"an unmasked frame", WS_FIN | WS_TEXT, 0, "hi", 2, 1002},
	    {"an RSV bit", WS_FIN | WS_RSV1 | WS_TEXT, 1, "hi", 2, 1002},
	    {"opcode 0x3", WS_FIN | 0x3, 1, "hi", 2, 1002},
	    {"opcode 0xb", WS_FIN | 0xb, 1, "", 0, 1002},
	    {"a continuation without a message", WS_FIN | WS_CONT, 1, "hi", 2, 1002},
	    {"a ping of 126 bytes", WS_FIN | WS_PING, 1, p126, 126, 1002},
	    {"a fragmented ping", WS_PING, 1, "hi", 2, 1002},
	    {"a close of one byte", WS_FIN | WS_CLOSE, 1, "\x03", 1, 1002},
	    {"close code 1005", WS_FIN | WS_CLOSE, 1, "\x03\xed", 2, 1002},
	    {"close code 999", WS_FIN | WS_CLOSE, 1, "\x03\xe7", 2, 1002},
	    {"text that is no UTF-8", WS_FIN | WS_TEXT, 1, "a\xc3\x28", 3, 1007},
	    {"an encoded surrogate", WS_FIN | WS_TEXT, 1, "\xed\xa0\x80", 3, 1007},
	    {"an overlong encoding", WS_FIN | WS_TEXT, 1, "\xc0\xaf", 2, 1007},
	    {"a close reason that is no UTF-8", WS_FIN | WS_CLOSE, 1, "\x03\xe8\xff", 3, 1007},
	};
	struct proc o;
	start_origin(&o);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct proto_case *k = &cases[i];
		struct conn c;
		struct ws_frame f;
		ws_open(&c, o.port, "/proto");
		cr_assert_eq(ws_send_raw(&c, k->b0, k->masked, k->payload, k->len), 0, "%s",
			     k->what);
		cr_assert_eq(ws_read_frame(&c, &f, -1), WS_READ_OK, "%s: %s", k->what, f.error);
		cr_assert_eq(f.opcode, WS_CLOSE, "%s: a %s frame", k->what,
			     ws_opcode_name(f.opcode));
		cr_assert_eq(ws_close_code(&f), k->code, "%s: close code %d (%s)", k->what,
			     ws_close_code(&f), excerpt(f.payload, f.len));
		ws_frame_free(&f);
		cr_assert(conn_wait_closed(&c, 3000), "%s: the connection stayed open", k->what);
		conn_close(&c);
	}

	/* A new message inside a fragmented one. */
	struct conn c;
	ws_open(&c, o.port, "/proto");
	cr_assert_eq(ws_send_raw(&c, WS_TEXT, 1, "one", 3), 0);
	cr_assert_eq(ws_send_raw(&c, WS_FIN | WS_TEXT, 1, "two", 3), 0);
	ws_expect_close(&c, 1002);
	cr_assert(conn_wait_closed(&c, 3000));
	conn_close(&c);
}

Test(origin_ws, force101_switches_a_plain_request)
{
	struct proc o;
	struct conn c;
	struct response r;
	start_origin(&o);
	conn_open(&c, o.port);
	http_req(&c, "GET", "/plain?force101=1", NULL, &r);
	cr_assert_eq(r.status, 101, "head: %s", r.raw_head);
	cr_assert(resp_header_has_token(&r, "Upgrade", "websocket"), "head: %s", r.raw_head);
	cr_assert(resp_header_has_token(&r, "Connection", "upgrade"), "head: %s", r.raw_head);
	/* Nobody sent a key, so there is nothing to accept. */
	cr_assert_null(resp_header(&r, "Sec-WebSocket-Accept"), "head: %s", r.raw_head);
	response_free(&r);
	ws_expect_echo(&c, WS_TEXT, "unasked tunnel", 14, 1);
	ws_close_handshake(&c, 1000, NULL);
	conn_close(&c);
	cr_assert_eq(origin_upgrades(o.port), 1);
	cr_assert_eq(origin_requests(o.port, "/plain?force101=1"), 1);
}

Test(origin_ws, ws_close_after_closes_after_n_messages)
{
	struct proc o;
	struct conn c;
	start_origin(&o);
	ws_open(&c, o.port, "/n?ws_close_after=2");
	ws_expect_echo(&c, WS_TEXT, "one", 3, 1);
	/* Pings are no messages. */
	cr_assert_eq(ws_send_frame(&c, WS_PING, "p", 1), 0);
	ws_expect_frame(&c, WS_PONG, "p", 1);
	ws_expect_echo(&c, WS_BINARY, "two", 3, 2);
	ws_expect_close(&c, 1000);
	cr_assert_eq(ws_send_close(&c, 1000, NULL), 0);
	cr_assert(conn_wait_closed(&c, 3000));
	conn_close(&c);

	/* 0: the close follows the 101 at once. */
	ws_open(&c, o.port, "/n?ws_close_after=0");
	ws_expect_close(&c, 1000);
	cr_assert(conn_wait_closed(&c, 3000));
	conn_close(&c);
}

Test(origin_ws, ws_silent_accepts_and_never_answers)
{
	struct proc o;
	struct conn c;
	struct ws_frame f;
	start_origin(&o);
	ws_open(&c, o.port, "/s?ws_silent=1");
	cr_assert_eq(ws_send_text(&c, "anyone?"), 0);
	cr_assert_eq(ws_send_frame(&c, WS_PING, "p", 1), 0);
	cr_assert_eq(ws_send_close(&c, 1000, NULL), 0);
	cr_assert_eq(ws_read_frame(&c, &f, 700), WS_READ_TIMEOUT, "%s", f.error);
	ws_frame_free(&f);
	cr_assert_eq(conn_pending(&c), 0);
	cr_assert_not(c.eof || c.reset, "the silent origin closed");
	conn_close(&c);
	cr_assert_eq(origin_upgrades(o.port), 1);
}

Test(origin_ws, ws_ignore_answers_plain_http)
{
	struct proc o;
	struct conn c;
	struct response r;
	char key[WS_KEY_LEN + 1];
	start_origin(&o);
	conn_open(&c, o.port);
	ws_make_key(key);
	cr_assert_eq(ws_send_upgrade(&c, "/i?ws_ignore=1&size=5", key, NULL), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "head: %s", r.raw_head);
	cr_assert_str_eq(r.body, "01234");
	cr_assert_null(resp_header(&r, "Sec-WebSocket-Accept"));
	response_free(&r);
	conn_close(&c);
	cr_assert_eq(origin_upgrades(o.port), 0);
}

Test(origin_ws, delay_and_hdr_apply_to_the_101)
{
	struct proc o;
	struct conn c;
	struct response r;
	start_origin(&o);
	conn_open(&c, o.port);
	double t0 = now_s();
	ws_handshake(&c, "/d?delay=300&hdr=Sec-WebSocket-Protocol:chat", NULL, &r);
	cr_assert(now_s() - t0 >= 0.29);
	cr_assert_str_eq(resp_header(&r, "Sec-WebSocket-Protocol") ?: "(none)", "chat");
	response_free(&r);
	ws_expect_echo(&c, WS_TEXT, "late", 4, 1);
	conn_close(&c);
}

Test(origin_ws, bad_parameter_is_a_400_not_a_101)
{
	struct proc o;
	struct conn c;
	struct response r;
	char key[WS_KEY_LEN + 1];
	start_origin(&o);
	conn_open(&c, o.port);
	ws_make_key(key);
	cr_assert_eq(ws_send_upgrade(&c, "/p?ws_close_after=x", key, NULL), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 400, "head: %s", r.raw_head);
	cr_assert_not_null(strstr(r.body, "ws_close_after"), "%s", r.body);
	response_free(&r);
	conn_close(&c);
}
