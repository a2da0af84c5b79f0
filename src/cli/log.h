/*
 * log.h - `ringcache log`: the request record stream of a running daemon
 * (GET /log), filtered by a query (ops/query.h) that is checked here
 * first, so that a mistake is shown with its column before anything is
 * sent, and checked again by the daemon, which trusts no client.
 */
#ifndef RINGCACHE_CLI_LOG_H
#define RINGCACHE_CLI_LOG_H

/* ARGV[0] is "log". Exit status: 0 when the stream ended (or -n records
 * came), 1 when the daemon could not be reached or refused, 2 for a bad
 * command line or query. */
int cli_log_main(int argc, char **argv);

#endif
