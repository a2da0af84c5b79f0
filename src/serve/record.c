/* record.c - a finished request into its loop's record ring. */
#include "serve/record.h"

#include <string.h>
#include <stdio.h>
#include <time.h>

#include "ops/rlog.h"

#define COPY(dst, s, n) rlog_copy(dst, sizeof(dst), s, n)

static void copy_str(char *dst, size_t room, const char *s)
{
	rlog_copy(dst, room, s, s ? strlen(s) : 0);
}

void record_request(struct req *r, rt_time_t t0, bool parsed)
{
	struct worker *w = r->w;
	if (!w->rlog)
		return;
	rt_time_t now = rt_clock_now();
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall); /* vDSO, as rt_clock_now */
	struct rlog_rec *rec = rlog_begin(w->rlog);
	rec->id = ((uint64_t)w->be.id << 48) | (++w->rec_seq & ((UINT64_C(1) << 48) - 1));
	rec->time_us =
	    (int64_t)wall.tv_sec * 1000000 + wall.tv_nsec / 1000 - (int64_t)((now - t0) / 1000);
	rec->duration_ns = (int64_t)(now - t0);
	rec->ttfb_ns = r->t_first ? (int64_t)(r->t_first - t0) : -1;
	rec->status = (uint16_t)r->resp_status;
	rec->bytes_out = r->bytes_out;
	rec->bytes_in = r->head_len + r->body_in;
	copy_str(rec->verdict, sizeof(rec->verdict),
		 r->cache_word	  ? r->cache_word
		 : r->resp_status ? "error"
				  : NULL);
	copy_str(rec->client, sizeof(rec->client), r->client_ip);
	copy_str(rec->cache_status, sizeof(rec->cache_status), r->rec_cs);
	if (r->close != CLOSE_COUNT)
		copy_str(rec->reason, sizeof(rec->reason), close_names[r->close]);
	if (r->backend[0]) {
		/* "NAME ADDRESS" (exchange_server): the two fields. */
		const char *sp = strchr(r->backend, ' ');
		size_t nl = sp ? (size_t)(sp - r->backend) : strlen(r->backend);
		COPY(rec->backend, r->backend, nl);
		if (sp)
			copy_str(rec->server, sizeof(rec->server), sp + 1);
		rec->be_total_ns = r->upstream_ns;
	}
	if (r->bx.attempts) {
		rec->be_attempts = (uint16_t)r->bx.attempts;
		rec->be_reused = r->bx.reused;
		rec->be_connect_ns = r->bx.connect_ns;
		rec->be_ttfb_ns = r->bx.ttfb_ns;
	}
	if (r->route.active && r->route.route) {
		if (r->route.route->name)
			copy_str(rec->route, sizeof(rec->route), r->route.route->name);
		else /* as the logs name an unnamed route */
			snprintf(rec->route, sizeof(rec->route), "routes[%d]", r->route.index);
	}
	if (parsed) {
		const struct hmsg *m = &r->req;
		copy_str(rec->method, sizeof(rec->method),
			 llhttp_method_name((llhttp_method_t)hmsg_method(m)));
		COPY(rec->target, hmsg_ptr(m, m->target), m->target.len);
		rec->http_major = (uint8_t)m->p.http_major;
		rec->http_minor = (uint8_t)m->p.http_minor;
		const struct hfield *f = hmsg_field(m, "host", 0);
		if (f)
			COPY(rec->host, hmsg_ptr(m, f->value), f->value.len);
		for (unsigned i = 0; i < RLOG_HDRS; i++) {
			const char *name = rlog_hdr_name(w->rlog, i);
			if (!name)
				continue;
			f = hmsg_field(m, name, 0);
			if (f)
				COPY(rec->hdr[i], hmsg_ptr(m, f->value), f->value.len);
		}
	}
	rlog_commit(w->rlog);
}
