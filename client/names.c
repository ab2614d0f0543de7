/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * names.c — well-known name ownership: RequestName and ReleaseName
 * (PROTOCOL.md section 7), synchronous and asynchronous, through the driver
 * call (driver-call.c). Results are checked against the values the spec
 * allows; anything else is -EBADMSG.
 */
#include "config.h"

#include <errno.h>

#include "bus-internal.h"

/* Call @member with @args (consumed) and return the "result" in [1, max]. */
static int name_call_result(bus_connection *c, const char *member, json_t *args, int max,
                            bus_error *ret_error) {
        json_t *body = NULL, *result;
        json_int_t v;
        int r;

        if (!args)
                return -ENOMEM;
        r = driver_call(c, member, args, ret_error, &body);
        json_decref(args);
        if (r < 0)
                return r;
        result = json_object_get(body, "result");
        v = json_is_integer(result) ? json_integer_value(result) : 0;
        json_decref(body);
        if (v < 1 || v > max)
                return -EBADMSG;
        return (int)v;
}

_public_ int bus_request_name(bus_connection *c, const char *name, unsigned flags,
                              bus_error *ret_error) {
        const unsigned known = BUS_NAME_ALLOW_REPLACEMENT | BUS_NAME_REPLACE_EXISTING |
                               BUS_NAME_DO_NOT_QUEUE;

        if (!c || !name || !bus_wellknown_name_is_valid(name) || (flags & ~known))
                return -EINVAL;
        return name_call_result(c, "RequestName",
                                json_pack("{s:s,s:I}", "name", name, "flags", (json_int_t)flags),
                                BUS_NAME_ALREADY_OWNER, ret_error);
}

static int name_request_done(bus_message *reply, void *userdata) {
        if (reply->header.type == BUS_MESSAGE_ERROR)
                client_debug("RequestName failed: %s",
                             reply->fields.error_name ? reply->fields.error_name : "");
        return 0;
}

_public_ int bus_request_name_async(bus_connection *c, bus_slot **ret_slot, const char *name,
                                    unsigned flags, bus_message_handler callback, void *userdata) {
        const unsigned known = BUS_NAME_ALLOW_REPLACEMENT | BUS_NAME_REPLACE_EXISTING |
                               BUS_NAME_DO_NOT_QUEUE;
        bus_message *m = NULL;
        json_t *args;
        int r;

        if (!c || !name || !bus_wellknown_name_is_valid(name) || (flags & ~known) ||
            (ret_slot && !callback))
                return -EINVAL;
        args = json_pack("{s:s,s:I}", "name", name, "flags", (json_int_t)flags);
        if (!args)
                return -ENOMEM;
        r = bus_message_new_method_call(c, &m, BUS_DRIVER_NAME, BUS_DRIVER_PATH,
                                        BUS_DRIVER_INTERFACE, "RequestName");
        if (r >= 0)
                r = bus_message_set_body(m, args);
        if (r >= 0)
                r = bus_call_async(c, m, 0, callback ? callback : name_request_done,
                                   callback ? userdata : NULL, ret_slot);
        json_decref(args);
        bus_message_unref(m);
        return r;
}

_public_ int bus_release_name(bus_connection *c, const char *name, bus_error *ret_error) {
        if (!c || !name || !bus_wellknown_name_is_valid(name))
                return -EINVAL;
        return name_call_result(c, "ReleaseName", json_pack("{s:s}", "name", name),
                                BUS_NAME_NOT_OWNER, ret_error);
}
