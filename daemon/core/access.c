/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * access.c — the core's policy checks and the policy's loading; see
 * access.h and docs/POLICY.md.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/access.h"
#include "process/log.h"
#include "registry/names.h"

int access_load_policy(Bus *bus, const char *config_path, Policy **ret, char **ret_error) {
        PolicyBuilder *b = NULL;
        const char *const *warnings;
        size_t n_warnings;
        Policy *p = NULL;
        int r;

        r = policy_builder_new(&b, bus->uid);
        if (r < 0)
                return r;
        r = policy_builder_add_named_all(b, (const char *const *)bus->policy_sources,
                                         bus->n_policy_sources, ret_error);
        if (r == 0 && config_path) {
                r = policy_builder_add_file(b, config_path, true, ret_error);
                if (r == -ENOENT) /* the configuration's loader judges a missing file */
                        r = 0;
        }
        if (r == 0)
                r = policy_builder_build(b, &p, ret_error);
        if (r == 0) {
                warnings = policy_builder_warnings(b, &n_warnings);
                for (size_t i = 0; i < n_warnings; i++)
                        log_warning("policy: %s", warnings[i]);
                if (policy_n_rules(p) == 0) {
                        bool all_open = true;

                        for (unsigned a = 0; a < _POLICY_ACTION_MAX; a++)
                                all_open = all_open && policy_action_is_open(p, a);
                        if (all_open)
                                p = policy_free(p);
                }
                *ret = p;
        }
        policy_builder_free(b);
        return r;
}

void access_set_policy(Bus *bus, Policy *p) {
        policy_free(bus->policy);
        bus->policy = p;
}

/* The subject of @p: its connect-time uid, primary gid and groups. */
static void subject_of(const Peer *p, PolicySubject *ret) {
        *ret = (PolicySubject){ .uid = p->creds.uid,
                                .gids = &p->creds.gid,
                                .n_gids = 1,
                                .more_gids = p->creds.groups,
                                .n_more_gids = p->creds.n_groups };
}

/* Ask; log and count what is not plainly allowed. */
static bool decide(Bus *bus, Peer *asker, const PolicyRequest *r, int denied_level, char *text,
                   size_t size) {
        /* The whole connect-time identity, gid included (the policy's
         * subjects are uids and gids). */
        const LogPeer who = { asker->name, asker->creds.uid, asker->creds.gid, asker->creds.pid };
        PolicyDecision d;
        PolicySubject s;

        subject_of(asker, &s);
        policy_evaluate(bus->policy, &s, r, &d);
        if (d.allowed && !d.audited)
                return true;
        policy_decision_describe(r, &d, text, size);
        if (d.audited) {
                bus->stats.policy_audit_denials++;
                log_event(LOG_EVENT_DENIED, LOG_CLASS_DENIED, LOG_NOTICE, &who, "policy-audit", NULL,
                          "%s", text);
                return true;
        }
        bus->stats.policy_denials[r->action]++;
        log_event(LOG_EVENT_DENIED, LOG_CLASS_DENIED, denied_level, &who, "policy-denied", NULL,
                  "%s", text);
        return false;
}

bool access_check_(Bus *bus, Peer *asker, const PolicyRequest *r, char *text, size_t size) {
        if (access_open(bus, r->action))
                return true;
        return decide(bus, asker, r, LOG_NOTICE, text, size);
}

bool access_connect(Bus *bus, Peer *p, char *text, size_t size) {
        PolicyRequest r = { .action = POLICY_CONNECT };

        return access_check_(bus, p, &r, text, size);
}

bool access_own(Bus *bus, Peer *p, const char *name, char *text, size_t size) {
        PolicyRequest r = { .action = POLICY_OWN, .name = name };

        return access_check_(bus, p, &r, text, size);
}

/* The remote sender of @m (its ORIGIN, which only a bridge's messages carry:
 * router_dispatch() refuses it from anyone else) into @r; @host receives the
 * host's name. */
static void request_origin(const Message *m, PolicyRequest *r, char host[static BUS_ORIGIN_HOST_MAX + 1]) {
        size_t host_len;
        uint32_t uid;

        if (!m || !m->fields.origin || !bus_origin_parse(m->fields.origin, &host_len, &uid, NULL))
                return;
        memcpy(host, m->fields.origin, host_len);
        host[host_len] = '\0';
        r->remote = true;
        r->remote_host = host;
        r->remote_uid = uid;
}

bool access_activate(Bus *bus, Peer *p, const char *name, Message *m, char *text, size_t size) {
        PolicyRequest r = { .action = POLICY_ACTIVATE, .name = name };
        char host[BUS_ORIGIN_HOST_MAX + 1];

        request_origin(m, &r, host);
        return access_check_(bus, p, &r, text, size);
}

bool access_monitor(Bus *bus, Peer *p, char *text, size_t size) {
        PolicyRequest r = { .action = POLICY_MONITOR };

        return access_check_(bus, p, &r, text, size);
}

bool access_bridge(Bus *bus, Peer *p, char *text, size_t size) {
        PolicyRequest r = { .action = POLICY_BRIDGE };

        return access_check_(bus, p, &r, text, size);
}

/* The well-known names of @p, for rules that name a destination or sender. */
static void request_names(const Peer *p, PeerSenderNames *names, PolicyRequest *r) {
        peer_sender_names(p, names);
        /* names[0] is the unique name: rules name only well-known names */
        r->names = names->names + 1;
        r->n_names = names->n - 1;
}

/* May @receiver be sent @m from @sender_name (names: its well-known ones)?
 * Its remote sender, if a bridge forwarded it, for rules that name one. */
static bool receive_allowed(Bus *bus, Message *m, const char *sender_name, const char *const *names,
                            size_t n_names, Peer *receiver, int denied_level, char *text,
                            size_t size) {
        const BusHeader *h = message_header(m);
        PolicyRequest r = { .action = POLICY_RECEIVE,
                            .name = sender_name,
                            .names = names,
                            .n_names = n_names,
                            .path = m->fields.path,
                            .interface = m->fields.interface,
                            .member = m->fields.member,
                            .type = h->type };
        char host[BUS_ORIGIN_HOST_MAX + 1];

        if (access_open(bus, POLICY_RECEIVE))
                return true;
        request_origin(m, &r, host);
        return decide(bus, receiver, &r, denied_level, text, size);
}

bool access_call(Bus *bus, Peer *sender, Message *m, Peer *callee, char *text, size_t size) {
        PolicyRequest r = { .action = POLICY_CALL,
                            .name = m->fields.destination,
                            .path = m->fields.path,
                            .interface = m->fields.interface,
                            .member = m->fields.member };

        if (!access_open(bus, POLICY_CALL)) {
                PeerSenderNames names;
                char host[BUS_ORIGIN_HOST_MAX + 1];

                request_origin(m, &r, host);

                request_names(callee, &names, &r);
                if (!decide(bus, sender, &r, LOG_NOTICE, text, size))
                        return false;
        }
        if (!access_open(bus, POLICY_RECEIVE)) {
                PeerSenderNames names;

                peer_sender_names(sender, &names);
                return receive_allowed(bus, m, names.names[0], names.names + 1, names.n - 1, callee,
                                       LOG_NOTICE, text, size);
        }
        return true;
}

bool access_emit(Bus *bus, Peer *sender, Message *m, Peer *dest, char *text, size_t size) {
        PolicyRequest r = { .action = POLICY_EMIT,
                            .name = dest ? m->fields.destination : NULL,
                            .broadcast = dest == NULL,
                            .path = m->fields.path,
                            .interface = m->fields.interface,
                            .member = m->fields.member };

        if (!access_open(bus, POLICY_EMIT)) {
                PeerSenderNames names;
                char host[BUS_ORIGIN_HOST_MAX + 1];

                request_origin(m, &r, host);
                if (dest)
                        request_names(dest, &names, &r);
                if (!decide(bus, sender, &r, LOG_NOTICE, text, size))
                        return false;
        }
        if (dest && !access_open(bus, POLICY_RECEIVE)) {
                PeerSenderNames names;

                peer_sender_names(sender, &names);
                return receive_allowed(bus, m, names.names[0], names.names + 1, names.n - 1, dest,
                                       LOG_NOTICE, text, size);
        }
        return true;
}

bool access_receive_broadcast(Bus *bus, Message *m, const char *const *sender_names,
                              size_t n_sender_names, Peer *receiver) {
        char text[ACCESS_TEXT_MAX];

        if (access_open(bus, POLICY_RECEIVE))
                return true;
        return receive_allowed(bus, m, n_sender_names ? sender_names[0] : NULL,
                               n_sender_names ? sender_names + 1 : NULL,
                               n_sender_names ? n_sender_names - 1 : 0, receiver, LOG_DEBUG, text,
                               sizeof(text));
}
