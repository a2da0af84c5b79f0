/*
 * harness.h - process and socket helpers for the scenario tests.
 *
 * Scenario tests start the real ringcache daemon (RINGCACHE_BIN) and the real
 * test origin (ORIGIN_BIN) as child processes and talk HTTP/1.1 to them over
 * 127.0.0.1 with a deliberately small, strict raw-socket client, so that what
 * the tests see is exactly what a client on the wire would see.
 *
 * Lifetime rules, because Criterion forks one process per test and runs two
 * at a time:
 *   - every port is picked fresh (free_port) so parallel tests never collide;
 *   - every child gets PR_SET_PDEATHSIG, is recorded in a per-test registry,
 *     and is killed by harness_fini (use it as the suite's .fini) and by an
 *     atexit handler, so nothing outlives a failed or crashed test;
 *   - every wait is bounded (poll timeouts, a deadline on process start/stop).
 *
 * Files (configs, child stderr logs, command output) live in a per-test
 * directory under a per-run directory. A report hook in the runner prints the
 * logs of every failed test and removes the whole run directory when all
 * tests passed.
 */
#ifndef SCENARIO_HARNESS_H
#define SCENARIO_HARNESS_H

#include <criterion/criterion.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifndef RINGCACHE_BIN
#error "RINGCACHE_BIN must be defined (absolute path of the built daemon)"
#endif
#ifndef ORIGIN_BIN
#error "ORIGIN_BIN must be defined (absolute path of the built origin)"
#endif

/* Default per-read and per-send inactivity bound for client connections. */
#define HARNESS_IO_TIMEOUT_MS 5000

/* Use as .fini of every suite: stops every process the test started. */
void harness_fini(void);

/* ---- processes ---------------------------------------------------------- */

struct proc {
	pid_t pid;		 /* 0 once stopped (or never started) */
	int port;		 /* the port it listens on */
	char name[32];		 /* "origin-1", "ringcache-1": names its files too */
	char host[16];		 /* the IPv4 address it listens on; "": 127.0.0.1 */
	char log_path[PATH_MAX]; /* its stdout+stderr */
	char cfg_path[PATH_MAX]; /* ringcache only: the YAML it was given */
	int wait_status;	 /* set once it has been reaped */
};

/*
 * A TCP port on 127.0.0.1 that nothing listens on right now. It is picked
 * below the kernel's ephemeral range so that outgoing connections (the
 * daemon's own to the origins) can never take it between pick and bind.
 */
int free_port(void);

/* Start ORIGIN_BIN -l 127.0.0.1:PORT and wait (max 5 s) until it accepts. */
void start_origin(struct proc *o);
/* The same on a given PORT (0: a free one), e.g. to bring a stopped origin back. */
void start_origin_on(struct proc *o, int port);
/* The same on IP:PORT: another loopback address (127.0.0.2, ...), e.g. for
 * a DNS name's addresses, which share one port. */
void start_origin_at(struct proc *o, const char *ip, int port);

/*
 * Write YAML to a file and start RINGCACHE_BIN -c FILE, stderr to a log.
 * d->port must be the listen port the YAML names; waits (max 5 s) until it
 * accepts. Fails the test, with the daemon's log, if it exits or never listens.
 */
void start_ringcache(struct proc *d, const char *yaml);

/*
 * redis-server on 127.0.0.1:PORT (0: a free one), its files in the test's
 * directory. PERSIST: an append-only file synced at every write, so that
 * one started again on the same port has what it held; else it keeps
 * nothing. Waits (max 5 s) until it accepts.
 */
void start_redis(struct proc *r, int port, bool persist);
/* The same, run as WRAPPER[0] WRAPPER[1].. RINGCACHE_BIN -c FILE (NULL
 * ends WRAPPER; at most 12 words), e.g. under tests/tools/noiouring. */
void start_ringcache_under(struct proc *d, const char *yaml, const char *const *wrapper);

/* SIGTERM, wait up to 3 s, then SIGKILL. Returns the wait status, -1 if not running. */
int stop_proc(struct proc *p);

/*
 * Call at the end of every test that started a daemon: each daemon still
 * running must drain and exit 0 on SIGTERM, and none may have died during
 * the test. Under the sanitizer build, a leak or memory error makes the
 * daemon exit non-zero, so this is where those fail the test.
 */
void harness_end(void);

/* SIGSTOP P and wait (2 s at most) until every thread of it is stopped:
 * kill returns before they are, and a thread still running could answer
 * what the test sends next. Fails the test when they do not stop. */
void proc_stop(struct proc *p);

/* 1 if the process is still running (reaps it if it exited). */
int proc_alive(struct proc *p);

/* VmRSS / VmHWM (peak RSS) from /proc/PID/status in KiB, -1 if unreadable. */
long proc_rss_kib(pid_t pid);
long proc_hwm_kib(pid_t pid);

/* The whole log of a process (malloc'd, NUL-terminated; "" if none). */
char *proc_log(const struct proc *p);

/* ---- daemon configuration ------------------------------------------------ */

/* Knobs of the standard scenario config; NULL/0 fields take the defaults. */
struct rc_cfg {
	int port;	    /* listen port (required) */
	const int *servers; /* backend "app" server ports */
	size_t n_servers;
	const char *connect_timeout;	   /* default 1s */
	const char *first_byte_timeout;	   /* default 1s */
	const char *between_bytes_timeout; /* default 1s */
	const char *client_header;	   /* default 2s */
	const char *client_idle;	   /* default 5s */
	const char *max_header_size;	   /* default 8KiB */
	const char *task_budget;	   /* default: the daemon's (10ms) */
	const char *extra;		   /* appended verbatim (more top-level keys) */
};

/* The daemon YAML for C (malloc'd). */
char *rc_yaml(const struct rc_cfg *c);

/* Start one origin and a daemon whose only backend server is that origin. */
void start_pair(struct proc *o, struct proc *d);

/* ---- files and commands --------------------------------------------------- */

/* This test's private directory (created on first use). */
const char *test_dir(void);

/* Write TEXT to test_dir()/NAME and put its path in PATH_OUT. */
void write_test_file(const char *name, const char *text, char *path_out, size_t path_size);

struct cmd_result {
	int exited;    /* 1 if it exited normally */
	int exit_code; /* valid when exited */
	int timed_out; /* killed because it ran past the timeout */
	char *out;     /* stdout, malloc'd */
	char *err;     /* stderr, malloc'd */
};

/* Run ARGV (argv[0] is a path) with a timeout; output captured in files. */
void run_cmd(char *const argv[], int timeout_ms, struct cmd_result *r);
void cmd_result_free(struct cmd_result *r);

/* ---- raw HTTP/1.1 client --------------------------------------------------- */

struct conn {
	int fd;
	int port;
	int timeout_ms; /* per read/poll inactivity bound */
	char *buf;	/* received but not yet consumed: buf[off, len) */
	size_t cap, off, len;
	int eof;   /* the peer closed (FIN) */
	int reset; /* the peer reset (ECONNRESET): also counts as closed */
};

/* Connect to 127.0.0.1:PORT; fails the test if that is impossible. */
void conn_open(struct conn *c, int port);
/* Same, but returns -errno instead of failing. */
int conn_try_open(struct conn *c, int port);
/* The same to IP:PORT (IPv4). */
int conn_try_open_at(struct conn *c, const char *ip, int port);
void conn_close(struct conn *c);

/* Send all bytes (MSG_NOSIGNAL). 0, or -errno (EPIPE, ECONNRESET, EAGAIN on timeout). */
int conn_send(struct conn *c, const void *data, size_t len);
int conn_send_str(struct conn *c, const char *s);
int conn_sendf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Receive more bytes into C's buffer within TIMEOUT_MS: bytes read, 0 on
 * close (FIN or RST; see eof / reset), -ETIMEDOUT, or another -errno. */
int conn_fill(struct conn *c, int timeout_ms);
/* Bytes already received and not consumed by a response read. */
size_t conn_pending(const struct conn *c);

/*
 * Wait up to TIMEOUT_MS for the peer to close. Data that arrives meanwhile is
 * kept (see conn_pending). Returns 1 if it closed (FIN or RST), 0 if not.
 */
int conn_wait_closed(struct conn *c, int timeout_ms);

/*
 * Read everything until the peer closes, at most TIMEOUT_MS in total.
 * *out (malloc'd, NUL-terminated) gets the pending bytes plus what arrived.
 * Returns 1 if the peer closed, 0 on timeout.
 */
int conn_read_until_close(struct conn *c, int timeout_ms, char **out, size_t *out_len);

struct header {
	char *name;
	char *value;
};

enum framing { FRAME_NONE, FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE };

enum read_result {
	READ_OK = 0,	       /* a head was parsed (see .complete for the body) */
	READ_TIMEOUT = -1,     /* nothing (or no full head) within the timeout */
	READ_CLOSED = -2,      /* the peer closed before sending any byte */
	READ_CLOSED_HEAD = -3, /* the peer closed in the middle of the head */
	READ_BAD = -4,	       /* not a well-formed HTTP/1.x response */
};

struct response {
	int result;	/* enum read_result */
	char *raw_head; /* the head as received, through the blank line */
	int minor;	/* HTTP/1.MINOR */
	int status;
	char *reason;
	struct header *headers;
	size_t n_headers;
	struct header *trailers; /* chunked trailers */
	size_t n_trailers;
	enum framing framing;
	long long content_length; /* -1 unless FRAME_LENGTH */
	size_t n_chunks;	  /* data chunks seen, FRAME_CHUNKED only */
	char *body;		  /* decoded body (NUL-terminated), unless a sink took it */
	size_t body_len;	  /* decoded body bytes received (also counted with a sink) */
	int complete;		  /* the body ended exactly as its framing says */
	int peer_closed;	  /* the peer had closed by the end of this read */
	char error[160];	  /* why result != READ_OK or !complete, for messages */
};

/* The response answers a HEAD request: a head only, whatever it says. */
#define RESP_HEAD 1

/* Receives body bytes instead of storing them; return non-zero to stop reading. */
typedef int (*body_sink)(void *ctx, const char *p, size_t n);

/* Read exactly one response (a 1xx is one response too). Returns r->result. */
int read_response(struct conn *c, struct response *r, int flags);
int read_response_sink(struct conn *c, struct response *r, int flags, body_sink sink, void *ctx);
void response_free(struct response *r);

/* First header (or trailer) named NAME, case-insensitively; NULL if none. */
const char *resp_header(const struct response *r, const char *name);
const char *resp_trailer(const struct response *r, const char *name);
size_t resp_header_count(const struct response *r, const char *name);
/* 1 if the comma-separated header NAME contains TOKEN (case-insensitive). */
int resp_header_has_token(const struct response *r, const char *name, const char *token);

/*
 * Send "METHOD PATH HTTP/1.1" with Host (and EXTRA header lines, each ending
 * in CRLF) and read the response; fails the test unless a response head comes.
 */
void http_req(struct conn *c, const char *method, const char *path, const char *extra,
	      struct response *r);
/* GET on a fresh connection (closed afterwards); fails the test if no head arrives. */
void http_get_once(int port, const char *path, struct response *r);

/* ---- origin helpers ---------------------------------------------------- */

/* The origin body pattern. */
extern const char PATTERN[];
#define PATTERN_LEN 37

char pattern_at(unsigned long long off);
/* malloc'd pattern of N bytes (NUL-terminated). */
char *pattern_make(size_t n);
/* Offset of the first byte of P[0..N) that differs from the pattern at OFF.., or -1. */
long long pattern_mismatch(const char *p, size_t n, unsigned long long off);

/* The origin's /__stats counter (for KEY when not NULL), -1 on failure. */
long origin_requests(int origin_port, const char *key);
/* The same of an origin on IP:PORT. */
long origin_requests_at(const char *ip, int origin_port, const char *key);

/* ---- misc ---------------------------------------------------------------- */

double now_s(void); /* CLOCK_MONOTONIC seconds */
void sleep_ms(int ms);
/* The body of an /echo response split: the request head and the request body. */
int echo_split(const struct response *r, const char **head, size_t *head_len, const char **body,
	       size_t *body_len);
/*
 * The value of the first line NAME: VALUE in an echoed request head (name
 * case-insensitive), copied to OUT; NULL if there is none.
 */
const char *echo_header(const char *head, size_t head_len, const char *name, char *out,
			size_t out_size);
size_t echo_header_count(const char *head, size_t head_len, const char *name);

/* A printable excerpt of a byte string, for assertion messages (rotating static buffers). */
const char *excerpt(const char *p, size_t n);

/* Fail unless P still runs (the daemon must never die of a client's or origin's mistake). */
void assert_alive(struct proc *p);

/* ---- cache and admin helpers ---------------------------------------------- */

/*
 * Start one origin and a daemon whose only backend server is that origin,
 * with EXTRA (more top-level YAML keys: cache, admin...) appended.
 */
void start_pair_extra(struct proc *o, struct proc *d, const char *extra);

/* Poll until something accepts on 127.0.0.1:PORT; 1 if it did within TIMEOUT_MS. */
int port_wait(int port, int timeout_ms);

/* METHOD PATH (with EXTRA header lines) on a fresh connection, closed afterwards. */
void http_once(int port, const char *method, const char *path, const char *extra,
	       struct response *r);

/* The Cache-Status value, or "(none)" (for messages). */
const char *cache_status(const struct response *r);
/*
 * 1 if Cache-Status has ITEM among its ';'-separated members, compared
 * exactly after trimming: "hit", "stored", "collapsed", "fwd=stale",
 * "detail=hit-for-miss".
 */
int cache_status_has(const struct response *r, const char *item);
/* The integer value of the Cache-Status parameter NAME ("ttl", "fwd-status"), or DEF. */
long cache_status_param(const struct response *r, const char *name, long def);

/* The number after "NAME": in a flat JSON object, or DEF if there is none. */
long long json_number(const char *json, const char *name, long long def);

/* Percent-encode S for a query value into OUT (every byte but unreserved ones). */
const char *pct_encode(const char *s, char *out, size_t out_size);

#endif
