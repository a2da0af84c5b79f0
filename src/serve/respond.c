/* respond.c - error responses ringcache makes itself. */
#include "serve/respond.h"
#include "rt/obj.h"

#include <stdio.h>

#include "ops/log.h"
#include "rt/io.h"

const char *respond_reason(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
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

int respond_error(struct req *r, int status, const char *detail, bool keep)
{
	CHECK_OBJ_NOTNULL(r, REQ_MAGIC);
	if (!keep || !r->req.msg_done)
		r->closing = true;
	if (r->closing && r->close == CLOSE_COUNT)
		r->close = respond_close_reason(status);
	log_warn("client %s: %s%s%d: %s", r->peer, r->target_log, r->target_log[0] ? ": " : "",
		 status, detail ? detail : respond_reason(status));
	uint64_t send_ns = r->w->be.gen->cfg->timeouts.send_ns;
	char body[160], head[512];
	int bl = snprintf(body, sizeof(body), "%d %s\n", status, respond_reason(status));
	int hl =
	    snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
		     "Cache-Control: no-store\r\n%s%s%s%s\r\n",
		     status, respond_reason(status), bl, r->cache_status ? "Cache-Status: " : "",
		     r->cache_status ? r->cache_status : "", r->cache_status ? "\r\n" : "",
		     r->closing ? "Connection: close\r\n" : "");
	if (hl >= (int)sizeof(head))
		hl = (int)sizeof(head) - 1;
	r->resp_status = status;
	METRIC_INC(&r->w->metrics, client_errors);
	struct iovec iov[2] = {{head, (size_t)hl}, {body, (size_t)bl}};
	ssize_t n = rt_writev_all(r->fd, iov, 2, rt_deadline_in(send_ns));
	req_sent(r, n);
	return n < 0 ? (int)n : 0;
}
