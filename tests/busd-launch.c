/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * busd-launch.c — start and stop a busd for shell tests, without sleeps.
 *
 *   busd-launch start DIR BUSD [ARGS...]
 *       Binds DIR/notify, starts BUSD ARGS with NOTIFY_SOCKET pointing there
 *       (stdout and stderr to DIR/busd.log), waits for READY=1 and prints the
 *       daemon's PID. Exits 1 (printing why) if busd exits first or is not
 *       ready within LAUNCH_READY_TIMEOUT_MS. The daemon keeps running.
 *   busd-launch stop PID
 *       Sends SIGTERM through a pidfd and waits for the process to exit
 *       (SIGKILL after LAUNCH_STOP_TIMEOUT_MS; exit 1 then).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Generous for a loaded CI machine; busd is ready in milliseconds. */
#define LAUNCH_READY_TIMEOUT_MS 10000
#define LAUNCH_STOP_TIMEOUT_MS 10000

extern char **environ;

static int pidfd_open_(pid_t pid) {
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_signal(int pidfd, int sig) {
        return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until @pidfd polls readable (the process exited); false on timeout. */
static int wait_exit(int pidfd, int timeout_ms) {
        long long deadline = now_ms() + timeout_ms;

        for (;;) {
                struct pollfd p = { .fd = pidfd, .events = POLLIN };
                long long left = deadline - now_ms();
                int r;

                if (left <= 0)
                        return 0;
                r = poll(&p, 1, (int)left);
                if (r > 0)
                        return 1;
                if (r < 0 && errno != EINTR)
                        return 0;
        }
}

/* Whether a datagram holds a line "READY=1". Closes any fds passed along. */
static int read_notify(int fd) {
        char buf[4096], control[CMSG_SPACE(sizeof(int) * 16)];
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
        struct msghdr mh = { .msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = control,
                             .msg_controllen = sizeof(control) };
        ssize_t n;

        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n <= 0)
                return 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
                                close(((int *)(void *)CMSG_DATA(c))[i]);
        buf[n] = '\0';
        for (char *line = buf; line;) {
                char *nl = strchr(line, '\n');

                if (nl)
                        *nl = '\0';
                if (strcmp(line, "READY=1") == 0)
                        return 1;
                line = nl ? nl + 1 : NULL;
        }
        return 0;
}

static int start(const char *dir, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char notify_var[sizeof(sa.sun_path) + 32], log[4096];
        char **env;
        size_t n = 0, k = 0;
        long long deadline;
        int fd, logfd, pidfd;
        pid_t pid;

        if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir) >=
            sizeof(sa.sun_path)) {
                fprintf(stderr, "busd-launch: %s: path too long for a socket\n", dir);
                return 1;
        }
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                fprintf(stderr, "busd-launch: notify socket %s: %s\n", sa.sun_path, strerror(errno));
                return 1;
        }
        snprintf(log, sizeof(log), "%s/busd.log", dir);
        logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (logfd < 0) {
                fprintf(stderr, "busd-launch: %s: %s\n", log, strerror(errno));
                return 1;
        }

        /* Ours minus what would make busd think systemd started it. */
        while (environ[n])
                n++;
        env = calloc(n + 2, sizeof(char *));
        if (!env)
                return 1;
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0 &&
                    strncmp(environ[i], "LISTEN_", 7) != 0 &&
                    strncmp(environ[i], "WATCHDOG_", 9) != 0)
                        env[k++] = environ[i];
        snprintf(notify_var, sizeof(notify_var), "NOTIFY_SOCKET=%s", sa.sun_path);
        env[k++] = notify_var;
        env[k] = NULL;

        pid = fork();
        if (pid < 0) {
                perror("busd-launch: fork");
                return 1;
        }
        if (pid == 0) {
                /* Leave the caller's stdout: a shell reading our output through a
                 * pipe must see EOF when we exit, not when busd does. */
                if (dup2(logfd, STDOUT_FILENO) < 0 || dup2(logfd, STDERR_FILENO) < 0)
                        _exit(127);
                execve(argv[0], argv, env);
                dprintf(STDERR_FILENO, "busd-launch: exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        free(env);
        close(logfd);
        pidfd = pidfd_open_(pid);
        if (pidfd < 0) {
                perror("busd-launch: pidfd_open");
                return 1;
        }

        deadline = now_ms() + LAUNCH_READY_TIMEOUT_MS;
        for (;;) {
                struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
                                       { .fd = pidfd, .events = POLLIN } };
                long long left = deadline - now_ms();
                int r;

                if (left <= 0) {
                        fprintf(stderr, "busd-launch: no READY=1 within %d ms; see %s\n",
                                LAUNCH_READY_TIMEOUT_MS, log);
                        pidfd_signal(pidfd, SIGKILL);
                        waitpid(pid, NULL, 0);
                        return 1;
                }
                r = poll(p, 2, (int)left);
                if (r < 0 && errno != EINTR) {
                        perror("busd-launch: poll");
                        return 1;
                }
                if (r > 0 && (p[0].revents & POLLIN) && read_notify(fd))
                        break;
                if (r > 0 && !(p[0].revents & POLLIN) && (p[1].revents & POLLIN)) {
                        int status = 0;

                        waitpid(pid, &status, 0);
                        fprintf(stderr,
                                "busd-launch: busd exited (status %d) before READY=1; "
                                "see %s\n",
                                WIFEXITED(status) ? WEXITSTATUS(status) : -1, log);
                        return 1;
                }
        }
        printf("%d\n", (int)pid);
        return fflush(stdout) == 0 ? 0 : 1;
}

static int stop(const char *pid_text) {
        char *end = NULL;
        long pid;
        int pidfd;

        errno = 0;
        pid = strtol(pid_text, &end, 10);
        if (errno != 0 || *end != '\0' || pid <= 1) {
                fprintf(stderr, "busd-launch: invalid PID '%s'\n", pid_text);
                return 2;
        }
        pidfd = pidfd_open_((pid_t)pid);
        if (pidfd < 0)
                return errno == ESRCH ? 0 : 1; /* already gone */
        if (pidfd_signal(pidfd, SIGTERM) < 0 && errno != ESRCH) {
                perror("busd-launch: pidfd_send_signal");
                return 1;
        }
        if (wait_exit(pidfd, LAUNCH_STOP_TIMEOUT_MS))
                return 0;
        fprintf(stderr, "busd-launch: PID %ld did not exit within %d ms of SIGTERM; killing it\n",
                pid, LAUNCH_STOP_TIMEOUT_MS);
        pidfd_signal(pidfd, SIGKILL);
        wait_exit(pidfd, LAUNCH_STOP_TIMEOUT_MS);
        return 1;
}

int main(int argc, char **argv) {
        if (argc >= 4 && strcmp(argv[1], "start") == 0)
                return start(argv[2], argv + 3);
        if (argc == 3 && strcmp(argv[1], "stop") == 0)
                return stop(argv[2]);
        fprintf(stderr, "Usage: busd-launch start DIR BUSD [ARGS...]\n"
                        "       busd-launch stop PID\n");
        return 2;
}
