/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.h — the daemon's only logging module. Writes one line per record to
 * stderr: with a "<N>" syslog-level prefix when stderr is the journal
 * (JOURNAL_STREAM matches, systemd's SyslogLevelPrefix=), else "busd: ...".
 *
 * Records about peers are structured ("peer=:1.5 uid=1000 pid=42
 * reason=... detail") and rate-limited per class, so a hostile peer cannot
 * flood the journal: past LOG_RATELIMIT_BURST records per class and
 * second, records are counted and reported as one "suppressed K" line.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <syslog.h>

/* Records per class per interval before suppression: enough to diagnose, too
 * few to flood (journald's own default is 10000 per 30 s per service). */
#define LOG_RATELIMIT_BURST 20u
#define LOG_RATELIMIT_INTERVAL_USEC 1000000ull

/* Rate-limit classes: one per kind of event a peer can trigger repeatedly. */
typedef enum LogClass {
        LOG_CLASS_NONE = 0,   /* not rate-limited */
        LOG_CLASS_REFUSED,    /* connection refused at accept (limits) */
        LOG_CLASS_ACCEPT,     /* accept() errors, EMFILE back-off */
        LOG_CLASS_DISCONNECT, /* forced disconnects */
        LOG_CLASS_DENIED,     /* requests denied (limits, access) */
        LOG_CLASS_DROPPED,    /* messages dropped */
        _LOG_CLASS_MAX,
} LogClass;

/* Detect the journal and set the threshold (LOG_ERR..LOG_DEBUG). */
void log_setup(int max_level);
void log_set_max_level(int level);
int log_get_max_level(void);
/* "err", "warning", "notice", "info", "debug" (also "error", "warn") → level,
 * or -EINVAL. */
int log_level_from_string(const char *s);

/* Plain record. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Rate-limited plain record of @cls. */
void log_class(LogClass cls, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Structured, rate-limited record about a peer. @name may be NULL; @pid 0 =
 * unknown. */
void log_peer(LogClass cls, int level, const char *name, uid_t uid, pid_t pid, const char *reason,
              const char *fmt, ...) __attribute__((format(printf, 7, 8)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
