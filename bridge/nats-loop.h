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
 * and the loop's own lock (the events, and whether a write is wanted) make
 * that safe.
 */
#pragma once

#include <nats/nats.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct event;

typedef struct NatsLoop {
        struct event_base *base;
        natsConnection *nc;
        pthread_mutex_t lock; /* the fields below: libnats's threads call in too */
        pthread_cond_t detached; /* signalled by nats_loop_detach() */
        struct event *read;
        struct event *write;
        bool write_wanted;  /* libnats has output for the socket */
        bool write_added;   /* the write event is in the loop */
        bool publishing;    /* inside nats_loop_publish(), on the loop thread */
        struct event *flush; /* writes what this turn of the loop published */
        bool flush_pending;  /* (loop thread only) */
        void (*after_read)(void *userdata);
        void *userdata;
} NatsLoop;

/* Prepare @l for natsOptions_SetEventLoop(opts, l, nats_loop_attach, ...):
 * @after_read(@userdata) runs on the loop after each read of the socket.
 * Returns 0 or -ENOMEM; nats_loop_done() (also after a failure) once the
 * connection is destroyed. */
int nats_loop_init(NatsLoop *l, struct event_base *base, void (*after_read)(void *userdata),
                    void *userdata);
void nats_loop_done(NatsLoop *l);

/* natsConnection_PublishMsg(), on the loop thread, written in this turn of
 * the loop, after the other callbacks of the turn (one write for all they
 * published). With an event loop libnats only buffers a message and asks
 * for the write event (even with SendAsap), so each message would wait for
 * one more epoll_wait and cost two changes of the event; here the event is
 * added only if the socket was full (bench/bridge-rtt: docs/PERFORMANCE.md). */
natsStatus nats_loop_publish(NatsLoop *l, natsConnection *nc, natsMsg *m);

/* Wait (on the loop thread, at most @timeout_usec) until libnats has
 * detached the connection from the loop: when libnats closes a connection
 * by itself, it posts the closed callback and then detaches on its own
 * thread, and @l must outlive that. Returns false on timeout. */
bool nats_loop_wait_detached(NatsLoop *l, uint64_t timeout_usec);

natsStatus nats_loop_attach(void **userdata, void *loop, natsConnection *nc, natsSock fd);
natsStatus nats_loop_read(void *userdata, bool add);
natsStatus nats_loop_write(void *userdata, bool add);
natsStatus nats_loop_detach(void *userdata);
