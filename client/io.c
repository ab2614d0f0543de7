/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io.c — the connection's socket I/O: the only module that calls recvmsg()
 * and sendmsg(). It owns the input buffer, the fds read and not yet claimed
 * by a message, the message being received, and the output queue; the
 * public cork and flush calls are the output queue's.
 *
 * Input: the protocol's framer (protocol/frame.h) cuts the stream and
 * pairs fd batches with their messages, by the same rule as the broker
 * (PROTOCOL.md section 1). The stream starts with the broker's welcome,
 * which the framer cuts as a preamble and handshake.c reads. Each read
 * lands in one input buffer that never grows; every message, once its
 * header has arrived and passed bus_header_check() (at most
 * BUS_MESSAGE_INLINE_MAX), gets a buffer of its own size, its bytes are
 * copied there, and the rest of a large one is read straight into it (no
 * regrowing, no compaction of large data, one allocation per message);
 * complete, it is parsed and handed to conn_queue_received() (call.c). A
 * malformed message, fds that belong to no message, or MSG_CTRUNC close the
 * connection with -EBADMSG.
 *
 * Output: a FIFO of encoded messages written with one sendmsg() per batch of
 * up to CLIENT_IOV_BATCH messages. A message carrying fds is written alone,
 * so its fds travel with its own first byte. A send writes at once, unless
 * the connection is corked: then the FIFO is written when the connection is
 * processed or flushed, on uncork, or once a full batch waits.
 *
 * Invariants: out_n counts the items on the output queue; in_len bytes at
 * in_buf[0] are what the framer holds back; in_batches holds no more
 * batches than the framer does (BUS_FRAMER_BATCHES_MAX).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus-internal.h"

/* ---- Output -------------------------------------------------------------------------------- */

static void out_clear(bus_connection *c) {
        while (c->out_head) {
                OutItem *item = c->out_head;

                LIST_REMOVE_TAILED(out, c->out_head, c->out_tail, item);
                outitem_free(item);
        }
        c->out_n = 0;
}

bool io_has_output(bus_connection *c) {
        return c->out_head != NULL;
}

/* Write as much queued output as the socket takes. Returns > 0 if something
 * was written, 0 if nothing could be, negative errno if the socket is dead. */
int io_write(bus_connection *c) {
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
                        for (; item && mh.msg_iovlen < CLIENT_IOV_BATCH; item = item->out_next) {
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
                        LIST_REMOVE_TAILED(out, c->out_head, c->out_tail, head);
                        c->out_n--;
                        outitem_free(head);
                }
        }
        return progress ? 1 : 0;
}

/* Append @item (consumed) and write at once if the socket takes it. */
int io_enqueue(bus_connection *c, OutItem *item) {
        int r;

        if (c->eof || c->write_dead) {
                outitem_free(item);
                return c->error ? c->error : -ENOTCONN;
        }
        LIST_APPEND(out, c->out_head, c->out_tail, item);
        c->out_n++;
        /* Corked: it waits for process/flush/uncork, or a full batch. */
        if (c->corked && c->out_n < CLIENT_IOV_BATCH)
                return 0;
        r = io_write(c);
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

void io_discard(bus_connection *c) {
        out_clear(c);
        in_fds_close(c);
        in_msg_drop(c);
        c->in_len = 0;
}

/* Parse one complete message (@data and @fds consumed) onto the read queue. */
static int in_push_received(bus_connection *c, uint8_t *data, size_t len, int *fds, unsigned n_fds) {
        bus_message *m;
        int r;

        r = message_new_received(&m, data, len, fds, n_fds);
        if (r < 0)
                return r;
        /* The bus's pool signals are the library's (pool.c). */
        if (pool_on_received(c, m) > 0) {
                bus_message_unref(m);
                return 0;
        }
        return conn_queue_received(c, m);
}

/* A checked header (frame.h MESSAGE_BEGIN): the message gets a buffer of
 * its own size and the fds it claims (the oldest batch). */
static int in_msg_begin(bus_connection *c, const BusFrame *fr) {
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
static int in_msg_end(bus_connection *c) {
        uint8_t *data = c->in_msg;
        size_t size = c->in_msg_size;
        unsigned n_fds = c->in_msg_n_fds;

        /* Handed over before parsing, which consumes it. */
        c->in_msg = NULL;
        c->in_msg_n_fds = 0;
        c->in_msg_size = c->in_msg_len = 0;
        return in_push_received(c, data, size, c->in_msg_fds, n_fds);
}

/* Cut what the last read brought: the welcome, then messages. What the
 * framer holds back moves to the front of the input buffer. */
static int in_cut(bus_connection *c) {
        for (;;) {
                BusFrame fr;
                int r = 0;

                switch (bus_framer_next(&c->in_framer, &fr)) {
                case BUS_FRAMER_PREAMBLE:
                        r = handshake_parse_welcome(c, fr.data);
                        break;
                case BUS_FRAMER_MESSAGE_BEGIN:
                        r = in_msg_begin(c, &fr);
                        if (r < 0)
                                return r;
                        /* The body bytes that came with it: */
                        __attribute__((fallthrough));
                case BUS_FRAMER_BODY:
                        memcpy(c->in_msg + fr.offset, fr.body, fr.body_len);
                        c->in_msg_len += fr.body_len;
                        if (fr.end)
                                r = in_msg_end(c);
                        break;
                case BUS_FRAMER_MESSAGE_END:
                        r = in_msg_end(c);
                        break;
                case BUS_FRAMER_E_VIOLATION:
                        client_debug("bad input: %s%s%s", fr.reason, fr.detail ? ": " : "",
                                     fr.detail ? fr.detail : "");
                        return -EBADMSG;
                default:
                        c->in_len = bus_framer_held(&c->in_framer);
                        if (c->in_len > 0)
                                memmove(c->in_buf, bus_framer_held_bytes(&c->in_framer), c->in_len);
                        return 0;
                }
                if (r < 0)
                        return r;
        }
}

static int in_reserve(bus_connection *c) {
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
static int in_take_fds(struct msghdr *mh, int *fds) {
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
int io_read(bus_connection *c) {
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
        r = in_reserve(c);
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
                                iov[mh.msg_iovlen++] = (struct iovec){ c->in_msg + c->in_msg_len,
                                                                       direct };
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
        r = in_take_fds(&mh, fds);
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

        if (c->in_level_pass && (size_t)n < direct + room)
                c->in_read_short = true;
        d = (size_t)n < direct ? (size_t)n : direct;
        c->in_msg_len += d;
        r = bus_framer_push(&c->in_framer, d, c->in_buf, c->in_len + ((size_t)n - d), n_fds, false);
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
        r = in_cut(c);
        if (r < 0) {
                conn_fail(c, r);
                return r;
        }
        return 1;
}

/* ---- Cork and flush ---------------------------------------------------------------------- */

_public_ int bus_connection_set_cork(bus_connection *c, bool cork) {
        int r = 0;

        if (!c)
                return -EINVAL;
        if (conn_check_pid(c) < 0)
                return -ECHILD;
        c->corked = cork;
        if (!cork && io_has_output(c) && !c->write_dead) {
                r = io_write(c);
                event_rearm(c);
        }
        return r < 0 ? r : 0;
}

_public_ int bus_connection_flush(bus_connection *c) {
        if (!c)
                return -EINVAL;
        if (conn_check_pid(c) < 0)
                return -ECHILD;
        while (io_has_output(c)) {
                int r = io_write(c);

                if (r < 0)
                        return conn_ended_error(c, NULL); /* the write ended it */
                if (r > 0)
                        continue;
                r = poll_wait(c, POLLOUT, USEC_INFINITY);
                if (r < 0)
                        return r;
        }
        if (conn_ended(c))
                return conn_ended_error(c, NULL);
        event_rearm(c);
        return 0;
}
