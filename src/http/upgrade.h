/*
 * upgrade.h - the Upgrade mechanism (RFC 9110 7.8) as a proxy reads it:
 * does a request ask to switch protocols, and does a 101 switch to the
 * protocol it asked for.
 *
 * Upgrade = #protocol, protocol = protocol-name ["/" protocol-version].
 * A request asks for a switch when its Connection lists the option
 * "upgrade" and it has an Upgrade field; names and options match in any
 * case, anywhere in a list, over any number of field lines. An HTTP/1.0
 * request never asks: RFC 9110 7.8 has a server ignore Upgrade in one.
 * Which protocols ringcache makes, and what it does with the others, is
 * serve/tunnel.h's.
 */
#ifndef RINGCACHE_HTTP_UPGRADE_H
#define RINGCACHE_HTTP_UPGRADE_H

#include <stdbool.h>

#include "http/msg.h"

/* Does request M ask for an upgrade at all (Connection: upgrade, an
 * Upgrade field, HTTP/1.1)? */
bool upgrade_asked(const struct hmsg *m);

/* Does request M ask for an upgrade that PROTO ("websocket", lower case)
 * is one of the protocols of? */
bool upgrade_asks_for(const struct hmsg *m, const char *proto);

/* Does the 101 response M switch to PROTO and only to it: its Upgrade
 * fields list exactly one protocol, whose name is PROTO? */
bool upgrade_switches_to(const struct hmsg *m, const char *proto);

#endif
