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
        LOG_CLASS_ACTIVATION, /* failed service starts (a caller can retry a broken one) */
        _LOG_CLASS_MAX,
} LogClass;

/* Structured records, each kind with its own journal MESSAGE_ID
 * (docs/DAEMON.md "Logging"; `journalctl MESSAGE_ID=...` finds them). */
typedef enum LogEvent {
        LOG_EVENT_NONE,              /* no MESSAGE_ID */
        LOG_EVENT_CONNECT,           /* a peer completed its handshake (debug) */
        LOG_EVENT_DISCONNECT,        /* the bus disconnected a peer */
        LOG_EVENT_DENIED,            /* a request was denied (limits, access, policy) */
        LOG_EVENT_REFUSED,           /* a connection was refused at accept */
        LOG_EVENT_ACTIVATION_FAILED, /* a service start failed */
        _LOG_EVENT_MAX,
} LogEvent;

#define LOG_MESSAGE_ID_CONNECT "8753b238a6e44c74b61233b048f26ada"
#define LOG_MESSAGE_ID_DISCONNECT "8e7574d2c62d4c288ba7ea9cd86a6124"
#define LOG_MESSAGE_ID_DENIED "e2d9821984394426ae6173f9cf97aa24"
#define LOG_MESSAGE_ID_REFUSED "28975d6796814b70ba36688fef9232d8"
#define LOG_MESSAGE_ID_ACTIVATION_FAILED "41db95f2db0d4c29a1d110cb516a583a"

/* Who a structured record is about; gid LOG_GID_UNKNOWN if not known. */
typedef struct LogPeer {
        const char *name;
        uid_t uid;
        gid_t gid;
        pid_t pid;
} LogPeer;
#define LOG_GID_UNKNOWN ((gid_t)-1)

/* Where structured records go when stderr is the journal (main.c installs
 * systemd_journal_send(), process/systemd.h; unit tests install none):
 * @message and NULL-terminated "KEY=value" @fields. 0 or negative errno (the
 * record is then written as a line). */
typedef int (*LogJournalFn)(int level, const char *message, const char *const *fields);
void log_set_journal(LogJournalFn fn);

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

/* Structured, rate-limited record of kind @ev about @peer (may be NULL),
 * with @extra "KEY=value" journal fields (NULL-terminated, may be NULL).
 * To the journal (if it is stderr and a sink is set): MESSAGE_ID, the
 * message, BUSD_PEER, BUSD_UID, BUSD_GID, BUSD_PID, BUSD_COMM (read from
 * /proc only for records that pass the rate limit), BUSD_REASON and @extra;
 * otherwise one line "peer=... uid=... gid=... pid=... comm=... reason=...
 * message". log_peer() is this with the kind its class implies. */
void log_event(LogEvent ev, LogClass cls, int level, const LogPeer *peer, const char *reason,
               const char *const *extra, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
