/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keepalive.c — the watchdog keep-alive and the live STATUS= line, from one
 * timer on the bus's loop. See keepalive.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation/activation.h"
#include "process/keepalive.h"
#include "process/log.h"
#include "process/systemd.h"

struct Keepalive {
        Bus *bus;
        struct event *timer;
        uint64_t interval_usec;
        bool watchdog;
};

void keepalive_status(const Bus *bus, char *buf, size_t size) {
        const char *base = bus->stopping ? "Stopping" : bus->status ? bus->status : "Running";
        char act[128] = "";

        if (bus->activation)
                activation_summary(bus->activation, act, sizeof(act));
        snprintf(buf, size, "%s; %zu peers, %zu names%s%s%s%s", base, bus->n_peers,
                 name_registry_size(bus->names), act[0] ? ", " : "", act,
                 bus->status_note ? "; " : "", bus->status_note ? bus->status_note : "");
}

static void keepalive_cb(evutil_socket_t fd, short what, void *userdata) {
        Keepalive *k = userdata;
        char status[KEEPALIVE_STATUS_MAX];

        /* Sent only if it differs from the last STATUS= of any notification
         * (systemd.h), so READY=1's line is not repeated. */
        keepalive_status(k->bus, status, sizeof(status));
        systemd_notify_keepalive(k->watchdog, status);
}

int keepalive_new(Keepalive **ret, Bus *bus) {
        uint64_t watchdog_usec = systemd_watchdog_usec();
        struct timeval tv;
        Keepalive *k;

        *ret = NULL;
        if (!systemd_notify_enabled())
                return 0;
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->bus = bus;
        k->watchdog = watchdog_usec > 0;
        /* sd_watchdog_enabled(3): send at least every half interval. */
        k->interval_usec = k->watchdog && watchdog_usec / 2 < KEEPALIVE_STATUS_USEC
                                   ? watchdog_usec / 2
                                   : KEEPALIVE_STATUS_USEC;
        if (k->interval_usec == 0)
                k->interval_usec = 1;
        k->timer = event_new(bus->base, -1, EV_PERSIST, keepalive_cb, k);
        tv = (struct timeval){ .tv_sec = (time_t)(k->interval_usec / 1000000u),
                               .tv_usec = (suseconds_t)(k->interval_usec % 1000000u) };
        if (!k->timer || event_add(k->timer, &tv) < 0) {
                keepalive_free(k);
                return -ENOMEM;
        }
        if (k->watchdog)
                log_info("watchdog: keep-alive every %llu ms (WatchdogSec=%llu ms)",
                         (unsigned long long)(k->interval_usec / 1000),
                         (unsigned long long)(watchdog_usec / 1000));
        keepalive_cb(-1, 0, k); /* the first at once */
        *ret = k;
        return 0;
}

Keepalive *keepalive_free(Keepalive *k) {
        if (!k)
                return NULL;
        if (k->timer)
                event_free(k->timer);
        free(k);
        return NULL;
}
