/*
 * hist.h - `ringcache hist`: a terminal histogram of a running daemon's
 * response times (or times to first byte) over a sliding window, hits and
 * the rest apart, on a log-scale axis from 1 us to 10 s (cli/histo.h), the
 * way varnishhist draws it: live full screen, or once as plain text (-1).
 */
#ifndef RINGCACHE_CLI_HIST_H
#define RINGCACHE_CLI_HIST_H

/* ARGV[0] is "hist". Exit status: as `ringcache top`'s (cli/top.h). */
int cli_hist_main(int argc, char **argv);

#endif
