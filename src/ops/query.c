/*
 * query.c - the record query language: a tokenizer and a recursive-descent
 * parser into an array of nodes, and an evaluator that walks them.
 *
 * The daemon compiles queries that arrive over the admin API, so nothing
 * here trusts its input: the text, the nesting and the node count are
 * bounded, and each regex runs with PCRE2 match and depth limits so that a
 * pathological pattern costs a bounded amount of a loop's time.
 */
#include "ops/query.h"
#include "rt/obj.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_MAGIC	  0x51525931u
#define QUERY_MAX_DEPTH	  32
#define REGEX_MATCH_LIMIT 100000 /* backtracking steps per match */
#define REGEX_DEPTH_LIMIT 1000

enum qkind { QK_NUM, QK_DUR, QK_SIZE, QK_STR };

/* One row per field: its name, kind, and where the record keeps it. */
#define QUERY_FIELDS(X)                                                                            \
	X(status, QK_NUM)                                                                          \
	X(time, QK_NUM)                                                                            \
	X(id, QK_NUM)                                                                              \
	X(loop, QK_NUM)                                                                            \
	X(attempts, QK_NUM)                                                                        \
	X(reused, QK_NUM)                                                                          \
	X(bytes_in, QK_SIZE)                                                                       \
	X(bytes_out, QK_SIZE)                                                                      \
	X(ttfb, QK_DUR)                                                                            \
	X(duration, QK_DUR)                                                                        \
	X(be_total, QK_DUR)                                                                        \
	X(be_connect, QK_DUR)                                                                      \
	X(be_ttfb, QK_DUR)                                                                         \
	X(client, QK_STR)                                                                          \
	X(method, QK_STR)                                                                          \
	X(host, QK_STR)                                                                            \
	X(target, QK_STR)                                                                          \
	X(cache, QK_STR)                                                                           \
	X(cache_status, QK_STR)                                                                    \
	X(backend, QK_STR)                                                                         \
	X(server, QK_STR)                                                                          \
	X(route, QK_STR)                                                                           \
	X(reason, QK_STR)

enum qfield {
#define X(n, k) QF_##n,
	QUERY_FIELDS(X)
#undef X
	    QF_HDR, /* hdr.NAME */
};

static const struct {
	const char *name;
	enum qkind kind;
} fields[] = {
#define X(n, k) {#n, k},
    QUERY_FIELDS(X)
#undef X
};

const char query_field_names[] = "status, time, id, loop, attempts, reused, bytes_in, bytes_out, "
				 "ttfb, duration, be_total, be_connect, be_ttfb, client, method, "
				 "host, target, cache, cache_status, backend, server, route, "
				 "reason, hdr.NAME, resp.NAME";

enum qop { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_RE, OP_NRE, OP_PRESENT };
enum qtype { N_AND, N_OR, N_NOT, N_TEST };

struct query_node {
	enum qtype type;
	int a, b; /* children (AND, OR: both; NOT: a) */
	enum qfield field;
	unsigned hdr; /* QF_HDR: index into q->hdr */
	enum qop op;
	int64_t num;
	pcre2_code *re;
	pcre2_match_data *md;
	pcre2_match_context *mc;
	size_t slen;
	char str[QUERY_MAX_STR];
};

/* ------------------------------------------------------------------------ */
/* Tokens                                                                    */

enum tok { T_END, T_LP, T_RP, T_OP, T_WORD, T_NUM, T_STR, T_BAD };

struct parser {
	const char *src;
	size_t pos;
	struct query *q;
	struct query_error *err;
	int depth;
	/* The current token. */
	enum tok t;
	size_t t_at, t_len; /* where it is in SRC */
	enum qop t_op;
	char t_str[QUERY_MAX_STR]; /* a string's decoded text */
	size_t t_slen;
	bool failed;
};

static void fail(struct parser *p, size_t at, const char *fmt, const char *arg)
{
	if (p->failed)
		return;
	p->failed = true;
	p->err->col = (unsigned)at + 1;
	snprintf(p->err->msg, sizeof(p->err->msg), fmt, arg ? arg : "");
}

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-' || c == '/' ||
	       c == ':' || c == '*';
}

static void next(struct parser *p)
{
	const char *s = p->src;
	while (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' || s[p->pos] == '\r')
		p->pos++;
	p->t_at = p->pos;
	char c = s[p->pos];
	if (!c) {
		p->t = T_END;
		p->t_len = 0;
		return;
	}
	if (c == '(' || c == ')') {
		p->t = c == '(' ? T_LP : T_RP;
		p->pos++;
	} else if (c == '"' || c == '\'') {
		size_t n = 0;
		p->pos++;
		for (;;) {
			char d = s[p->pos];
			if (!d) {
				p->t = T_BAD;
				fail(p, p->t_at, "unterminated string%s", NULL);
				return;
			}
			p->pos++;
			if (d == c)
				break;
			if (d == '\\' && (s[p->pos] == c || s[p->pos] == '\\'))
				d = s[p->pos++];
			if (n + 1 >= sizeof(p->t_str)) {
				p->t = T_BAD;
				fail(p, p->t_at, "string longer than 255 bytes%s", NULL);
				return;
			}
			p->t_str[n++] = d;
		}
		p->t_str[n] = '\0';
		p->t_slen = n;
		p->t = T_STR;
	} else if (strchr("=!<>~", c)) {
		static const struct {
			const char *s;
			enum qop op;
		} ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"!~", OP_NRE}, {"<=", OP_LE},
			   {">=", OP_GE}, {"<", OP_LT},	 {">", OP_GT},	 {"~", OP_RE}};
		p->t = T_BAD;
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
			size_t l = strlen(ops[i].s);
			if (strncmp(s + p->pos, ops[i].s, l) == 0) {
				p->t = T_OP;
				p->t_op = ops[i].op;
				p->pos += l;
				break;
			}
		}
		if (p->t == T_BAD) {
			fail(p, p->t_at, "unknown operator (use == != < <= > >= ~ !~)%s", NULL);
			return;
		}
	} else if (isdigit((unsigned char)c) ||
		   (c == '-' && isdigit((unsigned char)s[p->pos + 1]))) {
		p->pos++;
		while (isalnum((unsigned char)s[p->pos]) || s[p->pos] == '.')
			p->pos++;
		p->t = T_NUM;
	} else if (word_char(c)) {
		while (word_char(s[p->pos]))
			p->pos++;
		p->t = T_WORD;
	} else {
		p->t = T_BAD;
		char b[2] = {c, 0};
		fail(p, p->t_at, "unexpected character '%s'", b);
		return;
	}
	p->t_len = p->pos - p->t_at;
}

static bool tok_is(const struct parser *p, const char *kw)
{
	return p->t == T_WORD && p->t_len == strlen(kw) &&
	       strncasecmp(p->src + p->t_at, kw, p->t_len) == 0;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                    */

/* A number with an optional unit of KIND at [AT, AT+LEN): *OUT in the
 * field's unit (ns for durations, bytes for sizes). */
static bool parse_num(struct parser *p, size_t at, size_t len, enum qkind kind, int64_t *out)
{
	char buf[64];
	if (len >= sizeof(buf)) {
		fail(p, at, "number too long%s", NULL);
		return false;
	}
	memcpy(buf, p->src + at, len);
	buf[len] = '\0';
	char *end;
	double v = strtod(buf, &end);
	if (end == buf) {
		fail(p, at, "not a number%s", NULL);
		return false;
	}
	const char *u = end;
	double mul = 1;
	if (*u) {
		static const struct {
			const char *u;
			enum qkind kind;
			double mul;
		} units[] = {
		    {"ns", QK_DUR, 1},
		    {"us", QK_DUR, 1e3},
		    {"ms", QK_DUR, 1e6},
		    {"s", QK_DUR, 1e9},
		    {"m", QK_DUR, 60e9},
		    {"h", QK_DUR, 3600e9},
		    {"b", QK_SIZE, 1},
		    {"k", QK_SIZE, 1024},
		    {"kb", QK_SIZE, 1024},
		    {"kib", QK_SIZE, 1024},
		    {"m", QK_SIZE, 1048576},
		    {"mb", QK_SIZE, 1048576},
		    {"mib", QK_SIZE, 1048576},
		    {"g", QK_SIZE, 1073741824.0},
		    {"gb", QK_SIZE, 1073741824.0},
		    {"gib", QK_SIZE, 1073741824.0},
		};
		bool known = false, found = false;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (strcasecmp(u, units[i].u))
				continue;
			known = true;
			if (units[i].kind == kind) {
				mul = units[i].mul;
				found = true;
				break;
			}
		}
		if (!found) {
			size_t uat = at + (size_t)(u - buf);
			if (!known)
				fail(p, uat, "unknown unit \"%s\"", u);
			else
				fail(p, uat,
				     kind == QK_DUR    ? "unit \"%s\" is not a duration"
				     : kind == QK_SIZE ? "unit \"%s\" is not a size"
						       : "field takes a plain number, not \"%s\"",
				     u);
			return false;
		}
	} else if (kind == QK_DUR) {
		mul = 1e6; /* a bare number of milliseconds */
	}
	double r = v * mul;
	if (!(r > -9.2e18 && r < 9.2e18)) {
		fail(p, at, "number out of range%s", NULL);
		return false;
	}
	if (kind == QK_NUM && v != floor(v)) {
		fail(p, at, "field takes a whole number%s", NULL);
		return false;
	}
	*out = (int64_t)llround(r);
	return true;
}

/* ------------------------------------------------------------------------ */
/* Parser                                                                    */

static int node_new(struct parser *p, enum qtype t)
{
	struct query *q = p->q;
	if (q->n >= QUERY_MAX_NODES) {
		fail(p, p->t_at, "query too long (more than 64 tests and operators)%s", NULL);
		return -1;
	}
	struct query_node *n = &q->nodes[q->n];
	memset(n, 0, offsetof(struct query_node, str));
	n->str[0] = '\0';
	n->type = t;
	n->a = n->b = -1;
	return (int)q->n++;
}

static int parse_or(struct parser *p);

/* The field at the current token: its id (and header slot), or -1. */
static int field_of(struct parser *p, unsigned *hdr)
{
	if (p->t != T_WORD) {
		fail(p, p->t_at, "expected a field name%s", NULL);
		return -1;
	}
	const char *w = p->src + p->t_at;
	size_t l = p->t_len;
	/* hdr.NAME: a request header; resp.NAME: a response header, kept
	 * under its name with RLOG_RESP_MARK in front. */
	size_t pre = l > 4 && strncasecmp(w, "hdr.", 4) == 0	? 4
		     : l > 5 && strncasecmp(w, "resp.", 5) == 0 ? 5
								: 0;
	if (pre) {
		size_t mark = pre == 5;
		size_t nl = l - pre;
		if (nl + mark >= RLOG_HDR_NAME) {
			fail(p, p->t_at + pre,
			     mark ? "header name longer than 30 bytes%s"
				  : "header name longer than 31 bytes%s",
			     NULL);
			return -1;
		}
		char name[RLOG_HDR_NAME];
		name[0] = RLOG_RESP_MARK;
		for (size_t i = 0; i < nl; i++) {
			char c = (char)tolower((unsigned char)w[pre + i]);
			if (!(isalnum((unsigned char)c) || c == '-' || c == '_')) {
				fail(p, p->t_at + pre + i, "bad character in a header name%s",
				     NULL);
				return -1;
			}
			name[mark + i] = c;
		}
		nl += mark;
		name[nl] = '\0';
		struct query *q = p->q;
		for (unsigned i = 0; i < q->nhdr; i++) {
			if (strcmp(q->hdr[i], name) == 0) {
				*hdr = i;
				return QF_HDR;
			}
		}
		if (q->nhdr >= RLOG_HDRS) {
			fail(p, p->t_at, "more than 8 header names in one query%s", NULL);
			return -1;
		}
		memcpy(q->hdr[q->nhdr], name, nl + 1);
		q->hslot[q->nhdr] = (int8_t)q->nhdr;
		*hdr = q->nhdr++;
		return QF_HDR;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strlen(fields[i].name) == l && strncasecmp(fields[i].name, w, l) == 0)
			return (int)i;
	}
	char name[40];
	rlog_copy(name, sizeof(name), w, l);
	fail(p, p->t_at, "unknown field \"%s\"", name);
	if (p->failed && strlen(p->err->msg) + 40 < sizeof(p->err->msg))
		strcat(p->err->msg, " (try: status, cache, target, ttfb, ...)");
	return -1;
}

static enum qkind kind_of(int f)
{
	return f == QF_HDR ? QK_STR : fields[f].kind;
}

static int parse_test(struct parser *p)
{
	size_t field_at = p->t_at;
	unsigned hdr = 0;
	int f = field_of(p, &hdr);
	if (f < 0)
		return -1;
	int id = node_new(p, N_TEST);
	if (id < 0)
		return -1;
	struct query_node *n = &p->q->nodes[id];
	n->field = (enum qfield)f;
	n->hdr = hdr;
	next(p);
	if (p->t != T_OP) {
		n->op = OP_PRESENT; /* a field alone */
		return p->failed ? -1 : id;
	}
	n->op = p->t_op;
	size_t op_at = p->t_at;
	enum qkind k = kind_of(f);
	next(p);
	if (p->failed)
		return -1;
	if (k == QK_STR && (n->op == OP_LT || n->op == OP_LE || n->op == OP_GT || n->op == OP_GE)) {
		fail(p, op_at, "a string field compares with == != ~ !~ only%s", NULL);
		return -1;
	}
	if (k != QK_STR && (n->op == OP_RE || n->op == OP_NRE)) {
		fail(p, op_at, "~ and !~ need a string field%s", NULL);
		return -1;
	}
	if (k == QK_STR) {
		if (p->t == T_STR) {
			memcpy(n->str, p->t_str, p->t_slen + 1);
			n->slen = p->t_slen;
		} else if (p->t == T_WORD || p->t == T_NUM) {
			if (p->t_len >= sizeof(n->str)) {
				fail(p, p->t_at, "value longer than 255 bytes%s", NULL);
				return -1;
			}
			memcpy(n->str, p->src + p->t_at, p->t_len);
			n->str[p->t_len] = '\0';
			n->slen = p->t_len;
		} else {
			fail(p, p->t_at, "expected a value after the operator%s", NULL);
			return -1;
		}
		if (n->op == OP_RE || n->op == OP_NRE) {
			int ec;
			PCRE2_SIZE eo;
			n->re = pcre2_compile((PCRE2_SPTR)n->str, n->slen, 0, &ec, &eo, NULL);
			if (!n->re) {
				char m[120];
				pcre2_get_error_message(ec, (PCRE2_UCHAR *)m, sizeof(m));
				/* The column of the pattern's fault: past the quote. */
				fail(p, p->t_at + (p->t == T_STR ? 1 : 0) + eo, "bad regex: %s", m);
				return -1;
			}
			n->md = pcre2_match_data_create_from_pattern(n->re, NULL);
			n->mc = pcre2_match_context_create(NULL);
			if (!n->md || !n->mc) {
				fail(p, p->t_at, "out of memory%s", NULL);
				return -1;
			}
			pcre2_set_match_limit(n->mc, REGEX_MATCH_LIMIT);
			pcre2_set_depth_limit(n->mc, REGEX_DEPTH_LIMIT);
		}
	} else {
		if (p->t != T_NUM) {
			fail(p, p->t_at, "field \"%s\" needs a number", fields[f].name);
			return -1;
		}
		if (!parse_num(p, p->t_at, p->t_len, k, &n->num))
			return -1;
	}
	(void)field_at;
	next(p);
	return p->failed ? -1 : id;
}

static int parse_unary(struct parser *p)
{
	if (p->failed)
		return -1;
	if (++p->depth > QUERY_MAX_DEPTH) {
		fail(p, p->t_at, "query nested too deeply%s", NULL);
		return -1;
	}
	int r;
	if (tok_is(p, "not")) {
		next(p);
		int a = parse_unary(p);
		if (a < 0)
			return -1;
		r = node_new(p, N_NOT);
		if (r >= 0)
			p->q->nodes[r].a = a;
	} else if (p->t == T_LP) {
		size_t at = p->t_at;
		next(p);
		r = parse_or(p);
		if (r < 0)
			return -1;
		if (p->t != T_RP) {
			fail(p, p->t == T_END ? p->t_at : p->t_at,
			     p->t == T_END ? "missing ')' for the '(' at column %s"
					   : "expected ')' for the '(' at column %s",
			     NULL);
			if (p->failed) {
				char c[24];
				snprintf(c, sizeof(c), "%zu", at + 1);
				size_t l = strlen(p->err->msg);
				if (l + strlen(c) < sizeof(p->err->msg))
					strcat(p->err->msg, c);
			}
			return -1;
		}
		next(p);
	} else {
		r = parse_test(p);
	}
	p->depth--;
	return p->failed ? -1 : r;
}

/* LEFT (WORD RIGHT)*, left-associative: SUB parses each operand. */
static int parse_chain(struct parser *p, const char *word, enum qtype kind,
		       int (*sub)(struct parser *))
{
	int l = sub(p);
	while (l >= 0 && tok_is(p, word)) {
		next(p);
		int r = sub(p);
		if (r < 0)
			return -1;
		int n = node_new(p, kind);
		if (n < 0)
			return -1;
		p->q->nodes[n].a = l;
		p->q->nodes[n].b = r;
		l = n;
	}
	return l;
}

static int parse_and(struct parser *p)
{
	return parse_chain(p, "and", N_AND, parse_unary);
}

static int parse_or(struct parser *p)
{
	return parse_chain(p, "or", N_OR, parse_and);
}

int query_compile(struct query *q, const char *src, struct query_error *err)
{
	memset(q, 0, sizeof(*q));
	memset(err, 0, sizeof(*err));
	q->root = -1;
	size_t len = strlen(src);
	if (len > QUERY_MAX_LEN) {
		err->col = QUERY_MAX_LEN + 1;
		snprintf(err->msg, sizeof(err->msg), "query longer than %d bytes", QUERY_MAX_LEN);
		return -EINVAL;
	}
	q->nodes = calloc(QUERY_MAX_NODES, sizeof(*q->nodes));
	if (!q->nodes)
		return -ENOMEM;
	q->magic = QUERY_MAGIC;
	struct parser p = {.src = src, .q = q, .err = err};
	next(&p);
	if (p.t == T_END && !p.failed)
		return 0; /* empty: everything */
	int root = p.failed ? -1 : parse_or(&p);
	if (root >= 0 && p.t != T_END) {
		fail(&p, p.t_at,
		     p.t == T_RP ? "unexpected ')'%s" : "expected 'and', 'or' or the end%s", NULL);
		root = -1;
	}
	if (root < 0 || p.failed) {
		query_fini(q);
		return -EINVAL;
	}
	q->root = root;
	return 0;
}

void query_bind_hdr(struct query *q, unsigned i, unsigned slot)
{
	CHECK_OBJ_NOTNULL(q, QUERY_MAGIC);
	assert(i < q->nhdr && slot < RLOG_HDRS);
	q->hslot[i] = (int8_t)slot;
}

void query_fini(struct query *q)
{
	if (!q->nodes)
		return;
	for (unsigned i = 0; i < q->n; i++) {
		pcre2_match_data_free(q->nodes[i].md);
		pcre2_match_context_free(q->nodes[i].mc);
		pcre2_code_free(q->nodes[i].re);
	}
	free(q->nodes);
	q->nodes = NULL;
	q->n = 0;
	q->root = -1;
	q->magic = 0;
}

/* ------------------------------------------------------------------------ */
/* Evaluation                                                                */

static int64_t num_of(const struct rlog_rec *r, enum qfield f)
{
	switch (f) {
	case QF_status:
		return r->status;
	case QF_time:
		return r->time_us;
	case QF_id:
		return (int64_t)r->id;
	case QF_loop:
		return r->loop;
	case QF_attempts:
		return r->be_attempts;
	case QF_reused:
		return r->be_reused > 0;
	case QF_bytes_in:
		return (int64_t)r->bytes_in;
	case QF_bytes_out:
		return (int64_t)r->bytes_out;
	case QF_ttfb:
		return r->ttfb_ns;
	case QF_duration:
		return r->duration_ns;
	case QF_be_total:
		return r->be_total_ns;
	case QF_be_connect:
		return r->be_connect_ns;
	case QF_be_ttfb:
		return r->be_ttfb_ns;
	default:
		assert(!"not a number field");
		return 0;
	}
}

static const char *str_of(const struct query *q, const struct rlog_rec *r,
			  const struct query_node *n)
{
	switch (n->field) {
	case QF_client:
		return r->client;
	case QF_method:
		return r->method;
	case QF_host:
		return r->host;
	case QF_target:
		return r->target;
	case QF_cache:
		return r->verdict;
	case QF_cache_status:
		return r->cache_status;
	case QF_backend:
		return r->backend;
	case QF_server:
		return r->server;
	case QF_route:
		return r->route;
	case QF_reason:
		return r->reason;
	case QF_HDR:
		return r->hdr[(unsigned)q->hslot[n->hdr]];
	default:
		assert(!"not a string field");
		return "";
	}
}

static bool test(const struct query *q, const struct query_node *n, const struct rlog_rec *r)
{
	if (kind_of((int)n->field) == QK_STR) {
		const char *s = str_of(q, r, n);
		size_t l = strlen(s);
		switch (n->op) {
		case OP_PRESENT:
			return l > 0;
		case OP_EQ:
			return l == n->slen && memcmp(s, n->str, l) == 0;
		case OP_NE:
			return !(l == n->slen && memcmp(s, n->str, l) == 0);
		case OP_RE:
		case OP_NRE: {
			/* A match that hits the limits counts as no match. */
			int rc = pcre2_match(n->re, (PCRE2_SPTR)s, l, 0, 0, n->md, n->mc);
			return (rc >= 0) == (n->op == OP_RE);
		}
		default:
			assert(!"ordering on a string");
			return false;
		}
	}
	int64_t v = num_of(r, n->field);
	switch (n->op) {
	case OP_PRESENT:
		return v > 0;
	case OP_EQ:
		return v == n->num;
	case OP_NE:
		return v != n->num;
	case OP_LT:
		return v < n->num;
	case OP_LE:
		return v <= n->num;
	case OP_GT:
		return v > n->num;
	case OP_GE:
		return v >= n->num;
	default:
		assert(!"regex on a number");
		return false;
	}
}

static bool eval(const struct query *q, int i, const struct rlog_rec *r)
{
	const struct query_node *n = &q->nodes[i];
	switch (n->type) {
	case N_AND:
		return eval(q, n->a, r) && eval(q, n->b, r);
	case N_OR:
		return eval(q, n->a, r) || eval(q, n->b, r);
	case N_NOT:
		return !eval(q, n->a, r);
	case N_TEST:
		return test(q, n, r);
	}
	return false;
}

bool query_match(const struct query *q, const struct rlog_rec *rec)
{
	if (q->root < 0)
		return true;
	CHECK_OBJ_NOTNULL(q, QUERY_MAGIC);
	return eval(q, q->root, rec);
}
