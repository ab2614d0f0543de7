/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * replies.c — the pending-reply table and its deadlines. See replies.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "bus-protocol.h"
#include "process/log.h"
#include "registry/quota.h"
#include "registry/replies.h"
#include "common/util.h"

struct ReplyRegistry {
        struct event_base *base;
        uint64_t timer_slack_usec;
        ReplyExpiredFn expired;
        void *userdata;
        uint64_t n_pending;
};

int replies_new(ReplyRegistry **ret, struct event_base *base, uint64_t timer_slack_usec,
                ReplyExpiredFn expired, void *userdata) {
        ReplyRegistry *reg = calloc(1, sizeof(*reg));

        if (!reg)
                return -ENOMEM;
        reg->base = base;
        reg->timer_slack_usec = timer_slack_usec;
        reg->expired = expired;
        reg->userdata = userdata;
        *ret = reg;
        return 0;
}

ReplyRegistry *replies_free(ReplyRegistry *reg) {
        free(reg);
        return NULL;
}

void replies_owner_init(ReplyOwner *o, uint64_t id) {
        *o = (ReplyOwner){ .id = id };
}

static void reply_timeout_cb(evutil_socket_t fd, short what, void *userdata) {
        PendingReply *r = userdata;
        ReplyRegistry *reg = r->registry;
        uint64_t caller_id = r->caller->id, serial = r->serial;

        replies_remove(r);
        reg->expired(reg->userdata, caller_id, serial);
}

/* Arm @ev to fire no earlier than @deadline_ns (CLOCK_MONOTONIC), clamped. */
static int timer_arm(ReplyRegistry *reg, struct event *ev, uint64_t deadline_ns) {
        uint64_t now = clock_nsec(CLOCK_MONOTONIC);
        uint64_t usec = deadline_ns > now ? (deadline_ns - now + 999) / 1000 : 0;
        struct timeval tv;

        if (usec > REPLIES_DEADLINE_MAX_USEC)
                usec = REPLIES_DEADLINE_MAX_USEC;
        usec += reg->timer_slack_usec;
        tv = (struct timeval){ .tv_sec = (time_t)(usec / USEC_PER_SEC),
                               .tv_usec = (suseconds_t)(usec % USEC_PER_SEC) };
        return evtimer_add(ev, &tv) < 0 ? -ENOMEM : 0;
}

int replies_may_add(const ReplyOwner *caller, uint64_t serial, size_t limit) {
        if (replies_count(caller) >= limit)
                return REPLIES_E_LIMIT;
        if (replies_find(caller, serial))
                return REPLIES_E_EXISTS;
        return 0;
}

int replies_add(ReplyRegistry *reg, ReplyOwner *caller, ReplyOwner *callee, uint64_t serial,
                uint64_t deadline_ns) {
        PendingReply *r;
        size_t held;
        int k;

        if (replies_find(caller, serial))
                return -EEXIST;
        if (!caller->calls) {
                k = hashmap_new(&caller->calls, HASHMAP_KEY_U64);
                if (k < 0)
                        return k;
        }

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->serial = serial;
        r->caller = caller;
        r->callee = callee;
        r->registry = reg;

        if (deadline_ns > 0) {
                r->timer = evtimer_new(reg->base, reply_timeout_cb, r);
                if (!r->timer || timer_arm(reg, r->timer, deadline_ns) < 0) {
                        char name[BUS_UNIQUE_NAME_BUF];

                        /* Without its timer the deadline would pass unnoticed:
                         * the caller is told now (the router answers Failed). */
                        bus_unique_name_format(caller->id, name);
                        log_class(LOG_CLASS_NONE, LOG_WARNING,
                                  "cannot arm the deadline timer of call %llu from %s",
                                  (unsigned long long)serial, name);
                        if (r->timer)
                                event_free(r->timer);
                        free(r);
                        return -ENOMEM;
                }
        }

        held = replies_count(caller);
        k = hashmap_put(caller->calls, &r->serial, r);
        if (k < 0) {
                if (r->timer)
                        event_free(r->timer);
                free(r);
                return k;
        }
        quota_tally_add(caller->tally, held, 1);
        r->callee_next = callee->waiting;
        if (callee->waiting)
                callee->waiting->callee_prev = r;
        callee->waiting = r;
        reg->n_pending++;
        return 0;
}

PendingReply *replies_find(const ReplyOwner *caller, uint64_t serial) {
        return caller->calls ? hashmap_get(caller->calls, &serial) : NULL;
}

void replies_remove(PendingReply *r) {
        ReplyOwner *callee = r->callee;

        quota_tally_add(r->caller->tally, replies_count(r->caller), -1);
        hashmap_remove(r->caller->calls, &r->serial);
        if (r->callee_prev)
                r->callee_prev->callee_next = r->callee_next;
        else
                callee->waiting = r->callee_next;
        if (r->callee_next)
                r->callee_next->callee_prev = r->callee_prev;
        if (r->timer)
                event_free(r->timer);
        r->registry->n_pending--;
        free(r);
}

size_t replies_count(const ReplyOwner *caller) {
        return caller->calls ? hashmap_size(caller->calls) : 0;
}

uint64_t replies_total(const ReplyRegistry *reg) {
        return reg->n_pending;
}

bool replies_pop_waiting(ReplyOwner *callee, uint64_t *ret_caller_id, uint64_t *ret_serial) {
        PendingReply *r = callee->waiting;

        if (!r)
                return false;
        *ret_caller_id = r->caller->id;
        *ret_serial = r->serial;
        replies_remove(r);
        return true;
}

void replies_owner_clear(ReplyOwner *o) {
        size_t state = 0;
        void *v;

        while (o->waiting)
                replies_remove(o->waiting);
        if (o->calls)
                while (hashmap_iterate(o->calls, &state, &v))
                        replies_remove(v);
        o->calls = hashmap_free(o->calls);
}
