/*
 * term.h - the terminal of the live subcommands (`ringcache stat`, `top`,
 * `hist`): whether there is one worth drawing on, raw keys, a wait for a
 * key or another descriptor, its size, drawing a whole screen, and
 * putting it back however the program ends.
 *
 * Plain ANSI (VT100/xterm) sequences and termios, no curses: every
 * terminal emulator in use understands them, and a pipe or TERM=dumb gets
 * none of them (term_usable says so first).
 *
 * term_enter switches to the alternate screen with the cursor hidden and
 * keys unbuffered and unechoed; Ctrl-C still raises SIGINT. term_leave
 * undoes all of it and is also run at exit. SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT only ask the program to end (term_quit_asked) and wake
 * term_wait, so a frame is never cut in half; term_leave then puts the
 * terminal back and ends the program by that signal, as the shell expects
 * (exit status 128 + N). A second such signal before that ends it at once,
 * the terminal put back first, so a program stuck elsewhere can still be
 * stopped. SIGWINCH sets a flag (term_resized) and wakes term_wait too.
 *
 * One terminal per process, on standard input and output; main thread
 * only (a thread of the caller's should block these signals).
 */
#ifndef RINGCACHE_CLI_TERM_H
#define RINGCACHE_CLI_TERM_H

#include <stdbool.h>
#include <stddef.h>

/* Standard input and output are a terminal and TERM names one that takes
 * cursor movement (set, not "dumb"). */
bool term_usable(void);

/* Enter the live mode described above: 0, or -errno (then nothing was
 * changed). */
int term_enter(void);
/* Leave it (nothing when not entered); safe to call twice, and from a
 * signal handler. Does not return when a signal asked to quit. */
void term_leave(void);

/* Rows and columns of the terminal on standard output now (24 x 80 when
 * it does not say); entered or not. */
void term_size(unsigned *rows, unsigned *cols);

/* A signal asked the program to end, or the terminal went away (its keys
 * hung up); stays true. */
bool term_quit_asked(void);
/* The window changed size since the last call (the flag is cleared by
 * reading it). */
bool term_resized(void);

/* What term_key returns besides a byte (0..255): the keys that come as
 * escape sequences, decoded. */
enum {
	TERM_KEY_NONE = -1, /* no key waiting */
	TERM_KEY_UP = 0x100,
	TERM_KEY_DOWN,
	TERM_KEY_PGUP,
	TERM_KEY_PGDN,
	TERM_KEY_HOME,
	TERM_KEY_END,
	TERM_KEY_OTHER, /* another sequence (F1, Alt-x, ...), read whole */
};

/* The next key typed, without waiting for one: a byte (a lone Esc is
 * 27), a TERM_KEY_* above, or TERM_KEY_NONE. Only the rest of a sequence
 * that began is waited for, briefly. TERM_KEY_NONE when not entered. */
int term_key(void);

/* What term_wait found ready. */
#define TERM_READY_KEY 1 /* term_key has one */
#define TERM_READY_FD  2 /* reading FD will not wait */

/* Wait up to TIMEOUT_MS (0: only look) for a key (when entered) or for FD
 * (-1: none) to be readable: the TERM_READY_* bits, 0 when the time ran
 * out or a signal came (see term_quit_asked, term_resized). */
int term_wait(int fd, int timeout_ms);

/* Make S (NUL-terminated) safe to show on a terminal, in place: C0 and
 * C1 control characters, DEL and bytes that are not well-formed UTF-8
 * become '?', so that text from a daemon (URLs, hosts, its error words)
 * can never move the cursor, retitle the window or change colours. */
void term_clean(char *s);

/* Write LEN bytes of S to standard output whole (a write cut by a signal
 * goes on); gives up silently when the terminal refuses. */
void term_write(const char *s, size_t len);

/* Draw TEXT (lines ending in '\n') as the whole screen, in one write:
 * each line cleared to its end, the rest of the screen cleared, so the
 * old frame never shows through and nothing flickers. */
void term_frame(const char *text, size_t len);

#endif
