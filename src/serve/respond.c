/* respond.c - error responses ringcache makes itself. */
#include "serve/respond.h"
#include "serve/record.h"
#include "rt/obj.h"

#include <errno.h>
#include <llhttp.h>
#include <stdio.h>

#include "backend/gen.h"
#include "http/hbuf.h"
#include "ops/log.h"
#include "rt/io.h"
#include "serve/rules.h"

const char *respond_reason(int status)
{
	/* RFC 9110 15: the reason phrases of the codes a configuration may
	 * use; others get their class's word (a reason phrase is advisory). */
	static const struct {
		int status;
		const char *reason;
	} reasons[] = {
	    {200, "OK"},
	    {201, "Created"},
	    {202, "Accepted"},
	    {203, "Non-Authoritative Information"},
	    {204, "No Content"},
	    {205, "Reset Content"},
	    {300, "Multiple Choices"},
	    {301, "Moved Permanently"},
	    {302, "Found"},
	    {303, "See Other"},
	    {307, "Temporary Redirect"},
	    {308, "Permanent Redirect"},
	    {400, "Bad Request"},
	    {401, "Unauthorized"},
	    {402, "Payment Required"},
	    {403, "Forbidden"},
	    {404, "Not Found"},
	    {405, "Method Not Allowed"},
	    {406, "Not Acceptable"},
	    {408, "Request Timeout"},
	    {409, "Conflict"},
	    {410, "Gone"},
	    {413, "Content Too Large"},
	    {414, "URI Too Long"},
	    {415, "Unsupported Media Type"},
	    {418, "I'm a teapot"},
	    {421, "Misdirected Request"},
	    {426, "Upgrade Required"},
	    {429, "Too Many Requests"},
	    {431, "Request Header Fields Too Large"},
	    {451, "Unavailable For Legal Reasons"},
	    {500, "Internal Server Error"},
	    {501, "Not Implemented"},
	    {502, "Bad Gateway"},
	    {503, "Service Unavailable"},
	    {504, "Gateway Timeout"},
	    {505, "HTTP Version Not Supported"},
	};
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (reasons[i].status == status)
			return reasons[i].reason;
	}
	return status < 300 ? "OK" : status < 400 ? "Redirect" : "Error";
}

enum close_reason respond_close_reason(int status)
{
	switch (status) {
	case 400:
		return CLOSE_bad_request;
	case 408:
		return CLOSE_head_timeout;
	case 413:
		return CLOSE_body_too_large;
	case 431:
		return CLOSE_head_too_large;
	case 405:
	case 501:
	case 505:
		return CLOSE_refused;
	case 502:
	case 504:
		return CLOSE_backend_failed;
	default:
		return CLOSE_error;
	}
}

/* The head and body of a response ringcache makes, sent in one writev. */
static int send_page(struct req *r, int status, const char *ctype, const char *body, size_t blen,
		     const struct hedits *extra, bool no_store)
{
	uint64_t send_ns = r->w->be.gen->cfg->timeouts.send_ns;
	char head[4096];
	struct hbuf b;
	hbuf_init(&b, head, sizeof(head));
	hbuf_puts(&b, "HTTP/1.1 ");
	hbuf_put_u64(&b, (uint64_t)status);
	hbuf_put(&b, " ", 1);
	hbuf_puts(&b, respond_reason(status));
	hbuf_put(&b, "\r\n", 2);
	if (ctype) {
		hbuf_puts(&b, "Content-Type: ");
		hbuf_puts(&b, ctype);
		hbuf_put(&b, "\r\n", 2);
	}
	hbuf_puts(&b, "Content-Length: ");
	hbuf_put_u64(&b, blen);
	hbuf_put(&b, "\r\n", 2);
	const struct hedits *rules = rules_resp_edits(r);
	/* A page's own headers or the response rules may say how it is cached:
	 * then theirs is the one Cache-Control, not a second line. */
	if (no_store && !(extra && hedits_drops(extra, "Cache-Control", 13)) &&
	    !(rules && hedits_drops(rules, "Cache-Control", 13)))
		hbuf_puts(&b, "Cache-Control: no-store\r\n");
	if (r->cache_status) {
		hbuf_puts(&b, "Cache-Status: ");
		hbuf_puts(&b, r->cache_status);
		hbuf_put(&b, "\r\n", 2);
		req_note_cache_status(r, r->cache_status);
	}
	if (extra)
		hedits_put_added(extra, &b);
	if (rules)
		hedits_put_added(rules, &b);
	if (r->closing)
		hbuf_puts(&b, "Connection: close\r\n");
	hbuf_put(&b, "\r\n", 2);
	if (b.overflow)
		return -E2BIG;
	record_note_head(r, head, b.len);
	r->resp_status = status;
	/* A HEAD response has the length and no body (RFC 9110 9.3.2). */
	bool head_only = hmsg_method(&r->req) == HTTP_HEAD && r->req.headers_done;
	struct iovec iov[2] = {{head, b.len}, {(void *)body, head_only ? 0 : blen}};
	ssize_t n = rt_writev_all(r->fd, iov, iov[1].iov_len ? 2 : 1, rt_deadline_in(send_ns));
	req_sent(r, n);
	return n < 0 ? (int)n : 0;
}

int respond_page(struct req *r, int status, const char *ctype, const char *body, size_t blen,
		 const struct hedits *extra, bool keep, const char *word)
{
	CHECK_OBJ_NOTNULL(r, REQ_MAGIC);
	if (!keep || !r->req.msg_done)
		r->closing = true;
	if (r->closing && r->close == CLOSE_COUNT)
		r->close = CLOSE_response;
	r->cache_word = word;
	int e = send_page(r, status, ctype, body, blen, extra, false);
	if (e == -E2BIG) {
		log_warn("client %s: %s: %d: the response head does not fit", r->peer,
			 r->target_log, status);
		r->closing = true;
		return respond_error(r, 500, "configured response head too large", false);
	}
	return e;
}

int respond_error(struct req *r, int status, const char *detail, bool keep)
{
	CHECK_OBJ_NOTNULL(r, REQ_MAGIC);
	if (!keep || !r->req.msg_done)
		r->closing = true;
	if (r->closing && r->close == CLOSE_COUNT)
		r->close = respond_close_reason(status);
	log_warn("client %s: %s%s%d: %s", r->peer, r->target_log, r->target_log[0] ? ": " : "",
		 status, detail ? detail : respond_reason(status));
	METRIC_INC(&r->w->metrics, client_errors);
	/* An error before the request was served (a bad or slow head) has no
	 * generation yet: hold the loop's for the page, whose body is the
	 * configuration's and must outlive the send. */
	struct gen *held = r->gen ? NULL : (r->gen = gen_hold(&r->w->be));
	const struct config_error_page *pg = rules_error_page(r, status);
	int e = -E2BIG;
	if (pg)
		e = send_page(r, status, pg->content_type, pg->body, pg->body_len, NULL, true);
	if (held) {
		gen_put(&r->w->be, held);
		r->gen = NULL;
	}
	if (e != -E2BIG)
		return e;
	char body[160];
	int bl = snprintf(body, sizeof(body), "%d %s\n", status, respond_reason(status));
	e = send_page(r, status, "text/plain", body, (size_t)bl, NULL, true);
	if (e == -E2BIG) { /* header rules too big for an error: without them */
		r->route.active = false;
		e = send_page(r, status, "text/plain", body, (size_t)bl, NULL, true);
	}
	return e;
}
