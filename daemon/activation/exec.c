/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * exec.c — the exec backend: fork, set the child up (session, signals, fds,
 * user, environment), exec, and watch the result from the event loop. See
 * exec.h.
 *
 * The child reports a failure before or at execve() as one record on a
 * close-on-exec pipe ("stage errno"); end-of-file on the pipe with no record
 * means the command runs. Its exit is seen through a pidfd (pidfd_open(2),
 * Linux 5.3), readable once the process is a zombie, and reaped with
 * waitid(P_PIDFD) (Linux 5.4), so no SIGCHLD handler and no pid reuse race.
 * A failure record is always read before the exit is reported: the child
 * wrote it before it exited.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activation/exec.h"
#include "common/util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The PATH a service gets: systemd's default for services. */
#define EXEC_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What the child writes on failure: the stage and errno. */
typedef struct ExecReport {
        int stage;
        int error;
} ExecReport;

enum {
        STAGE_SETUP = 1, /* /dev/null, session */
        STAGE_USER,      /* unknown user */
        STAGE_GROUP,     /* unknown group */
        STAGE_IDENTITY,  /* initgroups/setgid/setuid refused */
        STAGE_NOT_ROOT,  /* another user asked for by a bus that is not root */
        STAGE_EXEC,      /* execve */
};

struct ExecChild {
        ExecEventFn fn;
        void *userdata;
        pid_t pid;
        int pidfd;
        int status_fd; /* read end of the report pipe, -1 once read */
        struct event *pid_event;
        struct event *status_event;
        char path[256];             /* argv[0], for reasons */
        char user[256], group[256]; /* as configured, for reasons */
        bool reported;              /* EXEC_RUNNING or EXEC_EXEC_FAILED told */
        bool exited;
};

/* The soft RLIMIT_NOFILE busd was started with (exec_remember_nofile()). */
static rlim_t nofile_soft;
static bool nofile_saved;

void exec_remember_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                nofile_soft = rl.rlim_cur;
                nofile_saved = true;
        }
}

static int pidfd_open_(pid_t pid) {
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_send_signal_(int pidfd, int sig) {
        return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* ---- the child ---------------------------------------------------------------- */

_Noreturn static void child_fail(int fd, int stage, int error) {
        ExecReport rep = { stage, error };

        (void)!write(fd, &rep, sizeof(rep));
        _exit(127);
}

/* Parse a number (uid/gid) or return false. */
static bool parse_id(const char *s, unsigned long *ret) {
        char *end;

        if (!s[0] || s[0] < '0' || s[0] > '9')
                return false;
        errno = 0;
        *ret = strtoul(s, &end, 10);
        return errno == 0 && *end == '\0' && *ret < (unsigned long)(uint32_t)-1;
}

/* Runs in the child only: async-signal-safety aside (the bus is single-
 * threaded, so the libc state is consistent after fork()). */
_Noreturn static void child_run(const Service *s, const ExecEnv *env, int report_fd) {
        char e_path[] = "PATH=" EXEC_PATH, *envp[8], e_home[PATH_MAX + 8], e_user[300],
             e_logname[300], e_shell[PATH_MAX + 8], e_addr[PATH_MAX + 16], e_name[300];
        const char *home = "/", *user_name = NULL, *shell = "/bin/sh";
        uid_t uid = geteuid();
        gid_t gid = getegid();
        struct passwd *pw = NULL;
        sigset_t all;
        size_t n = 0;
        int fd;

        /* Reset what the bus set for itself: its signal mask and ignored
         * SIGPIPE (an ignored signal stays ignored across execve). */
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        signal(sig, SIG_DFL);
        if (setsid() < 0)
                child_fail(report_fd, STAGE_SETUP, errno);
        /* busd raised its own soft fd limit to the hard one; the service
         * gets the one busd was started with (a select() loop breaks past
         * fd 1023). */
        if (nofile_saved) {
                struct rlimit rl;

                if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && nofile_soft < rl.rlim_cur) {
                        rl.rlim_cur = nofile_soft;
                        (void)setrlimit(RLIMIT_NOFILE, &rl);
                }
        }
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || dup2(fd, STDIN_FILENO) < 0)
                child_fail(report_fd, STAGE_SETUP, errno);
        /* Every other fd is CLOEXEC already; this also covers any a library
         * left without it. The report pipe is CLOEXEC and kept until exec. */
        if (report_fd > 3)
                close_range(3, (unsigned)report_fd - 1, 0);
        close_range((unsigned)report_fd + 1, ~0u, 0);

        if (s->user) {
                unsigned long id;

                errno = 0;
                pw = parse_id(s->user, &id) ? getpwuid((uid_t)id) : getpwnam(s->user);
                if (!pw && parse_id(s->user, &id)) {
                        uid = (uid_t)id; /* a number without a passwd entry is allowed */
                        gid = (gid_t)id;
                } else if (!pw) {
                        child_fail(report_fd, STAGE_USER, errno ? errno : ENOENT);
                } else {
                        uid = pw->pw_uid;
                        gid = pw->pw_gid;
                }
        } else {
                pw = getpwuid(uid);
        }
        if (pw) {
                home = pw->pw_dir;
                user_name = pw->pw_name;
                shell = pw->pw_shell;
        }
        if (s->group) {
                unsigned long id;
                struct group *gr;

                errno = 0;
                if (parse_id(s->group, &id))
                        gid = (gid_t)id;
                else if ((gr = getgrnam(s->group)))
                        gid = gr->gr_gid;
                else
                        child_fail(report_fd, STAGE_GROUP, errno ? errno : ENOENT);
        }
        if (uid != geteuid() || gid != getegid()) {
                if (geteuid() != 0)
                        child_fail(report_fd, STAGE_NOT_ROOT, EPERM);
                if ((user_name ? initgroups(user_name, gid) : setgroups(0, NULL)) < 0 ||
                    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                        child_fail(report_fd, STAGE_IDENTITY, errno);
        }
        if (chdir("/") < 0)
                child_fail(report_fd, STAGE_SETUP, errno);

        envp[n++] = e_path;
        snprintf(e_home, sizeof(e_home), "HOME=%s", home);
        envp[n++] = e_home;
        if (user_name) {
                snprintf(e_user, sizeof(e_user), "USER=%s", user_name);
                snprintf(e_logname, sizeof(e_logname), "LOGNAME=%s", user_name);
                envp[n++] = e_user;
                envp[n++] = e_logname;
        }
        snprintf(e_shell, sizeof(e_shell), "SHELL=%s", shell);
        envp[n++] = e_shell;
        if (env->address) {
                snprintf(e_addr, sizeof(e_addr), "BUSD_ADDRESS=%s", env->address);
                envp[n++] = e_addr;
        }
        if (env->name) {
                snprintf(e_name, sizeof(e_name), "BUSD_ACTIVATION_NAME=%s", env->name);
                envp[n++] = e_name;
        }
        envp[n] = NULL;
        execve(s->argv[0], s->argv, envp);
        child_fail(report_fd, STAGE_EXEC, errno);
}

/* ---- the parent ----------------------------------------------------------------- */

static void format_report(const ExecChild *c, const ExecReport *rep, char *buf, size_t size) {
        switch (rep->stage) {
        case STAGE_USER:
                if (rep->error == ENOENT)
                        snprintf(buf, size, "%s: unknown user \"%.64s\"", c->path, c->user);
                else
                        snprintf(buf, size, "%s: cannot look up user \"%.64s\": %s", c->path,
                                 c->user, strerror(rep->error));
                break;
        case STAGE_GROUP:
                if (rep->error == ENOENT)
                        snprintf(buf, size, "%s: unknown group \"%.64s\"", c->path, c->group);
                else
                        snprintf(buf, size, "%s: cannot look up group \"%.64s\": %s", c->path,
                                 c->group, strerror(rep->error));
                break;
        case STAGE_IDENTITY:
                snprintf(buf, size, "%s: cannot switch to the configured user and group: %s",
                         c->path, strerror(rep->error));
                break;
        case STAGE_NOT_ROOT:
                snprintf(buf, size,
                         "%s: the bus is not root, so it can start services only as its own "
                         "user",
                         c->path);
                break;
        case STAGE_EXEC:
                snprintf(buf, size, "cannot execute %s: %s", c->path, strerror(rep->error));
                break;
        default:
                snprintf(buf, size, "%s: cannot set up the process: %s", c->path,
                         strerror(rep->error));
                break;
        }
}

/* Read the report pipe once: a failure record or EOF (the command runs). */
static void read_report(ExecChild *c) {
        char reason[512];
        ExecReport rep;
        ssize_t n;

        if (c->status_fd < 0)
                return;
        do
                n = read(c->status_fd, &rep, sizeof(rep));
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
                return; /* not yet: the child has not exec'd or failed */
        event_del(c->status_event);
        c->status_fd = safe_close(c->status_fd);
        if (c->reported)
                return;
        c->reported = true;
        if (n == (ssize_t)sizeof(rep)) {
                format_report(c, &rep, reason, sizeof(reason));
                c->fn(c, EXEC_EXEC_FAILED, reason, c->userdata);
        } else {
                c->fn(c, EXEC_RUNNING, NULL, c->userdata);
        }
}

static void status_cb(evutil_socket_t fd, short what, void *userdata) {
        read_report(userdata);
}

static void pid_cb(evutil_socket_t fd, short what, void *userdata) {
        ExecChild *c = userdata;
        siginfo_t si = { 0 };
        char reason[300];

        if (waitid((idtype_t)P_PIDFD, (id_t)c->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                return; /* spurious; the event stays armed */
        event_del(c->pid_event);
        c->exited = true;
        /* A record written before the exit is in the pipe: read it first. */
        read_report(c);
        if (si.si_code == CLD_EXITED)
                snprintf(reason, sizeof(reason), "%s exited with status %d", c->path, si.si_status);
        else
                snprintf(reason, sizeof(reason), "%s was killed by signal %d (%s)%s", c->path,
                         si.si_status, sigabbrev_np(si.si_status) ? sigabbrev_np(si.si_status) : "?",
                         si.si_code == CLD_DUMPED ? ", core dumped" : "");
        c->fn(c, EXEC_EXITED, reason, c->userdata);
}

int exec_start(ExecChild **ret, struct event_base *base, const Service *s, const ExecEnv *env,
               ExecEventFn fn, void *userdata) {
        ExecChild *c;
        int pipefd[2], r;
        pid_t pid;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fn = fn;
        c->userdata = userdata;
        c->pidfd = c->status_fd = -1;
        snprintf(c->path, sizeof(c->path), "%s", s->argv[0]);
        snprintf(c->user, sizeof(c->user), "%s", s->user ? s->user : "");
        snprintf(c->group, sizeof(c->group), "%s", s->group ? s->group : "");
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                r = -errno;
                free(c);
                return r;
        }
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                free(c);
                return r;
        }
        if (pid == 0) {
                close(pipefd[0]);
                child_run(s, env, pipefd[1]);
        }
        close(pipefd[1]);
        c->pid = pid;
        c->status_fd = pipefd[0];
        /* The child is ours and not reaped, so its pid cannot be reused
         * before this opens it. */
        c->pidfd = pidfd_open_(pid);
        if (c->pidfd < 0 || fcntl(c->status_fd, F_SETFL, O_NONBLOCK) < 0) {
                r = -errno;
                goto fail_kill;
        }
        c->pid_event = event_new(base, c->pidfd, EV_READ | EV_PERSIST, pid_cb, c);
        c->status_event = event_new(base, c->status_fd, EV_READ | EV_PERSIST, status_cb, c);
        r = -ENOMEM;
        if (!c->pid_event || !c->status_event || event_add(c->pid_event, NULL) < 0 ||
            event_add(c->status_event, NULL) < 0)
                goto fail_kill;
        *ret = c;
        return 0;

fail_kill:
        /* Nothing will watch it: stop and reap it now (it has not run the
         * command long, if at all). */
        kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
        c->pid = 0;
        exec_free(c);
        return r;
}

void exec_kill(ExecChild *c) {
        if (!c || c->exited || c->pidfd < 0)
                return;
        (void)pidfd_send_signal_(c->pidfd, SIGKILL);
        /* And its process group (it is the leader: setsid()), so a process
         * it forked cannot take the name after the callers were told the
         * start failed. Not reaped yet, the leader keeps its pid, and so
         * the group's id, from being reused. */
        if (c->pid > 0)
                (void)kill(-c->pid, SIGKILL);
}

pid_t exec_pid(const ExecChild *c) {
        return c->pid;
}

ExecChild *exec_free(ExecChild *c) {
        if (!c)
                return NULL;
        if (c->pid_event)
                event_free(c->pid_event);
        if (c->status_event)
                event_free(c->status_event);
        safe_close(c->pidfd);
        safe_close(c->status_fd);
        free(c);
        return NULL;
}
