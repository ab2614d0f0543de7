/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.h — the listening socket: binding it safely (or taking it from
 * systemd), accepting connections, EMFILE back-off, the pause while the fd
 * budget is short, and removing the socket file at exit if we created it.
 *
 * It knows no peers: each accepted connection goes to its owner's accept
 * callback (the bus, which reads the credentials and admits it or refuses
 * it: bus.c).
 */
#pragma once

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "registry/quota.h"

typedef struct Listener Listener;

/* What a listener needs from the bus that owns it (copied at creation). */
typedef struct ListenerOwner {
        struct event_base *base;
        uint64_t timer_slack_usec; /* added to the back-off timer (bus_timer_add()) */
        const FdBudget *budget;    /* accepting pauses while it lacks room for one more
                                    * connection and BUS_FDS_MAX for the reads that follow */
        /* @fd (CLOEXEC, non-blocking) was accepted: it is the owner's from
         * now on, to admit or to close. */
        void (*accept)(void *userdata, int fd);
        void *userdata;
} ListenerOwner;

/* After EMFILE/ENFILE the listener pauses this long instead of spinning on a
 * connection it cannot accept (hostile-peers.md item 25). */
#define LISTENER_BACKOFF_USEC (100ull * 1000ull)
/* Connections accepted per event before yielding to the peers. */
#define LISTENER_ACCEPTS_PER_EVENT 32u

typedef struct ListenerPath {
        const char *path;
        mode_t dir_mode;    /* for creating the parent directory if missing */
        mode_t socket_mode; /* of the socket file */
        bool check_owner;   /* parent must be owned by us (system/user bus) */
} ListenerPath;

/* Bind and listen on @where. Returns 0 or negative errno (logged). */
int listener_new_bind(Listener **ret, const ListenerOwner *owner, const ListenerPath *where);
/* Use an already listening socket (socket activation); takes @fd on success. */
int listener_new_fd(Listener **ret, const ListenerOwner *owner, int fd);
/* Unlinks the socket file if we created it and it is still ours. */
Listener *listener_free(Listener *l);

int listener_start(Listener *l);
void listener_stop(Listener *l);
/* Fds were released: if accepting was paused because the fd budget was
 * short (bus.h), and it has room again, accept again now. */
void listener_fds_released(Listener *l);
/* Path or a description, for messages. */
const char *listener_describe(const Listener *l);
