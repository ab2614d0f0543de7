/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * output.c — JSON modes, terminal and colour detection, escaping of untrusted
 * text and time formatting for busdctl. See output.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output.h"

int output_json_parse(const char *value, OutputJson *ret) {
        if (!value)
                *ret = output_is_terminal() ? OUTPUT_JSON_PRETTY : OUTPUT_JSON_SHORT;
        else if (strcmp(value, "short") == 0)
                *ret = OUTPUT_JSON_SHORT;
        else if (strcmp(value, "pretty") == 0)
                *ret = OUTPUT_JSON_PRETTY;
        else
                return -EINVAL;
        return 0;
}

bool output_is_terminal(void) {
        static int cached = -1;

        if (cached < 0)
                cached = isatty(STDOUT_FILENO) ? 1 : 0;
        return cached;
}

bool output_use_color(void) {
        const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");

        if (!output_is_terminal())
                return false;
        /* https://no-color.org: set and not empty disables colour. */
        if (no_color && no_color[0])
                return false;
        return !(term && strcmp(term, "dumb") == 0);
}

const char *output_ansi_header(void) {
        return output_use_color() ? "\033[1m" : "";
}

const char *output_ansi_warn(void) {
        return output_use_color() ? "\033[1;31m" : "";
}

const char *output_ansi_reset(void) {
        return output_use_color() ? "\033[0m" : "";
}

int output_json_print(json_t *v, OutputJson mode) {
        size_t flags = JSON_ENCODE_ANY | (mode == OUTPUT_JSON_PRETTY ? JSON_INDENT(2) : JSON_COMPACT);
        char *text;
        int r = 0;

        text = json_dumps(v, flags);
        if (!text)
                return -ENOMEM;
        /* jansson escapes C0 controls but writes DEL and the C1 controls
         * (U+0080..U+009F, which some terminals obey) as they are: escape
         * them too (they occur only inside strings, so the JSON is the same). */
        for (const unsigned char *u = (const unsigned char *)text; *u && r == 0; u++) {
                if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
                        r = printf("\\u%04x", *++u) < 0 ? -EIO : 0;
                else if (u[0] == 0x7f)
                        r = fputs("\\u007f", stdout) == EOF ? -EIO : 0;
                else if (putchar(*u) == EOF)
                        r = -EIO;
        }
        if (r == 0 && putchar('\n') == EOF)
                r = -EIO;
        free(text);
        return r;
}

/* Length of the valid UTF-8 sequence at @s (at most @len bytes), 0 if invalid. */
static size_t utf8_sequence_len(const unsigned char *s, size_t len) {
        uint32_t cp;
        size_t n;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                n = 2;
                cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                n = 3;
                cp = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                n = 4;
                cp = s[0] & 0x07;
        } else
                return 0;
        if (n > len)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        /* C1 control characters (U+0080..U+009F) can act as escapes on some terminals. */
        if (n == 2 && cp < 0xa0)
                return 0;
        return n;
}

char *output_escape(const char *s, size_t len) {
        const unsigned char *u = (const unsigned char *)s;
        char *out, *p;

        /* Worst case: every byte becomes four. */
        out = malloc(len * 4 + 1);
        if (!out)
                return NULL;
        p = out;
        for (size_t i = 0; i < len;) {
                size_t n = utf8_sequence_len(u + i, len - i);

                if (n == 1 && u[i] == '\\') {
                        *p++ = '\\';
                        *p++ = '\\';
                } else if (n == 1 && u[i] >= 0x20 && u[i] != 0x7f) {
                        *p++ = (char)u[i];
                } else if (n > 1) {
                        memcpy(p, u + i, n);
                        p += n;
                } else {
                        static const char hex[] = "0123456789abcdef";

                        *p++ = '\\';
                        *p++ = 'x';
                        *p++ = hex[u[i] >> 4];
                        *p++ = hex[u[i] & 0xf];
                        n = 1;
                }
                i += n;
        }
        *p = '\0';
        return out;
}

size_t output_width(const char *s) {
        size_t w = 0;

        for (const unsigned char *u = (const unsigned char *)s; *u; u++)
                if ((*u & 0xc0) != 0x80)
                        w++;
        return w;
}

void output_format_timestamp(uint64_t realtime_usec, char *buf, size_t size) {
        time_t t = (time_t)(realtime_usec / 1000000u);
        struct tm tm;

        if (realtime_usec == 0 || !localtime_r(&t, &tm) ||
            strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, size, "-");
}

void output_format_timespan(uint64_t usec, char *buf, size_t size) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = {
                { "d", 86400000000ull }, { "h", 3600000000ull }, { "min", 60000000ull },
                { "s", 1000000ull },     { "ms", 1000ull },
        };
        size_t used = 0;
        unsigned parts = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && parts < 2; i++) {
                uint64_t n = usec / units[i].usec;
                int k;

                if (n == 0) {
                        if (parts > 0)
                                break; /* "1h 0min" reads worse than "1h" */
                        continue;
                }
                /* Milliseconds only when the span is below a second. */
                if (units[i].usec == 1000ull && parts > 0)
                        break;
                k = snprintf(buf + used, size - used, "%s%llu%s", parts ? " " : "",
                             (unsigned long long)n, units[i].suffix);
                if (k < 0 || (size_t)k >= size - used)
                        break;
                used += (size_t)k;
                usec -= n * units[i].usec;
                parts++;
        }
        if (parts == 0)
                snprintf(buf, size, "%lluus", (unsigned long long)usec);
}

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t output_now_realtime(void) {
        return now_usec(CLOCK_REALTIME);
}

uint64_t output_now_monotonic(void) {
        return now_usec(CLOCK_MONOTONIC);
}
