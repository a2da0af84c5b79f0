/* recfmt.c - request records as JSON, compact and NCSA lines, without printf. */
#include "ops/recfmt.h"

#include <assert.h>
#include <string.h>

#include "http/hbuf.h"

/* Every byte of a record and of the header names escaped (6 bytes), and
 * 2 KiB for keys and numbers: the JSON writer below relies on it and
 * writes without checking for room. */
_Static_assert(sizeof(struct rlog_rec) * 6 + RLOG_HDRS * RLOG_HDR_NAME * 6 + 2048 <= RECFMT_MAX,
	       "RECFMT_MAX too small for a record with every byte escaped");

static const char hex[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF"; /* nginx's \xHH, as the access log */

/* Does any byte of the word V need escaping in JSON (below 0x20, '"',
 * '\\', 0x7f and up)? Eight bytes at a time: most of a record is plain
 * ASCII, and this is the stream's per-record cost. */
static inline bool word_needs_escape(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t lt20 = (v - ones * 0x20) & ~v; /* high bit: byte < 0x20 */
	uint64_t ge7f = (v + ones * 0x01) | v;	/* high bit: byte >= 0x7f */
	uint64_t q = v ^ (ones * '"'), bs = v ^ (ones * '\\');
	uint64_t zq = (q - ones) & ~q, zb = (bs - ones) & ~bs; /* high bit: byte equal */
	return ((lt20 | ge7f | zq | zb) & high) != 0;
}

/* S as a JSON string at O (room for 6 bytes per byte of S, plus 2);
 * returns the end. */
static char *json_str(char *o, const char *s)
{
	size_t n = strlen(s);
	*o++ = '"';
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		/* Plain runs a word at a time, then one byte the slow way. */
		while (i + 8 <= n) {
			uint64_t v;
			memcpy(&v, u + i, 8);
			if (word_needs_escape(v))
				break;
			memcpy(o, &v, 8);
			o += 8;
			i += 8;
		}
		if (i >= n)
			break;
		unsigned char c = u[i++];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			*o++ = (char)c;
		} else if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
		}
	}
	*o++ = '"';
	return o;
}

static void put_json_str(struct hbuf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->overflow || n * 6 + 2 > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	b->len = (size_t)(json_str(b->p + b->len, s) - b->p);
}

void recfmt_json_string(struct hbuf *b, const char *s)
{
	put_json_str(b, s);
}

/* nginx's log escaping: '"', '\', and bytes outside printable ASCII as
 * \xHH; TOKEN escapes spaces too, for unquoted fields. Empty: "-". */
static void put_text(struct hbuf *b, const char *s, bool token)
{
	if (!s || !s[0]) {
		hbuf_put(b, "-", 1);
		return;
	}
	for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
		bool plain = *u > 0x20 ? *u < 0x7f && *u != '"' && *u != '\\' : *u == ' ' && !token;
		if (plain) {
			hbuf_put(b, u, 1);
		} else {
			char e[4] = {'\\', 'x', hex_upper[*u >> 4], hex_upper[*u & 15]};
			hbuf_put(b, e, 4);
		}
	}
}

static void put_fixed(struct hbuf *b, uint64_t v, unsigned width)
{
	char t[20];
	for (unsigned i = width; i-- > 0;) {
		t[i] = (char)('0' + v % 10);
		v /= 10;
	}
	hbuf_put(b, t, width);
}

/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm):
 * pure arithmetic, no gmtime_r and its timezone lock on a loop thread. */
static void civil(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned doe = (unsigned)(days - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

struct wall {
	int64_t y;
	unsigned mo, d, h, mi, s, us;
};

static struct wall wall_of(int64_t time_us)
{
	struct wall w;
	int64_t sec = time_us >= 0 ? time_us / 1000000 : (time_us - 999999) / 1000000;
	w.us = (unsigned)(time_us - sec * 1000000);
	int64_t days = sec >= 0 ? sec / 86400 : (sec - 86399) / 86400;
	unsigned rem = (unsigned)(sec - days * 86400);
	civil(days, &w.y, &w.mo, &w.d);
	w.h = rem / 3600;
	w.mi = rem / 60 % 60;
	w.s = rem % 60;
	return w;
}

/* A duration the way people read them: 850us, 12.3ms, 1.52s. */
static void put_dur(struct hbuf *b, int64_t ns)
{
	if (ns < 0) {
		hbuf_put(b, "-", 1);
		return;
	}
	uint64_t v = (uint64_t)ns;
	if (v < 1000000) {
		hbuf_put_u64(b, v / 1000);
		hbuf_puts(b, "us");
	} else if (v < 1000000000) {
		hbuf_put_u64(b, v / 1000000);
		hbuf_put(b, ".", 1);
		put_fixed(b, v / 100000 % 10, 1);
		hbuf_puts(b, "ms");
	} else {
		hbuf_put_u64(b, v / 1000000000);
		hbuf_put(b, ".", 1);
		put_fixed(b, v / 10000000 % 100, 2);
		hbuf_puts(b, "s");
	}
}

static void put_size(struct hbuf *b, uint64_t v)
{
	if (v < 10240) {
		hbuf_put_u64(b, v);
		return;
	}
	static const char units[] = "kMGT";
	unsigned u = 0;
	uint64_t scaled = v / 1024;
	while (scaled >= 10240 && u < 3) {
		scaled /= 1024;
		u++;
	}
	hbuf_put_u64(b, scaled);
	hbuf_put(b, &units[u], 1);
}

static void put_proto(struct hbuf *b, const struct rlog_rec *r)
{
	hbuf_puts(b, "HTTP/");
	hbuf_put_u64(b, r->http_major);
	hbuf_put(b, ".", 1);
	hbuf_put_u64(b, r->http_minor);
}

static const char *hdr_value(const struct recfmt_hdrs *h, const char *name)
{
	for (unsigned i = 0; h && i < h->n; i++) {
		if (strcmp(h->name[i], name) == 0)
			return h->value[i];
	}
	return NULL;
}

/* The JSON line, written straight into the buffer: its room is proved
 * by the static assertion above, so no write checks it (this is the
 * stream's per-record cost, and its default format). */
#define LIT(o, s) (memcpy(o, s, sizeof(s) - 1), (o) += sizeof(s) - 1)

static char *raw_u64(char *o, uint64_t v)
{
	char d[20];
	size_t n = sizeof(d);
	do {
		d[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(o, d + n, sizeof(d) - n);
	return o + (sizeof(d) - n);
}

static char *raw_fixed(char *o, uint64_t v, unsigned width)
{
	for (unsigned i = width; i-- > 0;) {
		o[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return o + width;
}

/* A string, or null when empty. */
static inline char *raw_opt(char *o, const char *s)
{
	if (s && s[0])
		return json_str(o, s);
	LIT(o, "null");
	return o;
}

static inline char *raw_us(char *o, int64_t ns)
{
	if (ns < 0) {
		LIT(o, "null");
		return o;
	}
	return raw_u64(o, (uint64_t)ns / 1000);
}

static size_t fmt_json(char *buf, const struct rlog_rec *r, const struct recfmt_hdrs *h)
{
	char *o = buf;
	struct wall w = wall_of(r->time_us);
	LIT(o, "{\"time\":\"");
	if (w.y >= 0 && w.y <= 9999) {
		o = raw_fixed(o, (uint64_t)w.y, 4);
	} else {
		LIT(o, "0000");
	}
	*o++ = '-';
	o = raw_fixed(o, w.mo, 2);
	*o++ = '-';
	o = raw_fixed(o, w.d, 2);
	*o++ = 'T';
	o = raw_fixed(o, w.h, 2);
	*o++ = ':';
	o = raw_fixed(o, w.mi, 2);
	*o++ = ':';
	o = raw_fixed(o, w.s, 2);
	*o++ = '.';
	o = raw_fixed(o, w.us, 6);
	LIT(o, "Z\",\"id\":\"");
	for (int i = 60; i >= 0; i -= 4)
		*o++ = hex[(r->id >> i) & 15];
	LIT(o, "\",\"client\":");
	o = raw_opt(o, r->client);
	LIT(o, ",\"method\":");
	o = raw_opt(o, r->method);
	LIT(o, ",\"host\":");
	o = raw_opt(o, r->host);
	LIT(o, ",\"target\":");
	o = raw_opt(o, r->target);
	LIT(o, ",\"proto\":");
	if (r->http_major) {
		LIT(o, "\"HTTP/");
		o = raw_u64(o, r->http_major);
		*o++ = '.';
		o = raw_u64(o, r->http_minor);
		*o++ = '"';
	} else {
		LIT(o, "null");
	}
	LIT(o, ",\"status\":");
	o = raw_u64(o, r->status);
	LIT(o, ",\"cache\":");
	o = raw_opt(o, r->verdict);
	LIT(o, ",\"cache_status\":");
	o = raw_opt(o, r->cache_status);
	LIT(o, ",\"bytes_in\":");
	o = raw_u64(o, r->bytes_in);
	LIT(o, ",\"bytes_out\":");
	o = raw_u64(o, r->bytes_out);
	LIT(o, ",\"ttfb_us\":");
	o = raw_us(o, r->ttfb_ns);
	LIT(o, ",\"duration_us\":");
	o = raw_us(o, r->duration_ns);
	LIT(o, ",\"route\":");
	o = raw_opt(o, r->route);
	LIT(o, ",\"reason\":");
	o = raw_opt(o, r->reason);
	LIT(o, ",\"loop\":");
	o = raw_u64(o, r->loop);
	LIT(o, ",\"backend\":");
	if (!r->backend[0] && !r->be_attempts) {
		LIT(o, "null");
	} else {
		LIT(o, "{\"name\":");
		o = raw_opt(o, r->backend);
		LIT(o, ",\"server\":");
		o = raw_opt(o, r->server);
		LIT(o, ",\"attempts\":");
		o = raw_u64(o, r->be_attempts);
		LIT(o, ",\"reused\":");
		if (r->be_reused < 0)
			LIT(o, "null");
		else if (r->be_reused)
			LIT(o, "true");
		else
			LIT(o, "false");
		LIT(o, ",\"connect_us\":");
		o = raw_us(o, r->be_connect_ns);
		LIT(o, ",\"ttfb_us\":");
		o = raw_us(o, r->be_ttfb_ns);
		LIT(o, ",\"total_us\":");
		o = raw_us(o, r->be_total_ns);
		*o++ = '}';
	}
	/* Request headers in "hdr", response headers (RLOG_RESP_MARK names)
	 * in "resp_hdr", there only when the stream has some. */
	bool resp = false;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1 && !resp)
			break;
		if (pass) /* LIT takes the literal's size: one each */
			LIT(o, ",\"resp_hdr\":{");
		else
			LIT(o, ",\"hdr\":{");
		bool first = true;
		for (unsigned i = 0; h && i < h->n && i < RLOG_HDRS; i++) {
			bool is_resp = h->name[i][0] == RLOG_RESP_MARK;
			resp |= is_resp;
			if (is_resp != (pass == 1))
				continue;
			if (!first)
				*o++ = ',';
			first = false;
			o = json_str(o, h->name[i] + is_resp);
			*o++ = ':';
			if (h->value[i])
				o = json_str(o, h->value[i]);
			else
				LIT(o, "null");
		}
		*o++ = '}';
	}
	LIT(o, "}\n");
	assert((size_t)(o - buf) <= RECFMT_MAX);
	return (size_t)(o - buf);
}

static void fmt_backend_line(struct hbuf *b, const struct rlog_rec *r)
{
	if (!r->backend[0] && !r->be_attempts)
		return;
	hbuf_puts(b, "    backend ");
	put_text(b, r->backend, true);
	hbuf_put(b, " ", 1);
	put_text(b, r->server, true);
	hbuf_puts(b, " attempts=");
	hbuf_put_u64(b, r->be_attempts);
	hbuf_puts(b, " reused=");
	hbuf_puts(b, r->be_reused < 0 ? "-" : r->be_reused ? "yes" : "no");
	hbuf_puts(b, " connect=");
	put_dur(b, r->be_connect_ns);
	hbuf_puts(b, " ttfb=");
	put_dur(b, r->be_ttfb_ns);
	hbuf_puts(b, " total=");
	put_dur(b, r->be_total_ns);
	hbuf_put(b, "\n", 1);
}

static void fmt_compact(struct hbuf *b, bool group, const struct rlog_rec *r,
			const struct recfmt_hdrs *h)
{
	struct wall w = wall_of(r->time_us);
	put_fixed(b, w.h, 2);
	hbuf_put(b, ":", 1);
	put_fixed(b, w.mi, 2);
	hbuf_put(b, ":", 1);
	put_fixed(b, w.s, 2);
	hbuf_put(b, ".", 1);
	put_fixed(b, w.us / 1000, 3);
	hbuf_put(b, " ", 1);
	if (r->status)
		put_fixed(b, r->status, 3);
	else
		hbuf_puts(b, "---");
	hbuf_put(b, " ", 1);
	size_t at = b->len;
	put_text(b, r->verdict, true);
	for (size_t n = b->len - at; n < 11; n++)
		hbuf_put(b, " ", 1);
	put_text(b, r->method, true);
	hbuf_put(b, " ", 1);
	if (r->host[0])
		put_text(b, r->host, true);
	put_text(b, r->target, true);
	hbuf_put(b, " ", 1);
	put_size(b, r->bytes_out);
	hbuf_puts(b, " ttfb=");
	put_dur(b, r->ttfb_ns);
	hbuf_puts(b, " dur=");
	put_dur(b, r->duration_ns);
	if (!group && r->server[0]) {
		hbuf_puts(b, " be=");
		put_text(b, r->server, true);
	}
	if (r->route[0]) {
		hbuf_puts(b, " route=");
		put_text(b, r->route, true);
	}
	if (r->reason[0]) {
		hbuf_puts(b, " close=");
		put_text(b, r->reason, true);
	}
	for (unsigned i = 0; h && i < h->n; i++) {
		hbuf_put(b, " ", 1);
		if (h->name[i][0] == RLOG_RESP_MARK) { /* resp.NAME, as queries name it */
			hbuf_puts(b, "resp.");
			hbuf_puts(b, h->name[i] + 1);
		} else {
			hbuf_puts(b, h->name[i]);
		}
		hbuf_puts(b, "=\"");
		put_text(b, h->value[i], false);
		hbuf_put(b, "\"", 1);
	}
	hbuf_put(b, "\n", 1);
	if (group)
		fmt_backend_line(b, r);
}

static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void fmt_ncsa(struct hbuf *b, bool group, const struct rlog_rec *r,
		     const struct recfmt_hdrs *h)
{
	struct wall w = wall_of(r->time_us);
	put_text(b, r->client, true);
	hbuf_puts(b, " - - [");
	put_fixed(b, w.d, 2);
	hbuf_put(b, "/", 1);
	hbuf_put(b, month_names[(w.mo - 1) % 12], 3);
	hbuf_put(b, "/", 1);
	hbuf_put_i64(b, w.y);
	hbuf_put(b, ":", 1);
	put_fixed(b, w.h, 2);
	hbuf_put(b, ":", 1);
	put_fixed(b, w.mi, 2);
	hbuf_put(b, ":", 1);
	put_fixed(b, w.s, 2);
	hbuf_puts(b, " +0000] \"");
	if (r->method[0]) {
		put_text(b, r->method, true);
		hbuf_put(b, " ", 1);
		put_text(b, r->target, true);
		if (r->http_major) {
			hbuf_put(b, " ", 1);
			put_proto(b, r);
		}
	} else {
		hbuf_put(b, "-", 1);
	}
	hbuf_puts(b, "\" ");
	hbuf_put_u64(b, r->status);
	hbuf_put(b, " ", 1);
	hbuf_put_u64(b, r->bytes_out);
	hbuf_puts(b, " \"");
	put_text(b, hdr_value(h, "referer"), false);
	hbuf_puts(b, "\" \"");
	put_text(b, hdr_value(h, "user-agent"), false);
	hbuf_puts(b, "\"\n");
	if (group)
		fmt_backend_line(b, r);
}

size_t recfmt_record(enum recfmt f, bool group, const struct rlog_rec *rec,
		     const struct recfmt_hdrs *h, char *buf)
{
	struct hbuf b;
	hbuf_init(&b, buf, RECFMT_MAX);
	switch (f) {
	case RECFMT_JSON:
		return fmt_json(buf, rec, h);
	case RECFMT_COMPACT:
		fmt_compact(&b, group, rec, h);
		break;
	case RECFMT_NCSA:
		fmt_ncsa(&b, group, rec, h);
		break;
	}
	return b.overflow ? 0 : b.len;
}

size_t recfmt_lost(enum recfmt f, uint64_t n, uint64_t total, char *buf, size_t cap)
{
	struct hbuf b;
	hbuf_init(&b, buf, cap);
	if (f == RECFMT_JSON) {
		hbuf_puts(&b, "{\"lost\":");
		hbuf_put_u64(&b, n);
		hbuf_puts(&b, ",\"lost_total\":");
		hbuf_put_u64(&b, total);
		hbuf_puts(&b, "}\n");
	} else {
		hbuf_puts(&b, "# lost ");
		hbuf_put_u64(&b, n);
		hbuf_puts(&b, " records (");
		hbuf_put_u64(&b, total);
		hbuf_puts(&b, " in all): the reader was too slow\n");
	}
	return b.overflow ? 0 : b.len;
}

bool recfmt_parse(const char *name, size_t len, enum recfmt *out)
{
	static const struct {
		const char *n;
		enum recfmt f;
	} names[] = {{"json", RECFMT_JSON}, {"compact", RECFMT_COMPACT}, {"ncsa", RECFMT_NCSA}};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].n) == len && memcmp(names[i].n, name, len) == 0) {
			*out = names[i].f;
			return true;
		}
	}
	return false;
}
