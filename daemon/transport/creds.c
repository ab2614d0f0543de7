/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * creds.c — reading peer credentials from the kernel. See creds.h.
 *
 * What the kernel supports is learnt once per process and not asked again:
 * whether an LSM that labels sockets is active, whether SO_PEERPIDFD and
 * SO_PEERGROUPS exist, whether pidfds live on pidfs. None of it changes
 * while the system runs, and each question costs a syscall per connection.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "transport/creds.h"
#include "common/util.h"
#include "common/proc-stat.h"

/* Linux 6.5 (socket(7)); older libc headers lack it. */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif
/* statfs(2) f_type of pidfs (include/uapi/linux/magic.h). */
#ifndef PIDFS_MAGIC
#define PIDFS_MAGIC 0x50494446
#endif

/* lsm_list_modules(2), Linux 6.8; older libc headers lack it. The number is
 * the one shared by the architectures listed; elsewhere we do not probe. */
#if !defined(SYS_lsm_list_modules) &&                                                           \
        (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) ||                    \
         defined(__arm__) || defined(__riscv) || defined(__powerpc__) || defined(__s390__) ||   \
         defined(__loongarch__))
#define SYS_lsm_list_modules 461
#endif

/* Groups the kernel may report: NGROUPS_MAX in include/uapi/linux/limits.h. */
#define CREDS_GROUPS_MAX 65536u

/* Supplementary groups read into a stack buffer first, so that the usual
 * peer costs one SO_PEERGROUPS call (a login session has a dozen or so). */
#define CREDS_GROUPS_INLINE 64u

/* LSMs (include/uapi/linux/lsm.h) that never give a socket a peer label:
 * capability, tomoyo, yama, loadpin, safesetid, lockdown, bpf (it cannot
 * fill SO_PEERSEC's buffer), landlock, ima, evm, ipe. SELinux, Smack and
 * AppArmor do, and so might any module this list does not know. */
static bool lsm_never_labels(uint64_t id) {
        return id == 100 || (id >= 103 && id <= 113 && id != 104);
}

static struct {
        bool probed;
        bool no_label;    /* no active LSM labels sockets: SO_PEERSEC is ENOPROTOOPT */
        bool no_pidfd;    /* no SO_PEERPIDFD (before 6.5), or pidfds not on pidfs (before 6.9) */
        bool pidfs;       /* the first pidfd was on pidfs: so are all others */
        bool no_groups;   /* no SO_PEERGROUPS (before 4.13) */
} kernel;

static void creds_probe(void) {
#ifdef SYS_lsm_list_modules
        uint64_t ids[64];
        uint32_t size = sizeof(ids);
        long n;

        kernel.probed = true;
        n = syscall(SYS_lsm_list_modules, ids, &size, 0);
        /* Unknown (ENOSYS, seccomp, too many modules): ask per connection. */
        if (n <= 0 || (size_t)n > sizeof(ids) / sizeof(ids[0]))
                return;
        for (long i = 0; i < n; i++)
                if (!lsm_never_labels(ids[i]))
                        return;
        kernel.no_label = true;
#else
        kernel.probed = true;
#endif
}

uint64_t creds_pidfd_id(int pidfd) {
        struct statfs sfs;
        struct stat st;

        if (fstatfs(pidfd, &sfs) < 0 || (unsigned long)sfs.f_type != PIDFS_MAGIC)
                return 0;
        if (fstat(pidfd, &st) < 0)
                return 0;
        return (uint64_t)st.st_ino;
}

/* The start time of the process @pidfd refers to, whose pid is @pid: read
 * from /proc, then kept only if the pidfd still shows the process alive (not
 * readable, pidfd_open(2)): while it lives its pid names no other process,
 * so the start time read was its own (polkit's race: a pid reused between
 * the connect and the check). */
static uint64_t read_start_time_verified(int pidfd, pid_t pid) {
        struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
        uint64_t t;

        if (pid <= 0)
                return 0;
        t = proc_start_time(pid);
        if (t == 0 || poll(&pfd, 1, 0) != 0)
                return 0;
        return t;
}

static uint64_t read_pid_id(int fd, pid_t pid, uint64_t *ret_start_time) {
        socklen_t len = sizeof(int);
        int pidfd = -1;
        struct statfs sfs;
        struct stat st;
        uint64_t id = 0;

        *ret_start_time = 0;
        if (kernel.no_pidfd)
                return 0;
        /* The kernel creates the pidfd O_CLOEXEC (pidfd_prepare()); we only
         * want its inode, so it is closed at once and costs no fd per peer.
         * The pidfd is for the process that connected, pinned by the socket
         * (sk_peer_pid), whatever happened to that pid since. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
                if (errno == ENOPROTOOPT)
                        kernel.no_pidfd = true;
                return 0;
        }
        if (pidfd < 0)
                return 0;
        if (!kernel.pidfs) {
                /* Before 6.9 pidfds share one anonymous inode: no identity. */
                if (fstatfs(pidfd, &sfs) < 0)
                        goto out;
                if ((unsigned long)sfs.f_type != PIDFS_MAGIC) {
                        kernel.no_pidfd = true;
                        goto out;
                }
                kernel.pidfs = true;
        }
        if (fstat(pidfd, &st) == 0)
                id = (uint64_t)st.st_ino;
        *ret_start_time = read_start_time_verified(pidfd, pid);
out:
        safe_close(pidfd);
        return id;
}

static int read_groups(int fd, gid_t **ret, size_t *ret_n) {
        gid_t inline_groups[CREDS_GROUPS_INLINE];
        socklen_t len = sizeof(inline_groups);
        gid_t *groups;

        if (kernel.no_groups)
                return 0;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, inline_groups, &len) < 0) {
                if (errno == ENOPROTOOPT) {
                        kernel.no_groups = true;
                        return 0;
                }
                /* ERANGE: more than fit, and len is the size needed. */
                if (errno != ERANGE)
                        return -errno;
        } else if (len <= sizeof(inline_groups)) {
                if (len == 0)
                        return 0;
                if (len % sizeof(gid_t) != 0)
                        return -EIO;
                groups = malloc(len);
                if (!groups)
                        return -ENOMEM;
                memcpy(groups, inline_groups, len);
                goto done;
        }
        if (len % sizeof(gid_t) != 0 || len / sizeof(gid_t) > CREDS_GROUPS_MAX)
                return -EIO;
        groups = malloc(len);
        if (!groups)
                return -ENOMEM;
        /* The peer's groups are those of connect time: len stays right. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
                int r = -errno;
                free(groups);
                return r;
        }
        if (len % sizeof(gid_t) != 0) {
                free(groups);
                return -EIO;
        }
done:
        *ret = groups;
        *ret_n = len / sizeof(gid_t);
        return 0;
}

static int read_label(int fd, char **ret) {
        char buf[CREDS_LABEL_MAX + 1];
        socklen_t len = CREDS_LABEL_MAX;
        char *label;

        if (kernel.no_label)
                return 0;
        /* ENOPROTOOPT without an LSM that labels sockets; ERANGE if too long. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERSEC, buf, &len) < 0)
                return errno == ENOMEM ? -ENOMEM : 0;
        if (len > CREDS_LABEL_MAX)
                return 0;
        /* The kernel may or may not count a trailing NUL. */
        while (len > 0 && buf[len - 1] == '\0')
                len--;
        if (len == 0 || memchr(buf, 0, len))
                return 0;
        label = strndup(buf, len);
        if (!label)
                return -ENOMEM;
        *ret = label;
        return 0;
}

int creds_read(int fd, Creds *ret) {
        struct ucred uc;
        socklen_t len = sizeof(uc);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
                return -errno;
        if (len != sizeof(uc))
                return -EIO;
        *ret = (Creds){ .uid = uc.uid, .gid = uc.gid, .pid = uc.pid > 0 ? uc.pid : 0 };
        return 0;
}

int creds_read_details(int fd, Creds *c) {
        gid_t *groups = NULL;
        size_t n_groups = 0;
        char *label = NULL;
        int r;

        if (!kernel.probed)
                creds_probe();
        r = read_groups(fd, &groups, &n_groups);
        if (r < 0)
                return r;
        r = read_label(fd, &label);
        if (r < 0) {
                free(groups);
                return r;
        }
        free(c->groups);
        free(c->label);
        c->groups = groups;
        c->n_groups = n_groups;
        c->label = label;
        c->pid_id = read_pid_id(fd, c->pid, &c->start_time);
        return 0;
}

void creds_clear(Creds *c) {
        free(c->groups);
        free(c->label);
        *c = (Creds){ 0 };
}
