/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listen-exec.c — bench-listen-exec PATH COMMAND [ARG...]
 *
 * Socket activation without systemd: binds and listens on a stream socket at
 * PATH, moves it to fd 3 (SD_LISTEN_FDS_START), sets LISTEN_FDS=1 and
 * LISTEN_PID to our own pid (which COMMAND keeps across exec) and execs
 * COMMAND. dbus-broker-launch takes its listening socket this way
 * (sd_listen_fds(3)). Connections made before COMMAND is up wait in the
 * backlog.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_FD 3
#define LISTEN_BACKLOG 4096

int main(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char pid[32];
        int fd;

        if (argc < 3) {
                fprintf(stderr, "usage: %s PATH COMMAND [ARG...]\n", argv[0]);
                return EXIT_FAILURE;
        }
        if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "%s: path too long\n", argv[0]);
                return EXIT_FAILURE;
        }
        strcpy(sa.sun_path, argv[1]);
        unlink(sa.sun_path);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(fd, LISTEN_BACKLOG) < 0) {
                fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1], strerror(errno));
                return EXIT_FAILURE;
        }
        /* dup2() clears FD_CLOEXEC on the copy: fd 3 is the one inherited. */
        if (fd != LISTEN_FD) {
                if (dup2(fd, LISTEN_FD) < 0) {
                        fprintf(stderr, "%s: dup2: %s\n", argv[0], strerror(errno));
                        return EXIT_FAILURE;
                }
                close(fd);
        } else if (fcntl(fd, F_SETFD, 0) < 0) {
                fprintf(stderr, "%s: fcntl: %s\n", argv[0], strerror(errno));
                return EXIT_FAILURE;
        }

        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        if (setenv("LISTEN_FDS", "1", 1) < 0 || setenv("LISTEN_PID", pid, 1) < 0)
                return EXIT_FAILURE;
        unsetenv("LISTEN_FDNAMES");

        execvp(argv[2], argv + 2);
        fprintf(stderr, "%s: %s: %s\n", argv[0], argv[2], strerror(errno));
        return EXIT_FAILURE;
}
