/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * connection.c — the client's socket: address resolution, connect and
 * handshake, and all I/O. This is the only module that calls recvmsg() and
 * sendmsg().
 *
 * Handshake: the preamble is queued at connect and the broker's BusWelcome is
 * read lazily, as the first 40 input bytes; whatever waits for the unique name
 * reads until it has arrived.
 *
 * Input: the protocol's framer (protocol/frame.h) cuts the stream and
 * pairs fd batches with their messages, by the same rule as the broker
 * (PROTOCOL.md section 1). Each read lands in one input buffer that never
 * grows; every message, once its header has arrived and passed
 * bus_header_check() (at most BUS_MESSAGE_INLINE_MAX), gets a buffer of its
 * own size, its bytes are copied there, and the rest of a large one is read
 * straight into it (no regrowing, no compaction of large data, one
 * allocation per message); complete, it is parsed and appended to the read
 * queue. A malformed message, fds that belong to no message, or MSG_CTRUNC
 * close the connection with -EBADMSG.
 *
 * Output: a FIFO of encoded messages written with one sendmsg() per batch of
 * up to CLIENT_IOV_BATCH messages. A message carrying fds is written alone,
 * so its fds travel with its own first byte. A send writes at once, unless
 * the connection is corked: then the FIFO is written when the connection is
 * processed or flushed, on uncork, or once a full batch waits.
 *
 * Lifecycle: open -> eof (socket dead, c->error set; already-read input is
 * still dispatched) -> closed (conn_finalize: pending calls failed, socket
 * closed) -> freed by bus_connection_close().
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bus-internal.h"

#define SYSTEM_BUS_ADDRESS "/run/busd/system.sock"
#define USER_BUS_SUFFIX "/busd/bus.sock"

uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- Read queue (ring buffer) ------------------------------------------------------- */

uint64_t rqueue_charge(const bus_message *m) {
        return (uint64_t)m->wire_len + sizeof(*m);
}

bool rqueue_full(const ReadQueue *q) {
        return q->n >= CLIENT_READ_QUEUE_MAX || q->bytes >= CLIENT_READ_QUEUE_BYTES_MAX ||
               q->fds >= CLIENT_READ_QUEUE_FDS_MAX;
}

static void rqueue_account(ReadQueue *q, const bus_message *m, bool add) {
        uint64_t bytes = rqueue_charge(m), fds = m->header.n_fds;

        if (add) {
                q->bytes += bytes;
                q->fds += fds;
                if (q->bytes > q->bytes_peak)
                        q->bytes_peak = q->bytes;
        } else {
                q->bytes -= bytes;
                q->fds -= fds;
        }
}

int rqueue_push(ReadQueue *q, bus_message *m) {
        if (q->n == q->size) {
                size_t size = q->size ? q->size * 2 : 16;
                bus_message **items = malloc(size * sizeof(*items));

                if (!items)
                        return -ENOMEM;
                for (size_t i = 0; i < q->n; i++)
                        items[i] = q->items[(q->head + i) % q->size];
                free(q->items);
                q->items = items;
                q->size = size;
                q->head = 0;
        }
        q->items[(q->head + q->n) % q->size] = m;
        q->n++;
        rqueue_account(q, m, true);
        return 0;
}

bus_message *rqueue_pop(ReadQueue *q) {
        bus_message *m;

        if (q->n == 0)
                return NULL;
        m = q->items[q->head];
        q->head = (q->head + 1) % q->size;
        q->n--;
        rqueue_account(q, m, false);
        return m;
}

/* Remove and return the method return or error answering @serial, if queued. */
bus_message *rqueue_take_reply(ReadQueue *q, uint64_t serial) {
        for (size_t i = 0; i < q->n; i++) {
                bus_message *m = q->items[(q->head + i) % q->size];

                if ((m->header.type != BUS_MESSAGE_METHOD_RETURN &&
                     m->header.type != BUS_MESSAGE_ERROR) ||
                    m->header.reply_serial != serial)
                        continue;
                for (size_t j = i; j + 1 < q->n; j++)
                        q->items[(q->head + j) % q->size] = q->items[(q->head + j + 1) % q->size];
                q->n--;
                rqueue_account(q, m, false);
                return m;
        }
        return NULL;
}

static void rqueue_clear(ReadQueue *q) {
        bus_message *m;

        while ((m = rqueue_pop(q)))
                bus_message_unref(m);
        free(q->items);
        q->items = NULL;
        q->head = q->n = q->size = 0;
}

/* ---- Busy sections ---------------------------------------------------------------------- */

void conn_enter(bus_connection *c) {
        c->busy++;
}

static void conn_free(bus_connection *c);

bool conn_leave(bus_connection *c) {
        if (--c->busy > 0 || !c->free_requested)
                return false;
        conn_free(c);
        return true;
}

/* ---- Output -------------------------------------------------------------------------------- */

static void out_clear(bus_connection *c) {
        while (c->out_head) {
                OutItem *item = c->out_head;

                c->out_head = item->next;
                outitem_free(item);
        }
        c->out_tail = NULL;
        c->out_n = 0;
}

bool conn_has_output(bus_connection *c) {
        return c->out_head != NULL;
}

/* Write as much queued output as the socket takes. Returns > 0 if something
 * was written, 0 if nothing could be, negative errno if the socket is dead. */
int conn_write(bus_connection *c) {
        bool progress = false;

        while (c->out_head && !c->write_dead) {
                struct iovec iov[CLIENT_IOV_BATCH];
                union {
                        struct cmsghdr hdr;
                        uint8_t buf[CMSG_SPACE(sizeof(int) * BUS_FDS_MAX)];
                } control;
                struct msghdr mh = { .msg_iov = iov };
                OutItem *item = c->out_head;
                ssize_t n;

                if (item->n_fds > 0 && !item->fds_sent) {
                        /* Alone, with its fds attached to its first byte. */
                        struct cmsghdr *cmsg;

                        memset(&control, 0, sizeof(control));
                        mh.msg_control = &control;
                        mh.msg_controllen = CMSG_SPACE(sizeof(int) * item->n_fds);
                        cmsg = CMSG_FIRSTHDR(&mh);
                        cmsg->cmsg_level = SOL_SOCKET;
                        cmsg->cmsg_type = SCM_RIGHTS;
                        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * item->n_fds);
                        memcpy(CMSG_DATA(cmsg), item->fds, sizeof(int) * item->n_fds);
                        iov[0] = (struct iovec){ item->data + item->done, item->len - item->done };
                        mh.msg_iovlen = 1;
                } else {
                        for (; item && mh.msg_iovlen < CLIENT_IOV_BATCH; item = item->next) {
                                if (item != c->out_head && item->n_fds > 0)
                                        break;
                                iov[mh.msg_iovlen++] = (struct iovec){ item->data + item->done,
                                                                       item->len - item->done };
                        }
                }

                n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        /* EPIPE/ECONNRESET: the broker is gone or closing. Keep
                         * reading: its Disconnected signal may still be queued. */
                        int r = -errno;

                        client_debug("write failed: %s", strerror(-r));
                        c->write_dead = true;
                        out_clear(c);
                        return r;
                }
                progress = true;
                if (c->out_head->n_fds > 0)
                        c->out_head->fds_sent = true;
                while (n > 0) {
                        OutItem *head = c->out_head;
                        size_t left = head->len - head->done;

                        if ((size_t)n < left) {
                                head->done += (size_t)n;
                                break;
                        }
                        n -= (ssize_t)left;
                        c->out_head = head->next;
                        if (!c->out_head)
                                c->out_tail = NULL;
                        c->out_n--;
                        outitem_free(head);
                }
        }
        return progress ? 1 : 0;
}

/* Append @item (consumed) and write at once if the socket takes it. */
int conn_enqueue(bus_connection *c, OutItem *item) {
        int r;

        if (c->eof || c->write_dead) {
                outitem_free(item);
                return c->error ? c->error : -ENOTCONN;
        }
        if (c->out_tail)
                c->out_tail->next = item;
        else
                c->out_head = item;
        c->out_tail = item;
        c->out_n++;
        /* Corked: it waits for process/flush/uncork, or a full batch. */
        if (c->corked && c->out_n < CLIENT_IOV_BATCH)
                return 0;
        r = conn_write(c);
        return r < 0 ? r : 0;
}

/* ---- Input -------------------------------------------------------------------------------- */

/* Close the fds no message claimed yet. */
static void in_fds_close(bus_connection *c) {
        for (unsigned b = 0; b < c->in_n_batches; b++)
                for (unsigned i = 0; i < c->in_batches[b].n; i++)
                        close(c->in_batches[b].fds[i]);
        c->in_n_batches = 0;
}

/* Drop the message being read into its own buffer, with its fds. */
static void in_msg_drop(bus_connection *c) {
        for (unsigned i = 0; i < c->in_msg_n_fds; i++)
                close(c->in_msg_fds[i]);
        c->in_msg_n_fds = 0;
        free(c->in_msg);
        c->in_msg = NULL;
        c->in_msg_size = c->in_msg_len = 0;
}

/* conn_fail() without the debug line, for closing on purpose. */
static void conn_mark_dead(bus_connection *c, int error) {
        if (c->eof)
                return;
        c->error = error;
        c->eof = true;
        c->write_dead = true;
        out_clear(c);
        in_fds_close(c);
        in_msg_drop(c);
        c->in_len = 0;
}

void conn_fail(bus_connection *c, int error) {
        if (c->eof)
                return;
        client_debug("connection failed: %s", strerror(-error));
        conn_mark_dead(c, error);
}

static int conn_parse_welcome(bus_connection *c, const uint8_t *bytes) {
        BusWelcome w;

        memcpy(&w, bytes, sizeof(w));
        if (bus_preamble_check(&w.preamble) != 0 || w.unique_id == BUS_DRIVER_ID)
                return -EBADMSG;
        c->features = w.preamble.features & BUS_FEATURES_SUPPORTED;
        bus_unique_name_format(w.unique_id, c->unique_name);
        for (size_t i = 0; i < sizeof(w.bus_id); i++) {
                c->bus_id[2 * i] = "0123456789abcdef"[w.bus_id[i] >> 4];
                c->bus_id[2 * i + 1] = "0123456789abcdef"[w.bus_id[i] & 0xf];
        }
        c->bus_id[2 * sizeof(w.bus_id)] = '\0';
        c->welcomed = true;
        return 0;
}

/* Parse one complete message (@data and @fds consumed) onto the read queue. */
static int conn_push_received(bus_connection *c, uint8_t *data, size_t len, int *fds,
                              unsigned n_fds) {
        bus_message *m;
        int r;

        r = message_new_received(&m, data, len, fds, n_fds);
        if (r < 0)
                return r;
        return conn_queue_received(c, m);
}

/* A checked header (frame.h MESSAGE_BEGIN): the message gets a buffer of
 * its own size and the fds it claims (the oldest batch). */
static int conn_begin_in_msg(bus_connection *c, const BusFrame *fr) {
        c->in_msg = malloc((size_t)fr->total);
        if (!c->in_msg)
                return -ENOMEM;
        memcpy(c->in_msg, fr->data, BUS_HEADER_SIZE);
        c->in_msg_size = (size_t)fr->total;
        c->in_msg_len = BUS_HEADER_SIZE;
        c->in_msg_n_fds = fr->n_fds;
        if (fr->n_fds > 0) {
                memcpy(c->in_msg_fds, c->in_batches[0].fds, sizeof(int) * fr->n_fds);
                memmove(c->in_batches, c->in_batches + 1,
                        --c->in_n_batches * sizeof(c->in_batches[0]));
        }
        return 0;
}

/* The message is complete: parse it onto the read queue. */
static int conn_end_in_msg(bus_connection *c) {
        uint8_t *data = c->in_msg;
        size_t size = c->in_msg_size;
        unsigned n_fds = c->in_msg_n_fds;

        /* Handed over before parsing, which consumes it. */
        c->in_msg = NULL;
        c->in_msg_n_fds = 0;
        c->in_msg_size = c->in_msg_len = 0;
        return conn_push_received(c, data, size, c->in_msg_fds, n_fds);
}

/* Cut what the last read brought: the welcome, then messages. What the
 * framer holds back moves to the front of the input buffer. */
static int conn_cut_input(bus_connection *c) {
        for (;;) {
                BusFrame fr;
                int r = 0;

                switch (bus_framer_next(&c->in_framer, &fr)) {
                case BUS_FRAMER_PREAMBLE:
                        r = conn_parse_welcome(c, fr.data);
                        break;
                case BUS_FRAMER_MESSAGE_BEGIN:
                        r = conn_begin_in_msg(c, &fr);
                        if (r < 0)
                                return r;
                        /* The body bytes that came with it: */
                        __attribute__((fallthrough));
                case BUS_FRAMER_BODY:
                        memcpy(c->in_msg + fr.offset, fr.body, fr.body_len);
                        c->in_msg_len += fr.body_len;
                        if (fr.end)
                                r = conn_end_in_msg(c);
                        break;
                case BUS_FRAMER_MESSAGE_END:
                        r = conn_end_in_msg(c);
                        break;
                case BUS_FRAMER_E_VIOLATION:
                        client_debug("bad input: %s%s%s", fr.reason, fr.detail ? ": " : "",
                                     fr.detail ? fr.detail : "");
                        return -EBADMSG;
                default:
                        c->in_len = bus_framer_held(&c->in_framer);
                        if (c->in_len > 0)
                                memmove(c->in_buf, bus_framer_held_bytes(&c->in_framer),
                                        c->in_len);
                        return 0;
                }
                if (r < 0)
                        return r;
        }
}

static int conn_reserve_input(bus_connection *c) {
        if (c->in_buf)
                return 0;
        c->in_buf = malloc(CLIENT_INPUT_BUFFER_DEFAULT + BUS_HEADER_SIZE);
        if (!c->in_buf)
                return -ENOMEM;
        c->in_size = CLIENT_INPUT_BUFFER_DEFAULT + BUS_HEADER_SIZE;
        /* The stream starts with the broker's welcome (unless a test made
         * the connection welcomed by hand). */
        if (!c->welcomed)
                (void)bus_framer_init(&c->in_framer, sizeof(BusWelcome));
        return 0;
}

/* Take the one SCM_RIGHTS block of a read into @fds (room for BUS_FDS_MAX);
 * returns how many, or -EBADMSG (every fd received closed) for a second
 * block, more fds than a message may carry, or lost ones (MSG_CTRUNC). */
static int conn_take_fds(struct msghdr *mh, int *fds) {
        unsigned n = 0;
        bool bad = (mh->msg_flags & MSG_CTRUNC) != 0, seen = false;

        for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(mh); cmsg; cmsg = CMSG_NXTHDR(mh, cmsg)) {
                unsigned k;

                if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                if (seen)
                        bad = true; /* one block per read (PROTOCOL.md section 1) */
                seen = true;
                for (unsigned i = 0; i < k; i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
                        if (n < BUS_FDS_MAX) {
                                fds[n++] = fd;
                        } else {
                                close(fd);
                                bad = true;
                        }
                }
        }
        if (bad) {
                for (unsigned i = 0; i < n; i++)
                        close(fds[i]);
                return -EBADMSG;
        }
        return (int)n;
}

/* One recvmsg(). Returns > 0 if bytes (or EOF) arrived, 0 if none were
 * available, negative errno if the connection failed now. */
int conn_read(bus_connection *c) {
        union {
                struct cmsghdr hdr;
                uint8_t buf[CMSG_SPACE(sizeof(int) * BUS_FDS_MAX)];
        } control;
        struct iovec iov[2];
        struct msghdr mh = { .msg_iov = iov };
        int fds[BUS_FDS_MAX];
        size_t direct = 0, room, d;
        unsigned n_fds;
        ssize_t n;
        int r;

        if (c->eof)
                return 0;
        r = conn_reserve_input(c);
        if (r < 0) {
                conn_fail(c, r);
                return r;
        }
        if (c->in_len > 0) {
                /* Messages are held back until the rest of a header decides
                 * whose the last fds are (frame.h): read only that. */
                room = bus_framer_lookahead_wanted(&c->in_framer);
                if (room > c->in_size - c->in_len)
                        room = c->in_size - c->in_len;
        } else {
                room = CLIENT_INPUT_BUFFER_DEFAULT;
                if (c->in_msg) {
                        /* The rest of a started message goes straight into
                         * its buffer, what follows it into in_buf. */
                        direct = (size_t)bus_framer_wanted(&c->in_framer);
                        if (direct > 0)
                                iov[mh.msg_iovlen++] =
                                        (struct iovec){ c->in_msg + c->in_msg_len, direct };
                }
        }
        iov[mh.msg_iovlen++] = (struct iovec){ c->in_buf + c->in_len, room };
        mh.msg_control = &control;
        mh.msg_controllen = sizeof(control);

        /* MSG_CMSG_CLOEXEC: received fds are CLOEXEC from birth (recvmsg(2)). */
        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                r = errno == ECONNRESET ? -ECONNRESET : -errno;
                conn_fail(c, r);
                return r;
        }
        r = conn_take_fds(&mh, fds);
        if (r < 0) {
                conn_fail(c, r);
                return r;
        }
        n_fds = (unsigned)r;
        if (n == 0) {
                for (unsigned i = 0; i < n_fds; i++)
                        close(fds[i]);
                conn_fail(c, -ECONNRESET);
                return 1;
        }

        d = (size_t)n < direct ? (size_t)n : direct;
        c->in_msg_len += d;
        r = bus_framer_push(&c->in_framer, d, c->in_buf, c->in_len + ((size_t)n - d), n_fds,
                            false);
        if (r != 0) {
                for (unsigned i = 0; i < n_fds; i++)
                        close(fds[i]);
                if (r == BUS_FRAMER_E_VIOLATION)
                        client_debug("bad input: %s", c->in_framer.reason);
                conn_fail(c, r < 0 ? r : -EBADMSG);
                return r < 0 ? r : -EBADMSG;
        }
        if (n_fds > 0) {
                /* The framer keeps no more batches than we have room for. */
                InBatch *b = &c->in_batches[c->in_n_batches++];

                memcpy(b->fds, fds, sizeof(int) * n_fds);
                b->n = n_fds;
        }
        r = conn_cut_input(c);
        if (r < 0) {
                conn_fail(c, r);
                return r;
        }
        return 1;
}

/* Poll the socket for @events (0: POLLIN, plus POLLOUT while output is
 * queued) until @timeout_abs_usec (USEC_INFINITY: no limit). Returns > 0 if
 * it is ready (or a signal interrupted), 0 on timeout. */
int conn_poll(bus_connection *c, short events, uint64_t timeout_abs_usec) {
        struct pollfd p = { .fd = c->fd, .events = events };
        int ms = -1, r;

        if (c->eof)
                return 1;
        if (events == 0)
                p.events = POLLIN | (conn_has_output(c) ? POLLOUT : 0);
        if (timeout_abs_usec != USEC_INFINITY) {
                uint64_t now = now_usec();
                uint64_t left = timeout_abs_usec > now ? timeout_abs_usec - now : 0;
                /* Round up, so we never wake before the deadline. */
                uint64_t left_ms = (left + 999u) / 1000u;

                ms = left_ms > INT32_MAX ? INT32_MAX : (int)left_ms;
        }
        r = poll(&p, 1, ms);
        if (r < 0)
                return errno == EINTR ? 1 : -errno;
        return r;
}

int conn_check_pid(bus_connection *c) {
        /* getpid() is a system call (glibc caches nothing since 2.25), cheap
         * next to the I/O it guards; sd-bus checks the same way. */
        return c->pid == getpid() ? 0 : -ECHILD;
}

int conn_wait_welcome(bus_connection *c) {
        uint64_t deadline = c->handshake_deadline;
        /* Nothing received yet: the broker has most likely not even accepted
         * (the usual case right after bus_connect()), so wait before reading
         * instead of a read that finds nothing. */
        bool wait_first = c->in_len == 0;

        while (!c->welcomed) {
                int r;

                if (c->eof)
                        return c->error ? c->error : -ECONNRESET;
                (void)conn_write(c);
                if (!wait_first) {
                        r = conn_read(c);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                continue;
                }
                wait_first = false;
                r = conn_poll(c, 0, deadline);
                if (r < 0)
                        return r;
                if (r == 0) {
                        /* Dead to us: calls fail, is_open() is false. */
                        conn_fail(c, -ETIMEDOUT);
                        return -ETIMEDOUT;
                }
        }
        return 0;
}

/* ---- Connect ------------------------------------------------------------------------------ */

/* A blocking connect() that gives up at @deadline: for AF_UNIX the kernel
 * waits for room in the listener's backlog at most SO_SNDTIMEO
 * (unix_stream_connect() takes sock_sndtimeo() as its timeout) and then
 * fails with EAGAIN, which we report as ETIMEDOUT. */
static int conn_connect_blocking(int fd, const struct sockaddr_un *sa, uint64_t deadline) {
        int flags = fcntl(fd, F_GETFL), r;

        if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
                return -errno;
        do {
                struct timeval tv = { 0, 0 }; /* 0: no limit */

                if (deadline != USEC_INFINITY) {
                        uint64_t now = now_usec(), left = deadline > now ? deadline - now : 0;

                        if (left == 0) {
                                errno = ETIMEDOUT;
                                r = -1;
                                break;
                        }
                        tv.tv_sec = (time_t)(left / 1000000u);
                        tv.tv_usec = (suseconds_t)(left % 1000000u);
                }
                if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
                        r = -1;
                        break;
                }
                r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
                if (r < 0 && errno == EAGAIN)
                        errno = ETIMEDOUT;
        } while (r < 0 && errno == EINTR);
        r = r < 0 ? -errno : 0;
        {
                struct timeval none = { 0, 0 };

                (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none));
        }
        if (fcntl(fd, F_SETFL, flags) < 0 && r == 0)
                r = -errno;
        return r;
}

static int conn_open_socket(const char *path, uint64_t deadline) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);
        int fd, r;

        if (len == 0)
                return -EINVAL;
        if (len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len + 1);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        if (r < 0 && errno == EAGAIN)
                /* A non-blocking AF_UNIX connect fails with EAGAIN instead of
                 * waiting when the listener's backlog is full (unix(7)); the
                 * caller asked for a connection, so wait like a blocking one,
                 * until the handshake deadline. */
                r = conn_connect_blocking(fd, &sa, deadline);
        else if (r < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

static int conn_new(bus_connection **ret, const char *path, uint64_t timeout_usec) {
        bus_connection *c;
        OutItem *item;
        BusPreamble p = {
                .magic = BUS_PREAMBLE_MAGIC,
                .version = BUS_PROTOCOL_VERSION,
                .size = sizeof(BusPreamble),
                .features = BUS_FEATURES_SUPPORTED,
        };
        /* The handshake is bounded like a call (0: the default 25 s). */
        uint64_t deadline = call_deadline_usec(timeout_usec);
        int fd, r;

        fd = conn_open_socket(path, deadline);
        if (fd < 0)
                return fd;
        c = calloc(1, sizeof(*c));
        item = outitem_new(sizeof(p));
        if (!c || !item) {
                free(item);
                free(c);
                close(fd);
                return -ENOMEM;
        }
        c->fd = fd;
        c->pid = getpid();
        c->handshake_deadline = deadline;
        c->serial_next = 1;

        /* The preamble goes out now; the welcome is read lazily. */
        memcpy(item->data, &p, sizeof(p));
        item->len = sizeof(p);
        r = conn_enqueue(c, item);
        if (r < 0) {
                conn_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

_public_ int bus_connect_with_timeout(bus_connection **ret, const char *address,
                                      uint64_t timeout_usec) {
        if (!ret)
                return -EINVAL;
        if (!address) {
                address = getenv("BUSD_ADDRESS");
                if (!address || !*address)
                        address = SYSTEM_BUS_ADDRESS;
        }
        return conn_new(ret, address, timeout_usec);
}

_public_ int bus_connect(bus_connection **ret, const char *address) {
        return bus_connect_with_timeout(ret, address, 0);
}

_public_ int bus_connect_system(bus_connection **ret) {
        if (!ret)
                return -EINVAL;
        return conn_new(ret, SYSTEM_BUS_ADDRESS, 0);
}

_public_ int bus_connect_user(bus_connection **ret) {
        const char *dir = getenv("XDG_RUNTIME_DIR");
        char *path;
        int r;

        if (!ret)
                return -EINVAL;
        if (!dir || dir[0] != '/')
                return -ENXIO;
        if (asprintf(&path, "%s%s", dir, USER_BUS_SUFFIX) < 0)
                return -ENOMEM;
        r = conn_new(ret, path, 0);
        free(path);
        return r;
}

/* ---- Close ----------------------------------------------------------------------------------- */

/* The error name for how @c ended: org.busd.Error.Timeout for a bus that did
 * not answer the handshake in time (the only -ETIMEDOUT), else Disconnected. */
static const char *conn_error_name(bus_connection *c) {
        return c->error == -ETIMEDOUT ? BUS_ERROR_TIMEOUT : BUS_ERROR_DISCONNECTED;
}

bool conn_ended(bus_connection *c) {
        return c->eof || c->closed || c->write_dead;
}

int conn_ended_error(bus_connection *c, bus_error *e) {
        const char *text = c->error == -ETIMEDOUT ? "The bus did not answer the handshake"
                                                  : "Connection closed";

        if (e)
                (void)error_set_const(e, conn_error_name(c), text);
        return c->error == -ETIMEDOUT ? -ETIMEDOUT : -ECONNRESET;
}

void conn_finalize(bus_connection *c) {
        const char *text;

        if (c->closed)
                return;
        conn_mark_dead(c, -ECONNRESET);
        c->closed = true;
        event_stop(c);
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        text = c->error == -ECONNRESET ? "Connection closed" : strerror(-c->error);
        if (!c->disconnect_error.name)
                (void)error_set_const(&c->disconnect_error, conn_error_name(c), text);
        /* A bus that never answered the handshake: the calls time out. */
        pending_fail_all(c, conn_error_name(c), text);
}

static void conn_free(bus_connection *c) {
        conn_finalize(c);
        dispatch_drop_slots(c);
        event_free_glue(c);
        rqueue_clear(&c->rqueue);
        out_clear(c);
        in_fds_close(c);
        free(c->in_buf);
        bus_error_free(&c->disconnect_error);
        free(c);
}

_public_ bus_connection *bus_connection_close(bus_connection *c) {
        if (!c || c->free_requested)
                return NULL;
        c->free_requested = true;
        conn_enter(c);
        if (!c->closed) {
                c->closed = true;
                conn_mark_dead(c, -ECONNRESET); /* nothing written: output dropped */
                event_stop(c);
                close(c->fd);
                c->fd = -1;
                /* In a child after fork() the pending calls are the
                 * parent's: no callback runs (only memory is freed, and the
                 * child's copies of the fds closed). */
                if (conn_check_pid(c) == 0)
                        pending_fail_all(c, BUS_ERROR_DISCONNECTED,
                                         "Connection closed by the application");
        }
        dispatch_drop_slots(c);
        event_free_glue(c);
        (void)conn_leave(c);
        return NULL;
}

/* ---- Properties and the poll interface -------------------------------------------------------- */

_public_ const char *bus_connection_get_unique_name(bus_connection *c) {
        if (!c || (!c->welcomed && (conn_check_pid(c) < 0 || conn_wait_welcome(c) < 0)))
                return NULL;
        event_rearm(c);
        return c->unique_name;
}

_public_ const char *bus_connection_get_bus_id(bus_connection *c) {
        if (!c || (!c->welcomed && (conn_check_pid(c) < 0 || conn_wait_welcome(c) < 0)))
                return NULL;
        event_rearm(c);
        return c->bus_id;
}

_public_ bool bus_connection_is_open(bus_connection *c) {
        /* Any failure seen on any path ends it: EOF or a read error (eof), a
         * write error (write_dead: reading goes on only to collect what the
         * broker sent before it closed), close. */
        return c && !conn_ended(c) && conn_check_pid(c) == 0;
}

_public_ int bus_connection_get_disconnect_error(bus_connection *c, bus_error *e) {
        if (!c || !e)
                return -EINVAL;
        if (!conn_ended(c))
                return -EAGAIN;
        if (c->disconnect_error.name)
                return error_set_const(e, c->disconnect_error.name, c->disconnect_error.message);
        return error_set_const(e, conn_error_name(c),
                               c->error && c->error != -ECONNRESET ? strerror(-c->error)
                                                                   : "Connection closed");
}

_public_ int bus_connection_get_fd(bus_connection *c) {
        if (!c)
                return -EINVAL;
        return c->fd >= 0 ? c->fd : -ENOTCONN;
}

_public_ int bus_connection_get_events(bus_connection *c) {
        if (!c)
                return -EINVAL;
        if (c->closed)
                return -ENOTCONN;
        return POLLIN | (conn_has_output(c) ? POLLOUT : 0);
}

_public_ int bus_connection_get_timeout(bus_connection *c, uint64_t *ret_usec) {
        if (!c || !ret_usec)
                return -EINVAL;
        /* Already-read input or an unreported close: process at once. */
        if (c->rqueue.n > 0 || (c->eof && !c->closed))
                *ret_usec = 0;
        else
                *ret_usec = pending_next_timeout(c);
        return 0;
}

_public_ int bus_connection_wait(bus_connection *c, uint64_t timeout_usec) {
        uint64_t deadline, internal, now;
        int r;

        if (!c)
                return -EINVAL;
        if (conn_check_pid(c) < 0)
                return -ECHILD;
        if (c->closed)
                return c->error ? c->error : -ENOTCONN;
        if (c->rqueue.n > 0 || c->eof)
                return 1;
        now = now_usec();
        deadline = timeout_usec == USEC_INFINITY || timeout_usec > USEC_INFINITY - now
                           ? USEC_INFINITY
                           : now + timeout_usec;
        internal = pending_next_timeout(c);
        r = conn_poll(c, 0, internal < deadline ? internal : deadline);
        if (r == 0 && internal <= deadline)
                return 1; /* a call timed out: process has work */
        return r;
}

_public_ int bus_connection_set_cork(bus_connection *c, bool cork) {
        int r = 0;

        if (!c)
                return -EINVAL;
        if (conn_check_pid(c) < 0)
                return -ECHILD;
        c->corked = cork;
        if (!cork && conn_has_output(c) && !c->write_dead) {
                r = conn_write(c);
                event_rearm(c);
        }
        return r < 0 ? r : 0;
}

_public_ int bus_connection_flush(bus_connection *c) {
        if (!c)
                return -EINVAL;
        if (conn_check_pid(c) < 0)
                return -ECHILD;
        while (conn_has_output(c)) {
                int r = conn_write(c);

                if (r < 0)
                        return conn_ended_error(c, NULL); /* the write ended it */
                if (r > 0)
                        continue;
                r = conn_poll(c, POLLOUT, USEC_INFINITY);
                if (r < 0)
                        return r;
        }
        if (conn_ended(c))
                return conn_ended_error(c, NULL);
        event_rearm(c);
        return 0;
}
