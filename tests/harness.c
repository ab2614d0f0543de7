/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness.c — runs the busd under test for one test process and gives tests
 * event-driven helpers around libbusclient.
 *
 * Owns: the daemon process (started with PR_SET_PDEATHSIG so it cannot
 * outlive the test), its private directory (socket, notify socket, log,
 * configuration file: busd always gets --config, so a host's
 * /etc/busd/busd.json never leaks into a test), a
 * "reaper" process that cleans up and prints the daemon log if the test
 * process dies without busd_stop() (a failed check assertion _exit()s the
 * test process, and check then SIGKILLs its process group — the reaper
 * leaves that group so it survives to report), and the control connection
 * used for GetStats.
 *
 * Invariants: at most one daemon per process; every fd the harness opens is
 * CLOEXEC, so neither the daemon nor forked helpers inherit them.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#ifndef BUSD_DEFAULT_BINARY
#define BUSD_DEFAULT_BINARY "daemon/busd"
#endif

extern char **environ;

static struct {
        bool running;
        pid_t pid;
        int pidfd;
        int notify_fd;
        pid_t reaper;
        int reaper_fd;
        char dir[200]; /* sockaddr_un paths are limited to 108 bytes anyway */
        char address[256];
        char notify[256];
        char log[256];
        char config[256];
        bus_connection *ctl;
        unsigned base_fds;
        json_t *base_stats;
} H = { .pidfd = -1, .notify_fd = -1, .reaper_fd = -1 };

/* Counters that must return to their start values after every test
 * (PROTOCOL.md section 7), then ones the daemon may add, compared when
 * present. */
static const char *const baseline_keys[] = {
        "peers", "names", "match_rules", "pending_replies", "queued_messages", "queued_bytes",
};
static const char *const baseline_optional_keys[] = {
        "incomplete_connections", "payload_bytes_in_flight", "payload_fds_in_flight",
};

uint64_t now_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int pidfd_open_(pid_t pid)
{
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_send_signal_(int pidfd, int sig)
{
        return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Wait until @pidfd says the process exited; false after @timeout_ms. */
static bool pidfd_wait_exit(int pidfd, int timeout_ms)
{
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        uint64_t deadline = now_usec() + (uint64_t)timeout_ms * 1000u;

        for (;;) {
                uint64_t now = now_usec();
                int r;

                if (now >= deadline)
                        return false;
                r = poll(&p, 1, (int)((deadline - now + 999) / 1000));
                if (r > 0)
                        return true;
                if (r < 0 && errno != EINTR)
                        return false;
        }
}

/* Remove @dir and everything below it (tests make subdirectories, e.g.
 * services/; a non-recursive removal left thousands behind in /tmp). */
static void remove_dir(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;

        if (d) {
                while ((de = readdir(d))) {
                        char sub[PATH_MAX];

                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                continue;
                        if (unlinkat(dirfd(d), de->d_name, 0) == 0 || errno != EISDIR)
                                continue;
                        if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) <
                            (int)sizeof(sub))
                                remove_dir(sub);
                }
                closedir(d);
        }
        rmdir(dir);
}

static void dump_file(const char *path, const char *why)
{
        char buf[4096];
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        fprintf(stderr, "---- busd log (%s): %s ----\n", why, path);
        fflush(stderr);
        if (fd < 0)
                return;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (write(STDERR_FILENO, buf, (size_t)n) < 0)
                        break;
        close(fd);
        fprintf(stderr, "---- end of busd log ----\n");
        fflush(stderr);
}

void busd_dump_log(const char *why)
{
        if (H.log[0])
                dump_file(H.log, why);
}

/* The reaper: a child in its own process group that waits for either 'D'
 * (busd_stop() finished cleanly) or EOF on its pipe (the test process died).
 * In the second case it kills the daemon through its pidfd (immune to pid
 * reuse), prints the log and removes the directory. Only async-signal-safe
 * calls after fork. */
static void reaper_run(int rfd) __attribute__((noreturn));
static void reaper_run(int rfd)
{
        struct pollfd p = { .fd = rfd, .events = POLLIN };
        char c = 0;

        setpgid(0, 0);
        while (poll(&p, 1, -1) < 0 && errno == EINTR)
                ;
        if (read(rfd, &c, 1) == 1 && c == 'D')
                _exit(0);
        pidfd_send_signal_(H.pidfd, SIGKILL);
        pidfd_wait_exit(H.pidfd, HARNESS_WAIT_MS);
        dump_file(H.log, "test process died");
        remove_dir(H.dir);
        _exit(0);
}

static void reaper_start(void)
{
        int p[2];
        pid_t pid;

        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(p[1]);
                reaper_run(p[0]);
        }
        close(p[0]);
        H.reaper = pid;
        H.reaper_fd = p[1];
}

static void reaper_finish(void)
{
        if (H.reaper_fd >= 0) {
                if (write(H.reaper_fd, "D", 1) != 1)
                        fprintf(stderr, "harness: cannot tell the reaper: %m\n");
                close(H.reaper_fd);
                H.reaper_fd = -1;
        }
        if (H.reaper > 0) {
                while (waitpid(H.reaper, NULL, 0) < 0 && errno == EINTR)
                        ;
                H.reaper = 0;
        }
}

/* The environment for the daemon: ours minus anything that would make it
 * think systemd handed it sockets, plus our NOTIFY_SOCKET (if @notify_var is
 * not NULL). Built before fork so the child only calls execve. */
static char **daemon_environ(char *notify_var)
{
        size_t n = 0, k = 0;
        char **env;

        while (environ[n])
                n++;
        env = calloc(n + 2, sizeof(char *));
        ck_assert_ptr_nonnull(env);
        for (size_t i = 0; i < n; i++) {
                if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) == 0 ||
                    strncmp(environ[i], "LISTEN_", 7) == 0 ||
                    strncmp(environ[i], "WATCHDOG_", 9) == 0 ||
                    strncmp(environ[i], "BUSD_ADDRESS=", 13) == 0)
                        continue;
                env[k++] = environ[i];
        }
        if (notify_var)
                env[k++] = notify_var;
        env[k] = NULL;
        return env;
}

/* The value of line "KEY=value" in notify datagram @msg, copied to @buf;
 * NULL if the datagram has no such line. */
static const char *notify_value(const char *msg, const char *key, char *buf, size_t size)
{
        size_t klen = strlen(key);

        for (const char *line = msg; line && *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);

                if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
                        len -= klen + 1;
                        if (len >= size)
                                len = size - 1;
                        memcpy(buf, line + klen + 1, len);
                        buf[len] = 0;
                        return buf;
                }
                line = nl ? nl + 1 : NULL;
        }
        return NULL;
}

/* Whether datagram @msg has the line "KEY=1". */
static bool notify_flag(const char *msg, const char *key)
{
        char v[8];

        return notify_value(msg, key, v, sizeof(v)) && strcmp(v, "1") == 0;
}

/* Receive the daemon's next notify datagram into @buf (NUL-terminated).
 * Returns 1, 0 once @deadline passed, -1 if the daemon exited (*@why says
 * so) or poll failed. */
static int notify_recv(char *buf, size_t size, uint64_t deadline, char *why, size_t why_size)
{
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = H.notify_fd, .events = POLLIN },
                        { .fd = H.pidfd, .events = POLLIN },
                };
                uint64_t now = now_usec();
                ssize_t n;
                int r;

                if (now >= deadline)
                        return 0;
                r = poll(p, 2, (int)((deadline - now + 999) / 1000));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        snprintf(why, why_size, "poll: %s", strerror(errno));
                        return -1;
                }
                if (p[0].revents & POLLIN) {
                        n = recv(H.notify_fd, buf, size - 1, MSG_DONTWAIT);
                        if (n > 0) {
                                buf[n] = 0;
                                return 1;
                        }
                        continue;
                }
                if (p[1].revents & POLLIN) {
                        snprintf(why, why_size, "busd exited");
                        return -1;
                }
        }
}

/* Read notify datagrams until one has a READY=1 line, the daemon exits, or
 * the deadline passes. */
static bool wait_ready(char *why, size_t why_size)
{
        uint64_t deadline = now_usec() + 10ull * 1000000ull;
        char buf[4096];

        for (;;) {
                int r = notify_recv(buf, sizeof(buf), deadline, why, why_size);

                if (r == 0) {
                        snprintf(why, why_size, "no READY=1 within 10 s");
                        return false;
                }
                if (r < 0) {
                        if (strcmp(why, "busd exited") == 0)
                                snprintf(why, why_size, "busd exited before READY=1");
                        return false;
                }
                if (notify_flag(buf, "READY"))
                        return true;
        }
}

char *busd_await_reload_(uint64_t since_usec, const char *file, int line)
{
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        bool reloading = false;
        char buf[4096], v[4096], why[64] = "";

        for (;;) {
                int r = notify_recv(buf, sizeof(buf), deadline, why, sizeof(why));

                ck_assert_msg(r != 0, "%s:%d: no %s within %llu ms", file, line,
                              reloading ? "READY=1 after RELOADING=1" : "RELOADING=1",
                              (unsigned long long)HARNESS_WAIT_MS);
                ck_assert_msg(r > 0, "%s:%d: waiting for a reload: %s", file, line, why);
                if (!reloading) {
                        /* A reload that began before @since_usec is not ours. */
                        reloading = notify_flag(buf, "RELOADING") &&
                                    notify_value(buf, "MONOTONIC_USEC", v, sizeof(v)) &&
                                    strtoull(v, NULL, 10) >= since_usec;
                        continue;
                }
                if (notify_flag(buf, "READY")) {
                        char *status = strdup(notify_value(buf, "STATUS", v, sizeof(v)) ? v : "");

                        ck_assert_ptr_nonnull(status);
                        return status;
                }
        }
}

void busd_reload_config_(const char *text, const char *file, int line)
{
        uint64_t since;
        char *status;

        busd_write_config(text);
        since = now_usec();
        ck_assert_msg(kill(busd_pid(), SIGHUP) == 0, "%s:%d: SIGHUP: %s", file, line,
                      strerror(errno));
        status = busd_await_reload_(since, file, line);
        ck_assert_msg(!strstr(status, "failed"), "%s:%d: reload: %s", file, line, status);
        free(status);
}

static void fail_start(const char *why)
{
        if (H.pidfd >= 0) {
                pidfd_send_signal_(H.pidfd, SIGKILL);
                pidfd_wait_exit(H.pidfd, HARNESS_WAIT_MS);
                waitpid(H.pid, NULL, WNOHANG);
        }
        dump_file(H.log, why);
        remove_dir(H.dir);
        reaper_finish();
        ck_abort_msg("busd_start: %s", why);
}

/* The busd binary under test (asserts it is executable). */
static const char *busd_binary(void)
{
        const char *bin = getenv("BUSD_BINARY");

        if (!bin || !*bin)
                bin = BUSD_DEFAULT_BINARY;
        ck_assert_msg(access(bin, X_OK) == 0, "busd binary %s: %s (set BUSD_BINARY)", bin,
                      strerror(errno));
        return bin;
}

/* Write all of @text to @path through a temporary file and rename(), so the
 * daemon never reads half a file. */
static void write_file_atomic(const char *path, const char *text)
{
        char tmp[PATH_MAX];
        size_t len = strlen(text);
        int fd;

        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_msg(fd >= 0, "%s: %s", tmp, strerror(errno));
        ck_assert_msg(write(fd, text, len) == (ssize_t)len, "%s: short write", tmp);
        close(fd);
        ck_assert_msg(rename(tmp, path) == 0, "rename %s: %s", tmp, strerror(errno));
}

void busd_start(void)
{
        busd_start_config(NULL);
}

/* More busd options for the next start (busd_start_with()); borrowed. */
static const char *const *extra_args;

void busd_start_with(const char *config, const char *const *args)
{
        extra_args = args;
        busd_start_config(config);
        extra_args = NULL;
}

void busd_start_config(const char *config)
{
        const char *tmp = getenv("TMPDIR");
        const char *bin = busd_binary();
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        static char notify_var[PATH_MAX + 32];
        char why[256];
        char **env;
        int logfd;
        pid_t parent = getpid();

        ck_assert_msg(!H.running, "busd_start called twice");
        signal(SIGPIPE, SIG_IGN);
        if (!tmp || !*tmp)
                tmp = "/tmp";

        ck_assert_msg(strlen(tmp) < 100, "TMPDIR %s too long for a socket path", tmp);
        snprintf(H.dir, sizeof(H.dir), "%s/busd-test-XXXXXX", tmp);
        ck_assert_msg(mkdtemp(H.dir), "mkdtemp in %s: %s", tmp, strerror(errno));
        snprintf(H.address, sizeof(H.address), "%s/bus.sock", H.dir);
        snprintf(H.notify, sizeof(H.notify), "%s/notify", H.dir);
        snprintf(H.log, sizeof(H.log), "%s/busd.log", H.dir);
        snprintf(H.config, sizeof(H.config), "%s/busd.json", H.dir);
        ck_assert_msg(strlen(H.address) < sizeof(sa.sun_path), "TMPDIR path too long");
        write_file_atomic(H.config, config ? config : "{}\n");

        H.notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(H.notify_fd, 0);
        strcpy(sa.sun_path, H.notify);
        ck_assert_int_eq(bind(H.notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);

        logfd = open(H.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(logfd, 0);
        snprintf(notify_var, sizeof(notify_var), "NOTIFY_SOCKET=%s", H.notify);
        env = daemon_environ(notify_var);

        H.pid = fork();
        ck_assert_int_ge(H.pid, 0);
        if (H.pid == 0) {
                char *argv[24] = { (char *)"busd",        (char *)"--address", H.address,
                                   (char *)"--config",    H.config,            (char *)"--log-level",
                                   (char *)"debug",       NULL };

                for (size_t i = 0; extra_args && extra_args[i] && 7 + i + 1 < 24; i++)
                        argv[7 + i] = (char *)extra_args[i];

                /* Never outlive the test process, whatever happens to it. */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                if (dup2(logfd, STDOUT_FILENO) < 0 || dup2(logfd, STDERR_FILENO) < 0)
                        _exit(127);
                execve(bin, argv, env);
                _exit(127);
        }
        free(env);
        close(logfd);
        H.pidfd = pidfd_open_(H.pid);
        ck_assert_msg(H.pidfd >= 0, "pidfd_open: %s", strerror(errno));
        H.running = true;
        reaper_start();

        if (!wait_ready(why, sizeof(why)))
                fail_start(why);

        if (bus_connect(&H.ctl, H.address) < 0 || !bus_connection_get_unique_name(H.ctl))
                fail_start("control connection failed");
        json_decref(driver_call_ok(H.ctl, "Ping", NULL));
        H.base_stats = busd_stats();
        H.base_fds = busd_fd_count();
}

void busd_stop(void)
{
        int status = 0;
        bool exited, clean, socket_gone;

        if (!H.running)
                return;
        H.running = false;

        pidfd_send_signal_(H.pidfd, SIGTERM);
        exited = pidfd_wait_exit(H.pidfd, 10000);
        if (!exited) {
                pidfd_send_signal_(H.pidfd, SIGKILL);
                pidfd_wait_exit(H.pidfd, HARNESS_WAIT_MS);
        }
        while (waitpid(H.pid, &status, 0) < 0 && errno == EINTR)
                ;
        clean = exited && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        socket_gone = access(H.address, F_OK) < 0 && errno == ENOENT;

        H.ctl = bus_connection_close(H.ctl);
        json_decref(H.base_stats);
        H.base_stats = NULL;
        close(H.pidfd);
        H.pidfd = -1;
        close(H.notify_fd);
        H.notify_fd = -1;
        if (!clean || !socket_gone || getenv("BUSD_TEST_SHOW_LOG"))
                busd_dump_log(clean && socket_gone ? "requested" : "unclean stop");
        remove_dir(H.dir);
        reaper_finish();

        ck_assert_msg(exited, "busd did not exit within 10 s of SIGTERM");
        ck_assert_msg(clean, "busd exit status: %s %d",
                      WIFEXITED(status) ? "exited" : "killed by signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        ck_assert_msg(socket_gone, "busd left its socket %s behind", H.address);
}

pid_t busd_pid(void)
{
        return H.pid;
}

const char *busd_config_path(void)
{
        return H.config;
}

void busd_write_config(const char *text)
{
        ck_assert_msg(H.config[0], "busd_write_config before busd_start");
        write_file_atomic(H.config, text);
}

bool busd_log_contains(const char *needle)
{
        char *text = NULL;
        size_t len = 0;
        bool found = false;
        FILE *f = fopen(H.log, "re");
        FILE *m = open_memstream(&text, &len);
        char buf[4096];
        size_t n;

        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(m);
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                fwrite(buf, 1, n, m);
        fclose(f);
        fclose(m);
        found = text && strstr(text, needle);
        free(text);
        return found;
}

int busd_run_expect_exit(const char *const *args, char *output, size_t size)
{
        const char *bin = busd_binary();
        char *argv[32], **env;
        size_t n_args = 0, len = 0;
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        int p[2], pidfd, status = 0;
        bool exited;
        pid_t pid, parent = getpid();

        argv[0] = (char *)"busd";
        while (args[n_args]) {
                ck_assert_uint_lt(n_args + 2, sizeof(argv) / sizeof(argv[0]));
                argv[n_args + 1] = (char *)args[n_args];
                n_args++;
        }
        argv[n_args + 1] = NULL;
        env = daemon_environ(NULL); /* no NOTIFY_SOCKET: READY=1 goes nowhere */
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127);
                if (dup2(p[1], STDOUT_FILENO) < 0 || dup2(p[1], STDERR_FILENO) < 0)
                        _exit(127);
                execve(bin, argv, env);
                _exit(127);
        }
        free(env);
        close(p[1]);
        pidfd = pidfd_open_(pid);
        ck_assert_msg(pidfd >= 0, "pidfd_open: %s", strerror(errno));

        /* Output until EOF (the daemon exited, or closed its stderr). */
        for (;;) {
                struct pollfd pfd = { .fd = p[0], .events = POLLIN };
                uint64_t now = now_usec();
                ssize_t r;

                if (now >= deadline)
                        break;
                if (poll(&pfd, 1, (int)((deadline - now + 999) / 1000)) <= 0)
                        continue;
                r = read(p[0], output + len, size - 1 - len);
                if (r <= 0 || (len += (size_t)r) == size - 1)
                        break;
        }
        output[len] = 0;
        close(p[0]);
        exited = pidfd_wait_exit(pidfd, (int)(deadline > now_usec()
                                                      ? (deadline - now_usec()) / 1000 + 1
                                                      : 1));
        if (!exited) {
                pidfd_send_signal_(pidfd, SIGKILL);
                pidfd_wait_exit(pidfd, HARNESS_WAIT_MS);
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        close(pidfd);
        ck_assert_msg(exited, "busd %s... still running after %d ms; output: %s",
                      args[0] ? args[0] : "", HARNESS_WAIT_MS, output);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const char *busd_address(void)
{
        return H.address;
}

void busd_open_to_others(void)
{
        char dir[PATH_MAX];
        char *slash;

        snprintf(dir, sizeof(dir), "%s", H.address);
        slash = strrchr(dir, '/');
        ck_assert_ptr_nonnull(slash);
        *slash = '\0';
        ck_assert_int_eq(chmod(dir, 0755), 0);
        ck_assert_int_eq(chmod(H.address, 0666), 0);
}

unsigned process_fd_count(pid_t pid)
{
        char path[64];
        unsigned n = 0;
        DIR *d;
        struct dirent *de;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        d = opendir(path);
        ck_assert_msg(d, "%s: %s", path, strerror(errno));
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n - (pid == getpid()); /* not the directory fd itself */
}

unsigned busd_fd_count(void)
{
        return process_fd_count(H.pid);
}

json_t *busd_stats(void)
{
        return driver_call_ok(H.ctl, "GetStats", NULL);
}

int64_t busd_stat(const char *key)
{
        json_t *s = busd_stats();
        json_t *v = json_object_get(s, key);
        int64_t r;

        ck_assert_msg(json_is_integer(v), "GetStats has no integer \"%s\"", key);
        r = json_integer_value(v);
        json_decref(s);
        return r;
}

int64_t busd_disconnects(const char *reason)
{
        json_t *s = busd_stats();
        json_t *v = json_object_get(json_object_get(s, "disconnects"), reason);
        int64_t r;

        ck_assert_msg(json_is_integer(v), "GetStats has no integer \"disconnects\".\"%s\"", reason);
        r = json_integer_value(v);
        json_decref(s);
        return r;
}

/* Describe how @stats and @fds differ from the baseline; empty if they
 * don't. */
static void baseline_diff(json_t *stats, unsigned fds, char *buf, size_t size)
{
        size_t off = 0;

        buf[0] = 0;
        for (size_t i = 0; i < sizeof(baseline_keys) / sizeof(baseline_keys[0]); i++) {
                json_t *want = json_object_get(H.base_stats, baseline_keys[i]);
                json_t *got = json_object_get(stats, baseline_keys[i]);

                if (!want || !got || !json_equal(want, got))
                        off += (size_t)snprintf(buf + off, size - off,
                                                " %s: %" PRId64 " -> %" PRId64, baseline_keys[i],
                                                want ? (int64_t)json_integer_value(want) : -1,
                                                got ? (int64_t)json_integer_value(got) : -1);
                if (off >= size)
                        return;
        }
        for (size_t i = 0; i < sizeof(baseline_optional_keys) / sizeof(baseline_optional_keys[0]);
             i++) {
                json_t *want = json_object_get(H.base_stats, baseline_optional_keys[i]);
                json_t *got = json_object_get(stats, baseline_optional_keys[i]);

                if (want && !json_equal(want, got))
                        off += (size_t)snprintf(buf + off, size - off,
                                                " %s: %" PRId64 " -> %" PRId64,
                                                baseline_optional_keys[i],
                                                (int64_t)json_integer_value(want),
                                                got ? (int64_t)json_integer_value(got) : -1);
                if (off >= size)
                        return;
        }
        if (fds != H.base_fds)
                snprintf(buf + off, size - off, " fds: %u -> %u", H.base_fds, fds);
}

void busd_assert_baseline_(const char *file, int line)
{
        uint64_t deadline = now_usec() + 3ull * 1000000ull;
        char diff[1024];

        ck_assert_msg(H.running, "%s:%d: busd is not running", file, line);
        /* Each GetStats is a round trip through the daemon's event loop, so
         * every iteration gives deferred cleanups a chance to run. */
        for (;;) {
                json_t *stats = busd_stats();
                unsigned fds = busd_fd_count();

                baseline_diff(stats, fds, diff, sizeof(diff));
                json_decref(stats);
                if (!diff[0])
                        return;
                if (now_usec() >= deadline)
                        break;
        }
        ck_abort_msg("%s:%d: daemon not back to baseline:%s", file, line, diff);
}

void busd_assert_serves_others(void)
{
        bus_connection *c = test_connect();

        json_decref(driver_call_ok(c, "Ping", NULL));
        test_disconnect(c);
}

static void fixture_setup(void)
{
        busd_start();
}

static void fixture_teardown(void)
{
        busd_stop();
}

TCase *harness_tcase(const char *name)
{
        TCase *tc = tcase_create(name);

        tcase_add_checked_fixture(tc, fixture_setup, fixture_teardown);
        tcase_set_timeout(tc, HARNESS_TCASE_TIMEOUT);
        return tc;
}

int harness_run(Suite *s)
{
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_ENV);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- Connections ------------------------------------------------------------- */

bus_connection *test_connect(void)
{
        bus_connection *c = NULL;
        int r = bus_connect(&c, H.address);

        ck_assert_msg(r >= 0, "bus_connect(%s): %s", H.address, strerror(-r));
        ck_assert_msg(bus_connection_get_unique_name(c), "no unique name from the bus");
        return c;
}

void test_disconnect(bus_connection *c)
{
        char name[BUS_NAME_MAX + 1];
        uint64_t deadline;

        if (!c)
                return;
        snprintf(name, sizeof(name), "%s", bus_connection_get_unique_name(c));
        bus_connection_close(c);
        deadline = now_usec() + HARNESS_WAIT_USEC;
        for (;;) {
                json_t *b = driver_call_ok(H.ctl, "NameHasOwner",
                                           json_pack("{s:s}", "name", name));
                bool gone = json_is_false(json_object_get(b, "has_owner"));

                json_decref(b);
                if (gone)
                        return;
                ck_assert_msg(now_usec() < deadline, "bus still knows %s after close", name);
        }
}

bool pump_(const unsigned *counter, unsigned target, bus_connection *const *conns)
{
        uint64_t deadline = now_usec() + HARNESS_WAIT_USEC;
        size_t n = 0;

        while (conns[n])
                n++;
        for (;;) {
                struct pollfd p[16];
                uint64_t wake = deadline, now;
                bool busy;

                ck_assert_uint_le(n, 16);
                do {
                        busy = false;
                        for (size_t i = 0; i < n; i++) {
                                if (!bus_connection_is_open(conns[i]))
                                        continue;
                                if (bus_connection_process(conns[i]) > 0)
                                        busy = true;
                                if (counter && *counter >= target)
                                        return true;
                        }
                } while (busy && now_usec() < deadline);
                if (counter && *counter >= target)
                        return true;
                now = now_usec();
                if (now >= deadline)
                        return false;
                if (!counter && !busy)
                        return true;
                for (size_t i = 0; i < n; i++) {
                        uint64_t t = UINT64_MAX;

                        p[i].fd = bus_connection_is_open(conns[i]) ? bus_connection_get_fd(conns[i])
                                                                  : -1;
                        p[i].events = p[i].fd >= 0 ? (short)bus_connection_get_events(conns[i]) : 0;
                        p[i].revents = 0;
                        if (p[i].fd >= 0 && bus_connection_get_timeout(conns[i], &t) >= 0 &&
                            t < wake)
                                wake = t;
                }
                poll(p, (nfds_t)n, wake > now ? (int)((wake - now + 999) / 1000) : 0);
        }
}

void pump_idle_(bus_connection *const *conns)
{
        for (size_t i = 0; conns[i]; i++)
                if (bus_connection_is_open(conns[i]))
                        bus_connection_flush(conns[i]);
        pump_(NULL, 0, conns);
}

int collector_add(bus_message *m, void *userdata)
{
        Collector *c = userdata;

        if (c->n < COLLECTOR_MAX)
                c->msgs[c->n] = bus_message_ref(m);
        c->n++;
        return 0;
}

void collector_reset(Collector *c)
{
        for (unsigned i = 0; i < c->n && i < COLLECTOR_MAX; i++)
                bus_message_unref(c->msgs[i]);
        c->n = 0;
}

int collector_find(const Collector *c, const char *member, const char *key_name)
{
        for (unsigned i = 0; i < c->n && i < COLLECTOR_MAX; i++) {
                bus_message *m = c->msgs[i];
                const char *mem = bus_message_get_type(m) == BUS_MESSAGE_ERROR
                                          ? bus_message_get_error_name(m)
                                          : bus_message_get_member(m);
                json_t *b = bus_message_get_body(m);

                if (!mem || strcmp(mem, member) != 0)
                        continue;
                if (key_name && !(json_is_string(json_object_get(b, "name")) &&
                                  strcmp(json_string_value(json_object_get(b, "name")),
                                         key_name) == 0))
                        continue;
                return (int)i;
        }
        return -1;
}

char *json_string_body(size_t len)
{
        char *t = malloc(len);

        ck_assert_uint_ge(len, 2);
        ck_assert_ptr_nonnull(t);
        memset(t, 'x', len);
        t[0] = '"';
        t[len - 1] = '"';
        return t;
}

/* ---- The bus driver ------------------------------------------------------------ */

int driver_call(bus_connection *c, const char *member, json_t *args, bus_error *ret_error,
                json_t **ret_body)
{
        json_t *body = NULL;
        int r;

        if (!args)
                args = json_object();
        r = bus_call_method(c, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE,
                            member, args, 0, ret_error, &body);
        json_decref(args);
        if (r >= 0 && ret_body)
                *ret_body = body;
        else
                json_decref(body);
        return r;
}

json_t *driver_call_ok_(bus_connection *c, const char *member, json_t *args, const char *file,
                        int line)
{
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;
        int r = driver_call(c, member, args, &e, &body);

        ck_assert_msg(r >= 0, "%s:%d: %s failed: %s (%s: %s)", file, line, member, strerror(-r),
                      e.name ? e.name : "-", e.message ? e.message : "-");
        bus_error_free(&e);
        return body ? body : json_object();
}

void driver_call_fails_(bus_connection *c, const char *member, json_t *args,
                        const char *error_name, const char *file, int line)
{
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;
        int r = driver_call(c, member, args, &e, &body);
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

        json_decref(body);
        ck_assert_msg(r == -EREMOTEIO && bus_error_has_name(&e, error_name),
                      "%s:%d: %s: expected %s, got r=%d %s (%s)%s%s", file, line, member,
                      error_name, r, e.name ? e.name : "-", e.message ? e.message : "-",
                      text ? " reply " : "", text ? text : "");
        ck_assert_msg(e.message && e.message[0], "%s:%d: %s: %s without a message", file, line,
                      member, error_name);
        free(text);
        bus_error_free(&e);
}

char *driver_get_owner(bus_connection *c, const char *name)
{
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL;
        char *owner = NULL;
        int r = driver_call(c, "GetNameOwner", json_pack("{s:s}", "name", name), &e, &body);

        if (r >= 0) {
                ck_assert_msg(json_is_string(json_object_get(body, "owner")),
                              "GetNameOwner(%s): no owner string", name);
                owner = strdup(json_string_value(json_object_get(body, "owner")));
        } else {
                ck_assert_msg(bus_error_has_name(&e, BUS_ERROR_NAME_HAS_NO_OWNER),
                              "GetNameOwner(%s): %s", name, e.name ? e.name : strerror(-r));
        }
        json_decref(body);
        bus_error_free(&e);
        return owner;
}

json_t *driver_queued_owners(bus_connection *c, const char *name)
{
        bus_error e = BUS_ERROR_INIT;
        json_t *body = NULL, *owners = NULL;
        int r = driver_call(c, "ListQueuedOwners", json_pack("{s:s}", "name", name), &e, &body);

        if (r >= 0) {
                owners = json_object_get(body, "owners");
                ck_assert_msg(json_is_array(owners), "ListQueuedOwners(%s): no owners array",
                              name);
                json_incref(owners);
        } else {
                ck_assert_msg(bus_error_has_name(&e, BUS_ERROR_NAME_HAS_NO_OWNER),
                              "ListQueuedOwners(%s): %s", name, e.name ? e.name : strerror(-r));
        }
        json_decref(body);
        bus_error_free(&e);
        return owners;
}
