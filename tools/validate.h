/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * validate.h — syntax checks for names given on busdctl's command line, so a
 * typo is a usage error (exit 2) before anything connects. They wrap the
 * protocol library's validators, which cannot be included next to
 * busclient.h (both define the message type constants).
 */
#pragma once

#include <stdbool.h>

bool validate_bus_name(const char *s); /* unique or well-known */
bool validate_wellknown_name(const char *s);
bool validate_path(const char *s);
bool validate_interface(const char *s);
bool validate_member(const char *s);
bool validate_key(const char *s);
