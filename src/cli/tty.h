/*
 * tty.h - the terminal of the full-screen subcommands (`ringcache top`,
 * `ringcache hist`): raw keys, the alternate screen, its size, and putting
 * everything back however the process ends.
 *
 * Plain termios and ANSI (VT100/xterm) escapes, no curses: a frame is
 * written whole (cursor home, each line cleared to its end, the rest of the
 * screen cleared) in one write, so it does not flicker.
 *
 * tty_enter installs handlers for SIGINT, SIGTERM, SIGHUP and SIGQUIT that
 * restore the terminal and re-raise the signal, an atexit hook that
 * restores it, and a SIGWINCH handler that only sets a flag. One terminal
 * per process; main thread only.
 *
 * Beside cli/term.h (ringcache stat's, written at the same time): that one
 * waits on standard input alone and decodes keys into a fixed set; top and
 * hist wait on the record stream's socket and the keys in one poll() and
 * take letter keys. One module for all three is a follow-up.
 */
#ifndef RINGCACHE_CLI_TTY_H
#define RINGCACHE_CLI_TTY_H

#include <stdbool.h>
#include <stddef.h>

/* Can the screen be drawn in place: standard input and output are
 * terminals and TERM is set and not "dumb". */
bool tty_usable(void);

/* Raw keys (no echo, no line editing; output processing kept), the
 * alternate screen, the cursor hidden. 0, or -errno (then nothing was
 * changed). */
int tty_enter(void);
/* Put the terminal back as tty_enter found it; safe to call twice, and
 * from a signal handler. */
void tty_leave(void);

/* The size of the terminal on standard output (80 x 24 when unknown). */
void tty_size(unsigned *cols, unsigned *rows);
/* Was the window resized since the last call? */
bool tty_resized(void);

/* A key waiting on standard input: its byte, or -1 when none. Never blocks. */
int tty_key(void);

/* Draw TEXT (lines ending in '\n') as the whole screen. */
void tty_frame(const char *text, size_t len);

#endif
