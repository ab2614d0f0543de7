/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proc-stat.h — what the daemon and the library read of /proc/PID/stat.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* Start time of @pid in clock ticks since boot (/proc/PID/stat field 22), 0
 * if unknown. Fields are counted after the last ')': the command name
 * (field 2) may hold spaces and parentheses. */
uint64_t proc_start_time(pid_t pid);
