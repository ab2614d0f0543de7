/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * loop.c — the signals busd answers, the graceful stop and running the event
 * loop until it ends. See loop.h.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "core/bus.h"
#include "process/keepalive.h"
#include "process/log.h"
#include "process/loop.h"
#include "process/reload.h"
#include "process/systemd.h"

static void loop_stop_timeout_cb(evutil_socket_t fd, short what, void *userdata) {
        Loop *loop = userdata;

        log_notice("stop: %llu queued messages not flushed in time",
                   (unsigned long long)loop->bus->stats.queue.messages);
        event_base_loopbreak(loop->bus->base);
}

void loop_stop(Loop *loop) {
        char status[KEEPALIVE_STATUS_MAX];
        Bus *bus = loop->bus;

        if (bus->stopping) {
                /* Second signal: stop now. */
                event_base_loopbreak(bus->base);
                return;
        }
        log_info("stopping");
        /* No new connections, no more input, NoReply to waiting callers; the
         * flush job ends the loop once every queue is empty. */
        bus_quiesce(bus);
        /* "Stopping; N peers, …" (keepalive.h), as the keep-alive goes on
         * saying while queues drain. */
        keepalive_status(bus, status, sizeof(status));
        systemd_notify_stopping(status);

        loop->stop_timer = evtimer_new(bus->base, loop_stop_timeout_cb, loop);
        if (!loop->stop_timer || bus_timer_add(bus, loop->stop_timer, LOOP_STOP_FLUSH_USEC) < 0)
                event_base_loopbreak(bus->base);
}

static void loop_signal_cb(evutil_socket_t sig, short what, void *userdata) {
        log_info("received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        loop_stop(userdata);
}

static void loop_sighup_cb(evutil_socket_t sig, short what, void *userdata) {
        Loop *loop = userdata;

        if (loop->bus->stopping) {
                log_info("received SIGHUP while stopping: not reloading");
                return;
        }
        log_info("received SIGHUP: reloading the configuration from %s", loop->bus->config_path);
        /* Success and failure are logged there; the old configuration stays on failure. */
        (void)reload_run(loop->bus, NULL);
}

int loop_new(Loop **ret, Bus *bus) {
        struct event_base *base = bus->base;
        Loop *loop;

        loop = calloc(1, sizeof(*loop));
        if (!loop)
                return -ENOMEM;
        loop->bus = bus;
        loop->sigterm_event = evsignal_new(base, SIGTERM, loop_signal_cb, loop);
        loop->sigint_event = evsignal_new(base, SIGINT, loop_signal_cb, loop);
        loop->sighup_event = evsignal_new(base, SIGHUP, loop_sighup_cb, loop);
        if (!loop->sigterm_event || !loop->sigint_event || !loop->sighup_event ||
            evsignal_add(loop->sigterm_event, NULL) < 0 ||
            evsignal_add(loop->sigint_event, NULL) < 0 ||
            evsignal_add(loop->sighup_event, NULL) < 0) {
                loop_free(loop);
                return -ENOMEM;
        }
        *ret = loop;
        return 0;
}

Loop *loop_free(Loop *loop) {
        if (!loop)
                return NULL;
        if (loop->sigterm_event)
                event_free(loop->sigterm_event);
        if (loop->sigint_event)
                event_free(loop->sigint_event);
        if (loop->sighup_event)
                event_free(loop->sighup_event);
        if (loop->stop_timer)
                event_free(loop->stop_timer);
        free(loop);
        return NULL;
}

int loop_run(Loop *loop) {
        if (event_base_dispatch(loop->bus->base) < 0)
                return -EIO;
        return 0;
}
