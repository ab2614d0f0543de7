/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * errno-map.c — errno values and error names, both ways
 * (bus_error_set_errno(), bus_error_get_errno()), so that a handler can
 * return -ENOENT and its caller get org.busd.Error.FileNotFound, which it
 * can turn back into ENOENT. The library's own errno results for bus
 * errors (error_to_errno(), error.c) come from this table too.
 *
 * Errnos without a name of their own travel as "org.busd.Error.Errno.ENAME"
 * (strerrorname_np(), glibc 2.32) and come back the same way, so the round
 * trip holds for every errno the C library names.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "object-internal.h"

#define ERRNO_PREFIX "org.busd.Error.Errno."

/* Both ways unless marked one-way (a second name for an errno that has one
 * already: it maps to the errno, the errno maps to the first name). */
static const struct {
        int error;
        const char *name;
        bool to_errno_only;
} map[] = {
        { EINVAL, BUS_ERROR_INVALID_ARGS, false },
        { EACCES, BUS_ERROR_ACCESS_DENIED, false },
        { EPERM, "org.busd.Error.NotPermitted", false },
        { ENOENT, "org.busd.Error.FileNotFound", false },
        { EEXIST, "org.busd.Error.FileExists", false },
        { ENOMEM, "org.busd.Error.NoMemory", false },
        { ETIMEDOUT, BUS_ERROR_TIMEOUT, false },
        { ENOBUFS, BUS_ERROR_LIMITS_EXCEEDED, false },
        { ECONNRESET, BUS_ERROR_DISCONNECTED, false },
        { EHOSTUNREACH, BUS_ERROR_SERVICE_UNKNOWN, false },
        { ENXIO, BUS_ERROR_NAME_HAS_NO_OWNER, false },
        { EOPNOTSUPP, "org.busd.Error.NotSupported", false },
        { EBADMSG, BUS_ERROR_PROTOCOL, false },
        { EBUSY, "org.busd.Error.Busy", false },
        { EIO, "org.busd.Error.IOError", false },
        { EADDRINUSE, "org.busd.Error.AddressInUse", false },
        { ECONNREFUSED, "org.busd.Error.ConnectionRefused", false },
        { EREMOTEIO, BUS_ERROR_FAILED, false },
        { EOPNOTSUPP, BUS_ERROR_UNKNOWN_METHOD, true },
        { ENOENT, BUS_ERROR_MATCH_RULE_NOT_FOUND, true },
        { ENOENT, BUS_ERROR_UNKNOWN_OBJECT, true },
        { ENOENT, BUS_ERROR_UNKNOWN_PROPERTY, true },
        { EOPNOTSUPP, BUS_ERROR_UNKNOWN_INTERFACE, true },
        { EROFS, BUS_ERROR_PROPERTY_READ_ONLY, false },
        { ENOBUFS, BUS_ERROR_PAYLOAD_REFUSED, true },
};

const char *errno_map_name(int error, char *buf, size_t size) {
        const char *ename;

        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                if (!map[i].to_errno_only && map[i].error == error)
                        return map[i].name;
        ename = strerrorname_np(error);
        if (!ename)
                return BUS_ERROR_FAILED;
        snprintf(buf, size, ERRNO_PREFIX "%s", ename);
        return buf;
}

int errno_map_from_name(const char *name) {
        if (!name)
                return 0;
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                if (strcmp(map[i].name, name) == 0)
                        return map[i].error;
        if (strncmp(name, ERRNO_PREFIX, strlen(ERRNO_PREFIX)) == 0) {
                const char *ename = name + strlen(ERRNO_PREFIX);

                /* Linux errnos are below 134; 4096 is the kernel's MAX_ERRNO. */
                for (int e = 1; e < 4096; e++) {
                        const char *x = strerrorname_np(e);

                        if (x && strcmp(x, ename) == 0)
                                return e;
                }
        }
        return 0;
}

_public_ int bus_error_set_errno(bus_error *e, int error, const char *fmt, ...) {
        char buf[64], *message = NULL;
        const char *name;

        if (error < 0)
                error = error == INT_MIN ? 0 : -error; /* -INT_MIN does not exist */
        if (error == 0)
                error = EIO;
        name = errno_map_name(error, buf, sizeof(buf));
        if (fmt) {
                va_list ap;

                va_start(ap, fmt);
                if (vasprintf(&message, fmt, ap) < 0)
                        message = NULL;
                va_end(ap);
        }
        if (e) {
                bus_error_set(e, name, "%s", message ? message : strerror(error));
        }
        free(message);
        return -error;
}

_public_ int bus_error_get_errno(const bus_error *e) {
        int error;

        if (!e || !e->name)
                return 0;
        error = errno_map_from_name(e->name);
        return error ? error : EREMOTEIO;
}
