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
        char last[512]; /* the STATUS= text last sent */
};

/* "BASE; N peers, M names, K activatable, J starting[; configuration reload
 * failed: R]": the failed reload's note stays last, as READY=1 said it
 * (docs/DAEMON.md). */
static void keepalive_summary(Keepalive *k, char *buf, size_t size) {
        const char *base = k->bus->status ? k->bus->status : "Running";
        const char *note = "";
        char act[128] = "";
        size_t len = strlen(base);

        if (k->bus->status_ready && strncmp(k->bus->status_ready, base, len) == 0)
                note = k->bus->status_ready + len;
        if (k->bus->activation)
                activation_summary(k->bus->activation, act, sizeof(act));
        snprintf(buf, size, "%s; %zu peers, %zu names%s%s%s", base, k->bus->n_peers,
                 name_registry_size(k->bus->names), act[0] ? ", " : "", act, note);
}

static void keepalive_cb(evutil_socket_t fd, short what, void *userdata) {
        Keepalive *k = userdata;
        char status[512];
        bool changed;

        keepalive_summary(k, status, sizeof(status));
        changed = strcmp(status, k->last) != 0;
        if (changed)
                snprintf(k->last, sizeof(k->last), "%s", status);
        systemd_notify_keepalive(k->watchdog, changed ? status : NULL);
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
