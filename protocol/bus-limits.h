/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-limits.h — every limit of the busd wire protocol and broker, in one place.
 *
 * Each number says where it comes from. Those marked "hard" are part of the
 * protocol and fixed at compile time. The others protect the broker from a
 * peer and could change without changing the protocol. Of those, the
 * connection, name, match, monitor, pending-reply, outgoing-queue,
 * payload-in-flight, fd-budget and driver-call limits and the handshake and partial-message timeouts
 * are busd's defaults: its configuration file overrides each of them
 * (daemon/process/config-file.h, docs/DAEMON.md "Configuration"; timeouts in ms
 * there), and a reload changes them at run time. Where busd sizes an array by
 * one (BUS_CONNECTIONS_MAX, BUS_NAMES_PER_CONNECTION_MAX,
 * BUS_MONITOR_RULES_MAX), the constant is also the highest value the file may
 * set. The rest (payload bytes per message, the client library's defaults)
 * are compile-time constants. GetStats reports the limits in force under
 * "limits".
 */
#pragma once

#include <stdint.h>

/* hard: names, paths, interfaces, members, error names and keys, in bytes
 * without the terminating NUL. Same as the D-Bus spec's 255, which no real
 * service has ever needed to exceed. */
#define BUS_NAME_MAX 255u

/* hard: fixed header size in bytes (see BusHeader). */
#define BUS_HEADER_SIZE 72u

/* hard: variable header fields, bytes. Six strings of at most 255 bytes plus
 * NUL, each with a 4-byte tag and padding to 8 (6 * 264), an ORIGIN of at most
 * 99 bytes plus NUL (host 64, uid 10, unique name 23, two '/': 104 with tag
 * and padding), plus payload and slice tables of BUS_FDS_MAX entries in all,
 * the largest all slices (8 + 16 * 24 = 392): 1584 + 104 + 392 = 2080 < 2304. */
#define BUS_FIELDS_MAX 2304u

/* hard: inline body bytes. Bodies past BUS_BODY_INLINE_THRESHOLD travel in a
 * memfd; the inline ceiling only bounds what the broker must buffer for one
 * message it has not yet routed. 4 MiB is ~20x the default socket buffer (208 KiB) and
 * far above the memfd crossover, so no sensible sender reaches it. */
#define BUS_BODY_INLINE_MAX (4u * 1024u * 1024u)

/* hard: one whole inline message (header + fields + body). */
#define BUS_MESSAGE_INLINE_MAX (BUS_HEADER_SIZE + BUS_FIELDS_MAX + BUS_BODY_INLINE_MAX)

/* hard: fds (payloads) per message. kdbus allowed 16 memfd items per
 * message; dbus-daemon's system bus allows 16 fds. The kernel caps one
 * SCM_RIGHTS block at 253 (SCM_MAX_FD). */
#define BUS_FDS_MAX 16u

/* Handshake: a peer that has not completed its preamble within this time is
 * dropped. dbus-daemon uses 30 s (CVE-2014-3639); a preamble is one write, so
 * 5 s is generous even on a loaded machine. */
#define BUS_HANDSHAKE_TIMEOUT_USEC (5ull * 1000000ull)

/* A started message whose remaining bytes do not arrive within this time gets
 * its peer dropped (hostile-peers.md item 4). */
#define BUS_PARTIAL_MESSAGE_TIMEOUT_USEC (10ull * 1000000ull)

/* The slow-consumer rule (docs/DAEMON.md): a receiver whose outgoing queue
 * is full (it refused a message, or is at its limit) and whose socket has
 * taken no byte for this long is disconnected. A receiver that reads at all
 * drains a full 8 MiB queue in milliseconds, so only a peer that has stopped
 * reading gets near this; 5 s, like the handshake timeout, rides out what
 * can stop a healthy process for a while (a loaded host's scheduling, a
 * swapped-out process paging back in, one long callback in a service) while
 * a truly stalled peer pins its queue (8 MiB, its payloads' fds) for a few
 * seconds at most. Meanwhile its senders only lose what is beyond their fair
 * share, and are told. dbus-broker disconnects at once when a queue is full;
 * dbus-daemon keeps queueing to a per-uid byte limit. */
#define BUS_SLOW_CONSUMER_TIMEOUT_USEC (5ull * 1000000ull)

/* Default method call timeout, as sd-bus and libdbus (25 s). */
#define BUS_DEFAULT_CALL_TIMEOUT_USEC (25ull * 1000000ull)

/* Connections per uid. dbus-daemon allows 256, dbus-broker's launcher 64. A
 * desktop session runs ~100 bus clients; 256 leaves room. Root is exempt. */
#define BUS_CONNECTIONS_PER_UID_MAX 256u

/* Connections that have not finished the handshake, bus-wide. dbus-daemon
 * uses 64 (CVE-2014-3639). */
#define BUS_INCOMPLETE_CONNECTIONS_MAX 64u

/* Connections of one uid that have not finished the handshake (root
 * exempt). The uid is known at accept (SO_PEERCRED), so one uid re-opening
 * silent connections can hold at most this many of the bus-wide
 * BUS_INCOMPLETE_CONNECTIONS_MAX slots, and four such uids are needed to fill
 * them. A client makes one connection at a time and finishes its handshake
 * in one round trip; 16 covers a session starting its services at once. */
#define BUS_INCOMPLETE_CONNECTIONS_PER_UID_MAX 16u

/* Connections, bus-wide. Each costs one fd of the bus's fd budget
 * (BUS_FDS_BUDGET). */
#define BUS_CONNECTIONS_MAX 16384u

/* The bus's fd budget (docs/DAEMON.md "File descriptor budget"): every fd a
 * peer makes the broker hold counts against it (its connection socket, the
 * payload fds of its messages queued in the broker or received and not yet
 * routed), and uids share the part connections leave with the fair-share
 * rule. The budget in force is the smaller of this (limits.fds) and the
 * RLIMIT_NOFILE soft limit (which busd raises to the hard limit) minus
 * BUS_FDS_RESERVED. 65536 = BUS_CONNECTIONS_MAX connections with three
 * payload fds each on top, an eighth of systemd's default hard limit (524288)
 * and a sixteenth of the kernel's default fs.nr_open (1048576): well inside
 * both, so the broker never meets EMFILE under its defaults. */
#define BUS_FDS_BUDGET 65536u

/* Fds below RLIMIT_NOFILE the budget leaves to the broker itself: stdin,
 * stdout and stderr, the journal socket, the epoll fd, libevent's signal and
 * wake-up fds (up to 4), the listening socket, and short-lived ones (the
 * configuration file during a reload, the sd_notify socket, the pidfd read
 * at accept, the socket accept4() installs before the budget can count it):
 * about 16. Four times that leaves room for libraries that open a file now
 * and then (NSS, the journal reopening). */
#define BUS_FDS_RESERVED 64u

/* Well-known names owned or queued for per connection: dbus-daemon's 512. */
#define BUS_NAMES_PER_CONNECTION_MAX 512u

/* Match rules per connection: dbus-daemon's 512 (dbus-broker: 256). */
#define BUS_MATCHES_PER_CONNECTION_MAX 512u

/* Monitors (connections that called BecomeMonitor), bus-wide. Each one adds
 * a queue operation (and its match-rule checks) to every message the bus
 * routes, so 32 monitors cost what a broadcast to 32 subscribers costs;
 * dbus-monitor and busdctl monitor sessions are a handful at most. */
#define BUS_MONITORS_MAX 32u

/* Monitors per uid (root and the bus's own uid exempt): a user may watch
 * its own traffic, but not make every message cost BUS_MONITORS_MAX copies. */
#define BUS_MONITORS_PER_UID_MAX 4u

/* Match rules one BecomeMonitor may pass: each is checked against every
 * message the monitor may see, so fewer than AddMatch's 512; a command line
 * names a handful. */
#define BUS_MONITOR_RULES_MAX 64u

/* Body bytes of a method call to the bus driver (org.busd.Bus), checked
 * before its JSON is parsed on the broker's only thread. The largest
 * legitimate call is BecomeMonitor with BUS_MONITOR_RULES_MAX (64) rules of
 * BUS_MATCH_RULE_MAX (1024) bytes; only a rule's key (at most 255 bytes) may
 * hold control characters, which JSON escapes as \u00XX (6 bytes), so a
 * rule costs at most 1024 + 5 x 255 + 3 bytes: 64 x 2302 + a few = 147 KB
 * (tests/test-bus-driver-limits.c builds it: 147339 bytes). AddMatch is one
 * such rule. 256 KiB covers it with room, and bounds one call's parse on the
 * bus thread to a few ms, where a 4 MiB body took 35-70 ms (measured). */
#define BUS_DRIVER_CALL_BYTES_MAX (256u * 1024u)

/* Bytes of the bus's own answers that may wait unread in one caller's queue
 * before the bus stops executing that caller's driver calls (each is then
 * answered LimitsExceeded, unexecuted): the bus's work for a peer is paced by
 * what the peer reads. Eight ListNames pages (128 KiB each); the answers and
 * NameAcquired signals of ~2000 pipelined RequestNames of 250-byte names
 * (a client that sets up without reading in between). A pipeline of unread
 * 1 MiB pages from 16 connections stalled other peers' calls for ~2 s
 * (measured, issue 9 probe); with this bound one caller's callback builds
 * at most ~8 pages (~10 ms). */
#define BUS_DRIVER_UNREAD_BYTES_MAX (1024u * 1024u)

/* Outstanding method calls a connection may wait on: dbus-daemon's 128
 * (after CVE-2014-3638). */
#define BUS_PENDING_REPLIES_PER_CONNECTION_MAX 128u

/* Bytes queued towards one connection that it has not read yet. dbus-broker
 * uses 8 MiB per connection; payloads are charged separately
 * (BUS_PAYLOAD_BYTES_IN_FLIGHT_MAX) since they do not occupy broker memory.
 * This and the three queue limits below are shared fairly between the
 * senders with messages in the queue (docs/DAEMON.md "Fair shares"); replies
 * and the bus's own messages may take a queue to twice them. */
#define BUS_OUTGOING_BYTES_PER_CONNECTION_MAX (8u * 1024u * 1024u)

/* Messages queued towards one connection: bounds per-message bookkeeping for
 * floods of tiny messages. 8 MiB / 128 bytes. */
#define BUS_OUTGOING_MESSAGES_PER_CONNECTION_MAX 65536u

/* Payload size per message (sum of all payloads). The broker never maps
 * payloads; this only guards receivers against absurd sizes. 64 GiB: well
 * above the 4 GiB a real service may hand over, well below any overflow. */
#define BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX (64ull * 1024ull * 1024ull * 1024ull)

/* Payload bytes a sender may have queued in the broker at once (summed over
 * its messages that still wait in some receiver's queue, each counted once
 * however many receivers it goes to). Who pays for a payload: its shmem
 * pages are charged to the memory cgroup of the process that allocates them,
 * i.e. that writes or fallocate()s them (the sender), and stay charged there
 * when swapped out and in; a receiver that maps pages already present
 * allocates nothing (page tables aside), though they count in its RSS as it
 * reads them. A hole, however, would be allocated by whoever reads it and
 * charged to that reader, which is why the payload rule refuses payloads
 * that are not fully backed (protocol/payload-check.h). So a payload in
 * flight is memory the sender holds and pays for, and this limit can be
 * large: it bounds how much of that memory the broker keeps alive, by
 * holding the fd, on the sender's behalf. 64 GiB: sixteen 4 GiB payloads in
 * flight. */
#define BUS_PAYLOAD_BYTES_IN_FLIGHT_MAX (64ull * 1024ull * 1024ull * 1024ull)

/* Payload fds a sender may have queued in the broker at once (one per payload
 * of each of its queued messages, however many receivers): a bound per
 * connection, so that one sender cannot take its whole uid's share. It does
 * not bound the broker's fds (256 connections of one uid x 1024 = 262144,
 * past the budget): the bus-wide fd budget does (BUS_FDS_BUDGET, shared
 * fairly between uids). 1024 = 64 messages of BUS_FDS_MAX payloads each. */
#define BUS_PAYLOAD_FDS_IN_FLIGHT_MAX 1024u

/* Payload fds queued towards one connection that it has not read yet. The
 * kernel's socket buffer already holds ~200 fd-carrying writes (one skb each
 * in the default 208 KiB wmem); 256 more is a generous backlog and keeps a
 * stalled receiver well below a sender's BUS_PAYLOAD_FDS_IN_FLIGHT_MAX: a
 * sender gets at most half of them there (its fair share), and the stalled
 * receiver is disconnected after BUS_SLOW_CONSUMER_TIMEOUT_USEC, so it
 * cannot exhaust its senders' quota. */
#define BUS_OUTGOING_FDS_PER_CONNECTION_MAX 256u

/* Payload bytes queued towards one connection that it has not read yet; a
 * message is always accepted into a queue that holds no payload bytes, so a
 * single payload of any legal size gets through. A quarter of
 * BUS_PAYLOAD_BYTES_IN_FLIGHT_MAX, for the same reason as the fd limit above. */
#define BUS_OUTGOING_PAYLOAD_BYTES_PER_CONNECTION_MAX (16ull * 1024ull * 1024ull * 1024ull)

/* ---- Per uid: what one uid's connections together may make the broker hold
 * (docs/DAEMON.md "Quotas per uid"). Each is shared between the uid's
 * connections holding some by the fair-share rule, so one connection of a
 * uid (a stalled one, a flooding one) never takes more than half of its
 * uid's and its siblings always find room; and each is a multiple of the
 * per-connection limit, so that a connection at its own limit leaves its
 * siblings most of the uid's. Root is exempt (as from the connections per
 * uid): on a system bus root runs most services, which one total would make
 * one pool; each of its connections keeps every per-connection limit. ---- */

/* Bytes of one uid's messages held in receivers' queues (each message once,
 * however many queues hold it). A sender gets at most a quarter of one
 * receiver's queue (half of its uid's half: "Fair shares"), 2 MiB of the
 * default 8 MiB, so the share rule's half of this (64 MiB, what one
 * connection of a uid may take) is one connection flooding 32 stalled
 * receivers at once, and its siblings keep the other half; a stalled
 * receiver is disconnected after BUS_SLOW_CONSUMER_TIMEOUT_USEC, which
 * releases its part. Without it, 256 connections of one uid flooding a few hundred
 * stalled receivers could make the broker hold hundreds of GiB. */
#define BUS_OUTGOING_BYTES_PER_UID_MAX (128ull * 1024ull * 1024ull)

/* Payload bytes one uid's senders have in flight: four times a sender's
 * (BUS_PAYLOAD_BYTES_IN_FLIGHT_MAX), so a sender at its own limit holds a
 * quarter and its siblings the rest. Payload memory is the senders' own
 * (charged to their cgroup); this bounds what the broker keeps alive. */
#define BUS_PAYLOAD_BYTES_IN_FLIGHT_PER_UID_MAX (256ull * 1024ull * 1024ull * 1024ull)

/* Payload fds one uid's senders have in flight: four times a sender's
 * (BUS_PAYLOAD_FDS_IN_FLIGHT_MAX). The bus-wide fd budget's share per uid
 * bounds them too; this one holds when the budget is large. */
#define BUS_PAYLOAD_FDS_IN_FLIGHT_PER_UID_MAX 4096u

/* Well-known names one uid's connections own or queue for: four times a
 * connection's (BUS_NAMES_PER_CONNECTION_MAX), so a connection at its own
 * limit leaves three quarters to its siblings. A user's services own a few
 * names each; 2048 is far beyond a desktop session's ~100 and bounds what
 * one uid adds to the name table (~300 bytes a name) at ~600 KiB instead of
 * 256 connections x 512 names (~40 MiB). */
#define BUS_NAMES_PER_UID_MAX 2048u

/* Match rules of one uid's connections: sixteen times a connection's
 * (BUS_MATCHES_PER_CONNECTION_MAX). A session of ~100 clients with a few
 * dozen rules each fits; each rule is memory and a candidate on the routing
 * path, so 256 connections x 512 rules (131072) are not left to one uid. */
#define BUS_MATCHES_PER_UID_MAX 8192u

/* Calls one uid's connections wait on at once: sixteen times a connection's
 * (BUS_PENDING_REPLIES_PER_CONNECTION_MAX, dbus-daemon's 128), each an entry
 * and possibly a timer in the broker: 2048 instead of 256 x 128 = 32768. */
#define BUS_PENDING_REPLIES_PER_UID_MAX 2048u

/* ---- Payload pools (PROTOCOL.md 3.6) ---- */

/* Pools one connection may own. A pool is one fd held by the broker and by
 * each receiver it was sent to; 8 lets a peer keep a pool per size class
 * (or per thread) while bounding the fds every receiver may be handed by
 * one sender (8 per sender). Configurable: pools_per_connection. */
#define BUS_POOLS_PER_CONNECTION_MAX 8u

/* Largest pool, bytes. A pool is fixed, fully backed memory charged to its
 * owner (its payload quota, BUS_PAYLOAD_BYTES_IN_FLIGHT_MAX, counts it
 * for the pool's whole life); 16 GiB is a quarter of that quota, room for
 * the 4 GiB payloads BUS_PAYLOAD_BYTES_PER_MESSAGE_MAX has in mind several
 * times over. Configurable: pool_size. */
#define BUS_POOL_SIZE_MAX (16ull * 1024ull * 1024ull * 1024ull)

/* Smallest pool: one page. */
#define BUS_POOL_SIZE_MIN 4096ull

/* Slices one receiver may hold (received, not yet released) at once,
 * counted once per slice per message. A receiver that never releases stops
 * getting messages with slices at this bound, as if its queue were full
 * (PROTOCOL.md 3.6). 4096: sixteen slices each of 256 messages, the depth
 * of the receiver's payload fd queue (BUS_OUTGOING_FDS_PER_CONNECTION_MAX),
 * at 24 bytes of broker bookkeeping each ~100 KiB per receiver.
 * Configurable: pool_slices_held_per_connection. */
#define BUS_POOL_SLICES_HELD_PER_CONNECTION_MAX 4096u

/* Pool fds one receiver may be sent (held until the pool's owner leaves):
 * a sixteenth of the usual RLIMIT_NOFILE soft limit (1024), eight senders'
 * worth of pools. Configurable: pools_held_per_connection. */
#define BUS_POOLS_HELD_PER_CONNECTION_MAX 64u

/* Entries in one ReleaseSlices call: 1024 entries of four numbers are ~80 KiB
 * of JSON, well within BUS_DRIVER_CALL_BYTES_MAX. */
#define BUS_POOL_RELEASE_BATCH_MAX 1024u

/* Body size above which libbusclient moves a JSON body into a memfd: the
 * measured crossover of a call's round trip, inline vs memfd, through busd
 * (inline faster up to 80 KiB, memfd from 112 KiB; bench/payload-crossover.c,
 * docs/PERFORMANCE.md "Inline vs memfd crossover"). */
#define BUS_BODY_INLINE_THRESHOLD (96u * 1024u)

/* libbusclient's payload pools (client/pool.c, PROTOCOL.md 3.6): the size
 * of a connection's first pool (a larger payload gets a pool twice its
 * size), and the body size above which a JSON body goes into a slice of it
 * instead of inline: the measured inline vs pool crossover
 * (docs/PERFORMANCE.md "Inline, pool and sealed memfd crossover"). */
#define BUS_CLIENT_POOL_SIZE (64ull * 1024ull * 1024ull)
/* Measured (bench/pool-crossover.sh, two runs): inline is faster up to
 * 48 KiB, the two are equal at 64 KiB, the pool is faster from 96 KiB (where
 * an inline body costs 3x a slice). */
#define BUS_CLIENT_POOL_BODY_THRESHOLD (64u * 1024u)

/* libbusclient's read-ahead queue: messages read but not yet dispatched.
 * They pile up only while a synchronous call made from inside a handler
 * waits (client/call.c says what happens at the bound); each queued message
 * is counted with its bookkeeping (its bytes as read plus the library's
 * ~700-byte per-message struct), its payload fds separately. Bytes: twice
 * the broker's queue towards one connection
 * (BUS_OUTGOING_BYTES_PER_CONNECTION_MAX), so everything the broker had
 * queued for a service when it blocked fits, and as much again (two maximal
 * inline messages) of what follows. */
#define BUS_CLIENT_READ_AHEAD_BYTES_MAX (2u * BUS_OUTGOING_BYTES_PER_CONNECTION_MAX)

/* Payload fds held by read-ahead messages: the broker's own per-receiver
 * bound (BUS_OUTGOING_FDS_PER_CONNECTION_MAX), a quarter of the usual
 * RLIMIT_NOFILE soft limit (1024), so a flood of payloads cannot make a
 * service run out of fds. */
#define BUS_CLIENT_READ_AHEAD_FDS_MAX BUS_OUTGOING_FDS_PER_CONNECTION_MAX

/* Read-ahead messages: the byte bound alone would let ~23000 of the smallest
 * messages in (16 MiB / ~750 bytes each); 16384 is the round number below,
 * so that a flood of tiny signals costs at most ~12 MiB and an index of
 * 128 KiB. */
#define BUS_CLIENT_READ_AHEAD_MESSAGES_MAX 16384u

/* libbusclient: JSON values a received body may hold for the library to
 * parse it (bus_message_get_body(), and the checks of declared methods).
 * jansson builds a tree first and checks nothing while it does: it spends
 * 40-100 bytes per value, so a peer's body of small values costs ~20x its
 * size (measured: [0,0,...] of 4 MiB took a service to 88 MB, 64 MiB in a
 * payload to 1.37 GB). Counted by a scan before the parse (strings copied
 * are bounded by the body itself): a million values is ~100 MB at worst,
 * far above what calls and signals carry. A connection expecting more
 * raises it: bus_connection_set_body_values_max(). */
#define BUS_CLIENT_BODY_VALUES_MAX (1024u * 1024u)

/* libbusclient object managers (client/object-manager.c): peers subscribed
 * to one manager's InterfacesAdded/Removed with SubscribeManagedObjects. Each
 * costs the service a unicast copy of every announcement; 1024 is twice the
 * bus's per-connection match bound (BUS_MATCHES_PER_CONNECTION_MAX), the
 * number of peers a broadcast would reach through rules of one connection
 * each, so a subscriber list can never cost more than a plausible broadcast
 * audience. More get org.busd.Error.LimitsExceeded. */
#define BUS_CLIENT_OBJECT_SUBSCRIBERS_MAX 1024u

/* ---- Activation (docs/DAEMON.md "Activation") ---- */

/* A start's deadline when its service file sets none: less than the 25 s
 * default call timeout of libbusclient, sd-bus and libdbus
 * (BUS_DEFAULT_CALL_TIMEOUT_USEC), so a caller with the default timeout gets
 * the bus's reason rather than its own library's Timeout; a healthy service
 * connects and takes its name in milliseconds, a slow one (loading a
 * database) in a few seconds. */
#define BUS_ACTIVATION_START_TIMEOUT_USEC (20ull * 1000000ull)

/* Calls waiting for one name: twice the pending calls one connection may
 * have (BUS_PENDING_REPLIES_PER_CONNECTION_MAX), so one caller cannot fill
 * it (see the per-sender bound) while a burst from a desktop session's
 * ~100 clients fits. */
#define BUS_ACTIVATION_QUEUE_PER_NAME_MAX 256u

/* Calls one connection may have waiting for activations, all names
 * together: half its pending calls, so a caller flooding an activatable
 * name keeps room for other calls. */
#define BUS_ACTIVATION_QUEUE_PER_SENDER_MAX 64u

/* Bytes of those calls: the outgoing queue of one connection
 * (BUS_OUTGOING_BYTES_PER_CONNECTION_MAX): what one connection may make the
 * bus hold towards one receiver, held here towards a receiver to come. */
#define BUS_ACTIVATION_QUEUE_BYTES_PER_SENDER_MAX (8u * 1024u * 1024u)

/* Back-off: after this many failed starts in a row within the window below,
 * a service is answered with its last failure, without a start, for
 * BUS_ACTIVATION_BACKOFF_USEC. Three: one failure is a hiccup, two a
 * pattern worth a second look, three a broken service that a caller in a
 * retry loop would otherwise fork once per call (systemd's default
 * StartLimitBurst is 5 in 10 s for a unit's restarts). */
#define BUS_ACTIVATION_BACKOFF_FAILURES 3u
/* The window in which those failures count: 30 s. */
#define BUS_ACTIVATION_BACKOFF_WINDOW_USEC (30ull * 1000000ull)
/* How long a backed-off service is not retried: 10 s, long enough to stop a
 * retry loop from forking hundreds of processes, short enough that a fixed
 * service (or a reload that changes its file, which clears the back-off) is
 * reachable again at once. */
#define BUS_ACTIVATION_BACKOFF_USEC (10ull * 1000000ull)
