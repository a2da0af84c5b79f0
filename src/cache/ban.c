/*
 * ban.c - lazy regex bans (see ban.h): a newest-first list of compiled
 * PCRE2 patterns under a rwlock, and per-thread PCRE2 match state.
 *
 * The list is newest first so that a check walks exactly the bans newer
 * than the object and stops at the first one it has already seen, and a
 * prune cuts off a tail. The newest sequence is also kept in an atomic so
 * that the common case, no ban since the object was last checked, costs
 * one load and no lock.
 *
 * Matching state is per thread, created on a thread's first check and
 * freed when it exits (pthread key destructor):
 *  - one pcre2_match_data with a single ovector pair. A ban only needs to
 *    know whether a pattern matched, and pcre2_match reports a match with
 *    rc 0 ("ovector too small") when a pattern has more groups than that,
 *    so one small block serves every ban. Per-ban-per-thread match data
 *    from pcre2_match_data_create_from_pattern would need a thread x ban
 *    table for nothing, and creating one per check is a malloc per check.
 *  - a JIT stack and a match context pointing at it. Without one, JIT code
 *    uses 32 KiB of the machine stack, which here is a 64 KiB coroutine
 *    stack; a context cannot be shared once a per-thread JIT stack is
 *    assigned to it. The interpreter (when JIT is unavailable) keeps its
 *    backtracking frames in the match data, on the heap, since 10.41.
 * The match context also bounds backtracking, so a careless pattern on a
 * long URL cannot stall an event loop.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "cache/ban.h"

#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Backtracking bound per match; the default (10M) is seconds of CPU. */
#define BAN_MATCH_LIMIT 1000000u
/* Nesting bound at compile time: pcre2_compile recurses per group level,
 * and it runs on a coroutine stack in the admin task. */
#define BAN_PARENS_NEST_LIMIT 64u
#define BAN_JIT_STACK_START   (32u * 1024)
#define BAN_JIT_STACK_MAX     (1024u * 1024)

struct ban {
	struct ban *next; /* older */
	uint64_t seq;
	pcre2_code *url_re;  /* NULL: any URL */
	pcre2_code *host_re; /* NULL: any host */
};

struct ban_list {
	pthread_rwlock_t lock;
	struct ban *head; /* newest */
	size_t count;
	uint64_t next_seq;	 /* under the write lock */
	_Atomic uint64_t newest; /* seq of head, 0 when there never was a ban */
};

struct ban_tls {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit_stack;
};

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_key_err;
/* Cached copy of the key's value: the hot path then needs no call. */
static __thread struct ban_tls *tls_cur;

static void tls_free(void *p)
{
	struct ban_tls *t = p;
	if (!t)
		return;
	pcre2_match_data_free(t->md);
	pcre2_match_context_free(t->mctx);
	pcre2_jit_stack_free(t->jit_stack);
	free(t);
}

static void tls_key_init(void)
{
	tls_key_err = pthread_key_create(&tls_key, tls_free);
}

/* This thread's match state, or NULL when out of memory. */
static struct ban_tls *tls_get(void)
{
	if (tls_cur)
		return tls_cur;
	pthread_once(&tls_once, tls_key_init);
	if (tls_key_err)
		return NULL;
	struct ban_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->md = pcre2_match_data_create(1, NULL);
	t->mctx = pcre2_match_context_create(NULL);
	if (!t->md || !t->mctx)
		goto fail;
	pcre2_set_match_limit(t->mctx, BAN_MATCH_LIMIT);
	/* No JIT stack (JIT unsupported here, or out of memory) just means
	 * JIT code falls back to the machine stack; most patterns need far
	 * less than that. */
	t->jit_stack = pcre2_jit_stack_create(BAN_JIT_STACK_START, BAN_JIT_STACK_MAX, NULL);
	if (t->jit_stack)
		pcre2_jit_stack_assign(t->mctx, NULL, t->jit_stack);
	if (pthread_setspecific(tls_key, t))
		goto fail;
	tls_cur = t;
	return t;
fail:
	tls_free(t);
	return NULL;
}

struct ban_list *ban_list_create(void)
{
	struct ban_list *bl = calloc(1, sizeof(*bl));
	if (!bl)
		return NULL;
	if (pthread_rwlock_init(&bl->lock, NULL)) {
		free(bl);
		return NULL;
	}
	bl->next_seq = 1;
	return bl;
}

static void ban_free(struct ban *b)
{
	pcre2_code_free(b->url_re);
	pcre2_code_free(b->host_re);
	free(b);
}

void ban_list_free(struct ban_list **blp)
{
	struct ban_list *bl = *blp;
	if (!bl)
		return;
	*blp = NULL;
	for (struct ban *b = bl->head, *next; b; b = next) {
		next = b->next;
		ban_free(b);
	}
	pthread_rwlock_destroy(&bl->lock);
	free(bl);
}

/* Compile RE; on failure write "WHAT: message at offset N" to ERR. */
static int compile(const char *what, const char *re, uint32_t options, pcre2_compile_context *cctx,
		   pcre2_code **out, char *err, size_t errlen)
{
	int code;
	PCRE2_SIZE off;
	*out = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, options, &code, &off, cctx);
	if (!*out) {
		if (code == PCRE2_ERROR_NOMEMORY || code == PCRE2_ERROR_HEAPLIMIT)
			return -ENOMEM;
		if (err && errlen) {
			PCRE2_UCHAR msg[256];
			if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
				snprintf((char *)msg, sizeof(msg), "error %d", code);
			snprintf(err, errlen, "%s regex: %s at offset %zu", what, (char *)msg,
				 (size_t)off);
		}
		return -EINVAL;
	}
	/* Best effort: without JIT, pcre2_match interprets the pattern. */
	(void)pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);
	return 0;
}

int64_t ban_add(struct ban_list *bl, const char *url_re, const char *host_re, char *err,
		size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!url_re && !host_re) {
		if (err && errlen)
			snprintf(err, errlen, "a ban needs a url or a host regex");
		return -EINVAL;
	}
	struct ban *b = calloc(1, sizeof(*b));
	pcre2_compile_context *cctx = pcre2_compile_context_create(NULL);
	int rc = -ENOMEM;
	if (!b || !cctx)
		goto fail;
	pcre2_set_parens_nest_limit(cctx, BAN_PARENS_NEST_LIMIT);
	/* Compile outside the lock: checks go on meanwhile. */
	if (url_re && (rc = compile("url", url_re, 0, cctx, &b->url_re, err, errlen)) < 0)
		goto fail;
	/* Host names are case-insensitive (RFC 9110 4.2.3), so a host
	 * pattern is too: "Example.COM" is the same site as "example.com". */
	if (host_re &&
	    (rc = compile("host", host_re, PCRE2_CASELESS, cctx, &b->host_re, err, errlen)) < 0)
		goto fail;
	pcre2_compile_context_free(cctx);

	pthread_rwlock_wrlock(&bl->lock);
	b->seq = bl->next_seq++;
	b->next = bl->head;
	bl->head = b;
	bl->count++;
	/* Release: a reader that sees the new seq and then takes the read lock
	 * finds the ban in the list (the lock orders it anyway; this keeps
	 * the lock-free fast path honest on its own). */
	atomic_store_explicit(&bl->newest, b->seq, memory_order_release);
	pthread_rwlock_unlock(&bl->lock);
	return (int64_t)b->seq;
fail:
	pcre2_compile_context_free(cctx);
	if (b)
		ban_free(b);
	return rc;
}

uint64_t ban_seq(struct ban_list *bl)
{
	return atomic_load_explicit(&bl->newest, memory_order_acquire);
}

/*
 * Does RE match SUBJECT? A match error (backtracking limit, JIT stack
 * exhausted, out of memory) counts as a match: the operator asked for
 * these objects to go, and wrongly refetching one object is cheaper than
 * wrongly serving it.
 */
static bool re_match(pcre2_code *re, const char *s, size_t len, struct ban_tls *t)
{
	if (!re)
		return true;
	int rc = pcre2_match(re, (PCRE2_SPTR)(s ? s : ""), s ? len : 0, 0, 0, t->md, t->mctx);
	return rc != PCRE2_ERROR_NOMATCH;
}

/* HOST without a trailing ":port" ("[::1]:8080" -> "[::1]"), so that a
 * pattern anchored with $ matches whatever port the client named. */
static size_t host_strip_port(const char *host, size_t len)
{
	size_t i = len;
	while (i > 0 && host[i - 1] >= '0' && host[i - 1] <= '9')
		i--;
	if (i == 0 || host[i - 1] != ':')
		return len;
	size_t colon = i - 1;
	/* A bare IPv6 address has colons of its own and no port. */
	if (host[0] != '[' && memchr(host, ':', colon))
		return len;
	if (host[0] == '[' && (colon == 0 || host[colon - 1] != ']'))
		return len;
	return colon;
}

bool ban_check(struct ban_list *bl, uint64_t *seq, const char *host, size_t host_len,
	       const char *url, size_t url_len)
{
	/* *SEQ may be checked from several loops at once (two hits on one
	 * object), hence atomic access to it. */
	uint64_t mine = __atomic_load_n(seq, __ATOMIC_RELAXED);
	if (atomic_load_explicit(&bl->newest, memory_order_acquire) <= mine)
		return false;
	struct ban_tls *t = tls_get();
	if (!t)
		return true; /* cannot match: treat as banned, as for a match error */
	if (host)
		host_len = host_strip_port(host, host_len);

	bool banned = false;
	pthread_rwlock_rdlock(&bl->lock);
	uint64_t newest = atomic_load_explicit(&bl->newest, memory_order_relaxed);
	for (struct ban *b = bl->head; b && b->seq > mine; b = b->next) {
		if (re_match(b->url_re, url, url_len, t) &&
		    re_match(b->host_re, host, host_len, t)) {
			banned = true;
			break;
		}
	}
	pthread_rwlock_unlock(&bl->lock);
	/* Never move *SEQ backwards: another thread may have advanced it. */
	if (!banned && newest > mine)
		__atomic_compare_exchange_n(seq, &mine, newest, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
	return banned;
}

size_t ban_prune(struct ban_list *bl, uint64_t oldest)
{
	struct ban *dead = NULL;
	size_t n = 0;
	pthread_rwlock_wrlock(&bl->lock);
	struct ban **pp = &bl->head;
	while (*pp && (*pp)->seq > oldest)
		pp = &(*pp)->next;
	dead = *pp;
	*pp = NULL;
	for (struct ban *b = dead; b; b = b->next)
		n++;
	bl->count -= n;
	pthread_rwlock_unlock(&bl->lock);
	/* Free outside the lock: no check can reach these any more. */
	while (dead) {
		struct ban *next = dead->next;
		ban_free(dead);
		dead = next;
	}
	return n;
}

size_t ban_count(struct ban_list *bl)
{
	pthread_rwlock_rdlock(&bl->lock);
	size_t n = bl->count;
	pthread_rwlock_unlock(&bl->lock);
	return n;
}
