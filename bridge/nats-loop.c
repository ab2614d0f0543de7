/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nats-loop.c — libnats's event-loop callbacks on libevent, with the read
 * side followed by the owner's drain (nats-loop.h).
 */
#include "config.h"

#include <event2/event.h>

#include "nats-loop.h"

void nats_loop_init(NatsLoop *l, struct event_base *base, void (*after_read)(void *userdata),
                    void *userdata) {
        *l = (NatsLoop){ .base = base, .after_read = after_read, .userdata = userdata };
}

static void on_readable(evutil_socket_t fd, short what, void *userdata) {
        NatsLoop *l = userdata;

        natsConnection_ProcessReadEvent(l->nc);
        if (l->after_read)
                l->after_read(l->userdata);
}

static void on_writable(evutil_socket_t fd, short what, void *userdata) {
        NatsLoop *l = userdata;

        natsConnection_ProcessWriteEvent(l->nc);
}

static void events_free(NatsLoop *l) {
        if (l->read)
                event_free(l->read);
        if (l->write)
                event_free(l->write);
        l->read = l->write = NULL;
}

natsStatus nats_loop_attach(void **userdata, void *loop, natsConnection *nc, natsSock fd) {
        NatsLoop *l = loop;

        /* Again for each new socket after a reconnect: the old events go. */
        events_free(l);
        l->nc = nc;
        l->read = event_new(l->base, fd, EV_READ | EV_PERSIST, on_readable, l);
        l->write = event_new(l->base, fd, EV_WRITE | EV_PERSIST, on_writable, l);
        if (!l->read || !l->write || event_add(l->read, NULL) < 0) {
                events_free(l);
                return NATS_NO_MEMORY;
        }
        *userdata = l;
        return NATS_OK;
}

/* libnats calls these with its connection lock held, possibly from inside
 * on_readable/on_writable: never wait for a running callback here. */
natsStatus nats_loop_read(void *userdata, bool add) {
        NatsLoop *l = userdata;

        return (add ? event_add(l->read, NULL) : event_del_noblock(l->read)) == 0 ? NATS_OK
                                                                                  : NATS_ERR;
}

natsStatus nats_loop_write(void *userdata, bool add) {
        NatsLoop *l = userdata;

        return (add ? event_add(l->write, NULL) : event_del_noblock(l->write)) == 0 ? NATS_OK
                                                                                    : NATS_ERR;
}

natsStatus nats_loop_detach(void *userdata) {
        events_free(userdata);
        return NATS_OK;
}
