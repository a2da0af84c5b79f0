/* record.c - a finished request into its loop's record ring. */
#include "serve/record.h"

#include <string.h>
#include <strings.h>
#include <stdio.h>

#include "ops/rlog.h"

/* String field F (enum rlog_str I) from S, N bytes, its length kept. */
#define COPY(f, i, s, n) (rec->len[i] = rlog_copy(rec->f, sizeof(rec->f), s, n))
#define COPY_STR(f, i, s)                                                                          \
	do {                                                                                       \
		const char *s_ = (s);                                                              \
		COPY(f, i, s_, s_ ? strlen(s_) : 0);                                               \
	} while (0)

void record_request(struct req *r, rt_time_t t0, bool parsed)
{
	struct worker *w = r->w;
	if (!w->rlog)
		return;
	++w->rec_seq; /* ids stay dense across pauses: gaps are requests */
	if (!rlog_active(w->rlog)) {
		/* Every subscriber is paused (too slow to read): nothing
		 * is written; they count this one as lost. */
		rlog_skip(w->rlog);
		return;
	}
	rt_time_t now = rt_clock_now();
	struct rlog_rec *rec = rlog_begin(w->rlog);
	rec->id = ((uint64_t)w->be.id << 48) | (w->rec_seq & ((UINT64_C(1) << 48) - 1));
	rec->time_us = rlog_wall_us(w->rlog, t0);
	rec->duration_ns = (int64_t)(now - t0);
	rec->ttfb_ns = r->t_first ? (int64_t)(r->t_first - t0) : -1;
	rec->status = (uint16_t)r->resp_status;
	rec->bytes_out = r->bytes_out;
	rec->bytes_in = r->head_len + r->body_in;
	COPY_STR(verdict, RLOG_S_VERDICT,
		 r->cache_word	  ? r->cache_word
		 : r->resp_status ? "error"
				  : NULL);
	COPY_STR(client, RLOG_S_CLIENT, r->client_ip);
	COPY_STR(cache_status, RLOG_S_CACHE_STATUS, r->rec_cs);
	if (r->close != CLOSE_COUNT)
		COPY_STR(reason, RLOG_S_REASON, close_names[r->close]);
	if (r->backend[0]) {
		/* "NAME ADDRESS" (exchange_server): the two fields. */
		const char *sp = strchr(r->backend, ' ');
		size_t nl = sp ? (size_t)(sp - r->backend) : strlen(r->backend);
		COPY(backend, RLOG_S_BACKEND, r->backend, nl);
		if (sp)
			COPY_STR(server, RLOG_S_SERVER, sp + 1);
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
			COPY_STR(route, RLOG_S_ROUTE, r->route.route->name);
		else /* as the logs name an unnamed route */
		{
			int n =
			    snprintf(rec->route, sizeof(rec->route), "routes[%d]", r->route.index);
			rec->len[RLOG_S_ROUTE] =
			    (uint16_t)(n < (int)sizeof(rec->route) ? n
								   : (int)sizeof(rec->route) - 1);
		}
	}
	if (parsed) {
		const struct hmsg *m = &r->req;
		COPY_STR(method, RLOG_S_METHOD,
			 llhttp_method_name((llhttp_method_t)hmsg_method(m)));
		COPY(target, RLOG_S_TARGET, hmsg_ptr(m, m->target), m->target.len);
		rec->http_major = (uint8_t)m->p.http_major;
		rec->http_minor = (uint8_t)m->p.http_minor;
		const struct hfield *f = r->host_f; /* req_validate's */
		if (f)
			COPY(host, RLOG_S_HOST, hmsg_ptr(m, f->value), f->value.len);
		/* Response values taken under another generation may sit in
		 * other slots now: dropped. */
		bool rh = r->rec_rh_n && r->rec_rh_gen == rec->hdr_gen;
		for (unsigned i = 0; rlog_hdrs_wanted(w->rlog) && i < RLOG_HDRS; i++) {
			const char *name = rlog_hdr_name(w->rlog, i);
			if (!name)
				continue;
			if (name[0] == RLOG_RESP_MARK) {
				if (rh)
					rlog_copy(rec->hdr[i], RLOG_HDR_VAL, r->rec_rh[i],
						  strlen(r->rec_rh[i]));
				continue;
			}
			f = hmsg_field(m, name, 0);
			if (f)
				rlog_copy(rec->hdr[i], RLOG_HDR_VAL, hmsg_ptr(m, f->value),
					  f->value.len);
		}
	}
	rec->lens = true;
	rlog_commit(w->rlog);
}

void record_note_head(struct req *r, const char *head, size_t len)
{
	struct rlog_ring *ring = r->w->rlog;
	if (!r->rec_on || !rlog_resp_wanted(ring))
		return;
	r->rec_rh_gen = rlog_names_gen(ring);
	r->rec_rh_n = 0;
	const char *names[RLOG_HDRS];
	unsigned found = 0; /* a bit per slot: its first field line was taken */
	for (unsigned i = 0; i < RLOG_HDRS; i++) {
		const char *n = rlog_hdr_name(ring, i);
		names[i] = n && n[0] == RLOG_RESP_MARK ? n + 1 : NULL;
		r->rec_rh[i][0] = '\0';
	}
	/* Field lines after the status line; the first of a name wins (the
	 * head writers merge repeated ones where the RFC allows). */
	const char *p = memchr(head, '\n', len), *end = head + len;
	while (p && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (colon) {
			size_t nl = (size_t)(colon - p);
			const char *v = colon + 1, *ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			for (unsigned i = 0; i < RLOG_HDRS; i++) {
				if (names[i] && !(found & (1u << i)) && strlen(names[i]) == nl &&
				    strncasecmp(names[i], p, nl) == 0) {
					rlog_copy(r->rec_rh[i], RLOG_HDR_VAL, v, (size_t)(ve - v));
					found |= 1u << i;
					r->rec_rh_n = 1;
				}
			}
		}
		p = eol;
	}
}
