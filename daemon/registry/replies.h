/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * replies.h — pending replies: for each method call that expects an answer,
 * (caller, serial) → callee and deadline.
 *
 * A registry (a leaf): it knows no peers and sends nothing. Each peer holds
 * one ReplyOwner (its id, the calls it made, the calls waiting on it); an
 * entry lives in its caller's table (keyed by serial, at most the limit the
 * caller passes to replies_may_add(): pending_replies_per_connection) and on
 * its callee's list, so both a reply and a disconnect find it in O(1) per
 * entry. A call with a deadline gets a timer: when it fires the entry is
 * forgotten and handed back to the registry's owner (the expired callback
 * given to replies_new(); the router answers org.busd.Error.Timeout), so a
 * late reply finds nothing and is dropped. When a peer goes,
 * replies_pop_waiting() hands back the calls waiting on it one by one (the
 * core answers each with org.busd.Error.NoReply) and replies_owner_clear()
 * forgets its own.
 *
 * Invariants: an entry is in exactly one caller table and one callee list;
 * replies_total() counts the entries; a timer exists only while its entry
 * does.
 */
#pragma once

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hashmap.h"

typedef struct ReplyRegistry ReplyRegistry;
typedef struct PendingReply PendingReply;

/* Deadlines further away than this are clamped (a timeval must not
 * overflow; a call nobody answers for a day is waiting on nothing). */
#define REPLIES_DEADLINE_MAX_USEC (24ull * 3600ull * 1000000ull)

/* One peer's side of the registry, embedded in the peer: an opaque handle
 * for the registry, which hands back only @id. */
typedef struct ReplyOwner {
        uint64_t id;           /* the peer's id, handed back with its expired calls */
        HashMap *calls;        /* PendingReply by serial: calls it made; NULL until the first */
        PendingReply *waiting; /* calls waiting on it */
        /* its uid's count of calls waited on (registry/quota.h), kept with
         * its own; set by the owner, NULL = none */
        struct QuotaTally *tally;
} ReplyOwner;

struct PendingReply {
        uint64_t serial; /* key in caller->calls */
        ReplyOwner *caller;
        ReplyOwner *callee;
        ReplyRegistry *registry;
        struct event *timer; /* NULL without a deadline */
        PendingReply *callee_prev, *callee_next;
};

/* The call @serial of peer @caller_id passed its deadline without a reply;
 * its entry is already forgotten. */
typedef void (*ReplyExpiredFn)(void *userdata, uint64_t caller_id, uint64_t serial);

/* Results of replies_may_add(). */
enum {
        REPLIES_E_LIMIT = 1,  /* the caller already waits on its limit of calls */
        REPLIES_E_EXISTS = 2, /* the caller already waits on this serial */
};

/* A registry whose deadline timers run on @base, padded by @timer_slack_usec
 * (the loop clock's resolution, so nothing fires early), and whose expired
 * entries go to @expired(@userdata, ...). 0 or -ENOMEM. */
int replies_new(ReplyRegistry **ret, struct event_base *base, uint64_t timer_slack_usec,
                ReplyExpiredFn expired, void *userdata);
/* Free the registry; every owner must have been cleared first
 * (replies_owner_clear()). NULL-safe; returns NULL. */
ReplyRegistry *replies_free(ReplyRegistry *reg);

/* A peer's handle, with no calls. */
void replies_owner_init(ReplyOwner *o, uint64_t id);
/* Forget every call @o made and every call waiting on it, without handing
 * them back, and free its table. */
void replies_owner_clear(ReplyOwner *o);

/* May @caller wait on one more call @serial, within @limit pending calls?
 * 0, REPLIES_E_LIMIT or REPLIES_E_EXISTS (the limit is checked first). */
int replies_may_add(const ReplyOwner *caller, uint64_t serial, size_t limit);

/* Register the call @serial from @caller to @callee with @deadline_ns
 * (absolute CLOCK_MONOTONIC, 0 = none; past: fires at once; further than
 * REPLIES_DEADLINE_MAX_USEC: clamped to it). 0, -EEXIST if @caller already
 * waits on @serial, -ENOMEM (also if the timer cannot be armed); nothing
 * changes on failure. */
int replies_add(ReplyRegistry *reg, ReplyOwner *caller, ReplyOwner *callee, uint64_t serial,
                uint64_t deadline_ns);

/* Entry for (@caller, @serial), or NULL. */
PendingReply *replies_find(const ReplyOwner *caller, uint64_t serial);

/* Forget @r (answered, or refused). */
void replies_remove(PendingReply *r);

/* Calls @caller is waiting on. */
size_t replies_count(const ReplyOwner *caller);
/* Calls pending on the whole bus (GetStats pending_replies). */
uint64_t replies_total(const ReplyRegistry *reg);

/* @callee is going away (or stops answering): forget the next call waiting
 * on it and hand it back as its caller's id and serial; false once there is
 * none. The caller may be @callee itself (a call to oneself). */
bool replies_pop_waiting(ReplyOwner *callee, uint64_t *ret_caller_id, uint64_t *ret_serial);
