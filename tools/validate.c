/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * validate.c — command-line name checks on top of protocol/bus-protocol.h.
 * This is the only busdctl file that includes the protocol header.
 */
#include "validate.h"
#include "bus-protocol.h"

bool validate_bus_name(const char *s) {
        return bus_name_is_valid(s);
}

bool validate_wellknown_name(const char *s) {
        return bus_wellknown_name_is_valid(s);
}

bool validate_path(const char *s) {
        return bus_path_is_valid(s);
}

bool validate_interface(const char *s) {
        return bus_interface_is_valid(s);
}

bool validate_member(const char *s) {
        return bus_member_is_valid(s);
}

bool validate_key(const char *s) {
        return bus_key_is_valid(s);
}
