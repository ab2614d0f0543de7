/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * journal-sink.c — bench-journal-sink PATH COMMAND [ARG...]
 *
 * Binds a datagram socket at PATH (where dbus-broker-launch expects
 * systemd-journald: /run/systemd/journal/socket), forks a child that reads
 * and discards whatever arrives, and execs COMMAND. Binding before the exec
 * means COMMAND never starts without its log socket. The child dies with
 * its parent (PR_SET_PDEATHSIG). Meant to run inside a private mount
 * namespace (bench/run.sh), so nothing outside the benchmark sees the socket.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char *slash;
        pid_t parent = getpid(), pid;
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
        /* Create the parent directory (inside the private tmpfs). */
        slash = strrchr(sa.sun_path, '/');
        if (slash && slash != sa.sun_path) {
                *slash = '\0';
                mkdir(sa.sun_path, 0755);
                *slash = '/';
        }
        unlink(sa.sun_path);

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                fprintf(stderr, "%s: %s: %s\n", argv[0], argv[1], strerror(errno));
                return EXIT_FAILURE;
        }

        pid = fork();
        if (pid < 0) {
                fprintf(stderr, "%s: fork: %s\n", argv[0], strerror(errno));
                return EXIT_FAILURE;
        }
        if (pid == 0) {
                char buf[64 * 1024];

                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                        _exit(EXIT_SUCCESS);
                for (;;) {
                        ssize_t k = recv(fd, buf, sizeof(buf), 0);

                        if (k < 0 && errno != EINTR)
                                _exit(EXIT_FAILURE);
                }
        }

        close(fd);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "%s: %s: %s\n", argv[0], argv[2], strerror(errno));
        return EXIT_FAILURE;
}
