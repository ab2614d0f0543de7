/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * alloc-fail.h — allocation failure injection for unit tests of modules that
 * must leave their state unchanged when malloc/calloc/realloc fail. The test
 * program is linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc (see
 * tests/daemon-units.mk); setting fail_countdown to n makes the n-th
 * following allocation (counting from 0) fail, -1 disables injection.
 */
#pragma once

extern long fail_countdown;
