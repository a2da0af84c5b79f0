/* term.c - raw keys, the alternate screen and their undoing, in ANSI and termios (term.h). */
#include "cli/term.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static volatile sig_atomic_t entered, quit_sig, gone, resize_flag;
/* The handlers' self-pipe: a signal that comes just before term_wait's
 * poll still wakes it. */
static int wake[2] = {-1, -1};

/* Alternate screen, cursor hidden / attributes off, the cursor and the
 * normal screen back. */
#define ENTER_SEQ "\033[?1049h\033[?25l\033[H\033[2J"
#define LEAVE_SEQ "\033[0m\033[?25h\033[?1049l"

/* How long the rest of an escape sequence may take to follow its Esc. */
#define SEQ_MS 20

bool term_usable(void)
{
	const char *t = getenv("TERM");
	return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && t && *t && strcmp(t, "dumb") != 0;
}

/* Async-signal-safe: write only. */
void term_write(const char *s, size_t len)
{
	while (len) {
		ssize_t w = write(STDOUT_FILENO, s, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		len -= (size_t)w;
	}
}

/* Async-signal-safe: write and tcsetattr only. */
static void restore(void)
{
	if (!entered)
		return;
	entered = 0;
	term_write(LEAVE_SEQ, sizeof(LEAVE_SEQ) - 1);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
}

/* The terminal back, then the end the signal has by default. Within
 * SIG's own handler it is blocked: it ends the program as the handler
 * returns. */
static void die_by(int sig)
{
	restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

void term_leave(void)
{
	restore();
	if (quit_sig)
		die_by(quit_sig);
}

static void poke(void)
{
	char c = 1;
	if (write(wake[1], &c, 1) < 0) {
		/* Full: a poke is already waiting; or no pipe. */
	}
}

static void on_quit(int sig)
{
	int e = errno;
	/* The second asks again: the program did not get to the first. */
	if (!entered || quit_sig)
		die_by(sig);
	quit_sig = sig;
	poke();
	errno = e;
}

static void on_winch(int sig)
{
	(void)sig;
	int e = errno;
	resize_flag = 1;
	poke();
	errno = e;
}

/* Once a process: the self-pipe, the handlers, the exit hook. */
static int hook(void)
{
	static bool hooked;
	if (hooked)
		return 0;
	if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	hooked = true;
	atexit(term_leave);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking call returns, so the program gets to the
	 * flag soon. */
	sa.sa_handler = on_quit;
	const int quits[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	for (size_t i = 0; i < sizeof(quits) / sizeof(quits[0]); i++)
		sigaction(quits[i], &sa, NULL);
	/* A resize must not fail a read that was going on (poll wakes anyway). */
	sa.sa_handler = on_winch;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGWINCH, &sa, NULL);
	return 0;
}

int term_enter(void)
{
	if (tcgetattr(STDIN_FILENO, &saved) < 0)
		return -errno;
	int r = hook();
	if (r < 0)
		return r;
	struct termios raw = saved;
	/* Keys one at a time, not echoed, Ctrl-V/S/Q and Enter as typed; ISIG
	 * stays, so Ctrl-C is SIGINT. Output processing stays: '\n' still
	 * returns the carriage. Reads never wait (term_wait does). */
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | IEXTEN);
	raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return -errno;
	entered = 1;
	term_write(ENTER_SEQ, sizeof(ENTER_SEQ) - 1);
	return 0;
}

void term_size(unsigned *rows, unsigned *cols)
{
	struct winsize ws;
	*rows = 24;
	*cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

bool term_quit_asked(void)
{
	return quit_sig || gone;
}

bool term_resized(void)
{
	bool r = resize_flag != 0;
	resize_flag = 0;
	return r;
}

int term_wait(int fd, int timeout_ms)
{
	struct pollfd p[3] = {
	    {.fd = entered && !gone ? STDIN_FILENO : -1, .events = POLLIN},
	    {.fd = fd, .events = POLLIN},
	    {.fd = entered ? wake[0] : -1, .events = POLLIN},
	};
	if (poll(p, 3, timeout_ms < 0 ? 0 : timeout_ms) <= 0)
		return 0;
	if (p[2].revents) {
		char buf[64];
		while (read(wake[0], buf, sizeof(buf)) > 0) {
		}
	}
	/* A hung-up terminal stays readable with nothing to read. */
	if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
		gone = 1;
	int r = 0;
	if (!gone && (p[0].revents & POLLIN))
		r |= TERM_READY_KEY;
	if (p[1].revents)
		r |= TERM_READY_FD;
	return r;
}

/* One byte of a key, waiting up to MS for it: the byte, or -1. */
static int next_byte(int ms)
{
	if (ms) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		if (poll(&p, 1, ms) <= 0)
			return -1;
	}
	unsigned char c;
	return read(STDIN_FILENO, &c, 1) == 1 ? c : -1;
}

/* The rest of a sequence after its Esc: CSI ("\033[5~", "\033[1;5A") or
 * SS3 ("\033OA"), read up to its final byte so that the next key is left
 * whole. */
static int escape(void)
{
	int c = next_byte(SEQ_MS);
	if (c < 0)
		return 27; /* Esc alone */
	if (c != '[' && c != 'O')
		return TERM_KEY_OTHER; /* Alt and a key */
	int param = 0;
	bool settled = false; /* after ';' come modifiers (Shift, Ctrl) */
	for (int i = 0; i < 8; i++) {
		c = next_byte(SEQ_MS);
		if (c < 0)
			return TERM_KEY_OTHER;
		if (c >= '0' && c <= '9' && !settled && param < 100)
			param = param * 10 + (c - '0');
		else if (c == ';')
			settled = true;
		if (c < 0x40 || c > 0x7e)
			continue; /* not yet the final byte */
		switch (c) {
		case 'A':
			return TERM_KEY_UP;
		case 'B':
			return TERM_KEY_DOWN;
		case 'H':
			return TERM_KEY_HOME;
		case 'F':
			return TERM_KEY_END;
		case '~':
			break;
		default:
			return TERM_KEY_OTHER;
		}
		switch (param) {
		case 1:
		case 7:
			return TERM_KEY_HOME;
		case 4:
		case 8:
			return TERM_KEY_END;
		case 5:
			return TERM_KEY_PGUP;
		case 6:
			return TERM_KEY_PGDN;
		default:
			return TERM_KEY_OTHER;
		}
	}
	return TERM_KEY_OTHER;
}

int term_key(void)
{
	if (!entered)
		return TERM_KEY_NONE;
	int c = next_byte(0);
	if (c < 0)
		return TERM_KEY_NONE;
	return c == '\033' ? escape() : c;
}

void term_frame(const char *text, size_t len)
{
	/* Each line cleared to its end as it is written, then everything
	 * under the last one. A '\n' grows into 4 bytes at most. */
	char *buf = malloc(len * 4 + 16);
	if (!buf)
		return;
	size_t o = 0;
	memcpy(buf + o, "\033[H", 3);
	o += 3;
	for (size_t i = 0; i < len; i++) {
		if (text[i] != '\n') {
			buf[o++] = text[i];
			continue;
		}
		memcpy(buf + o, "\033[K", 3);
		o += 3;
		/* Output processing turns '\n' into a new line's start; the
		 * last line's must not scroll the screen. */
		if (i + 1 < len)
			buf[o++] = '\n';
	}
	memcpy(buf + o, "\033[J", 3);
	o += 3;
	term_write(buf, o);
	free(buf);
}

void term_clean(char *s)
{
	unsigned char *u = (unsigned char *)s;
	while (*u) {
		if (*u < 0x20 || *u == 0x7f) {
			*u++ = '?';
			continue;
		}
		if (*u < 0x80) {
			u++;
			continue;
		}
		/* A UTF-8 sequence: its length from the lead byte, then
		 * continuation bytes; overlong forms and surrogates refused. */
		unsigned n = *u >= 0xf0 && *u <= 0xf4 ? 4 : *u >= 0xe0 ? 3 : *u >= 0xc2 ? 2 : 0;
		if (*u >= 0xf5)
			n = 0;
		uint32_t cp = n == 2 ? *u & 0x1fu : n == 3 ? *u & 0x0fu : *u & 0x07u;
		unsigned k = 1;
		for (; n && k < n; k++) {
			if ((u[k] & 0xc0) != 0x80)
				break;
			cp = (cp << 6) | (u[k] & 0x3fu);
		}
		bool ok = n && k == n && !(n == 3 && cp < 0x800) && !(n == 4 && cp < 0x10000) &&
			  !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff &&
			  !(cp >= 0x80 && cp <= 0x9f); /* C1 controls */
		if (!ok) {
			*u++ = '?';
			continue;
		}
		u += n;
	}
}
