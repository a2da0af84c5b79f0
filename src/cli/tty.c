/* tty.c - raw keys, alternate screen and restoring them (see tty.h). */
#include "cli/tty.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static volatile sig_atomic_t active, resized;

#define ENTER_SEQ "\033[?1049h\033[?25l\033[H\033[2J" /* alternate screen, no cursor */
#define LEAVE_SEQ "\033[?25h\033[?1049l"

bool tty_usable(void)
{
	const char *t = getenv("TERM");
	return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && t && *t && strcmp(t, "dumb") != 0;
}

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Async-signal-safe: tcsetattr and write only. */
void tty_leave(void)
{
	if (!active)
		return;
	active = 0;
	write_all(LEAVE_SEQ, sizeof(LEAVE_SEQ) - 1);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
}

static void on_fatal(int sig)
{
	int e = errno;
	tty_leave();
	signal(sig, SIG_DFL);
	raise(sig);
	errno = e;
}

static void on_winch(int sig)
{
	resized = 1;
}

static void at_exit(void)
{
	tty_leave();
}

int tty_enter(void)
{
	static bool hooked;
	if (tcgetattr(STDIN_FILENO, &saved) < 0)
		return -errno;
	struct termios raw = saved;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | IEXTEN);
	raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	/* ISIG stays: Ctrl-C is SIGINT, which restores and re-raises. */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return -errno;
	active = 1;
	if (!hooked) {
		hooked = true;
		atexit(at_exit);
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sigemptyset(&sa.sa_mask);
		sa.sa_handler = on_fatal;
		sa.sa_flags = SA_RESETHAND;
		int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			sigaction(sigs[i], &sa, NULL);
		sa.sa_handler = on_winch;
		sa.sa_flags = SA_RESTART;
		sigaction(SIGWINCH, &sa, NULL);
	}
	write_all(ENTER_SEQ, sizeof(ENTER_SEQ) - 1);
	return 0;
}

void tty_size(unsigned *cols, unsigned *rows)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	} else {
		*cols = 80;
		*rows = 24;
	}
}

bool tty_resized(void)
{
	bool r = resized;
	resized = 0;
	return r;
}

int tty_key(void)
{
	unsigned char c;
	ssize_t n = read(STDIN_FILENO, &c, 1);
	return n == 1 ? c : -1;
}

void tty_frame(const char *text, size_t len)
{
	/* Each line cleared to its end as it is written, then everything
	 * under the last one: the old frame never shows through. A '\n'
	 * grows into 4 bytes at most. */
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
		/* Raw mode kept OPOST, so '\n' still returns the carriage;
		 * the last line's must not scroll the screen. */
		if (i + 1 < len)
			buf[o++] = '\n';
	}
	memcpy(buf + o, "\033[J", 3);
	o += 3;
	write_all(buf, o);
	free(buf);
}
