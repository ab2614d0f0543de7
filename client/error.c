/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * error.c — bus_error (a name and a message, both owned), the mapping from
 * well-known error names to errno for functions that have no bus_error
 * parameter, and the library's only log: debug lines on stderr when
 * $BUSCLIENT_DEBUG is set. The library never logs above debug.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"

_public_ int bus_error_set(bus_error *e, const char *name, const char *fmt, ...) {
        char *message = NULL, *n;

        if (!e)
                return -EREMOTEIO;
        n = strdup(name ? name : BUS_ERROR_FAILED);
        if (fmt) {
                va_list ap;

                va_start(ap, fmt);
                if (vasprintf(&message, fmt, ap) < 0)
                        message = NULL;
                va_end(ap);
        }
        bus_error_free(e);
        e->name = n;
        e->message = message;
        return -EREMOTEIO;
}

_public_ void bus_error_free(bus_error *e) {
        if (!e)
                return;
        free(e->name);
        free(e->message);
        e->name = NULL;
        e->message = NULL;
}

_public_ bool bus_error_has_name(const bus_error *e, const char *name) {
        return e && e->name && name && strcmp(e->name, name) == 0;
}

/* Copy @name and @message into @e (which is freed first). */
int error_set_const(bus_error *e, const char *name, const char *message) {
        char *n, *m = NULL;

        if (!e)
                return 0;
        n = strdup(name);
        if (!n)
                return -ENOMEM;
        if (message) {
                m = strdup(message);
                if (!m) {
                        free(n);
                        return -ENOMEM;
                }
        }
        bus_error_free(e);
        e->name = n;
        e->message = m;
        return 0;
}

char *error_text_sanitize(const char *text, size_t max) {
        size_t len = text ? strlen(text) : 0, cap;
        char *r;

        /* The output never passes @max, nor 3 bytes per input byte (a
         * replacement character for each). */
        cap = len <= max / 3 ? len * 3 : max;
        r = malloc(cap + 1);
        if (!r)
                return NULL;
        bus_utf8_copy_valid(r, cap + 1, text ? text : "");
        return r;
}

/* For functions that report a bus error only as an errno: the one table
 * of errno-map.c (as bus_error_get_errno()), -EREMOTEIO for a name it does
 * not know. */
int error_to_errno(const bus_error *e) {
        int error = e && e->name ? errno_map_from_name(e->name) : 0;

        return error ? -error : -EREMOTEIO;
}

void client_debug(const char *fmt, ...) {
        va_list ap;

        if (!getenv("BUSCLIENT_DEBUG"))
                return;
        va_start(ap, fmt);
        fputs("busclient: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}
