/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * procinfo.c — verified reads of /proc/PID/{comm,cmdline}. See procinfo.h for
 * the reasoning; every fd here is O_CLOEXEC (pidfd_open(2) always sets it).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "procinfo.h"

/* Longest command line we show; the kernel allows far more (ARG_MAX), but a
 * status line needs no more than this. */
#define PROCINFO_CMDLINE_MAX (16u * 1024u)
/* comm is at most TASK_COMM_LEN (16) bytes; leave room for future growth. */
#define PROCINFO_COMM_MAX 256u

/* statfs(2) f_type of pidfs (include/uapi/linux/magic.h PID_FS_MAGIC). */
#define PROCINFO_PIDFS_MAGIC 0x50494446

static int pidfd_open_cloexec(pid_t pid) {
        /* glibc 2.36 has pidfd_open(), older ones do not; the syscall is the same. */
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Read up to @max bytes of /proc/@pid/@file; returns the length or -errno. */
static ssize_t read_proc_file(pid_t pid, const char *file, char **ret, size_t max) {
        char path[64], *buf;
        size_t len = 0;
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        buf = malloc(max + 1);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        while (len < max) {
                ssize_t n = read(fd, buf + len, max - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = errno == ESRCH ? -ESRCH : -errno;

                        free(buf);
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        buf[len] = '\0';
        *ret = buf;
        return (ssize_t)len;
}

int procinfo_read(pid_t pid, uint64_t pid_id, ProcInfo *ret) {
        ProcInfo info = { NULL, NULL, 0 };
        struct pollfd pfd;
        struct statfs sfs;
        struct stat st;
        ssize_t n;
        int fd, r;

        if (pid <= 0 || pid_id == 0)
                return -EOPNOTSUPP;
        fd = pidfd_open_cloexec(pid);
        if (fd < 0)
                return errno == ESRCH ? -ESRCH : -errno;
        /* Without pidfs every pidfd shares one anonymous inode: nothing to compare. */
        if (fstatfs(fd, &sfs) < 0 || sfs.f_type != PROCINFO_PIDFS_MAGIC) {
                close(fd);
                return -EOPNOTSUPP;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        if ((uint64_t)st.st_ino != pid_id) {
                close(fd);
                return -ESRCH;
        }

        n = read_proc_file(pid, "comm", &info.comm, PROCINFO_COMM_MAX);
        if (n < 0) {
                r = (int)n;
                goto fail;
        }
        if (n > 0 && info.comm[n - 1] == '\n')
                info.comm[n - 1] = '\0';
        n = read_proc_file(pid, "cmdline", &info.cmdline, PROCINFO_CMDLINE_MAX);
        if (n < 0) {
                r = (int)n;
                goto fail;
        }
        info.cmdline_len = (size_t)n;

        /* A pidfd polls readable once the process has exited (pidfd_open(2)).
         * Still not readable: the PID was never free while we read /proc. */
        pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, 0) != 0) {
                r = -ESRCH;
                goto fail;
        }
        close(fd);
        *ret = info;
        return 0;
fail:
        close(fd);
        procinfo_done(&info);
        return r;
}

void procinfo_done(ProcInfo *info) {
        if (!info)
                return;
        free(info->comm);
        free(info->cmdline);
        info->comm = info->cmdline = NULL;
        info->cmdline_len = 0;
}

const char *procinfo_strerror(int r) {
        switch (r) {
        case -ESRCH:
                return "the process has exited, or its PID now belongs to another process";
        case -EOPNOTSUPP:
                return "cannot verify the PID still names the peer's process (no pid_id or no pidfs)";
        case -EACCES:
        case -EPERM:
                return "permission denied reading /proc";
        default:
                return strerror(-r);
        }
}
