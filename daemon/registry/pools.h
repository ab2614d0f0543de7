/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pools.h — the payload pools registry (PROTOCOL.md 3.6), a leaf: which pools
 * each peer owns (id, size, the broker's fd), which receivers were sent which
 * pool's fd, which slices each receiver holds and how many holds each slice
 * has over all receivers. It keeps state and answers questions; the core
 * (core/pool-routing.c) decides, sends and charges.
 *
 * Keys: a pool is (owner's unique id, pool id); a slice is (owner, pool,
 * offset, length). A slice delivered twice (in two messages, or twice in one)
 * is held twice and must be released twice. Holds and pools given to a
 * receiver are forgotten when the receiver goes (pools_forget_receiver(),
 * which reports the slices that became free), a pool and every hold on it
 * when its owner goes (pools_forget_owner()).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bus-protocol.h"

typedef struct Pools Pools;

/* One announced pool (read-only to callers). */
typedef struct Pool {
        uint64_t owner;
        uint32_t id;
        uint64_t size;
        int fd; /* the broker's copy, closed when the owner goes */
} Pool;

/* Expected outcomes (positive). */
enum {
        POOLS_E_EXISTS = 1,    /* the owner already has a pool with this id */
        POOLS_E_NOT_HELD,      /* a release of a slice the caller does not hold */
        POOLS_E_SLICES_LIMIT,  /* the receiver would hold more slices than allowed */
        POOLS_E_POOLS_LIMIT,   /* the receiver would be given more pools than allowed */
};

/* 0 or -ENOMEM. */
int pools_new(Pools **ret);
/* Closes every pool's fd. NULL-safe; returns NULL. */
Pools *pools_free(Pools *p);

/* Register pool @id of @owner, @size bytes, fd @fd (taken on success).
 * 0, POOLS_E_EXISTS or -ENOMEM. */
int pools_add(Pools *p, uint64_t owner, uint32_t id, int fd, uint64_t size);
/* The pool, or NULL. */
const Pool *pools_get(const Pools *p, uint64_t owner, uint32_t id);
/* Pools @owner has announced. */
unsigned pools_owned(const Pools *p, uint64_t owner);

/* May @receiver be sent a message of @owner with @slices (@n entries, all
 * naming pools of @owner that exist)? Within @slices_max held slices and
 * @pools_max pools given: 0 and the pools it does not hold yet in @ret_new
 * (room for @n, distinct, in first-use order) and their number in
 * *@ret_n_new; else POOLS_E_SLICES_LIMIT or POOLS_E_POOLS_LIMIT. */
int pools_check_delivery(const Pools *p, uint64_t receiver, uint64_t owner, const BusSlice *slices,
                         unsigned n, uint64_t slices_max, uint64_t pools_max,
                         const Pool **ret_new, unsigned *ret_n_new);
/* Record that @receiver was sent @pool's fd. 0 or -ENOMEM. */
int pools_give(Pools *p, uint64_t receiver, const Pool *pool);
/* Record that @receiver holds each of @slices of @owner (one hold each).
 * -ENOMEM leaves the slices recorded so far (each slice is recorded whole
 * or not at all). */
int pools_hold(Pools *p, uint64_t receiver, uint64_t owner, const BusSlice *slices, unsigned n);
/* Holds on one slice over all receivers. */
uint64_t pools_holds(const Pools *p, uint64_t owner, const BusSlice *slice);

/* @receiver releases one hold of (owner, pool, offset, length): 0 and
 * *@ret_free true if that was the slice's last hold anywhere, or
 * POOLS_E_NOT_HELD (nothing changed). */
int pools_release(Pools *p, uint64_t receiver, uint64_t owner, uint32_t pool, uint64_t offset,
                  uint64_t length, bool *ret_free);
/* Slices @receiver holds (holds counted). */
uint64_t pools_held(const Pools *p, uint64_t receiver);
/* Pools @receiver was given. */
unsigned pools_given(const Pools *p, uint64_t receiver);
/* Pools @receiver was given and holds no slice of (idle), other than
 * @owner's pools that @keep (@n_keep slices) refers to: at most @max of
 * them into @ret; how many. */
unsigned pools_idle_given(const Pools *p, uint64_t receiver, uint64_t owner, const BusSlice *keep,
                          unsigned n_keep, const Pool **ret, unsigned max);
/* Forget that @receiver was given @pool (taken back: it holds no slice of
 * it); a later delivery gives it again. */
void pools_take_back(Pools *p, uint64_t receiver, const Pool *pool);

typedef void (*PoolsSliceFreeFn)(void *userdata, uint64_t owner, uint32_t pool, uint64_t offset,
                                 uint64_t length);
typedef void (*PoolsHolderFn)(void *userdata, uint64_t receiver, uint64_t owner, uint32_t pool);
typedef void (*PoolsGoneFn)(void *userdata, const Pool *pool);

/* @receiver went: drop its holds (calling @freed for each slice whose last
 * hold that was, owner still present) and the pools it was given. */
void pools_forget_receiver(Pools *p, uint64_t receiver, PoolsSliceFreeFn freed, void *userdata);
/* @owner went: for each of its pools, @holder for each receiver given it,
 * then @gone (the pool, before its fd is closed); every hold on its slices
 * is dropped. */
void pools_forget_owner(Pools *p, uint64_t owner, PoolsHolderFn holder, PoolsGoneFn gone,
                        void *userdata);
