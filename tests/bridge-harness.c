/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bridge-harness.c — the processes of busd-bridge's end-to-end tests
 * (bridge-harness.h): start, await READY=1, an exit or a log line, stop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bridge-harness.h"
#include "harness.h"

extern char **environ;

int free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        port = ntohs(sa.sin_port);
        close(fd);
        return port;
}

void dump_log(const Proc *p) {
        char buf[8192];
        ssize_t n;
        int fd = open(p->log, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return;
        fprintf(stderr, "---- %s log (%s) ----\n", p->what, p->log);
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                fwrite(buf, 1, (size_t)n, stderr);
        close(fd);
}

/* Start @argv with its stdout/stderr in DIR/@name.log, killed if we die;
 * with a private NOTIFY_SOCKET if @notify. */
void proc_start(Proc *p, const char *dir, const char *name, char *const argv[], bool notify) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char notify_var[PATH_MAX + 32];
        pid_t parent = getpid();
        size_t n = 0, k = 0;
        char **env;
        int logfd;

        memset(p, 0, sizeof(*p));
        p->what = name;
        p->notify_fd = -1;
        snprintf(p->log, sizeof(p->log), "%s/%s.log", dir, name);
        if (notify) {
                snprintf(p->notify, sizeof(p->notify), "%s/%s.notify", dir, name);
                unlink(p->notify);
                ck_assert(strlen(p->notify) < sizeof(sa.sun_path));
                strcpy(sa.sun_path, p->notify);
                p->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                ck_assert_int_ge(p->notify_fd, 0);
                ck_assert_int_eq(bind(p->notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
                snprintf(notify_var, sizeof(notify_var), "NOTIFY_SOCKET=%s", p->notify);
        }
        while (environ[n])
                n++;
        env = calloc(n + 2, sizeof(char *));
        ck_assert_ptr_nonnull(env);
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0 &&
                    strncmp(environ[i], "LISTEN_", 7) != 0 &&
                    strncmp(environ[i], "BUSD_ADDRESS=", 13) != 0)
                        env[k++] = environ[i];
        if (notify)
                env[k++] = notify_var;
        logfd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        ck_assert_int_ge(logfd, 0);
        p->pid = fork();
        ck_assert_int_ge(p->pid, 0);
        if (p->pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                if (dup2(logfd, STDOUT_FILENO) < 0 || dup2(logfd, STDERR_FILENO) < 0)
                        _exit(127);
                execve(argv[0], argv, env);
                _exit(127);
        }
        free(env);
        close(logfd);
}

/* Await READY=1 from @p (bounded); fails the test if it exits first. */
void proc_await_ready(Proc *p) {
        uint64_t deadline = now_usec() + 10ull * 1000000ull;
        char buf[1024];

        for (;;) {
                struct pollfd pfd = { .fd = p->notify_fd, .events = POLLIN };
                uint64_t now = now_usec();
                int status;
                ssize_t n;

                if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
                        p->pid = 0;
                        dump_log(p);
                        ck_abort_msg("%s exited before READY=1 (status %d)", p->what, status);
                }
                if (now >= deadline) {
                        dump_log(p);
                        ck_abort_msg("%s: no READY=1 within 10 s", p->what);
                }
                /* Wake at least every 100 ms to notice an exit. */
                if (poll(&pfd, 1,
                         (int)((deadline - now) / 1000 < 100 ? (deadline - now) / 1000 + 1 : 100)) <=
                    0)
                        continue;
                n = recv(p->notify_fd, buf, sizeof(buf) - 1, 0);
                if (n <= 0)
                        continue;
                buf[n] = 0;
                if (strstr(buf, "READY=1"))
                        return;
        }
}

void busd_start_in(Proc *p, const char *dir, const char *name, const char *sock,
                   const char *config) {
        const char *binary = getenv("BUSD_BINARY");
        char conf[PATH_MAX];
        char *argv[] = { (char *)(binary && *binary ? binary : BUSD_DEFAULT_BINARY),
                         "--address", (char *)sock, "--config", conf, NULL };
        FILE *f;

        snprintf(conf, sizeof(conf), "%s/%s.json", dir, name);
        f = fopen(conf, "we");
        ck_assert_ptr_nonnull(f);
        fputs(config ? config : "{}\n", f);
        ck_assert_int_eq(fclose(f), 0);
        proc_start(p, dir, name, argv, true);
        proc_await_ready(p);
}

int outcome_cb(bus_message *m, void *userdata) {
        Outcome *o = userdata;

        bus_message_unref(o->reply);
        o->reply = bus_message_ref(m);
        o->at = now_usec();
        o->done = 1;
        return 0;
}

void outcome_reset(Outcome *o) {
        o->reply = bus_message_unref(o->reply);
        o->done = 0;
}

const char *outcome_error(const Outcome *o) {
        return bus_message_get_type(o->reply) == BUS_MESSAGE_ERROR
                       ? bus_message_get_error_name(o->reply)
                       : NULL;
}

void bridges_stop_cleanly(Proc *b, int n) {
        for (int h = 0; h < n; h++) {
                int st = proc_stop(&b[h], SIGTERM);

                if (st != -1 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
                        dump_log(&b[h]);
                        ck_abort_msg("%s did not exit cleanly (status %d)", b[h].what, st);
                }
        }
}

/* Signal @p and await its exit; returns its wait status (-1 if not running). */
int proc_stop(Proc *p, int sig) {
        int status = -1;

        if (p->pid > 0) {
                kill(p->pid, sig);
                while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
                        ;
                p->pid = 0;
        }
        if (p->notify_fd >= 0)
                close(p->notify_fd);
        p->notify_fd = -1;
        return status;
}
void remove_dir(const char *dir) {
        char cmd[PATH_MAX + 16];

        /* Only our own mkdtemp directory, quoted by construction. */
        if (strstr(dir, "/busd-bridge-")) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", dir);
        }
}

bool proc_sent_ready(Proc *p) {
        char buf[1024];
        ssize_t n;

        while ((n = recv(p->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
                buf[n] = 0;
                if (strstr(buf, "READY=1"))
                        return true;
        }
        return false;
}

int proc_await_exit(Proc *p, uint64_t timeout_usec) {
        int pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0), status = -1;
        uint64_t deadline = now_usec() + timeout_usec;

        ck_assert_msg(pidfd >= 0, "pidfd_open: %s", strerror(errno));
        for (;;) {
                struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
                uint64_t now = now_usec();

                if (waitpid(p->pid, &status, WNOHANG) == p->pid)
                        break;
                if (now >= deadline) {
                        close(pidfd);
                        dump_log(p);
                        ck_abort_msg("%s did not exit within %llu ms", p->what,
                                     (unsigned long long)(timeout_usec / 1000));
                }
                (void)poll(&pfd, 1, (int)((deadline - now) / 1000 + 1));
        }
        close(pidfd);
        p->pid = 0;
        return status;
}

bool proc_log_contains(const Proc *p, const char *needle) {
        bool found = false;
        FILE *f = fopen(p->log, "re");
        char *line = NULL;
        size_t size = 0;

        if (!f)
                return false;
        while (!found && getline(&line, &size, f) >= 0)
                found = strstr(line, needle) != NULL;
        free(line);
        fclose(f);
        return found;
}

void proc_await_log(const Proc *p, const char *needle, uint64_t timeout_usec) {
        int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        uint64_t deadline = now_usec() + timeout_usec;

        ck_assert_int_ge(ino, 0);
        /* Watch first, then look: a line written in between is not missed. */
        ck_assert_int_ge(inotify_add_watch(ino, p->log, IN_MODIFY), 0);
        for (;;) {
                struct pollfd pfd = { .fd = ino, .events = POLLIN };
                char buf[4096];
                uint64_t now = now_usec();

                if (proc_log_contains(p, needle))
                        break;
                if (now >= deadline) {
                        close(ino);
                        dump_log(p);
                        ck_abort_msg("%s: no '%s' in its log within %llu ms", p->what, needle,
                                     (unsigned long long)(timeout_usec / 1000));
                }
                if (poll(&pfd, 1, (int)((deadline - now) / 1000 + 1)) > 0)
                        while (read(ino, buf, sizeof(buf)) > 0)
                                ;
        }
        close(ino);
}
