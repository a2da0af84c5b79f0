/* term.c - raw keys, the alternate screen and their undoing, with plain ANSI and termios. */
#include "cli/term.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static volatile sig_atomic_t entered, quit_flag, resize_flag;

/* Alternate screen, cursor hidden / the normal screen and cursor back. */
#define ENTER_SEQ "\033[?1049h\033[?25l\033[H\033[2J"
#define LEAVE_SEQ "\033[0m\033[?25h\033[?1049l"

bool term_usable(void)
{
	const char *t = getenv("TERM");
	return isatty(STDOUT_FILENO) && isatty(STDIN_FILENO) && t && *t && strcmp(t, "dumb") != 0;
}

static void write_all(const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(STDOUT_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

void term_leave(void)
{
	if (!entered)
		return;
	entered = 0;
	write_all(LEAVE_SEQ);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
}

static void on_quit(int sig)
{
	(void)sig;
	quit_flag = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	resize_flag = 1;
}

int term_enter(void)
{
	if (tcgetattr(STDIN_FILENO, &saved) < 0)
		return -1;
	struct termios raw = saved;
	/* Keys one at a time and not echoed; ISIG stays, so Ctrl-C is SIGINT. */
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return -1;
	/* No SA_RESTART: the wait for a key returns at once on a signal. */
	struct sigaction sa = {.sa_handler = on_quit};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	static bool registered;
	if (!registered) {
		atexit(term_leave);
		registered = true;
	}
	entered = 1;
	write_all(ENTER_SEQ);
	return 0;
}

void term_size(int *rows, int *cols)
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
	return quit_flag != 0;
}

bool term_resized(void)
{
	bool r = resize_flag != 0;
	resize_flag = 0;
	return r;
}

/* The rest of an escape sequence that came with ESC, read without waiting. */
static enum term_key escape(void)
{
	char seq[8];
	ssize_t n = read(STDIN_FILENO, seq, sizeof(seq));
	if (n < 2 || (seq[0] != '[' && seq[0] != 'O'))
		return TERM_KEY_OTHER;
	switch (seq[1]) {
	case 'A':
		return TERM_KEY_UP;
	case 'B':
		return TERM_KEY_DOWN;
	case 'H':
		return TERM_KEY_HOME;
	case 'F':
		return TERM_KEY_END;
	case '5':
		return TERM_KEY_PGUP;
	case '6':
		return TERM_KEY_PGDN;
	default:
		return TERM_KEY_OTHER;
	}
}

enum term_key term_read_key(int timeout_ms)
{
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	if (poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms) <= 0)
		return TERM_KEY_NONE;
	char c;
	if (read(STDIN_FILENO, &c, 1) != 1) {
		/* The terminal went away: nothing more will come from it. */
		quit_flag = 1;
		return TERM_KEY_NONE;
	}
	switch (c) {
	case 'q':
	case 'Q':
		return TERM_KEY_QUIT;
	case 'k':
		return TERM_KEY_UP;
	case 'j':
		return TERM_KEY_DOWN;
	case 'b':
		return TERM_KEY_PGUP;
	case ' ':
		return TERM_KEY_PGDN;
	case 'g':
		return TERM_KEY_HOME;
	case 'G':
		return TERM_KEY_END;
	case '\033': {
		struct pollfd q = {.fd = STDIN_FILENO, .events = POLLIN};
		return poll(&q, 1, 20) > 0 ? escape() : TERM_KEY_OTHER;
	}
	default:
		return TERM_KEY_OTHER;
	}
}
