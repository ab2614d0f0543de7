/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * event.c — libevent integration: one persistent read event on the socket,
 * a write event armed only while output is queued, and one timer following
 * bus_connection_get_timeout() (call timeouts, and "now" when input was read
 * ahead and waits to be dispatched). Each callback does a bounded amount of
 * work (CLIENT_EVENT_BATCH process steps) and then yields to the loop. In a
 * child after fork() the first callback stops the child's copies of the
 * events (the connection is the parent's).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <event2/event.h>

#include "bus-internal.h"

struct EventGlue {
        struct event_base *base;
        struct event *read_ev;
        struct event *write_ev;
        struct event *timer_ev;
        bool write_armed;
        bool stopped;
};

static void event_on_ready(evutil_socket_t fd, short what, void *userdata) {
        bus_connection *c = userdata;

        if (conn_check_pid(c) < 0) {
                /* A child after fork() running its copy of the loop (after
                 * event_reinit(), which gave it a backend of its own): the
                 * connection is the parent's and every step would fail with
                 * -ECHILD, while the read event fires again at once for input
                 * only the parent may read. Stop watching, in this copy of
                 * the base only, so the child's loop goes idle. */
                event_stop(c);
                return;
        }
        conn_enter(c);
        c->in_level_pass = true;
        for (unsigned i = 0; i < CLIENT_EVENT_BATCH; i++)
                if (bus_connection_process(c) <= 0)
                        break;
        c->in_level_pass = c->in_read_short = false;
        if (!c->free_requested)
                event_rearm(c);
        (void)conn_leave(c);
}

void event_rearm(bus_connection *c) {
        EventGlue *g = c->event;
        uint64_t t, now;
        bool want_write;

        if (!g || g->stopped)
                return;
        if (c->closed) {
                event_stop(c);
                return;
        }
        want_write = io_has_output(c) && !c->write_dead;
        if (want_write != g->write_armed) {
                if (want_write)
                        event_add(g->write_ev, NULL);
                else
                        event_del(g->write_ev);
                g->write_armed = want_write;
        }
        (void)bus_connection_get_timeout(c, &t);
        if (t == USEC_INFINITY) {
                evtimer_del(g->timer_ev);
        } else {
                struct timeval tv = { 0, 0 };

                now = now_usec();
                if (t > now) {
                        tv.tv_sec = (time_t)((t - now) / 1000000u);
                        tv.tv_usec = (suseconds_t)((t - now) % 1000000u);
                }
                evtimer_add(g->timer_ev, &tv);
        }
}

/* Stop watching the socket (it is about to be closed); the events stay
 * allocated until detach. */
void event_stop(bus_connection *c) {
        EventGlue *g = c->event;

        if (!g)
                return;
        event_del(g->read_ev);
        event_del(g->write_ev);
        event_del(g->timer_ev);
        g->write_armed = false;
        g->stopped = true;
}

void event_free_glue(bus_connection *c) {
        EventGlue *g = c->event;

        if (!g)
                return;
        /* event_free() also removes a pending event; safe from its callback. */
        if (g->read_ev)
                event_free(g->read_ev);
        if (g->write_ev)
                event_free(g->write_ev);
        if (g->timer_ev)
                event_free(g->timer_ev);
        free(g);
        c->event = NULL;
}

_public_ int bus_connection_attach_event(bus_connection *c, struct event_base *base) {
        EventGlue *g;

        if (!c || !base)
                return -EINVAL;
        if (conn_check_pid(c) < 0)
                return -ECHILD;
        if (c->event)
                return -EBUSY;
        if (c->closed)
                return -ENOTCONN;
        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->base = base;
        c->event = g;
        g->read_ev = event_new(base, c->fd, EV_READ | EV_PERSIST, event_on_ready, c);
        g->write_ev = event_new(base, c->fd, EV_WRITE | EV_PERSIST, event_on_ready, c);
        g->timer_ev = evtimer_new(base, event_on_ready, c);
        if (!g->read_ev || !g->write_ev || !g->timer_ev || event_add(g->read_ev, NULL) < 0) {
                event_free_glue(c);
                return -ENOMEM;
        }
        event_rearm(c);
        return 0;
}

_public_ void bus_connection_detach_event(bus_connection *c) {
        if (c)
                event_free_glue(c);
}
