/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.h — the listening socket: binding it safely (or taking it from
 * systemd), accepting connections, admission limits, EMFILE back-off, the
 * pause while the fd budget is short, and removing the socket file at exit
 * if we created it.
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "core/bus.h"

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
int listener_new_bind(Listener **ret, Bus *bus, const ListenerPath *where);
/* Use an already listening socket (socket activation); takes @fd. */
int listener_new_fd(Listener **ret, Bus *bus, int fd);
/* Unlinks the socket file if we created it and it is still ours. */
Listener *listener_free(Listener *l);

int listener_start(Listener *l);
void listener_stop(Listener *l);
/* Fds were released: if accepting was paused because the fd budget was
 * short (bus.h), and it has room again, accept again now. */
void listener_fds_released(Listener *l);
/* Path or a description, for messages. */
const char *listener_describe(const Listener *l);
