/*
 * forward.h - the request head ringcache sends to a backend, and the
 * request fields that say where a request came from or what it "really"
 * is, which a cache must not take from just anyone.
 *
 * The head (forward_head_build) is built from the client's parsed request:
 * hop-by-hop fields removed (Upgrade kept for an upgrade the proxy makes),
 * Via and X-Forwarded-For appended, framing re-emitted. For a cache fetch
 * the method may be changed (HEAD is fetched as GET so the body can be
 * stored), the client's own conditionals and Range are dropped (the cache
 * wants the whole representation) and the cache's validators added.
 *
 * Forwarding fields (Forwarded, X-Forwarded-Host, -Proto, ...) are set by
 * a proxy in front of ringcache; applications build absolute URLs,
 * redirects and "secure" decisions from them, so a response depends on
 * them although no Vary says so. From a client that is not a trusted
 * proxy they are removed; from a trusted one they are forwarded and made
 * part of the cache key (forward_key).
 *
 * Override fields (X-HTTP-Method-Override, X-Original-URL, ...) make some
 * frameworks act on another method or URL than the request line says: a
 * GET that is really a DELETE, or /public that is really /admin. From an
 * untrusted client they are removed; a request from a trusted proxy that
 * carries one is passed, never looked up or stored.
 *
 * Address fields (X-Forwarded-For, X-Real-IP, ...) say who the client
 * is: from an untrusted client they are removed (X-Forwarded-For then
 * starts anew with the peer's address, reqhead.c); from a trusted one they
 * are forwarded, X-Forwarded-For appended to. They are not keyed.
 *
 * Names match in any case and with '_' for '-': many backends fold both
 * into one variable (HTTP_X_FORWARDED_HOST).
 */
#ifndef RINGCACHE_HTTP_FORWARD_H
#define RINGCACHE_HTTP_FORWARD_H

#include <stdbool.h>
#include <stddef.h>

#include "http/edits.h"
#include "http/hbuf.h"
#include "http/msg.h"

enum forward_kind {
	FORWARD_NONE,
	FORWARD_FORWARDING, /* keyed when trusted, removed otherwise */
	FORWARD_OVERRIDE,   /* passes when trusted, removed otherwise */
	FORWARD_ADDRESS,    /* forwarded when trusted, removed otherwise */
};

/* Which kind of field F of M is. */
enum forward_kind forward_kind_of(const struct hmsg *m, const struct hfield *f);

/*
 * The forwarding part of REQ's cache key into OUT: for each forwarding
 * field present, in a fixed order, its name and its field lines joined
 * with ", " (for Forwarded every pair but for= and by=, which name the
 * client and would make every client's copy its own). Empty when there is
 * none. Returns the length, or -1 when it does not fit in CAP.
 */
int forward_key(const struct hmsg *req, char *out, size_t cap);

/* The field a cluster member adds to a request it forwards to the key's
 * owner, with the cluster's token (backend/cluster.h). */
#define FORWARD_HOP_FIELD "Ringcache-Hop"

struct forward_head_opts {
	const char *peer_ip;	   /* appended to X-Forwarded-For */
	const char *method;	   /* NULL: the request's own */
	bool strip_conditionals;   /* drop If-*, Range */
	const char *if_none_match; /* validators to add (NULL: none) */
	size_t inm_len;
	const char *if_modified_since;
	size_t ims_len;
	const char
	    *target; /* the request-target to send (a route's rewrite); NULL: the request's */
	size_t target_len;
	const char *host; /* the Host to send (a route's backend_host); NULL: the request's */
	size_t host_len;
	const struct hedits *edits; /* header rules (http/edits.h); NULL: none */
	bool forwarded;		    /* append an RFC 7239 Forwarded element */
	/* An upgrade the proxy makes (a tunnel, serve/tunnel.h): the Upgrade
	 * fields are kept and "Connection: upgrade" is sent, the other
	 * hop-by-hop fields still go (RFC 9110 7.8). */
	bool upgrade;
	/* A cluster member forwarding to a key's owner (backend/cluster.h):
	 * the hop field (FORWARD_HOP_FIELD) with this token is added, and no
	 * X-Forwarded-Proto or Forwarded element of ours, since the owner
	 * trusts the forwarding fields it gets and keys on them: they must be
	 * the client's, as they were here. NULL: an ordinary request. A hop
	 * field the request itself carries is never sent on. */
	const char *hop_token;
};

/* Write the head into B. Returns 0, or an HTTP status (400 when the
 * Connection field names too many fields, 431 when B overflows). Sets
 * *CHUNKED when the body is sent chunked. */
int forward_head_build(struct hbuf *b, const struct hmsg *m, const struct forward_head_opts *o,
		       bool *chunked);

#endif
