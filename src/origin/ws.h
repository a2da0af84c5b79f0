/*
 * ws.h - WebSocket (RFC 6455) in ringcache-origin: the opening handshake's
 * checks, Sec-WebSocket-Accept, and the echo session that follows a 101.
 *
 * The origin is the far end of a proxy's WebSocket tunnel in the scenario
 * tests, so it is strict where a client's mistake would hide a proxy's
 * (unmasked frames, reserved bits, bad lengths are refused with close code
 * 1002) and it answers every message in one predictable way (one unmasked
 * frame with the same opcode and payload).
 */
#ifndef RINGCACHE_ORIGIN_WS_H
#define RINGCACHE_ORIGIN_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of a Sec-WebSocket-Accept value: base64 of a SHA-1 digest. */
#define WS_ACCEPT_LEN 28

/* The WebSocket fields of one request, pointing into its header lines. */
struct ws_request {
	bool conn_upgrade; /* a Connection field lists the token "upgrade" */
	bool upgrade_ws;   /* an Upgrade field lists the protocol "websocket" */
	const char *key;   /* the Sec-WebSocket-Key value, trimmed; NULL if none */
	size_t key_len;
	unsigned nkeys;	     /* Sec-WebSocket-Key fields seen */
	const char *version; /* the Sec-WebSocket-Version value, trimmed; NULL if none */
	size_t version_len;
	unsigned nversions;
};

/* Collect the fields from HDRS ("Name: Value\r\n" lines as received). */
void ws_request_parse(const char *hdrs, size_t len, struct ws_request *wr);
/* Whether the request asks for WebSocket at all: Upgrade names websocket or
 * a Sec-WebSocket-Key is present. Such a request gets a 101 or a refusal,
 * never an ordinary response. */
bool ws_request_asked(const struct ws_request *wr);
/* NULL if the request (METHOD, HTTP/MAJOR.MINOR) is a valid opening
 * handshake; else why not, with *STATUS set to 400, or 426 for a
 * Sec-WebSocket-Version other than 13. */
const char *ws_handshake_check(const struct ws_request *wr, int method, unsigned major,
			       unsigned minor, int *status);
/* The Sec-WebSocket-Accept value for KEY (NUL-terminated into OUT). */
void ws_accept(const char *key, size_t key_len, char out[WS_ACCEPT_LEN + 1]);

/* What the session does besides echoing (query parameters ws_*). */
struct ws_opts {
	bool silent;	      /* read and discard everything, answer nothing */
	bool has_close_after; /* close (1000) once CLOSE_AFTER messages were echoed */
	uint64_t close_after;
};

/*
 * Speak WebSocket on FD after a 101 went out, until the connection ends.
 * IN (CAP bytes, the caller's input buffer) holds the bytes received after
 * the handshake at [POS, LEN): a client may send frames without waiting
 * for the 101. Returns true when a close frame went out, so the caller
 * should half-close and drain before closing; false when the peer
 * vanished, stalled or the task was cancelled. The caller closes FD.
 */
bool ws_session(int fd, char *in, size_t cap, size_t pos, size_t len, const struct ws_opts *o);

#endif
