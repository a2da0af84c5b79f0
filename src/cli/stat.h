/*
 * stat.h - `ringcache stat`: a running daemon's numbers, as varnishstat
 * shows Varnish's. It reads GET /metrics every interval (the snapshot
 * /stats renders too, with every number in it) and shows each one with
 * its rate over the interval and its average since start, under a
 * summary (requests, hit ratio, latency, bandwidth, connections, cache,
 * compression, loops, servers).
 *
 * Live on a terminal that can be drawn on; -1 prints the numbers once as
 * plain lines, -j as JSON. On a pipe it acts as -1 (as varnishstat does);
 * on a terminal without cursor control (TERM unset or dumb) it prints
 * plain lines every interval. A daemon that goes away while the live view
 * runs is shown as unreachable and read again each interval.
 */
#ifndef RINGCACHE_CLI_STAT_H
#define RINGCACHE_CLI_STAT_H

/* ARGV[0] is "stat". Exit status: 0 (q, a signal, or the snapshot was
 * printed), 1 when the daemon could not be reached or refused at the first
 * read, 2 for a bad command line. */
int cli_stat_main(int argc, char **argv);

#endif
