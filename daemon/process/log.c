/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.c — formatting, journal detection and per-class rate limiting for the
 * daemon's log records. See log.h.
 *
 * Invariants: every record is written with a single write(2) so concurrent
 * writers to the same journal stream never interleave within a line; a
 * record never exceeds LOG_LINE_MAX bytes (longer ones are truncated).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "process/log.h"
#include "common/util.h"

#define LOG_LINE_MAX 2048

typedef struct RateLimit {
        uint64_t begin_usec;
        unsigned count;
        unsigned suppressed;
} RateLimit;

static int max_level = LOG_NOTICE;
static bool to_journal;
static RateLimit limits[_LOG_CLASS_MAX];

static const char *const class_names[_LOG_CLASS_MAX] = {
        [LOG_CLASS_NONE] = "other",          [LOG_CLASS_REFUSED] = "refused-connection",
        [LOG_CLASS_ACCEPT] = "accept-error", [LOG_CLASS_DISCONNECT] = "disconnect",
        [LOG_CLASS_DENIED] = "denied",       [LOG_CLASS_DROPPED] = "dropped",
        [LOG_CLASS_ACTIVATION] = "activation",
};

static LogJournalFn journal_sink;

static const char *const message_ids[_LOG_EVENT_MAX] = {
        [LOG_EVENT_CONNECT] = LOG_MESSAGE_ID_CONNECT,
        [LOG_EVENT_DISCONNECT] = LOG_MESSAGE_ID_DISCONNECT,
        [LOG_EVENT_DENIED] = LOG_MESSAGE_ID_DENIED,
        [LOG_EVENT_REFUSED] = LOG_MESSAGE_ID_REFUSED,
        [LOG_EVENT_ACTIVATION_FAILED] = LOG_MESSAGE_ID_ACTIVATION_FAILED,
};

/* The kind of record a class's peer records are (log_peer()). */
static LogEvent event_of_class(LogClass cls) {
        switch (cls) {
        case LOG_CLASS_DISCONNECT:
                return LOG_EVENT_DISCONNECT;
        case LOG_CLASS_DENIED:
                return LOG_EVENT_DENIED;
        case LOG_CLASS_REFUSED:
                return LOG_EVENT_REFUSED;
        case LOG_CLASS_ACTIVATION:
                return LOG_EVENT_ACTIVATION_FAILED;
        default:
                return LOG_EVENT_NONE;
        }
}

/* systemd sets JOURNAL_STREAM="<dev>:<ino>" of the stream it connected to
 * stderr; the variable is inherited, so compare it with what fd 2 is now
 * (systemd.exec(5), "$JOURNAL_STREAM"). */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(int level) {
        to_journal = stderr_is_journal();
        log_set_max_level(level);
}

void log_set_max_level(int level) {
        if (level < LOG_EMERG)
                level = LOG_EMERG;
        if (level > LOG_DEBUG)
                level = LOG_DEBUG;
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        static const struct {
                const char *name;
                int level;
        } table[] = {
                { "err", LOG_ERR },      { "error", LOG_ERR },     { "warning", LOG_WARNING },
                { "warn", LOG_WARNING }, { "notice", LOG_NOTICE }, { "info", LOG_INFO },
                { "debug", LOG_DEBUG },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcasecmp(s, table[i].name) == 0)
                        return table[i].level;
        return -EINVAL;
}

static void log_write(int level, const char *text) {
        char line[LOG_LINE_MAX];
        int n;

        if (to_journal)
                n = snprintf(line, sizeof(line), "<%d>%s\n", level, text);
        else
                n = snprintf(line, sizeof(line), "busd: %s\n", text);
        if (n < 0)
                return;
        if ((size_t)n >= sizeof(line)) {
                n = sizeof(line) - 1;
                line[n - 1] = '\n';
        }
        /* Best effort: a full or closed stderr must not stop the bus. */
        while (write(STDERR_FILENO, line, (size_t)n) < 0 && errno == EINTR)
                ;
}

static void log_vformat(int level, const char *prefix, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));
static void log_vformat(int level, const char *prefix, const char *fmt, va_list ap) {
        char text[LOG_LINE_MAX];
        size_t off = 0;
        int saved = errno;

        if (prefix) {
                int n = snprintf(text, sizeof(text), "%s", prefix);
                off = n < 0 ? 0 : (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1;
        }
        vsnprintf(text + off, sizeof(text) - off, fmt, ap);
        log_write(level, text);
        errno = saved;
}

void log_msg(int level, const char *fmt, ...) {
        va_list ap;

        if (level > max_level)
                return;
        va_start(ap, fmt);
        log_vformat(level, NULL, fmt, ap);
        va_end(ap);
}

/* true if a record of @cls may be written now; reports what was suppressed in
 * the previous interval first. */
static bool ratelimit_pass(LogClass cls, int level) {
        RateLimit *rl;
        uint64_t now;

        if (cls <= LOG_CLASS_NONE || cls >= _LOG_CLASS_MAX)
                return true;
        rl = &limits[cls];
        now = now_monotonic_usec();
        if (rl->begin_usec == 0 || now - rl->begin_usec >= LOG_RATELIMIT_INTERVAL_USEC) {
                if (rl->suppressed > 0) {
                        char text[128];

                        snprintf(text, sizeof(text), "suppressed %u messages of class %s",
                                 rl->suppressed, class_names[cls]);
                        log_write(LOG_WARNING, text);
                }
                rl->begin_usec = now;
                rl->count = 0;
                rl->suppressed = 0;
        }
        if (rl->count >= LOG_RATELIMIT_BURST) {
                rl->suppressed++;
                return false;
        }
        rl->count++;
        return true;
}

void log_class(LogClass cls, int level, const char *fmt, ...) {
        va_list ap;

        if (level > max_level || !ratelimit_pass(cls, level))
                return;
        va_start(ap, fmt);
        log_vformat(level, NULL, fmt, ap);
        va_end(ap);
}

void log_set_journal(LogJournalFn fn) {
        journal_sink = fn;
}

/* /proc/PID/comm into @buf ("-" if it cannot be read). Informational: the
 * pid may have exited or been reused since the peer connected. */
static void read_comm(pid_t pid, char *buf, size_t size) {
        char path[64];
        ssize_t n = -1;
        int fd;

        snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
        fd = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : -1;
        if (fd >= 0) {
                n = read(fd, buf, size - 1);
                close(fd);
        }
        if (n <= 0) {
                snprintf(buf, size, "-");
                return;
        }
        buf[n] = '\0';
        for (ssize_t i = 0; i < n; i++)
                if (buf[i] == '\n' || (unsigned char)buf[i] < 0x20)
                        buf[i] = i == n - 1 ? '\0' : '?';
}

static void log_veventf(LogEvent ev, LogClass cls, int level, const LogPeer *peer,
                        const char *reason, const char *const *extra, const char *fmt, va_list ap)
        __attribute__((format(printf, 7, 0)));
static void log_veventf(LogEvent ev, LogClass cls, int level, const LogPeer *peer,
                        const char *reason, const char *const *extra, const char *fmt,
                        va_list ap) {
        char prefix[384] = "", text[LOG_LINE_MAX], comm[64] = "-", gid[24] = "-";
        char f_id[64], f_peer[300], f_uid[48], f_gid[48], f_pid[48], f_comm[80], f_reason[300];
        const char *fields[8 + 16];
        size_t n = 0;
        int saved = errno;

        if (level > max_level || !ratelimit_pass(cls, level))
                return;
        if (peer) {
                read_comm(peer->pid, comm, sizeof(comm));
                if (peer->gid != LOG_GID_UNKNOWN)
                        snprintf(gid, sizeof(gid), "%lu", (unsigned long)peer->gid);
                snprintf(prefix, sizeof(prefix), "peer=%s uid=%lu gid=%s pid=%ld comm=%s reason=%s ",
                         peer->name ? peer->name : "-", (unsigned long)peer->uid, gid,
                         (long)peer->pid, comm, reason ? reason : "-");
        } else if (reason) {
                snprintf(prefix, sizeof(prefix), "reason=%s ", reason);
        }
        snprintf(text, sizeof(text), "%s", prefix);
        vsnprintf(text + strlen(text), sizeof(text) - strlen(text), fmt, ap);

        if (to_journal && journal_sink) {
                if (ev != LOG_EVENT_NONE && ev < _LOG_EVENT_MAX) {
                        snprintf(f_id, sizeof(f_id), "MESSAGE_ID=%s", message_ids[ev]);
                        fields[n++] = f_id;
                }
                if (peer) {
                        snprintf(f_peer, sizeof(f_peer), "BUSD_PEER=%s", peer->name ? peer->name : "-");
                        snprintf(f_uid, sizeof(f_uid), "BUSD_UID=%lu", (unsigned long)peer->uid);
                        snprintf(f_pid, sizeof(f_pid), "BUSD_PID=%ld", (long)peer->pid);
                        snprintf(f_comm, sizeof(f_comm), "BUSD_COMM=%s", comm);
                        fields[n++] = f_peer;
                        fields[n++] = f_uid;
                        fields[n++] = f_pid;
                        fields[n++] = f_comm;
                        if (peer->gid != LOG_GID_UNKNOWN) {
                                snprintf(f_gid, sizeof(f_gid), "BUSD_GID=%s", gid);
                                fields[n++] = f_gid;
                        }
                }
                if (reason) {
                        snprintf(f_reason, sizeof(f_reason), "BUSD_REASON=%s", reason);
                        fields[n++] = f_reason;
                }
                for (size_t i = 0; extra && extra[i] && i < 16; i++)
                        fields[n++] = extra[i];
                fields[n] = NULL;
                if (journal_sink(level, text, fields) >= 0) {
                        errno = saved;
                        return;
                }
        }
        log_write(level, text);
        errno = saved;
}

void log_event(LogEvent ev, LogClass cls, int level, const LogPeer *peer, const char *reason,
               const char *const *extra, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_veventf(ev, cls, level, peer, reason, extra, fmt, ap);
        va_end(ap);
}

void log_peer(LogClass cls, int level, const char *name, uid_t uid, pid_t pid, const char *reason,
              const char *fmt, ...) {
        LogPeer peer = { .name = name, .uid = uid, .gid = LOG_GID_UNKNOWN, .pid = pid };
        va_list ap;

        va_start(ap, fmt);
        log_veventf(event_of_class(cls), cls, level, &peer, reason, NULL, fmt, ap);
        va_end(ap);
}
