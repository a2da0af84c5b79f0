/*
 * chunked.c - chunked transfer coding decoder (RFC 9112 7.1).
 *
 * Chunk data goes to the callback in one call per contiguous run; the
 * framing is a byte-at-a-time state machine, one state per position in the
 * grammar, so any split of the input gives the same result without the
 * decoder ever buffering or looking back.
 */
#include "http/chunked.h"
#include "rt/obj.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#define CHUNKED_MAGIC 0x43484b44u /* "CHKD" */

/* In grammar order: step() counts a byte against the chunk line limit in the
 * states up to S_LINE_LF and against the trailer limit from S_TR_START on. */
enum state {
	S_SIZE_START,	/* the first HEXDIG of chunk-size */
	S_SIZE,		/* more HEXDIG */
	S_SIZE_BWS,	/* BWS after chunk-size: only ";" may follow */
	S_EXT_PRE_NAME, /* after ";": BWS, then chunk-ext-name */
	S_EXT_NAME,	/* in chunk-ext-name */
	S_EXT_NAME_BWS, /* BWS after a name: only "=" or ";" may follow */
	S_EXT_PRE_VAL,	/* after "=": BWS, then token or quoted-string */
	S_EXT_TOKEN,	/* in a token chunk-ext-val */
	S_EXT_QUOTED,	/* in a quoted-string chunk-ext-val */
	S_EXT_QPAIR,	/* after "\" in a quoted-string */
	S_EXT_VAL_END,	/* after the closing DQUOTE */
	S_EXT_VAL_BWS,	/* BWS after a value: only ";" may follow */
	S_LINE_LF,	/* CR of a chunk line seen */
	S_DATA,		/* chunk-data, LEFT bytes to go */
	S_DATA_CR,	/* the CR after chunk-data */
	S_DATA_LF,	/* the LF after chunk-data */
	S_TR_START,	/* the start of a trailer line, or of the final CRLF */
	S_TR_NAME,	/* in a trailer field-name */
	S_TR_VALUE,	/* in a trailer field-value with its OWS */
	S_TR_LF,	/* CR of a trailer field line seen */
	S_FINAL_LF,	/* CR of the final CRLF seen */
	S_DONE,
	S_ERROR,
};

static const char E_SIZE[] = "invalid chunk size";
static const char E_SIZE_LARGE[] = "chunk size too large";
static const char E_EXT[] = "invalid chunk extension";
static const char E_LINE_LONG[] = "chunk line too long";
static const char E_BARE[] = "bare CR or LF in chunked framing";
static const char E_DATA_CRLF[] = "expected CRLF after chunk data";
static const char E_TRAILER[] = "invalid trailer field";
static const char E_OBS_FOLD[] = "obs-fold in trailer section";
static const char E_TRAILER_LARGE[] = "trailer section too large";

static bool is_ws(unsigned char ch)
{
	return ch == ' ' || ch == '\t';
}

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* VCHAR or obs-text: what may follow "\" besides SP and HTAB, and what a
 * field-value is made of besides SP and HTAB. */
static bool is_vchar_obs(unsigned char ch)
{
	return (ch >= 0x21 && ch <= 0x7e) || ch >= 0x80;
}

/* RFC 9110 5.6.4 qdtext. */
static bool is_qdtext(unsigned char ch)
{
	return is_ws(ch) || (is_vchar_obs(ch) && ch != '"' && ch != '\\');
}

static int hex_value(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
		return (ch | 0x20) - 'a' + 10;
	return -1;
}

void chunked_init(struct chunked *c, uint32_t max_trailer)
{
	*c = (struct chunked){
	    .magic = CHUNKED_MAGIC, .state = S_SIZE_START, .max_trailer = max_trailer};
}

/* A chunk-size digit: fold it in, or fail if the size no longer fits. */
static const char *size_digit(struct chunked *c, unsigned char ch)
{
	int d = hex_value(ch);
	if (d < 0)
		return E_SIZE;
	if (c->left > UINT64_MAX >> 4)
		return E_SIZE_LARGE;
	c->left = c->left << 4 | (uint64_t)d;
	c->state = S_SIZE;
	return NULL;
}

/* The LF ending a chunk line: on to the data, or to the trailer section
 * after the last chunk. */
static void line_end(struct chunked *c)
{
	c->state = c->left ? S_DATA : S_TR_START;
	c->line_len = 0;
}

/*
 * One framing byte (anything but chunk data) in the current state: moves to
 * the next state, or returns the reason CH is not allowed here. Every
 * decision depends on CH and the state alone, which is what makes the result
 * independent of how the input is split.
 */
static const char *step(struct chunked *c, unsigned char ch)
{
	enum state s = c->state;

	if (s <= S_LINE_LF && ++c->line_len > CHUNKED_MAX_LINE)
		return E_LINE_LONG;
	if (s >= S_TR_START && ++c->trailer_len > c->max_trailer)
		return E_TRAILER_LARGE;
	/* An LF is only ever allowed right after a CR. */
	if (ch == '\n' && s != S_LINE_LF && s != S_DATA_LF && s != S_TR_LF && s != S_FINAL_LF)
		return E_BARE;

	switch (s) {
	case S_SIZE_START:
		return size_digit(c, ch);
	case S_SIZE:
		if (is_ws(ch))
			c->state = S_SIZE_BWS;
		else if (ch == ';')
			c->state = S_EXT_PRE_NAME;
		else if (ch == '\r')
			c->state = S_LINE_LF;
		else
			return size_digit(c, ch);
		return NULL;
	case S_SIZE_BWS:
	case S_EXT_VAL_BWS:
		if (ch == ';')
			c->state = S_EXT_PRE_NAME;
		else if (!is_ws(ch))
			return E_EXT;
		return NULL;
	case S_EXT_PRE_NAME:
		if (is_tchar(ch))
			c->state = S_EXT_NAME;
		else if (!is_ws(ch))
			return E_EXT;
		return NULL;
	case S_EXT_NAME:
		if (is_ws(ch))
			c->state = S_EXT_NAME_BWS;
		else if (ch == '=')
			c->state = S_EXT_PRE_VAL;
		else if (ch == ';')
			c->state = S_EXT_PRE_NAME;
		else if (ch == '\r')
			c->state = S_LINE_LF;
		else if (!is_tchar(ch))
			return E_EXT;
		return NULL;
	case S_EXT_NAME_BWS:
		if (ch == '=')
			c->state = S_EXT_PRE_VAL;
		else if (ch == ';')
			c->state = S_EXT_PRE_NAME;
		else if (!is_ws(ch))
			return E_EXT;
		return NULL;
	case S_EXT_PRE_VAL:
		if (ch == '"')
			c->state = S_EXT_QUOTED;
		else if (is_tchar(ch))
			c->state = S_EXT_TOKEN;
		else if (!is_ws(ch))
			return E_EXT;
		return NULL;
	case S_EXT_TOKEN:
	case S_EXT_VAL_END:
		if (is_ws(ch))
			c->state = S_EXT_VAL_BWS;
		else if (ch == ';')
			c->state = S_EXT_PRE_NAME;
		else if (ch == '\r')
			c->state = S_LINE_LF;
		else if (s == S_EXT_VAL_END || !is_tchar(ch))
			return E_EXT;
		return NULL;
	case S_EXT_QUOTED:
		if (ch == '"')
			c->state = S_EXT_VAL_END;
		else if (ch == '\\')
			c->state = S_EXT_QPAIR;
		else if (!is_qdtext(ch))
			return E_EXT;
		return NULL;
	case S_EXT_QPAIR:
		if (!is_ws(ch) && !is_vchar_obs(ch))
			return E_EXT;
		c->state = S_EXT_QUOTED;
		return NULL;
	case S_LINE_LF:
		if (ch != '\n')
			return E_BARE;
		line_end(c);
		return NULL;
	case S_DATA_CR:
		if (ch != '\r')
			return E_DATA_CRLF;
		c->state = S_DATA_LF;
		return NULL;
	case S_DATA_LF:
		if (ch != '\n')
			return E_BARE;
		c->state = S_SIZE_START;
		return NULL;
	case S_TR_START:
		if (ch == '\r')
			c->state = S_FINAL_LF;
		else if (is_ws(ch))
			return E_OBS_FOLD;
		else if (is_tchar(ch))
			c->state = S_TR_NAME;
		else
			return E_TRAILER;
		return NULL;
	case S_TR_NAME:
		if (ch == ':')
			c->state = S_TR_VALUE;
		else if (!is_tchar(ch))
			return E_TRAILER;
		return NULL;
	case S_TR_VALUE:
		/* OWS field-value OWS is, byte by byte, any mix of SP, HTAB,
		 * VCHAR and obs-text; the value itself is never needed. */
		if (ch == '\r')
			c->state = S_TR_LF;
		else if (!is_ws(ch) && !is_vchar_obs(ch))
			return E_TRAILER;
		return NULL;
	case S_TR_LF:
		if (ch != '\n')
			return E_BARE;
		c->state = S_TR_START;
		return NULL;
	case S_FINAL_LF:
		if (ch != '\n')
			return E_BARE;
		c->state = S_DONE;
		c->done = true;
		return NULL;
	case S_DATA:
	case S_DONE:
	case S_ERROR:
		break;
	}
	assert(!"chunked: step in a state without framing bytes");
	return E_BARE;
}

long chunked_feed(struct chunked *c, const char *p, size_t len, chunked_data_fn fn, void *ctx)
{
	CHECK_OBJ_NOTNULL(c, CHUNKED_MAGIC);
	assert(len <= LONG_MAX);
	if (c->state == S_ERROR)
		return -1;
	if (c->state == S_DONE)
		return 0;

	size_t i = 0;
	while (i < len) {
		if (c->state == S_DATA) {
			size_t n = len - i;
			if (c->left < n)
				n = (size_t)c->left;
			/* Report first, then never touch these bytes again:
			 * the callback may have moved them. */
			fn(ctx, p + i, n);
			i += n;
			c->left -= n;
			if (c->left == 0)
				c->state = S_DATA_CR;
			continue;
		}
		const char *err = step(c, (unsigned char)p[i]);
		if (err) {
			c->state = S_ERROR;
			c->error = err;
			return -1;
		}
		i++;
		if (c->state == S_DONE)
			break;
	}
	return (long)i;
}

int chunked_frame(struct iovec *iov, char sz[CHUNKED_SIZE_MAX], const void *p, size_t len,
		  bool chunked)
{
	if (len == 0)
		return 0;
	if (!chunked) {
		iov[0] = (struct iovec){(void *)p, len};
		return 1;
	}
	/* Hex digits without printf: every chunk of every relayed body. */
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	int n = 0;
	for (size_t v = len; v; v >>= 4)
		tmp[n++] = hex[v & 15];
	int k = 0;
	while (n)
		sz[k++] = tmp[--n];
	sz[k++] = '\r';
	sz[k++] = '\n';
	iov[0] = (struct iovec){sz, (size_t)k};
	iov[1] = (struct iovec){(void *)p, len};
	iov[2] = (struct iovec){(void *)"\r\n", 2};
	return 3;
}
