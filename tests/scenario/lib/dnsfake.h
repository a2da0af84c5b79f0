/*
 * dnsfake.h - a DNS server the test controls: a thread answering A and
 * AAAA queries over UDP on 127.0.0.1 (a port of its own) from a table the
 * test changes while it runs. Names it does not know get NXDOMAIN; a name
 * with no address of the asked family gets an empty answer (NODATA). It
 * can stop answering one family or both (the queries are then dropped, as
 * a DNS server that went away would).
 *
 * Used by the scenario tests (the daemon's resolver.servers names it) and
 * by the unit tests of backend/dns.c. Each test process has one at most.
 */
#ifndef TESTS_DNSFAKE_H
#define TESTS_DNSFAKE_H

#include <stdbool.h>
#include <stdint.h>

/* Start it; returns its UDP port on 127.0.0.1. */
uint16_t dnsfake_start(void);
/* Stop it (nothing when it is not running). */
void dnsfake_stop(void);

/* NAME (any case) has ADDRS: "10.0.0.1,fd00::1", or "" for no address. */
void dnsfake_set(const char *name, const char *addrs);
/* NAME no longer exists (NXDOMAIN). */
void dnsfake_remove(const char *name);
/* Drop queries of type A / AAAA (true) or answer them again (false). */
void dnsfake_drop(bool a, bool aaaa);
/* Queries received so far, answered or not. */
unsigned dnsfake_queries(void);

#endif
