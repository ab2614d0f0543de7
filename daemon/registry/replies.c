/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * replies.c — the pending-reply table and its deadlines. See replies.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "core/driver.h"
#include "process/log.h"
#include "registry/replies.h"
#include "common/util.h"

/* Deadlines further away than this are clamped (a timeval must not
 * overflow; a call nobody answers for a day is waiting on nothing). */
#define REPLY_DEADLINE_MAX_USEC (24ull * 3600ull * USEC_PER_SEC)

static void reply_timeout_cb(evutil_socket_t fd, short what, void *userdata) {
        PendingReply *r = userdata;
        Peer *caller = r->caller;
        uint64_t serial = r->serial;

        reply_free(r);
        driver_send_error(caller->bus, caller, serial, BUS_ERR_TIMEOUT,
                          "the call's deadline passed without a reply");
}

int reply_register(Peer *caller, Peer *callee, uint64_t serial, uint64_t deadline_ns) {
        Bus *bus = caller->bus;
        PendingReply *r;
        int k;

        if (!caller->replies) {
                k = hashmap_new(&caller->replies, HASHMAP_KEY_U64);
                if (k < 0)
                        return k;
        }
        if (hashmap_get(caller->replies, &serial))
                return -EEXIST;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->serial = serial;
        r->caller = caller;
        r->callee = callee;

        if (deadline_ns > 0) {
                uint64_t now = clock_nsec(CLOCK_MONOTONIC);
                uint64_t usec = deadline_ns > now ? (deadline_ns - now + 999) / 1000 : 0;

                if (usec > REPLY_DEADLINE_MAX_USEC)
                        usec = REPLY_DEADLINE_MAX_USEC;
                r->timer = evtimer_new(bus->base, reply_timeout_cb, r);
                if (!r->timer || bus_timer_add(bus, r->timer, usec) < 0) {
                        /* Without its timer the deadline would pass unnoticed:
                         * the caller is told now (router.c answers Failed). */
                        log_class(LOG_CLASS_NONE, LOG_WARNING,
                                  "cannot arm the deadline timer of call %llu from %s",
                                  (unsigned long long)serial, caller->name);
                        if (r->timer)
                                event_free(r->timer);
                        free(r);
                        return -ENOMEM;
                }
        }

        k = hashmap_put(caller->replies, &r->serial, r);
        if (k < 0) {
                if (r->timer)
                        event_free(r->timer);
                free(r);
                return k;
        }
        r->callee_next = callee->callee_replies;
        if (callee->callee_replies)
                callee->callee_replies->callee_prev = r;
        callee->callee_replies = r;
        bus->stats.pending_replies++;
        return 0;
}

PendingReply *reply_find(Peer *caller, uint64_t serial) {
        return caller->replies ? hashmap_get(caller->replies, &serial) : NULL;
}

void reply_free(PendingReply *r) {
        Peer *callee = r->callee;

        hashmap_remove(r->caller->replies, &r->serial);
        if (r->callee_prev)
                r->callee_prev->callee_next = r->callee_next;
        else
                callee->callee_replies = r->callee_next;
        if (r->callee_next)
                r->callee_next->callee_prev = r->callee_prev;
        if (r->timer)
                event_free(r->timer);
        callee->bus->stats.pending_replies--;
        free(r);
}

size_t reply_count(const Peer *caller) {
        return caller->replies ? hashmap_size(caller->replies) : 0;
}

void reply_peer_gone(Peer *p, const char *why) {
        size_t state = 0;
        void *v;

        while (p->callee_replies) {
                PendingReply *r = p->callee_replies;
                Peer *caller = r->caller;
                uint64_t serial = r->serial;

                reply_free(r);
                if (caller != p)
                        driver_send_error(p->bus, caller, serial, BUS_ERR_NO_REPLY, "%s", why);
        }
        if (p->replies)
                while (hashmap_iterate(p->replies, &state, &v))
                        reply_free(v);
}
