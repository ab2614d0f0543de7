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
};

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

void log_peer(LogClass cls, int level, const char *name, uid_t uid, pid_t pid, const char *reason,
              const char *fmt, ...) {
        char prefix[256];
        va_list ap;

        if (level > max_level || !ratelimit_pass(cls, level))
                return;
        snprintf(prefix, sizeof(prefix), "peer=%s uid=%lu pid=%ld reason=%s ", name ? name : "-",
                 (unsigned long)uid, (long)pid, reason ? reason : "-");
        va_start(ap, fmt);
        log_vformat(level, prefix, fmt, ap);
        va_end(ap);
}
