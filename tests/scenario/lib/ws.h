/*
 * ws.h - a WebSocket (RFC 6455) client for the scenario tests, over the
 * harness's struct conn.
 *
 * It is as small and strict as the HTTP client beside it: the handshake's
 * 101 is checked field by field (the accept key with a SHA-1 of its own,
 * independent of the origin's library), every frame it sends is masked
 * with a fresh key unless a test asks otherwise, and every frame it reads
 * is returned as it came (FIN, RSV bits, opcode, mask bit), so a test sees
 * exactly what the peer put on the wire. Reads are bounded by a timeout;
 * bytes that came with the 101 (a server may send frames at once) stay in
 * the conn's buffer and are read as frames.
 */
#ifndef SCENARIO_WS_H
#define SCENARIO_WS_H

#include <stddef.h>

#include "harness.h"

enum ws_opcode {
	WS_CONT = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xa,
};

/* Bits of a frame's first byte, for ws_send_raw. */
#define WS_FIN	0x80
#define WS_RSV1 0x40

#define WS_KEY_LEN    24 /* base64 of 16 random bytes */
#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */
/* The largest payload ws_read_frame takes (a bigger one is WS_READ_BAD). */
#define WS_MAX_PAYLOAD (64u * 1024u * 1024u)

/* ---- the opening handshake ------------------------------------------------ */

/* A fresh random Sec-WebSocket-Key. */
void ws_make_key(char key[WS_KEY_LEN + 1]);
/* The Sec-WebSocket-Accept a server must answer KEY with. */
void ws_accept_for(const char *key, char out[WS_ACCEPT_LEN + 1]);

/*
 * Send "GET PATH HTTP/1.1" with Host, Connection: Upgrade, Upgrade:
 * websocket, Sec-WebSocket-Version: 13, Sec-WebSocket-Key: KEY and EXTRA
 * header lines (each ending in CRLF; NULL for none). 0, or -errno.
 */
int ws_send_upgrade(struct conn *c, const char *path, const char *key, const char *extra);
/*
 * NULL if R is a valid answer to an upgrade with KEY: 101, Upgrade lists
 * websocket, Connection lists upgrade, Sec-WebSocket-Accept is right. Else
 * why not (a static buffer, for assertion messages).
 */
const char *ws_check_101(const struct response *r, const char *key);
/*
 * Upgrade C with a fresh key (ws_send_upgrade, read_response) and fail the
 * test unless a valid 101 comes. R (NULL: not wanted) gets the 101, for
 * its other header fields; the caller frees it.
 */
void ws_handshake(struct conn *c, const char *path, const char *extra, struct response *r);
/* conn_open, then ws_handshake: a connection that speaks WebSocket. */
void ws_open(struct conn *c, int port, const char *path);

/* ---- sending ------------------------------------------------------------------- */

/*
 * One frame whose first byte is B0 (WS_FIN | RSV bits | opcode), payload
 * P[0..LEN), with the shortest length encoding; masked with a fresh key
 * (no byte of it zero, so an unmasking server is caught) unless MASKED is
 * 0. 0, or -errno.
 */
int ws_send_raw(struct conn *c, unsigned b0, int masked, const void *p, size_t len);
/* A whole message (or control frame) in one masked frame. */
int ws_send_frame(struct conn *c, int opcode, const void *p, size_t len);
int ws_send_text(struct conn *c, const char *s);
/* The message P in NFRAG >= 1 frames: OPCODE, then continuations, of
 * near-equal sizes; the last one has FIN. */
int ws_send_fragmented(struct conn *c, int opcode, const void *p, size_t len, size_t nfrag);
/* A close frame with CODE and REASON (may be NULL); CODE < 0: no payload. */
int ws_send_close(struct conn *c, int code, const char *reason);

/* ---- receiving ------------------------------------------------------------------ */

/* The values are those of enum read_result. */
enum ws_read_result {
	WS_READ_OK = 0,
	WS_READ_TIMEOUT = -1,	 /* no whole frame within the timeout */
	WS_READ_CLOSED = -2,	 /* the peer closed before a frame began */
	WS_READ_CLOSED_MID = -3, /* the peer closed in the middle of a frame */
	WS_READ_BAD = -4,	 /* a length no frame may have, or over WS_MAX_PAYLOAD */
};

struct ws_frame {
	int result; /* enum ws_read_result */
	int fin;
	int rsv; /* RSV1..3 as the bits 0x70 of the first byte */
	int opcode;
	int masked;    /* a server's frame must never be */
	char *payload; /* unmasked, NUL-terminated (also when empty); malloc'd */
	size_t len;
	char error[160]; /* why result != WS_READ_OK */
};

/* Read one frame, whole within TIMEOUT_MS (< 0: c->timeout_ms). Returns f->result. */
int ws_read_frame(struct conn *c, struct ws_frame *f, int timeout_ms);
void ws_frame_free(struct ws_frame *f);
/* The status code of a close frame, -1 if it carries none. Its reason is
 * the payload from byte 2 on. */
int ws_close_code(const struct ws_frame *f);
/* A printable name of an opcode, for messages. */
const char *ws_opcode_name(int opcode);

/* ---- checks that fail the test ---------------------------------------------- */

/* Read a frame and fail unless it is one unmasked FIN frame OPCODE with
 * the payload P[0..LEN). */
void ws_expect_frame(struct conn *c, int opcode, const void *p, size_t len);
/* Send the message P in NFRAG frames and fail unless it comes back as one
 * unmasked frame with the same opcode and payload (the origin's echo). */
void ws_expect_echo(struct conn *c, int opcode, const void *p, size_t len, size_t nfrag);
/* Read a frame and fail unless it is a close with CODE (-1: none). */
void ws_expect_close(struct conn *c, int code);
/* The closing handshake from our side: send a close with CODE and REASON,
 * fail unless the same code and reason come back and the peer then closes
 * the TCP connection. */
void ws_close_handshake(struct conn *c, int code, const char *reason);

#endif
