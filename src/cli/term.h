/*
 * term.h - the live views' terminal: whether there is one worth drawing
 * on, raw keys, its size, and putting it back however the program ends.
 *
 * Plain ANSI (VT100/xterm) sequences and termios, no curses: every
 * terminal emulator in use understands them, and a pipe or TERM=dumb
 * gets none of them (term_usable says so first). term_enter switches to
 * the alternate screen with the cursor hidden and keys unbuffered (Ctrl-C
 * still raises SIGINT); term_leave undoes all of it, and is also run at
 * exit and on SIGINT, SIGTERM and SIGHUP, which only set a flag the view
 * polls (term_quit_asked) so the drawing is never cut in half.
 */
#ifndef RINGCACHE_CLI_TERM_H
#define RINGCACHE_CLI_TERM_H

#include <stdbool.h>

/* Stdout and stdin are a terminal and TERM names one that takes cursor
 * movement (set, not "dumb"). */
bool term_usable(void);

/* Enter the live mode described above; 0, or -1 (not a terminal). */
int term_enter(void);
/* Leave it (nothing when not entered); safe to call twice. */
void term_leave(void);

/* Rows and columns now (24x80 when the terminal does not say). */
void term_size(int *rows, int *cols);

/* A signal asked the program to end / the window changed size since the
 * last call (each flag is cleared by reading it). */
bool term_quit_asked(void);
bool term_resized(void);

/* Keys decoded from stdin. */
enum term_key {
	TERM_KEY_NONE,
	TERM_KEY_QUIT, /* q, Q */
	TERM_KEY_UP,   /* arrow up, k */
	TERM_KEY_DOWN, /* arrow down, j */
	TERM_KEY_PGUP, /* page up, b */
	TERM_KEY_PGDN, /* page down, space */
	TERM_KEY_HOME, /* home, g */
	TERM_KEY_END,  /* end, G */
	TERM_KEY_OTHER,
};

/* Wait up to TIMEOUT_MS for a key: the key, or TERM_KEY_NONE when the time
 * ran out or a signal came (see the flags above). */
enum term_key term_read_key(int timeout_ms);

#endif
