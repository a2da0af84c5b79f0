/* Unit tests of interim_head_build (src/http/interim.c): a 1xx response
 * head as a proxy forwards it (RFC 9110 15.2). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http/hbuf.h"
#include "http/interim.h"
#include "http/msg.h"

static struct hfield fields[32];
static char buf[4096];
static struct hmsg m;
static char out[4096];

/* Parse the interim response RESP (a whole head). */
static void parse(const char *resp)
{
	snprintf(buf, sizeof(buf), "%s", resp);
	hmsg_init(&m, HMSG_RESPONSE, fields, 32, sizeof(buf));
	hmsg_next(&m, buf, 0);
	cr_assert_gt(hmsg_feed(&m, 0, (uint32_t)strlen(buf)), 0, "%s", m.error ? m.error : "");
	cr_assert(m.headers_done);
	cr_assert_lt(hmsg_status(&m), 200);
}

static int build(size_t cap, size_t *len)
{
	struct hbuf b;
	hbuf_init(&b, out, cap);
	int r = interim_head_build(&b, &m);
	*len = b.len;
	return r;
}

Test(http_interim, early_hints_keep_their_end_to_end_fields)
{
	parse("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n"
	      "Link: </app.js>; rel=preload\r\nX-My-Header: hint\r\n\r\n");
	size_t n;
	cr_assert_eq(build(sizeof(out), &n), 0);
	static const char want[] = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n"
				   "Link: </app.js>; rel=preload\r\nX-My-Header: hint\r\n\r\n";
	cr_assert_eq(n, strlen(want));
	cr_assert_eq(memcmp(out, want, n), 0, "%.*s", (int)n, out);
}

Test(http_interim, hop_by_hop_fields_stay_behind)
{
	/* Connection, what it names and the fixed connection-specific fields
	 * are the backend connection's (RFC 9110 7.6.1). */
	parse("HTTP/1.1 102 Processing\r\nConnection: x-hop, keep-alive\r\nX-Hop: 1\r\n"
	      "Keep-Alive: timeout=5\r\nX-Kept: 2\r\n\r\n");
	size_t n;
	cr_assert_eq(build(sizeof(out), &n), 0);
	static const char want[] = "HTTP/1.1 102 Processing\r\nX-Kept: 2\r\n\r\n";
	cr_assert_eq(n, strlen(want));
	cr_assert_eq(memcmp(out, want, n), 0, "%.*s", (int)n, out);
}

Test(http_interim, an_http10_status_line_goes_out_as_http11_and_an_empty_reason_stays_empty)
{
	parse("HTTP/1.0 103 \r\nLink: </a>\r\n\r\n");
	size_t n;
	cr_assert_eq(build(sizeof(out), &n), 0);
	static const char want[] = "HTTP/1.1 103 \r\nLink: </a>\r\n\r\n";
	cr_assert_eq(n, strlen(want));
	cr_assert_eq(memcmp(out, want, n), 0, "%.*s", (int)n, out);
}

Test(http_interim, a_head_that_does_not_fit_is_an_error)
{
	parse("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n");
	size_t n, full;
	cr_assert_eq(build(sizeof(out), &full), 0);
	cr_assert_eq(build(full - 1, &n), -1, "a cut head would be sent");
	cr_assert_eq(build(full, &n), 0);
}
