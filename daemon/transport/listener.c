/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * listener.c — the listening socket and accepting new connections (their
 * admission is the owner's: bus.c). See listener.h.
 *
 * Binding: the parent directory is created if missing (never through a
 * symlink, and for the system and user bus it must be ours); a socket file
 * left behind is removed only if nothing answers on it; the socket gets its
 * mode from a umask around bind(); never the abstract namespace, whose
 * names anyone in the network namespace can squat.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bus-limits.h"
#include "transport/listener.h"
#include "process/log.h"
#include "common/util.h"

struct Listener {
        ListenerOwner owner;
        int fd;
        struct event *ev;
        struct event *backoff;
        bool active;
        bool exhausted; /* in EMFILE back-off: logged once per episode */
        bool budget_paused; /* not accepting: the fd budget is short (bus.h) */
        bool singly;       /* connections arrive one per wakeup (LISTENER_PROBE_EVERY) */
        unsigned unprobed; /* wakeups since an accept() last found the backlog empty */
        char *path;     /* NULL for an inherited socket */
        bool unlink;    /* we created path */
        dev_t dev;
        ino_t ino;
};

/* While connections arrive one per wakeup, each wakeup accepts one and only
 * every this-many-th goes on to the accept() that would find the backlog
 * empty (EAGAIN, a syscall per connection otherwise); that one notices when
 * connections start to queue up, and from then on a wakeup accepts until
 * EAGAIN again. None is left behind meanwhile: epoll is level-triggered, so
 * a listener with connections waiting is reported again at once. */
#define LISTENER_PROBE_EVERY 8u

static void listener_accept_cb(evutil_socket_t fd, short what, void *userdata);

/* Arm the back-off timer, padded like every bus timer (bus_timer_add()). */
static int listener_backoff_add(Listener *l) {
        uint64_t usec = LISTENER_BACKOFF_USEC + l->owner.timer_slack_usec;
        struct timeval tv = { .tv_sec = (time_t)(usec / USEC_PER_SEC),
                              .tv_usec = (suseconds_t)(usec % USEC_PER_SEC) };

        return evtimer_add(l->backoff, &tv) < 0 ? -ENOMEM : 0;
}

/* Pause accepting and retry from the back-off timer. If even the timer
 * cannot be armed, keep the listener armed: spinning on a connection it
 * cannot take is better than never accepting again. */
static void listener_pause(Listener *l) {
        if (listener_backoff_add(l) < 0) {
                log_class(LOG_CLASS_ACCEPT, LOG_ERR,
                          "cannot arm the listener's back-off timer: not pausing");
                return;
        }
        event_del(l->ev);
}

/* Watch the socket again; if that fails, try again from the timer (and log),
 * so that the listener always comes back. */
static void listener_rearm(Listener *l) {
        if (!l->active)
                return;
        if (event_add(l->ev, NULL) == 0)
                return;
        log_class(LOG_CLASS_ACCEPT, LOG_ERR, "cannot watch the listening socket; retrying in %llu ms",
                  LISTENER_BACKOFF_USEC / 1000);
        if (listener_backoff_add(l) < 0)
                log_class(LOG_CLASS_ACCEPT, LOG_ERR,
                          "cannot arm the listener's back-off timer either");
}

/* Room in the fd budget for one more connection, with BUS_FDS_MAX left for
 * the reads that follow (bus.h)? */
static bool listener_budget_allows(const Listener *l) {
        return quota_fds_free(l->owner.budget) > BUS_FDS_MAX;
}

static void listener_backoff_cb(evutil_socket_t fd, short what, void *userdata) {
        Listener *l = userdata;

        if (l->budget_paused && !listener_budget_allows(l)) {
                listener_pause(l);
                return;
        }
        l->budget_paused = false;
        listener_rearm(l);
}

void listener_fds_released(Listener *l) {
        if (!l->budget_paused || !listener_budget_allows(l))
                return;
        l->budget_paused = false;
        evtimer_del(l->backoff);
        log_class(LOG_CLASS_ACCEPT, LOG_NOTICE, "fd budget: accepting connections again");
        listener_rearm(l);
}

static int listener_alloc(Listener **ret, const ListenerOwner *owner, int fd) {
        Listener *l;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->owner = *owner;
        l->fd = fd;
        l->ev = event_new(owner->base, fd, EV_READ | EV_PERSIST, listener_accept_cb, l);
        l->backoff = evtimer_new(owner->base, listener_backoff_cb, l);
        if (!l->ev || !l->backoff) {
                if (l->ev)
                        event_free(l->ev);
                if (l->backoff)
                        event_free(l->backoff);
                free(l);
                return -ENOMEM;
        }
        *ret = l;
        return 0;
}

int listener_new_fd(Listener **ret, const ListenerOwner *owner, int fd) {
        return listener_alloc(ret, owner, fd);
}

/* Parent directory of @path: create it with @mode if missing; refuse a
 * symlink or (if @check_owner) a directory that is not ours. */
static int prepare_dir(const char *path, mode_t mode, bool check_owner) {
        char *dir, *slash;
        struct stat st;
        int r = 0, dfd;

        dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash || slash == dir) {
                free(dir);
                return 0; /* relative name in cwd, or directly under / */
        }
        *slash = '\0';

        if (mkdir(dir, mode) == 0) {
                /* Exact mode regardless of umask; O_NOFOLLOW so a directory
                 * swapped for a symlink meanwhile is not followed. */
                dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0 || fchmod(dfd, mode) < 0)
                        r = -errno;
                safe_close(dfd);
                if (r < 0)
                        log_error("cannot set the mode of %s: %s", dir, strerror(-r));
                free(dir);
                return r;
        }
        if (errno != EEXIST) {
                r = -errno;
                log_error("cannot create %s: %s", dir, strerror(-r));
                free(dir);
                return r;
        }
        if (lstat(dir, &st) < 0) {
                r = -errno;
        } else if (S_ISLNK(st.st_mode)) {
                log_error("refusing %s: it is a symlink", dir);
                r = -ELOOP;
        } else if (!S_ISDIR(st.st_mode)) {
                log_error("refusing %s: not a directory", dir);
                r = -ENOTDIR;
        } else if (check_owner && st.st_uid != geteuid()) {
                log_error("refusing %s: owned by uid %lu, not by us", dir, (unsigned long)st.st_uid);
                r = -EPERM;
        }
        free(dir);
        return r;
}

/* A socket file at @sa: remove it if nothing listens there any more. */
static int remove_stale(const struct sockaddr_un *sa, socklen_t len) {
        struct stat st;
        int fd, r;

        if (lstat(sa->sun_path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode)) {
                log_error("refusing to replace %s: not a socket", sa->sun_path);
                return -EEXIST;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (const struct sockaddr *)sa, len);
        r = r < 0 ? errno : 0;
        safe_close(fd);
        if (r == 0 || r == EAGAIN || r == EINPROGRESS) {
                log_error("another bus is listening on %s", sa->sun_path);
                return -EADDRINUSE;
        }
        if (r != ECONNREFUSED)
                log_warning("connect test on %s: %s; treating it as stale", sa->sun_path,
                            strerror(r));
        if (unlink(sa->sun_path) < 0 && errno != ENOENT)
                return -errno;
        log_info("removed stale socket %s", sa->sun_path);
        return 0;
}

int listener_new_bind(Listener **ret, const ListenerOwner *owner, const ListenerPath *where) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(where->path);
        socklen_t len;
        struct stat st;
        Listener *l;
        mode_t old;
        int fd, r;

        if (n == 0 || n >= sizeof(sa.sun_path)) {
                log_error("socket path \"%s\" is empty or longer than %zu bytes", where->path,
                          sizeof(sa.sun_path) - 1);
                return -ENAMETOOLONG;
        }
        memcpy(sa.sun_path, where->path, n + 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);

        r = prepare_dir(where->path, where->dir_mode, where->check_owner);
        if (r < 0)
                return r;
        r = remove_stale(&sa, len);
        if (r < 0)
                return r;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        old = umask(~where->socket_mode & 0777);
        r = bind(fd, (const struct sockaddr *)&sa, len);
        umask(old);
        if (r < 0) {
                r = -errno;
                log_error("cannot bind %s: %s", where->path, strerror(-r));
                safe_close(fd);
                return r;
        }
        if (lstat(where->path, &st) < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                log_error("cannot listen on %s: %s", where->path, strerror(-r));
                unlink(where->path);
                safe_close(fd);
                return r;
        }

        r = listener_new_fd(&l, owner, fd);
        if (r == 0) {
                l->path = strdup(where->path);
                if (!l->path) {
                        l->fd = -1;
                        listener_free(l);
                        r = -ENOMEM;
                }
        }
        if (r < 0) {
                unlink(where->path);
                safe_close(fd);
                return r;
        }
        l->unlink = true;
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        *ret = l;
        return 0;
}

Listener *listener_free(Listener *l) {
        struct stat st;

        if (!l)
                return NULL;
        if (l->ev)
                event_free(l->ev);
        if (l->backoff)
                event_free(l->backoff);
        /* Only our own socket file: a new bus may have replaced it. */
        if (l->unlink && l->path && lstat(l->path, &st) == 0 && st.st_dev == l->dev &&
            st.st_ino == l->ino)
                unlink(l->path);
        safe_close(l->fd);
        free(l->path);
        free(l);
        return NULL;
}

int listener_start(Listener *l) {
        l->active = true;
        return event_add(l->ev, NULL) < 0 ? -ENOMEM : 0;
}

void listener_stop(Listener *l) {
        l->active = false;
        l->budget_paused = false;
        event_del(l->ev);
        evtimer_del(l->backoff);
}

const char *listener_describe(const Listener *l) {
        return l->path ? l->path : "socket passed by systemd";
}

static void listener_accept_cb(evutil_socket_t lfd, short what, void *userdata) {
        Listener *l = userdata;
        unsigned accepted = 0;

        for (unsigned i = 0; i < LISTENER_ACCEPTS_PER_EVENT; i++) {
                int fd;

                if (accepted == 1 && l->singly && ++l->unprobed < LISTENER_PROBE_EVERY)
                        return;
                if (!listener_budget_allows(l)) {
                        /* The connection waits in the backlog; fds released
                         * (listener_fds_released()) or the timer bring us back. */
                        log_class(LOG_CLASS_ACCEPT, LOG_WARNING,
                                  "fd budget short (%llu of %llu in use): not accepting",
                                  (unsigned long long)quota_fds_in_use(l->owner.budget),
                                  (unsigned long long)l->owner.budget->limit);
                        l->budget_paused = true;
                        listener_pause(l);
                        return;
                }
                fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd >= 0) {
                        if (l->exhausted) {
                                l->exhausted = false;
                                log_notice("accepting connections again");
                        }
                        if (++accepted > 1)
                                l->singly = false;
                        l->owner.accept(l->owner.userdata, fd);
                        continue;
                }
                switch (errno) {
                case EINTR:
                case ECONNABORTED:
                case EPROTO:
                        continue;
                case EAGAIN:
                        l->singly = accepted <= 1;
                        l->unprobed = 0;
                        return;
                case EMFILE:
                case ENFILE:
                case ENOBUFS:
                case ENOMEM: {
                        /* The pending connection stays in the backlog and would
                         * wake us again at once: pause instead of spinning. */
                        if (!l->exhausted)
                                log_class(LOG_CLASS_ACCEPT, LOG_WARNING,
                                          "accept: %s; retrying every %llu ms", strerror(errno),
                                          LISTENER_BACKOFF_USEC / 1000);
                        l->exhausted = true;
                        listener_pause(l);
                        return;
                }
                default:
                        log_class(LOG_CLASS_ACCEPT, LOG_ERR, "accept: %s", strerror(errno));
                        return;
                }
        }
}
