/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * address.c — which bus to connect to: the public bus_connect* entry points
 * resolve the bus address (the caller's, else $BUSD_ADDRESS, else the
 * system bus; or the user bus under $XDG_RUNTIME_DIR) to a socket path and
 * hand it to conn_new() (connection.c), which connects and starts the
 * handshake. The socket paths themselves are defined once, in
 * protocol/address.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus-internal.h"
#include "protocol/address.h"

_public_ int bus_connect_with_timeout(bus_connection **ret, const char *address,
                                      uint64_t timeout_usec) {
        if (!ret)
                return -EINVAL;
        if (!address) {
                address = getenv("BUSD_ADDRESS");
                if (!address || !*address)
                        address = BUS_SYSTEM_ADDRESS;
        }
        return conn_new(ret, address, timeout_usec);
}

_public_ int bus_connect(bus_connection **ret, const char *address) {
        return bus_connect_with_timeout(ret, address, 0);
}

_public_ int bus_connect_system(bus_connection **ret) {
        if (!ret)
                return -EINVAL;
        return conn_new(ret, BUS_SYSTEM_ADDRESS, 0);
}

_public_ int bus_connect_user(bus_connection **ret) {
        const char *dir = getenv("XDG_RUNTIME_DIR");
        char *path;
        int r;

        if (!ret)
                return -EINVAL;
        if (!dir || dir[0] != '/')
                return -ENXIO;
        if (asprintf(&path, "%s%s", dir, BUS_USER_ADDRESS_SUFFIX) < 0)
                return -ENOMEM;
        r = conn_new(ret, path, 0);
        free(path);
        return r;
}
