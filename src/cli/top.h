/*
 * top.h - `ringcache top`: the URLs (host + target) a running daemon serves
 * most, misses most and answers most with a 5xx, counted over a sliding
 * window (cli/topk.h) from its record stream, the way varnishtop shows
 * log tags: live full screen, or once as plain text (-1).
 */
#ifndef RINGCACHE_CLI_TOP_H
#define RINGCACHE_CLI_TOP_H

/* ARGV[0] is "top". Exit status: 0 on 'q' or after -1's frame, 1 when the
 * daemon could not be reached with -1, 2 for a bad command line or query. */
int cli_top_main(int argc, char **argv);

#endif
