/* Unit tests of src/http/upgrade.c: does a request ask for an upgrade, and
 * does a 101 switch to what it asked for; and of what the parser leaves
 * after an upgrade's heads (the first bytes of the tunnel). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http/msg.h"
#include "http/upgrade.h"

static struct hfield fields[32];
static char buf[4096];
static struct hmsg m;
static uint32_t used;

static void parse_kind(enum hmsg_kind kind, const char *text)
{
	size_t len = strlen(text);
	cr_assert_lt(len, sizeof(buf));
	memcpy(buf, text, len);
	hmsg_init(&m, kind, fields, 32, 4096);
	hmsg_next(&m, buf, 0);
	long n = hmsg_feed(&m, 0, (uint32_t)len);
	cr_assert_geq(n, 0, "%s: %s", text, m.error ? m.error : "");
	cr_assert(m.headers_done, "%s", text);
	used = (uint32_t)n;
}

static void req(const char *head_fields)
{
	char text[2048];
	snprintf(text, sizeof(text), "GET /chat HTTP/1.1\r\nHost: a\r\n%s\r\n", head_fields);
	parse_kind(HMSG_REQUEST, text);
}

static void resp101(const char *head_fields)
{
	char text[2048];
	snprintf(text, sizeof(text), "HTTP/1.1 101 Switching Protocols\r\n%s\r\n", head_fields);
	parse_kind(HMSG_RESPONSE, text);
}

Test(http_upgrade, websocket_handshake_asks)
{
	req("Connection: Upgrade\r\nUpgrade: websocket\r\n");
	cr_assert(upgrade_asked(&m));
	cr_assert(upgrade_asks_for(&m, "websocket"));
	cr_assert_not(upgrade_asks_for(&m, "h2c"));
}

Test(http_upgrade, tokens_in_any_case_anywhere_in_lists_and_lines)
{
	req("Connection: keep-alive\r\nconnection: x-other,  UPGRADE \r\n"
	    "upgrade: h2c, WebSocket\r\n");
	cr_assert(upgrade_asks_for(&m, "websocket"));
	cr_assert(upgrade_asks_for(&m, "h2c"));
	req("Connection: keep-alive,upgrade\r\nUpgrade: foo/2, websocket/13\r\n");
	cr_assert(upgrade_asks_for(&m, "websocket"), "a version does not change the name");
	req("Connection: upgrade\r\nUpgrade: ,, websocket ,\r\n");
	cr_assert(upgrade_asks_for(&m, "websocket"), "empty list elements are skipped");
}

Test(http_upgrade, both_fields_are_needed)
{
	req("Upgrade: websocket\r\n");
	cr_assert_not(upgrade_asked(&m), "no Connection: upgrade");
	req("Connection: Upgrade\r\n");
	cr_assert_not(upgrade_asked(&m), "no Upgrade field");
	req("Connection: upgraded\r\nUpgrade: websocket\r\n");
	cr_assert_not(upgrade_asked(&m), "a token is whole, not a prefix");
	req("Connection: x-upgrade\r\nUpgrade: websocket\r\n");
	cr_assert_not(upgrade_asked(&m));
	req("Connection: Upgrade\r\nUpgrade: websockets\r\n");
	cr_assert(upgrade_asked(&m));
	cr_assert_not(upgrade_asks_for(&m, "websocket"));
	req("Connection: Upgrade\r\nX-Upgrade: websocket\r\nUpgrade: h2c\r\n");
	cr_assert_not(upgrade_asks_for(&m, "websocket"), "another field's value");
}

Test(http_upgrade, http_1_0_never_asks)
{
	parse_kind(HMSG_REQUEST, "GET /chat HTTP/1.0\r\nHost: a\r\nConnection: Upgrade\r\n"
				 "Upgrade: websocket\r\n\r\n");
	cr_assert_not(upgrade_asked(&m));
	cr_assert_not(upgrade_asks_for(&m, "websocket"));
}

Test(http_upgrade, a_101_switches_to_one_protocol)
{
	resp101("Upgrade: websocket\r\nConnection: Upgrade\r\n");
	cr_assert(upgrade_switches_to(&m, "websocket"));
	resp101("Upgrade: WebSocket\r\n");
	cr_assert(upgrade_switches_to(&m, "websocket"), "any case; Connection is not needed");
	resp101("Upgrade: h2c\r\nConnection: Upgrade\r\n");
	cr_assert_not(upgrade_switches_to(&m, "websocket"));
	resp101("Connection: Upgrade\r\n");
	cr_assert_not(upgrade_switches_to(&m, "websocket"),
		      "no Upgrade: switches to nothing known");
	resp101("Upgrade: websocket, h2c\r\n");
	cr_assert_not(upgrade_switches_to(&m, "websocket"), "two protocols at once");
	resp101("Upgrade: websocket\r\nUpgrade: h2c\r\n");
	cr_assert_not(upgrade_switches_to(&m, "websocket"), "two protocols over two lines");
}

Test(http_upgrade, the_parser_stops_at_the_heads)
{
	/* A client's frame sent with the handshake, a server's with the 101:
	 * both stay in the buffer past what the parser used. */
	parse_kind(HMSG_REQUEST, "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
				 "Upgrade: websocket\r\n\r\n\x81\x85XXXXframe");
	cr_assert(m.msg_done);
	cr_assert_eq(strlen(buf) - used, 11);
	cr_assert_eq(memcmp(buf + used, "\x81\x85XXXX", 6), 0);
	parse_kind(HMSG_RESPONSE, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				  "Connection: Upgrade\r\n\r\n\x81\x05hello");
	cr_assert(m.msg_done);
	cr_assert_eq(hmsg_status(&m), 101);
	cr_assert_eq(strlen(buf) - used, 7);
	cr_assert_eq(memcmp(buf + used, "\x81\x05hello", 7), 0);
}
