/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd.c — sd_listen_fds() and sd_notify() glue (READY, RELOADING,
 * STOPPING, WATCHDOG, STATUS); the only process module that links against
 * libsystemd (activation's systemd backend has its own sd-bus). See
 * systemd.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "process/log.h"
#include "process/systemd.h"
#include "common/util.h"

int systemd_listen_fd(int *ret_fd) {
        int n, fd = -1, flags;

        /* unset_environment=1: children must not think the fds are theirs. */
        n = sd_listen_fds(1);
        if (n < 0) {
                log_error("sd_listen_fds() failed: %s", strerror(-n));
                return n;
        }
        if (n == 0)
                return 0;

        for (int i = 0; i < n; i++) {
                int cand = SD_LISTEN_FDS_START + i;

                /* listening = 1: an accepted (Accept=yes) socket is of no use. */
                if (fd < 0 && sd_is_socket_unix(cand, SOCK_STREAM, 1, NULL, 0) > 0) {
                        fd = cand;
                        continue;
                }
                log_warning("ignoring passed fd %d: not a listening AF_UNIX stream socket", cand);
                safe_close(cand);
        }
        if (fd < 0) {
                log_error("systemd passed %d fds but none is a listening AF_UNIX stream socket", n);
                return -EBADF;
        }

        /* sd_listen_fds() set FD_CLOEXEC; the listener must not block. */
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        *ret_fd = fd;
        return 1;
}

/* The STATUS= text of the last notification sent, so the keep-alive repeats
 * none (systemd_notify_keepalive()); cut like the keep-alive's own line. */
static char last_status[512];

static void notify(const char *state, const char *status) {
        int r;

        r = sd_notifyf(0, "%s\nSTATUS=%s", state, status ? status : "");
        if (r < 0)
                log_warning("sd_notify(%s) failed: %s", state, strerror(-r));
        else
                snprintf(last_status, sizeof(last_status), "%s", status ? status : "");
}

void systemd_notify_ready(const char *status) {
        notify("READY=1", status);
}

void systemd_notify_reloading(const char *status) {
        char state[64];

        /* MONOTONIC_USEC: when the reload began, on CLOCK_MONOTONIC; systemd
         * (Type=notify-reload) matches it against the reload it asked for. */
        snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
                 (unsigned long long)now_monotonic_usec());
        notify(state, status);
}

void systemd_notify_stopping(const char *status) {
        notify("STOPPING=1", status);
}

int systemd_journal_send(int level, const char *message, const char *const *fields) {
        char priority[32], *msg = NULL;
        struct iovec iov[3 + 24];
        size_t n = 0;
        int r;

        if (asprintf(&msg, "MESSAGE=%s", message) < 0)
                return -ENOMEM;
        snprintf(priority, sizeof(priority), "PRIORITY=%d", level);
        iov[n++] = (struct iovec){ msg, strlen(msg) };
        iov[n++] = (struct iovec){ priority, strlen(priority) };
        iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=busd", strlen("SYSLOG_IDENTIFIER=busd") };
        for (size_t i = 0; fields && fields[i] && n < ELEMENTSOF(iov); i++)
                iov[n++] = (struct iovec){ (char *)fields[i], strlen(fields[i]) };
        r = sd_journal_sendv(iov, (int)n);
        free(msg);
        return r;
}

bool systemd_notify_enabled(void) {
        const char *e = getenv("NOTIFY_SOCKET");

        return e && e[0];
}

uint64_t systemd_watchdog_usec(void) {
        uint64_t usec = 0;

        /* unset_environment=0: WATCHDOG_* stay for a re-exec; 0 if not set,
         * or set for another pid (WATCHDOG_PID). */
        return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

void systemd_notify_keepalive(bool watchdog, const char *status) {
        int r;

        if (status && strncmp(status, last_status, sizeof(last_status) - 1) == 0)
                status = NULL; /* systemd has it already */
        if (!watchdog && !status)
                return;
        /* One datagram for both. */
        if (status)
                r = sd_notifyf(0, "%sSTATUS=%s", watchdog ? "WATCHDOG=1\n" : "", status);
        else
                r = sd_notify(0, "WATCHDOG=1");
        if (r >= 0 && status)
                snprintf(last_status, sizeof(last_status), "%s", status);
        if (r < 0)
                log_class(LOG_CLASS_NONE, LOG_WARNING, "sd_notify(WATCHDOG/STATUS) failed: %s",
                          strerror(-r));
}
