/* recfmt.c - request records as JSON, compact and NCSA lines, without printf. */
#include "ops/recfmt.h"

#include <string.h>

#include "http/hbuf.h"

_Static_assert(sizeof(struct rlog_rec) * 6 + 2048 <= RECFMT_MAX,
	       "RECFMT_MAX too small for a record with every byte escaped");

static const char hex[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF"; /* nginx's \xHH, as the access log */

static void put_json_str(struct hbuf *b, const char *s)
{
	hbuf_put(b, "\"", 1);
	for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
		const unsigned char *run = u;
		while (*u >= 0x20 && *u < 0x7f && *u != '"' && *u != '\\')
			u++;
		hbuf_put(b, run, (size_t)(u - run));
		if (!*u)
			break;
		if (*u == '"' || *u == '\\') {
			char e[2] = {'\\', (char)*u};
			hbuf_put(b, e, 2);
		} else {
			char e[6] = {'\\', 'u', '0', '0', hex[*u >> 4], hex[*u & 15]};
			hbuf_put(b, e, 6);
		}
	}
	hbuf_put(b, "\"", 1);
}

void recfmt_json_string(struct hbuf *b, const char *s)
{
	put_json_str(b, s);
}

/* A string field, or null when empty. */
static void json_opt(struct hbuf *b, const char *key, const char *s)
{
	hbuf_puts(b, key);
	if (s && s[0])
		put_json_str(b, s);
	else
		hbuf_puts(b, "null");
}

static void json_us(struct hbuf *b, const char *key, int64_t ns)
{
	hbuf_puts(b, key);
	if (ns < 0)
		hbuf_puts(b, "null");
	else
		hbuf_put_u64(b, (uint64_t)ns / 1000);
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

static void fmt_json(struct hbuf *b, const struct rlog_rec *r, const struct recfmt_hdrs *h)
{
	struct wall w = wall_of(r->time_us);
	hbuf_puts(b, "{\"time\":\"");
	hbuf_put_i64(b, w.y);
	hbuf_put(b, "-", 1);
	put_fixed(b, w.mo, 2);
	hbuf_put(b, "-", 1);
	put_fixed(b, w.d, 2);
	hbuf_put(b, "T", 1);
	put_fixed(b, w.h, 2);
	hbuf_put(b, ":", 1);
	put_fixed(b, w.mi, 2);
	hbuf_put(b, ":", 1);
	put_fixed(b, w.s, 2);
	hbuf_put(b, ".", 1);
	put_fixed(b, w.us, 6);
	hbuf_puts(b, "Z\",\"id\":\"");
	for (int i = 60; i >= 0; i -= 4)
		hbuf_put(b, &hex[(r->id >> i) & 15], 1);
	hbuf_put(b, "\"", 1);
	json_opt(b, ",\"client\":", r->client);
	json_opt(b, ",\"method\":", r->method);
	json_opt(b, ",\"host\":", r->host);
	json_opt(b, ",\"target\":", r->target);
	hbuf_puts(b, ",\"proto\":");
	if (r->http_major) {
		hbuf_put(b, "\"", 1);
		put_proto(b, r);
		hbuf_put(b, "\"", 1);
	} else {
		hbuf_puts(b, "null");
	}
	hbuf_puts(b, ",\"status\":");
	hbuf_put_u64(b, r->status);
	json_opt(b, ",\"cache\":", r->verdict);
	json_opt(b, ",\"cache_status\":", r->cache_status);
	hbuf_puts(b, ",\"bytes_in\":");
	hbuf_put_u64(b, r->bytes_in);
	hbuf_puts(b, ",\"bytes_out\":");
	hbuf_put_u64(b, r->bytes_out);
	json_us(b, ",\"ttfb_us\":", r->ttfb_ns);
	json_us(b, ",\"duration_us\":", r->duration_ns);
	json_opt(b, ",\"route\":", r->route);
	json_opt(b, ",\"reason\":", r->reason);
	hbuf_puts(b, ",\"loop\":");
	hbuf_put_u64(b, r->loop);
	hbuf_puts(b, ",\"backend\":");
	if (!r->backend[0] && !r->be_attempts) {
		hbuf_puts(b, "null");
	} else {
		json_opt(b, "{\"name\":", r->backend);
		json_opt(b, ",\"server\":", r->server);
		hbuf_puts(b, ",\"attempts\":");
		hbuf_put_u64(b, r->be_attempts);
		hbuf_puts(b, ",\"reused\":");
		hbuf_puts(b, r->be_reused < 0 ? "null" : r->be_reused ? "true" : "false");
		json_us(b, ",\"connect_us\":", r->be_connect_ns);
		json_us(b, ",\"ttfb_us\":", r->be_ttfb_ns);
		json_us(b, ",\"total_us\":", r->be_total_ns);
		hbuf_put(b, "}", 1);
	}
	hbuf_puts(b, ",\"hdr\":{");
	for (unsigned i = 0; h && i < h->n; i++) {
		if (i)
			hbuf_put(b, ",", 1);
		put_json_str(b, h->name[i]);
		hbuf_put(b, ":", 1);
		if (h->value[i])
			put_json_str(b, h->value[i]);
		else
			hbuf_puts(b, "null");
	}
	hbuf_puts(b, "}}\n");
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
		hbuf_puts(b, h->name[i]);
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
		fmt_json(&b, rec, h);
		break;
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
