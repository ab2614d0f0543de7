/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd.h — the daemon's only contact with libsystemd: socket activation
 * and state notification (READY, RELOADING, STOPPING). Everything here is
 * a no-op without systemd (no LISTEN_FDS, no NOTIFY_SOCKET).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The listening socket systemd passed us: 1 and *ret_fd (non-blocking,
 * CLOEXEC) if there is a usable one, 0 if none was passed, negative errno if
 * what was passed is unusable (not a listening AF_UNIX stream socket). Extra
 * fds are closed. LISTEN_* variables are removed from the environment. */
int systemd_listen_fd(int *ret_fd);

/* READY=1 with a STATUS= line. */
void systemd_notify_ready(const char *status);
/* RELOADING=1 and MONOTONIC_USEC= (now, CLOCK_MONOTONIC) with a STATUS=
 * line; a reload ends with systemd_notify_ready(). */
void systemd_notify_reloading(const char *status);
/* STOPPING=1 with a STATUS= line. */
void systemd_notify_stopping(const char *status);

/* Send one structured record to the journal (sd_journal_sendv): MESSAGE,
 * PRIORITY @level, SYSLOG_IDENTIFIER=busd and the NULL-terminated "KEY=value"
 * @fields. The log module's journal sink (log_set_journal()). 0 or negative
 * errno. */
int systemd_journal_send(int level, const char *message, const char *const *fields);

/* Whether NOTIFY_SOCKET is set (anything to notify at all). */
bool systemd_notify_enabled(void);
/* The watchdog interval systemd asks for (WATCHDOG_USEC, for this pid), or
 * 0 without a watchdog. */
uint64_t systemd_watchdog_usec(void);
/* WATCHDOG=1 if @watchdog, and STATUS=@status unless NULL or the same as the
 * last STATUS= any notification here sent, in one notification
 * (process/keepalive.h). */
void systemd_notify_keepalive(bool watchdog, const char *status);
