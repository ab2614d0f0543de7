/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * monitor.c — monitors: becoming one, who sees what, and queueing the
 * copies. See monitor.h for the rules.
 *
 * Owns: the Monitor records (one per monitor peer, on the bus's list) and
 * their match rules. Cost when no monitor is attached: the callers test
 * bus->n_monitors and never get here.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "activation/activation.h"
#include "core/driver.h"
#include "common/list.h"
#include "process/log.h"
#include "registry/matches.h"
#include "core/monitor.h"
#include "core/pool-routing.h"
#include "registry/names.h"
#include "registry/replies.h"
#include "common/util.h"

struct Monitor {
        Peer *peer;
        Monitor *monitors_prev, *monitors_next; /* on bus->monitors (list.h) */
        uid_t uid;
        bool privileged; /* root or the bus's uid: sees everything */
        /* scratch for the message being forwarded: it goes to this monitor
         * (pass), or will if it is delivered to a peer of its uid (waiting) */
        bool pass, waiting;
        size_t n_rules;
        BusMatchRule rules[]; /* none = everything */
};

/* Everything one forwarding pass needs to know about its message. */
typedef struct Forward {
        Bus *bus;
        Message *m;
        const BusHeader *h;
        const char *destination_unique; /* unicast: what the destination resolves to */
        const char *const *sender_names;
        size_t n_sender_names;
        bool names_known;
        PeerSenderNames *names_buf; /* where to compute them, if unknown */
} Forward;

int monitor_attach(Bus *bus, Peer *p, const BusMatchRule *rules, size_t n_rules) {
        size_t same_uid = 0;
        bool privileged;
        Monitor *mon;

        privileged = p->creds.uid == 0 || p->creds.uid == bus->uid;
        for (Monitor *o = bus->monitors; o; o = o->monitors_next)
                if (o->uid == p->creds.uid)
                        same_uid++;
        if (bus->n_monitors >= bus->config.monitors)
                return MONITOR_E_BUS_LIMIT;
        if (!privileged && same_uid >= bus->config.monitors_per_uid)
                return MONITOR_E_UID_LIMIT;

        /* n_rules ≤ config.monitor_rules ≤ BUS_MONITOR_RULES_MAX: no overflow. */
        mon = calloc(1, sizeof(*mon) + n_rules * sizeof(BusMatchRule));
        if (!mon)
                return -ENOMEM;
        mon->peer = p;
        mon->uid = p->creds.uid;
        mon->privileged = privileged;
        mon->n_rules = n_rules;
        if (n_rules > 0)
                memcpy(mon->rules, rules, n_rules * sizeof(BusMatchRule));

        /* From here on nothing fails. Leave the bus as a peer, in the order
         * of a disconnect (PROTOCOL.md section 7): its well-known names,
         * then its unique name. */
        match_registry_remove_owner(bus->matches, p->id);
        name_registry_release_all(bus->names, p->id, driver_name_changed, bus);
        peer_answer_waiting(p, false, "the peer became a monitor");
        replies_owner_clear(&p->replies);
        if (bus->activation)
                activation_peer_gone(bus->activation, p);
        driver_emit_name_owner_changed(bus, p->name, p->id, 0);

        LIST_PREPEND(monitors, bus->monitors, mon);
        bus->n_monitors++;
        p->monitor = mon;
        log_peer(LOG_CLASS_NONE, LOG_INFO, p->name, p->creds.uid, p->creds.pid, "monitor",
                 "became a monitor (%s, %zu match rules)",
                 privileged ? "sees all traffic" : "sees its uid's traffic", n_rules);
        return 0;
}

void monitor_detach(Peer *p) {
        Monitor *mon = p->monitor;
        Bus *bus = p->bus;

        if (!mon)
                return;
        LIST_REMOVE(monitors, bus->monitors, mon);
        bus->n_monitors--;
        p->monitor = NULL;
        free(mon);
}

void monitor_refuse_send(Peer *p) {
        peer_disconnect(p, DISCONNECT_PROTOCOL_VIOLATION, BUS_ERR_ACCESS_DENIED,
                        "monitors cannot send");
}

/* The sender's names for match rules on "sender" (peer_sender_names()).
 * Only computed when a rule asks. */
static void forward_sender_names(Forward *f) {
        PeerSenderNames *s = f->names_buf;
        uint64_t id = f->h->sender_id;
        Peer *sender;

        if (f->names_known)
                return;
        f->names_known = true;
        s->n = 0;
        if (id == BUS_DRIVER_ID) {
                s->names[s->n++] = BUS_DRIVER_NAME;
        } else {
                sender = bus_find_peer(f->bus, id);
                if (sender)
                        peer_sender_names(sender, s);
        }
        f->sender_names = s->names;
        f->n_sender_names = s->n;
}

static bool rule_matches(Forward *f, const BusMatchRule *rule) {
        const BusFields *fields = &f->m->fields;

        if (rule->sender[0])
                forward_sender_names(f);
        if (bus_match_rule_matches(rule, f->h, fields, f->sender_names, f->n_sender_names,
                                   f->destination_unique))
                return true;
        /* For a monitor, "destination" may also name the destination field
         * as written (a well-known name, or a name nobody owns). */
        return rule->destination[0] && fields->destination &&
               strcmp(rule->destination, fields->destination) == 0 &&
               bus_match_rule_matches(rule, f->h, fields, f->sender_names, f->n_sender_names,
                                      fields->destination);
}

static bool monitor_wants(const Monitor *mon, Forward *f) {
        if (mon->n_rules == 0)
                return true;
        for (size_t i = 0; i < mon->n_rules; i++)
                if (rule_matches(f, &mon->rules[i]))
                        return true;
        return false;
}

/* Queue one copy. Never fails for anyone else: a monitor that cannot take
 * it is disconnected. */
static void monitor_queue(Monitor *mon, Message *m) {
        Peer *p = mon->peer;
        int r;

        /* Payload fds only go to connections that negotiated them; such a
         * monitor simply does not see messages with payloads. */
        if (m->n_fds > 0 && !(p->features & BUS_FEATURE_PAYLOADS))
                return;
        /* Slices: the pools they point into first (pool-routing.h). */
        if (m->fields.n_slices > 0)
                (void)pool_routing_show_monitor(p, m);
        r = connection_queue(&p->conn, m, false);
        if (r == -ENOBUFS) {
                peer_disconnect(p, DISCONNECT_SLOW_CONSUMER, BUS_ERR_LIMITS_EXCEEDED,
                                "monitor fell behind (outgoing queue full)");
                return;
        }
        if (r < 0) {
                peer_disconnect(p, DISCONNECT_NO_MEMORY, BUS_ERR_FAILED,
                                "out of memory queueing for a monitor");
                return;
        }
        p->messages_received++;
        bus_schedule_flush(p->bus, p);
}

/* Decide for every live monitor whether @f's message is for it: set
 * mon->pass, or mon->waiting if that depends on the message's receivers
 * (an unprivileged monitor whose rules match); returns how many wait. */
static size_t forward_decide(Forward *f, uid_t receiver_uid, bool have_receiver) {
        uint32_t sender_uid = f->h->sender_uid;
        size_t undecided = 0;

        for (Monitor *mon = f->bus->monitors; mon; mon = mon->monitors_next) {
                mon->pass = mon->waiting = false;
                if (mon->peer->state == PEER_DYING || !monitor_wants(mon, f))
                        continue;
                if (mon->privileged || sender_uid == (uint32_t)mon->uid ||
                    (have_receiver && receiver_uid == mon->uid))
                        mon->pass = true;
                else {
                        mon->waiting = true;
                        undecided++;
                }
        }
        return undecided;
}

static void forward_queue(Forward *f) {
        for (Monitor *mon = f->bus->monitors, *next; mon; mon = next) {
                next = mon->monitors_next; /* the list does not change here; be safe anyway */
                if (mon->pass)
                        monitor_queue(mon, f->m);
        }
}

void monitor_forward_addressed(Bus *bus, Message *m, Peer *addressee) {
        const char *dest = m->fields.destination;
        PeerSenderNames names;
        Forward f = { .bus = bus, .m = m, .h = message_header(m), .names_buf = &names };

        if (!dest)
                return; /* a broadcast: router_broadcast() forwards it */
        /* A monitor's own messages (its BecomeMonitor reply, its
         * Disconnected) are not traffic for other monitors. */
        if (addressee && addressee->monitor)
                return;
        if (addressee)
                f.destination_unique = addressee->name;
        else if (strcmp(dest, BUS_DRIVER_NAME) == 0)
                f.destination_unique = BUS_DRIVER_NAME;
        forward_decide(&f, addressee ? addressee->creds.uid : 0, addressee != NULL);
        forward_queue(&f);
}

void monitor_forward_broadcast(Bus *bus, Message *m, const char *const *sender_names,
                               size_t n_sender_names, const uint64_t *receivers, size_t n_receivers) {
        Forward f = { .bus = bus,
                      .m = m,
                      .h = message_header(m),
                      .sender_names = sender_names,
                      .n_sender_names = n_sender_names,
                      .names_known = true };
        size_t undecided;

        undecided = forward_decide(&f, 0, false);
        /* Unprivileged monitors of another uid than the sender's see the
         * signal if it goes to a peer of theirs: one pass over the
         * subscribers for all of them. */
        for (size_t i = 0; i < n_receivers && undecided > 0; i++) {
                Peer *p = bus_find_peer(bus, receivers[i]);

                if (!p)
                        continue;
                for (Monitor *mon = bus->monitors; mon; mon = mon->monitors_next)
                        if (mon->waiting && mon->uid == p->creds.uid) {
                                mon->waiting = false;
                                mon->pass = true;
                                undecided--;
                        }
        }
        forward_queue(&f);
}
