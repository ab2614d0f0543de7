/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * proc-stat.c — reading a process's start time from /proc/PID/stat
 * (proc-stat.h): the one parser of that line, for the broker's credentials
 * and the library's pidfd check.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/proc-stat.h"

uint64_t proc_start_time(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long long v = 0;
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        p = strrchr(buf, ')');
        /* after ")": field 3 (state) first, field 22 the 20th */
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                                "%*d %*d %*d %*d %llu",
                         &v) != 1)
                return 0;
        return v;
}
