/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * address.h — where the buses listen, defined once for busd, libbusclient
 * and busdctl. The values come from configure (--with-system-socket,
 * --with-user-socket), which puts them into config.h and writes the same
 * paths into systemd/busd.socket and busdctl(1): include "config.h" first.
 *
 *   BUS_SYSTEM_ADDRESS       the system bus socket, an absolute path
 *                            (default /run/busd/system.sock)
 *   BUS_USER_ADDRESS_SUFFIX  the user bus socket, appended to the value of
 *                            $XDG_RUNTIME_DIR (default "/busd/bus.sock")
 *   BUS_USER_ADDRESS_TEXT    the user bus socket spelled for people, for
 *                            help texts and errors ("$XDG_RUNTIME_DIR/busd/bus.sock")
 *
 * PROTOCOL.md section 1 "Transport" describes them; docs/DAEMON.md says who
 * creates them with which modes. Include it as "protocol/address.h" (the
 * library may have an address module of its own).
 */
#pragma once

#if !defined(BUSD_SYSTEM_SOCKET) || !defined(BUSD_USER_SOCKET)
#error "protocol/address.h: include config.h first (configure defines the socket paths)"
#endif

#define BUS_SYSTEM_ADDRESS BUSD_SYSTEM_SOCKET
#define BUS_USER_ADDRESS_SUFFIX "/" BUSD_USER_SOCKET
#define BUS_USER_ADDRESS_TEXT "$XDG_RUNTIME_DIR" BUS_USER_ADDRESS_SUFFIX
