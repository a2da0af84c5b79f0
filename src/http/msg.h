/*
 * msg.h - incremental HTTP/1.1 message parser over one contiguous buffer
 * (llhttp underneath, strict mode).
 *
 * The caller appends received bytes to a buffer and calls hmsg_feed() with
 * the new region. While the head is being parsed the buffer must not move:
 * the head's fields are recorded as offsets into it (no copies). Body bytes
 * are decoded (chunk framing removed) and compacted in place into one
 * contiguous region [body_off, body_off + body_len) of the same buffer,
 * which the caller forwards and then releases with hmsg_body_consumed().
 * Compaction is safe because decoded output never overtakes input.
 *
 * Parsing stops (returns) at the end of each message, so pipelined bytes
 * after it stay in the buffer for the next message.
 *
 * llhttp parses the head and Content-Length bodies; a chunked body goes to
 * http/chunked.c, which follows RFC 9112's grammar exactly where llhttp
 * 8.1.0 does not (it refuses quoted-pairs and BWS in chunk extensions and
 * takes a bare LF for the end of the trailer section).
 */
#ifndef RINGCACHE_HTTP_MSG_H
#define RINGCACHE_HTTP_MSG_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "http/chunked.h"

struct hspan {
	uint32_t off, len;
};

struct hfield {
	struct hspan name, value;
};

enum hmsg_kind { HMSG_REQUEST = HTTP_REQUEST, HMSG_RESPONSE = HTTP_RESPONSE };

enum hmsg_err {
	HMSG_OK = 0,
	HMSG_MALFORMED = -1, /* syntax or framing error: 400 / 502 */
	HMSG_TOO_LARGE = -2, /* head over the size or field-count limit: 431 / 502 */
};

struct hmsg {
	llhttp_t p;
	char *base; /* the buffer; offsets are relative to it */
	enum hmsg_kind kind;

	/* The head, valid once headers_done. */
	struct hspan target; /* request-target */
	struct hspan reason;
	struct hfield *fields;
	uint32_t n_fields, max_fields;
	uint32_t max_head;   /* head size limit, bytes */
	uint32_t head_start; /* offset of the first byte of this message */
	uint32_t head_len;   /* bytes of head parsed so far */
	uint32_t head_end;   /* offset just past the last header byte seen */
	uint32_t body_start; /* offset just past the head's empty line (once headers_done) */
	uint32_t data_end;   /* offset just past the bytes being parsed now */
	uint64_t clen;	     /* Content-Length as received (valid if hmsg_has_length) */
	bool headers_done;
	bool msg_done;
	bool skip_body;	      /* set before feeding: response to HEAD */
	bool obs_fold;	      /* a folded header line was seen (reject it) */
	bool upgraded;	      /* llhttp ended the last message as an upgrade */
	bool head_keep_alive; /* llhttp_should_keep_alive at the end of the head */
	bool head_needs_eof;  /* llhttp_message_needs_eof at the end of the head */
	uint16_t head_flags;  /* llhttp's flags at the end of the head */
	uint8_t last_cb;      /* which span the last data callback extended */

	/* Decoded body bytes waiting in the buffer. */
	uint32_t body_off, body_len;
	uint64_t body_total; /* decoded body bytes seen for this message */

	/* A chunked body is decoded by http/chunked.c, not llhttp (see msg.c). */
	bool own_chunked; /* this message's body is being decoded by ck */
	struct chunked ck;

	const char *error; /* llhttp's reason when hmsg_feed failed */
	bool too_large;	   /* the error was a size/count limit */
};

/* Prepare M to parse one message kind; FIELDS has room for MAX_FIELDS. */
void hmsg_init(struct hmsg *m, enum hmsg_kind kind, struct hfield *fields, uint32_t max_fields,
	       uint32_t max_head);

/* Reset for the next message on the same connection; BASE may change now. */
void hmsg_next(struct hmsg *m, char *base, uint32_t start);

/* Like hmsg_next, but also resets llhttp's connection state: for a new
 * exchange on another (or a fresh) connection, e.g. after a message that
 * ended at EOF, after which llhttp refuses further bytes. */
void hmsg_restart(struct hmsg *m, char *base, uint32_t start);

/*
 * Parse LEN bytes at base + OFF. Returns the number of bytes consumed (less
 * than LEN only when the message ended), or a negative enum hmsg_err. After
 * it returns, check headers_done / msg_done and the body region.
 */
long hmsg_feed(struct hmsg *m, uint32_t off, uint32_t len);

/* The peer closed: completes a close-delimited body. 0 or HMSG_MALFORMED. */
int hmsg_eof(struct hmsg *m);

/* The body region was forwarded; new body bytes start at NEW_OFF. */
static inline void hmsg_body_consumed(struct hmsg *m, uint32_t new_off)
{
	m->body_off = new_off;
	m->body_len = 0;
}

static inline const char *hmsg_ptr(const struct hmsg *m, struct hspan s)
{
	return m->base + s.off;
}

/* Case-insensitive header lookup; returns the Nth match or NULL. */
const struct hfield *hmsg_field(const struct hmsg *m, const char *name, unsigned nth);
/* How many fields have this name. */
unsigned hmsg_field_count(const struct hmsg *m, const char *name);
/* Inline so that strlen of a literal folds and a length mismatch costs no call. */
static inline bool hspan_ieq(const struct hmsg *m, struct hspan s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && strncasecmp(m->base + s.off, lit, n) == 0;
}

static inline int hmsg_status(const struct hmsg *m)
{
	return m->p.status_code;
}
static inline unsigned hmsg_method(const struct hmsg *m)
{
	return m->p.method;
}
/* Framing as the head said (taken at its end: llhttp applies a chunked
 * message's trailer fields to its flags too, which would make these
 * depend on how the bytes were split into reads). */
static inline bool hmsg_keep_alive(const struct hmsg *m)
{
	return m->head_keep_alive;
}
static inline bool hmsg_chunked(const struct hmsg *m)
{
	return (m->head_flags & F_CHUNKED) != 0;
}
static inline bool hmsg_has_length(const struct hmsg *m)
{
	return (m->head_flags & F_CONTENT_LENGTH) != 0;
}
static inline uint64_t hmsg_content_length(const struct hmsg *m)
{
	return m->clen;
}
static inline bool hmsg_needs_eof(const struct hmsg *m)
{
	return m->head_needs_eof;
}

#endif
