/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nats-loop.h — libnats on busd-bridge's libevent loop (natsOptions_SetEventLoop):
 * the NATS socket is read and written from the loop, and after every read
 * the owner's callback drains its synchronous subscriptions there, so a
 * message is handled on the thread that read it.
 *
 * Owns: the read and write events of the one NATS connection. libnats calls
 * attach again from its reconnect thread for each new socket, and detach
 * when the connection is closed; libevent's locking (evthread_use_pthreads)
 * makes that safe.
 */
#pragma once

#include <nats/nats.h>

struct event_base;
struct event;

typedef struct NatsLoop {
        struct event_base *base;
        natsConnection *nc;
        struct event *read;
        struct event *write;
        void (*after_read)(void *userdata);
        void *userdata;
} NatsLoop;

/* Prepare @l for natsOptions_SetEventLoop(opts, l, nats_loop_attach, ...):
 * @after_read(@userdata) runs on the loop after each read of the socket. */
void nats_loop_init(NatsLoop *l, struct event_base *base, void (*after_read)(void *userdata),
                    void *userdata);

natsStatus nats_loop_attach(void **userdata, void *loop, natsConnection *nc, natsSock fd);
natsStatus nats_loop_read(void *userdata, bool add);
natsStatus nats_loop_write(void *userdata, bool add);
natsStatus nats_loop_detach(void *userdata);
