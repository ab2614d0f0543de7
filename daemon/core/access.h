/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * access.h — the core's questions to the policy (policy/policy.h,
 * docs/POLICY.md): may this peer connect, own this name, make this call,
 * emit this signal, be sent this message, monitor? Each check builds the
 * request from the message and the peers' names, asks the policy in force
 * (bus->policy), and on a denial logs it with the peer's credentials
 * (rate-limited, reason=policy-denied), counts it (GetStats policy_denials)
 * and writes the text the caller sends with org.busd.Error.AccessDenied. A
 * denial in audit mode is logged (reason=policy-audit) and counted
 * (policy_audit_denials), and the action allowed.
 *
 * Also the loading of the policy: the sources busd --policy named, then the
 * main configuration's "policy" section.
 *
 * An action the policy says nothing about costs one branch (the inline
 * checks below); the caller sends nothing here: it decides what to answer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "core/bus.h"
#include "core/peer.h"
#include "policy/policy.h"
#include "transport/message.h"

/* Room for a denial's text: the request (names, path, member) and the rule. */
#define ACCESS_TEXT_MAX 1536u

/* Build the policy from @bus->policy_sources (or the default of @bus's kind)
 * and the configuration file @config_path (NULL or missing: none). Logs the
 * warnings (names that do not resolve). Returns 0 with *@ret (NULL for an
 * empty policy: everything allowed), POLICY_E_INVALID with a malloc'd reason
 * naming the file and JSON path in *@ret_error, or negative errno. */
int access_load_policy(Bus *bus, const char *config_path, Policy **ret, char **ret_error);

/* Put @p in force (the old one is freed). */
void access_set_policy(Bus *bus, Policy *p);

bool access_check_(Bus *bus, Peer *asker, const PolicyRequest *r, char *text, size_t size);

/* May @p stay connected (its connect-time credentials)? */
bool access_connect(Bus *bus, Peer *p, char *text, size_t size);
/* May @p RequestName @name? */
bool access_own(Bus *bus, Peer *p, const char *name, char *text, size_t size);
/* May @p have @name activated (a call to it while nobody owns it, or
 * StartServiceByName)? For service activation (activation/activation.c),
 * before anything is queued or started; a denial answers AccessDenied with
 * @text. @m: the message asking (NULL if none): one with an ORIGIN is judged
 * by the rules for remote callers (docs/POLICY.md "Remote callers"). */
bool access_activate(Bus *bus, Peer *p, const char *name, Message *m, char *text, size_t size);
/* May @p BecomeMonitor? */
bool access_monitor(Bus *bus, Peer *p, char *text, size_t size);
/* BecomeBridge (docs/BRIDGE.md). */
bool access_bridge(Bus *bus, Peer *p, char *text, size_t size);
/* May @sender make call @m to @callee, and may @callee be sent it? */
bool access_call(Bus *bus, Peer *sender, Message *m, Peer *callee, char *text, size_t size);
/* May @sender emit signal @m: to @dest (unicast; also @dest's receive
 * rules), or as a broadcast (@dest NULL; receivers are asked with
 * access_receive_broadcast())? */
bool access_emit(Bus *bus, Peer *sender, Message *m, Peer *dest, char *text, size_t size);
/* May @receiver be sent broadcast @m whose sender has @sender_names (unique
 * name first)? Denials are counted and logged at debug level only: a
 * receiver its rules keep from a broadcast is like one without a match. */
bool access_receive_broadcast(Bus *bus, Message *m, const char *const *sender_names,
                              size_t n_sender_names, Peer *receiver);

static inline bool access_open(const Bus *bus, PolicyAction a) {
        return policy_action_is_open(bus->policy, a);
}
