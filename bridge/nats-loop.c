/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nats-loop.c — libnats's event-loop callbacks on libevent, with the read
 * side followed by the owner's drain, and publishing written in the same
 * turn of the loop (nats-loop.h).
 */
#include "config.h"

#include <errno.h>
#include <time.h>

#include <event2/event.h>

#include "nats-loop.h"

static void on_flush(evutil_socket_t fd, short what, void *userdata);

int nats_loop_init(NatsLoop *l, struct event_base *base, void (*after_read)(void *userdata),
                   void *userdata) {
        *l = (NatsLoop){ .base = base, .after_read = after_read, .userdata = userdata };
        pthread_mutex_init(&l->lock, NULL);
        pthread_cond_init(&l->detached, NULL);
        l->flush = event_new(base, -1, 0, on_flush, l);
        return l->flush ? 0 : -ENOMEM;
}

void nats_loop_done(NatsLoop *l) {
        if (l->flush)
                event_free(l->flush);
        l->flush = NULL;
        pthread_cond_destroy(&l->detached);
        pthread_mutex_destroy(&l->lock);
}

bool nats_loop_wait_detached(NatsLoop *l, uint64_t timeout_usec) {
        struct timespec until;
        bool attached;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)(timeout_usec / 1000000u);
        until.tv_nsec += (long)(timeout_usec % 1000000u) * 1000;
        if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&l->lock);
        while ((attached = l->read || l->write) &&
               pthread_cond_timedwait(&l->detached, &l->lock, &until) == 0)
                ;
        attached = l->read || l->write;
        pthread_mutex_unlock(&l->lock);
        return !attached;
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

/* With l->lock held. */
static void events_free(NatsLoop *l) {
        if (l->read)
                event_free(l->read);
        if (l->write)
                event_free(l->write);
        l->read = l->write = NULL;
        l->write_added = l->write_wanted = false;
}

/* With l->lock held: the write event in the loop exactly while wanted. */
static int write_event_sync(NatsLoop *l) {
        if (!l->write || l->write_wanted == l->write_added)
                return 0;
        l->write_added = l->write_wanted;
        return l->write_wanted ? event_add(l->write, NULL) : event_del_noblock(l->write);
}

natsStatus nats_loop_publish(NatsLoop *l, natsConnection *nc, natsMsg *m) {
        natsStatus s;
        bool wanted;

        pthread_mutex_lock(&l->lock);
        l->publishing = true;
        pthread_mutex_unlock(&l->lock);

        s = natsConnection_PublishMsg(nc, m);

        pthread_mutex_lock(&l->lock);
        l->publishing = false;
        wanted = l->write_wanted && l->write;
        pthread_mutex_unlock(&l->lock);
        if (wanted && !l->flush_pending) {
                /* Run once this turn's other callbacks are done: what they
                 * publish meanwhile goes out in the same write. */
                l->flush_pending = true;
                event_active(l->flush, EV_WRITE, 0);
        }
        return s;
}

/* What on_writable would do a turn later: libnats writes what it can and
 * says remove (everything out) or nothing (the socket is full: the write
 * event then waits for room). */
static void on_flush(evutil_socket_t fd, short what, void *userdata) {
        NatsLoop *l = userdata;
        bool wanted;

        l->flush_pending = false;
        pthread_mutex_lock(&l->lock);
        wanted = l->write_wanted && l->write;
        pthread_mutex_unlock(&l->lock);
        if (wanted)
                natsConnection_ProcessWriteEvent(l->nc);
        pthread_mutex_lock(&l->lock);
        (void)write_event_sync(l);
        pthread_mutex_unlock(&l->lock);
}

natsStatus nats_loop_attach(void **userdata, void *loop, natsConnection *nc, natsSock fd) {
        NatsLoop *l = loop;
        natsStatus s = NATS_OK;

        pthread_mutex_lock(&l->lock);
        /* Again for each new socket after a reconnect: the old events go. */
        events_free(l);
        l->nc = nc;
        l->read = event_new(l->base, fd, EV_READ | EV_PERSIST, on_readable, l);
        l->write = event_new(l->base, fd, EV_WRITE | EV_PERSIST, on_writable, l);
        if (!l->read || !l->write || event_add(l->read, NULL) < 0) {
                events_free(l);
                s = NATS_NO_MEMORY;
        }
        pthread_mutex_unlock(&l->lock);
        if (s == NATS_OK)
                *userdata = l;
        return s;
}

/* libnats calls these with its connection lock held, possibly from inside
 * on_readable/on_writable: never wait for a running callback here. */
natsStatus nats_loop_read(void *userdata, bool add) {
        NatsLoop *l = userdata;
        int r = -1;

        pthread_mutex_lock(&l->lock);
        if (l->read)
                r = add ? event_add(l->read, NULL) : event_del_noblock(l->read);
        pthread_mutex_unlock(&l->lock);
        return r == 0 ? NATS_OK : NATS_ERR;
}

natsStatus nats_loop_write(void *userdata, bool add) {
        NatsLoop *l = userdata;
        int r = 0;

        pthread_mutex_lock(&l->lock);
        l->write_wanted = add;
        /* During nats_loop_publish() (on the loop thread) the publisher
         * writes right after; adding the event now would cost two epoll
         * changes per message for nothing. From any other thread, or to
         * remove it, now. */
        if (!(add && l->publishing))
                r = write_event_sync(l);
        pthread_mutex_unlock(&l->lock);
        return r == 0 ? NATS_OK : NATS_ERR;
}

natsStatus nats_loop_detach(void *userdata) {
        NatsLoop *l = userdata;

        pthread_mutex_lock(&l->lock);
        events_free(l);
        pthread_cond_broadcast(&l->detached);
        pthread_mutex_unlock(&l->lock);
        return NATS_OK;
}
