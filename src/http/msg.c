/* msg.c - llhttp glue: head fields as buffer offsets, in-place body decoding. */
#include "http/msg.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

enum { CB_NONE, CB_URL, CB_STATUS, CB_FIELD, CB_VALUE };

static struct hmsg *M(llhttp_t *p)
{
	return (struct hmsg *)p; /* p is the first member */
}

static uint32_t off_of(struct hmsg *m, const char *at)
{
	return (uint32_t)(at - m->base);
}

static void span_extend(struct hmsg *m, struct hspan *s, const char *at, size_t len, int cb)
{
	uint32_t off = off_of(m, at);
	if (m->last_cb == cb && s->off + s->len == off) {
		s->len += (uint32_t)len;
	} else {
		s->off = off;
		s->len = (uint32_t)len;
	}
	m->last_cb = (uint8_t)cb;
	if (off + len > m->head_end)
		m->head_end = off + (uint32_t)len;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct hmsg *m = M(p);
	span_extend(m, &m->target, at, len, CB_URL);
	return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t len)
{
	struct hmsg *m = M(p);
	span_extend(m, &m->reason, at, len, CB_STATUS);
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct hmsg *m = M(p);
	/* After the head: a chunked message's trailer fields. They are
	 * dropped (RFC 9110 6.5.1 allows it): kept, they would join the
	 * head's fields, or not, depending on how the bytes were split into
	 * reads. */
	if (m->headers_done)
		return 0;
	if (m->last_cb != CB_FIELD) {
		if (m->n_fields == m->max_fields) {
			llhttp_set_error_reason(p, "too many header fields");
			m->error = "too many header fields";
			m->too_large = true;
			return HPE_USER;
		}
		struct hfield *f = &m->fields[m->n_fields++];
		memset(f, 0, sizeof(*f));
		m->last_cb = CB_NONE; /* start a new name span */
	}
	span_extend(m, &m->fields[m->n_fields - 1].name, at, len, CB_FIELD);
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct hmsg *m = M(p);
	if (m->headers_done)
		return 0; /* a trailer field: dropped, see on_header_field */
	assert(m->n_fields > 0);
	span_extend(m, &m->fields[m->n_fields - 1].value, at, len, CB_VALUE);
	return 0;
}

/*
 * Walk the head's lines up to the empty line that ends it (llhttp has seen
 * all of it, so it is in the buffer). Refused, with m->error set:
 * - a bare LF or CR: a line end to some parsers and not to others, which
 *   is how a request is smuggled past one of them (llhttp 8.1.0 takes a
 *   bare LF for the empty line);
 * - obs-fold, a field line starting with SP or HTAB: llhttp 8.1.0 accepts
 *   it even in strict mode; RFC 9112 5.2 lets us reject it, and folding
 *   is another way to hide a field from one parser.
 */
static bool head_lines_bad(struct hmsg *m)
{
	const char *c = m->base + m->head_start, *end = m->base + m->data_end;
	while (end - c >= 2 && c[0] == '\r' && c[1] == '\n')
		c += 2; /* empty lines before the start line are allowed */
	for (bool first = true;; first = false) {
		const char *lf = memchr(c, '\n', (size_t)(end - c));
		if (!lf) { /* cannot happen: llhttp saw the whole head */
			m->error = "head without its end";
			return true;
		}
		const char *cr = memchr(c, '\r', (size_t)(lf - c));
		if (lf == c || lf[-1] != '\r' || cr != lf - 1) {
			m->error = "bare CR or LF in the head";
			return true;
		}
		if (lf - 1 == c) {
			m->body_start = (uint32_t)(lf + 1 - m->base);
			return false; /* the empty line */
		}
		if (!first && (c[0] == ' ' || c[0] == '\t')) {
			m->obs_fold = true;
			m->error = "obs-fold header line";
			return true;
		}
		c = lf + 1;
	}
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5): llhttp
 * drops the leading OWS but keeps the trailing one in the value, where
 * "chunked " or "example.com\t" would then compare unequal to what they
 * mean. */
static void trim_trailing_ows(struct hmsg *m, struct hspan *v)
{
	while (v->len && is_ows(m->base[v->off + v->len - 1]))
		v->len--;
}

/*
 * llhttp 8.1.0 recognises "chunked" as the last transfer coding when SP
 * follows it but not HTAB, which is OWS just the same: "chunked<HTAB>"
 * would then be refused in a request and read to EOF in a response. When
 * the last member of the last Transfer-Encoding field is exactly
 * "chunked" once OWS is trimmed, the message is chunked, as llhttp says
 * for the SP form. (More than one field, or other codings, are refused
 * by the request checks either way.)
 */
static void te_tab_fixup(struct hmsg *m)
{
	llhttp_t *p = &m->p;
	if (!(p->flags & F_TRANSFER_ENCODING) || (p->flags & F_CHUNKED))
		return;
	const struct hfield *te = NULL;
	for (uint32_t i = 0; i < m->n_fields; i++) {
		if (hspan_ieq(m, m->fields[i].name, "transfer-encoding"))
			te = &m->fields[i];
	}
	if (!te)
		return;
	const char *v = m->base + te->value.off;
	uint32_t n = te->value.len, s = n;
	while (s > 0 && v[s - 1] != ',')
		s--;
	while (s < n && is_ows(v[s]))
		s++;
	if (n - s == 7 && strncasecmp(v + s, "chunked", 7) == 0)
		p->flags |= F_CHUNKED;
}

static int on_headers_complete(llhttp_t *p)
{
	struct hmsg *m = M(p);
	m->headers_done = true;
	m->last_cb = CB_NONE;
	m->clen = p->content_length;
	/* llhttp 8.1.0 accepts obs-fold even in strict mode: a line of the
	 * head that starts with SP or HTAB. RFC 9112 5.2 lets us reject it,
	 * and accepting it is how header smuggling through folding works. */
	if (head_lines_bad(m)) {
		llhttp_set_error_reason(p, m->error);
		return -1;
	}
	/* reason-phrase = *( HTAB / SP / VCHAR / obs-text ); llhttp 8.1.0
	 * lets other control bytes through, and they would be relayed. */
	const char *rp = m->base + m->reason.off;
	for (uint32_t i = 0; i < m->reason.len; i++) {
		unsigned char ch = (unsigned char)rp[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			m->error = "control byte in the reason phrase";
			llhttp_set_error_reason(p, m->error);
			return -1;
		}
	}
	/* llhttp 8.1.0 takes ": value" as a field with an empty name. */
	for (uint32_t i = 0; i < m->n_fields; i++) {
		if (m->fields[i].name.len == 0) {
			m->error = "empty field name";
			llhttp_set_error_reason(p, m->error);
			return -1;
		}
		trim_trailing_ows(m, &m->fields[i].value);
	}
	te_tab_fixup(m);
	if (m->head_end - m->head_start > m->max_head) {
		m->error = "head too large";
		m->too_large = true;
		return -1;
	}
	/* RFC 9112 6.3: a response to HEAD, and 1xx, 204 and 304 responses,
	 * end at the empty line whatever their Content-Length or
	 * Transfer-Encoding say (llhttp leaves this to us). */
	bool skip = m->skip_body;
	if (m->kind == HMSG_RESPONSE) {
		int st = p->status_code;
		skip = skip || st < 200 || st == 204 || st == 304;
	}
	/* The framing as the head says it, kept: see hmsg_keep_alive. llhttp
	 * sets F_SKIPBODY itself when we return 1; set it first so the
	 * answers below count with it. */
	if (skip)
		p->flags |= F_SKIPBODY;
	m->head_flags = p->flags;
	/* RFC 9112 6.1: after a Transfer-Encoding in an HTTP/1.0 message the
	 * connection closes (a 1.0 peer on the way may not have dechunked it). */
	m->head_keep_alive = llhttp_should_keep_alive(p) &&
			     !(p->http_minor == 0 && (p->flags & F_TRANSFER_ENCODING));
	m->head_needs_eof = llhttp_message_needs_eof(p);
	/* A chunked body is ours to decode: llhttp is told there is none, so
	 * it ends the message here (on_message_complete then pauses without
	 * msg_done) and sees the bytes of the next message only. */
	if (!skip && (p->flags & F_CHUNKED)) {
		m->own_chunked = true;
		chunked_init(&m->ck, m->max_head);
		return 1;
	}
	return skip ? 1 : 0;
}

/* Decoded body bytes at AT: compacted onto the end of the body region. */
static void body_bytes(struct hmsg *m, const char *at, size_t len)
{
	if (m->body_len == 0)
		m->body_off = off_of(m, at); /* the region starts at the first byte */
	char *dst = m->base + m->body_off + m->body_len;
	assert(dst <= at);
	if (dst != at)
		memmove(dst, at, len);
	m->body_len += (uint32_t)len;
	m->body_total += len;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	body_bytes(M(p), at, len);
	return 0;
}

static void on_chunk_data(void *ctx, const char *at, size_t len)
{
	body_bytes(ctx, at, len);
}

static int on_message_complete(llhttp_t *p)
{
	struct hmsg *m = M(p);
	m->msg_done = !m->own_chunked; /* a chunked body is still to come */
	/* llhttp would stop at the start of the next message with its own
	 * upgrade pause; hmsg_next resets it instead (Upgrade is not made). */
	if (p->upgrade)
		m->upgraded = true;
	return HPE_PAUSED; /* leave pipelined bytes for the next message */
}

static const llhttp_settings_t settings = {
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void hmsg_init(struct hmsg *m, enum hmsg_kind kind, struct hfield *fields, uint32_t max_fields,
	       uint32_t max_head)
{
	memset(m, 0, sizeof(*m));
	llhttp_init(&m->p, (llhttp_type_t)kind, &settings);
	m->kind = kind;
	m->fields = fields;
	m->max_fields = max_fields;
	m->max_head = max_head;
}

void hmsg_next(struct hmsg *m, char *base, uint32_t start)
{
	if (llhttp_get_errno(&m->p) == HPE_PAUSED)
		llhttp_resume(&m->p);
	/* After a message llhttp saw as an upgrade, it would stop again at
	 * once; the upgrade was not made (Upgrade is hop-by-hop and removed),
	 * so the next message starts from a clean parser. */
	if (m->upgraded) {
		llhttp_reset(&m->p);
		m->upgraded = false;
	}
	m->base = base;
	m->target = m->reason = (struct hspan){0, 0};
	m->n_fields = 0;
	m->head_start = m->head_end = m->body_start = start;
	m->head_len = 0;
	m->clen = 0;
	m->headers_done = m->msg_done = m->skip_body = m->obs_fold = false;
	m->head_keep_alive = m->head_needs_eof = false;
	m->head_flags = 0;
	m->last_cb = CB_NONE;
	m->body_off = start;
	m->body_len = 0;
	m->body_total = 0;
	m->error = NULL;
	m->too_large = false;
	m->own_chunked = false;
}

void hmsg_restart(struct hmsg *m, char *base, uint32_t start)
{
	llhttp_init(&m->p, (llhttp_type_t)m->kind, &settings);
	hmsg_next(m, base, start);
}

/* Body bytes of a chunked message. Same contract as hmsg_feed. */
static long feed_chunked(struct hmsg *m, uint32_t off, uint32_t len)
{
	long used = chunked_feed(&m->ck, m->base + off, len, on_chunk_data, m);
	if (used < 0) {
		m->error = m->ck.error;
		return HMSG_MALFORMED;
	}
	if (m->ck.done)
		m->msg_done = true;
	return used;
}

long hmsg_feed(struct hmsg *m, uint32_t off, uint32_t len)
{
	if (m->own_chunked && !m->msg_done)
		return feed_chunked(m, off, len);
	const char *data = m->base + off;
	bool had_head = m->headers_done;
	m->data_end = off + len;
	llhttp_errno_t e = llhttp_execute(&m->p, data, len);
	uint32_t used = len;
	if (e == HPE_PAUSED) {
		used = (uint32_t)(llhttp_get_error_pos(&m->p) - data);
	} else if (e == HPE_PAUSED_UPGRADE) {
		/* Upgrade is not supported: the header is removed as hop-by-hop,
		 * so the message is an ordinary one that has ended. */
		used = (uint32_t)(llhttp_get_error_pos(&m->p) - data);
		llhttp_resume_after_upgrade(&m->p);
		m->msg_done = true;
		m->upgraded = true;
	} else if (e != HPE_OK) {
		if (!m->error)
			m->error = llhttp_get_error_reason(&m->p);
		return m->too_large ? HMSG_TOO_LARGE : HMSG_MALFORMED;
	}
	if (!had_head && !m->headers_done) {
		m->head_len += used;
		if (m->head_len > m->max_head) {
			m->error = "head too large";
			m->too_large = true;
			return HMSG_TOO_LARGE;
		}
	}
	/* The head of a chunked message ended in these bytes: its body may
	 * follow in them too. */
	if (m->own_chunked && !m->msg_done && used < len) {
		long more = feed_chunked(m, off + used, len - used);
		if (more < 0)
			return more;
		used += (uint32_t)more;
	}
	return used;
}

int hmsg_eof(struct hmsg *m)
{
	if (!m->headers_done)
		return HMSG_MALFORMED;
	if (m->msg_done)
		return 0;
	llhttp_errno_t e = llhttp_finish(&m->p);
	if (e != HPE_OK && e != HPE_PAUSED)
		return HMSG_MALFORMED;
	return m->msg_done ? 0 : HMSG_MALFORMED;
}

/* Every request asks for several fields by name: the length is taken once
 * and compared first, so most fields are passed over without a call. */
const struct hfield *hmsg_field(const struct hmsg *m, const char *name, unsigned nth)
{
	size_t n = strlen(name);
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (f->name.len == n && strncasecmp(m->base + f->name.off, name, n) == 0 &&
		    nth-- == 0)
			return f;
	}
	return NULL;
}

unsigned hmsg_field_count(const struct hmsg *m, const char *name)
{
	size_t n = strlen(name);
	unsigned c = 0;
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		c += f->name.len == n && strncasecmp(m->base + f->name.off, name, n) == 0;
	}
	return c;
}
