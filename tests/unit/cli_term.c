/*
 * cli_term.c - cli/term.c on a pseudo-terminal made standard input and
 * output: keys decoded (and the next one left whole), the wait for a key
 * or another descriptor, the size, a frame's bytes, the modes put back,
 * the terminal going away, a resize, and a quit signal ending the program
 * by that signal.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/term.h"

static int master = -1;
static struct termios before;

/* A pseudo-terminal whose other end (the slave) becomes stdin and stdout. */
static void on_pty(void)
{
	master = posix_openpt(O_RDWR | O_NOCTTY);
	cr_assert_geq(master, 0);
	cr_assert_eq(grantpt(master), 0);
	cr_assert_eq(unlockpt(master), 0);
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	cr_assert_geq(slave, 0);
	cr_assert_geq(dup2(slave, STDIN_FILENO), 0);
	cr_assert_geq(dup2(slave, STDOUT_FILENO), 0);
	close(slave);
	cr_assert_eq(tcgetattr(STDIN_FILENO, &before), 0);
	setenv("TERM", "xterm", 1);
}

static void type(const char *s)
{
	cr_assert_eq(write(master, s, strlen(s)), (ssize_t)strlen(s));
}

/* What the program wrote to the terminal, until WANT was seen (2 s at most). */
static char *screen_until(const char *want)
{
	static char got[8192];
	size_t n = 0;
	got[0] = '\0';
	for (int i = 0; i < 200 && !strstr(got, want); i++) {
		struct pollfd p = {.fd = master, .events = POLLIN};
		if (poll(&p, 1, 10) <= 0)
			continue;
		ssize_t r = read(master, got + n, sizeof(got) - 1 - n);
		if (r > 0)
			n += (size_t)r;
		got[n] = '\0';
	}
	return got;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

Test(cli_term, keys_bytes_and_sequences, .init = on_pty)
{
	cr_assert(term_usable());
	cr_assert_eq(term_enter(), 0);
	cr_assert_eq(term_key(), TERM_KEY_NONE, "nothing typed yet");
	type("\033[A\033[B\033[5~\033[6~\033[H\033[F\033[1~\033[4~\033OA\033[1;5B\033[15~q\r ");
	cr_assert(term_wait(-1, 1000) & TERM_READY_KEY);
	const int want[] = {TERM_KEY_UP,   TERM_KEY_DOWN, TERM_KEY_PGUP,  TERM_KEY_PGDN,
			    TERM_KEY_HOME, TERM_KEY_END,  TERM_KEY_HOME,  TERM_KEY_END,
			    TERM_KEY_UP,   TERM_KEY_DOWN, TERM_KEY_OTHER, 'q',
			    '\r', /* Enter as typed */
			    ' ',	   TERM_KEY_NONE};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_eq(term_key(), want[i], "key %zu", i);
	/* Esc alone is itself, once the rest of a sequence did not come. */
	type("\033");
	cr_assert(term_wait(-1, 1000) & TERM_READY_KEY);
	cr_expect_eq(term_key(), 27);
	/* Alt and a key: one key, read whole. */
	type("\033x!");
	cr_assert(term_wait(-1, 1000) & TERM_READY_KEY);
	cr_expect_eq(term_key(), TERM_KEY_OTHER);
	cr_expect_eq(term_key(), '!');
	term_leave();
	cr_expect_eq(term_key(), TERM_KEY_NONE, "not entered");
}

Test(cli_term, wait_for_a_key_or_a_descriptor, .init = on_pty)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	/* Not entered: the descriptor alone. */
	cr_expect_eq(term_wait(p[0], 0), 0);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_expect_eq(term_wait(p[0], 1000), TERM_READY_FD);
	cr_assert_eq(term_enter(), 0);
	type("k");
	cr_expect_eq(term_wait(p[0], 1000), TERM_READY_KEY | TERM_READY_FD);
	cr_expect_eq(term_key(), 'k');
	char c;
	cr_assert_eq(read(p[0], &c, 1), 1);
	double t0 = now_s();
	cr_expect_eq(term_wait(p[0], 100), 0, "the time ran out");
	cr_expect_geq(now_s() - t0, 0.09);
	cr_expect_eq(term_wait(-1, 0), 0);
	term_leave();
}

Test(cli_term, size_frame_and_modes_put_back, .init = on_pty)
{
	struct winsize ws = {.ws_row = 30, .ws_col = 100};
	cr_assert_eq(ioctl(master, TIOCSWINSZ, &ws), 0);
	unsigned rows, cols;
	term_size(&rows, &cols);
	cr_expect(rows == 30 && cols == 100, "%ux%u", rows, cols);
	cr_assert_eq(term_enter(), 0);
	cr_expect_not_null(strstr(screen_until("\033[2J"), "\033[?1049h\033[?25l"),
			   "the alternate screen, no cursor");
	struct termios raw;
	cr_assert_eq(tcgetattr(STDIN_FILENO, &raw), 0);
	cr_expect_eq(raw.c_lflag & (ICANON | ECHO), 0);
	cr_expect_neq(raw.c_lflag & ISIG, 0, "Ctrl-C is still SIGINT");
	/* Each line cleared to its end, the rest of the screen cleared, the
	 * last '\n' not written (it would scroll). */
	term_frame("ab\ncd\n", 6);
	char *got = screen_until("\033[J");
	cr_expect_str_eq(got, "\033[Hab\033[K\r\ncd\033[K\033[J");
	term_leave();
	term_leave(); /* twice: nothing more */
	cr_expect_str_eq(screen_until("\033[?1049l"), "\033[0m\033[?25h\033[?1049l");
	struct termios after;
	cr_assert_eq(tcgetattr(STDIN_FILENO, &after), 0);
	cr_expect_eq(after.c_lflag, before.c_lflag);
	cr_expect_eq(after.c_iflag, before.c_iflag);
	cr_expect_eq(after.c_cc[VMIN], before.c_cc[VMIN]);
}

Test(cli_term, dumb_or_not_a_terminal)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_geq(dup2(p[0], STDIN_FILENO), 0);
	cr_assert_geq(dup2(p[1], STDOUT_FILENO), 0);
	setenv("TERM", "xterm", 1);
	cr_expect_not(term_usable(), "a pipe");
	cr_expect_lt(term_enter(), 0, "a pipe on stdin too");
	on_pty();
	setenv("TERM", "dumb", 1);
	cr_expect_not(term_usable());
	unsetenv("TERM");
	cr_expect_not(term_usable());
	setenv("TERM", "xterm-256color", 1);
	cr_expect(term_usable());
}

Test(cli_term, a_resize_wakes_the_wait, .init = on_pty)
{
	cr_assert_eq(term_enter(), 0);
	cr_expect_not(term_resized());
	raise(SIGWINCH);
	double t0 = now_s();
	cr_expect_eq(term_wait(-1, 5000), 0);
	cr_expect_lt(now_s() - t0, 1, "woken, though the signal came before the wait");
	cr_expect(term_resized());
	cr_expect_not(term_resized(), "cleared by reading it");
	cr_expect_not(term_quit_asked());
	term_leave();
}

Test(cli_term, the_terminal_going_away, .init = on_pty)
{
	cr_assert_eq(term_enter(), 0);
	close(master); /* the slave hangs up */
	double t0 = now_s();
	term_wait(-1, 5000);
	cr_expect_lt(now_s() - t0, 1);
	cr_expect(term_quit_asked());
	cr_expect_eq(term_key(), TERM_KEY_NONE);
}

Test(cli_term, a_quit_signal_asks_then_ends_by_it, .init = on_pty, .signal = SIGTERM)
{
	cr_assert_eq(term_enter(), 0);
	raise(SIGTERM);
	/* Not ended yet: the view gets to finish its frame. */
	cr_assert(term_quit_asked());
	double t0 = now_s();
	cr_assert_eq(term_wait(-1, 5000), 0);
	cr_assert_lt(now_s() - t0, 1);
	term_leave();
	cr_assert_fail("term_leave returned after SIGTERM");
}

Test(cli_term, a_second_signal_ends_at_once, .init = on_pty, .signal = SIGINT)
{
	cr_assert_eq(term_enter(), 0);
	raise(SIGINT);
	cr_assert(term_quit_asked());
	raise(SIGINT);
	cr_assert_fail("the second SIGINT did not end the program");
}

Test(cli_term, text_from_a_daemon_is_cleaned)
{
	struct {
		const char *in, *out;
	} t[] = {
	    {"/plain/path?q=1", "/plain/path?q=1"},
	    {"/a\x1b]0;pwned\x07/b", "/a?]0;pwned?/b"},		      /* OSC retitle */
	    {"\x1b[2J\x1b[31mred", "?[2J?[31mred"},		      /* CSI */
	    {"del\x7f tab\t nl\n", "del? tab? nl?"},		      /* DEL, C0 */
	    {"caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"}, /* UTF-8 kept */
	    {"c1 \xc2\x9b"
	     "31m",
	     "c1 ??31m"}, /* C1 CSI as UTF-8 */
	    {"raw \x9b"
	     "31m",
	     "raw ?31m"},			    /* a lone C1 byte */
	    {"over \xc0\xaf long", "over ?? long"}, /* overlong '/' */
	    {"cut \xe2\x82", "cut ??"},		    /* a cut sequence */
	    {"sur \xed\xa0\x80", "sur ???"},	    /* a surrogate */
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char b[64];
		snprintf(b, sizeof(b), "%s", t[i].in);
		term_clean(b);
		cr_expect_str_eq(b, t[i].out, "case %zu", i);
	}
}
