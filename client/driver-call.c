/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * driver-call.c — the one way the library calls the bus driver
 * (org.busd.Bus, PROTOCOL.md section 7): a synchronous method call whose
 * answer must be a JSON object. Every driver method the library uses goes
 * through it (RequestName and ReleaseName in names.c, AddMatch in
 * dispatch.c, BecomeMonitor in monitor.c); anything else in the answer is
 * -EBADMSG.
 */
#include "config.h"

#include <errno.h>

#include "bus-internal.h"

int driver_call(bus_connection *c, const char *member, json_t *args, bus_error *ret_error,
                json_t **ret_body) {
        json_t *body = NULL;
        int r;

        r = bus_call_method(c, BUS_DRIVER_NAME, BUS_DRIVER_PATH, BUS_DRIVER_INTERFACE, member, args,
                            0, ret_error, &body);
        if (r < 0)
                return r;
        if (!json_is_object(body)) {
                json_decref(body);
                return -EBADMSG;
        }
        *ret_body = body;
        return 0;
}

int driver_call_errno(bus_connection *c, const char *member, json_t *args) {
        bus_error error = BUS_ERROR_INIT;
        json_t *body = NULL;
        int r;

        r = driver_call(c, member, args, &error, &body);
        json_decref(body);
        if (r == -EREMOTEIO || r == -ETIMEDOUT)
                r = error_to_errno(&error);
        bus_error_free(&error);
        return r;
}
