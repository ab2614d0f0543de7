# SPDX-License-Identifier: LGPL-2.1-or-later
# The benchmark suite: built by `make`, never run by `make check`.
# Run it with bench/run.sh (see docs/PERFORMANCE.md).
noinst_LTLIBRARIES += bench/libbench.la
bench_libbench_la_SOURCES = \
	bench/bench.h \
	bench/bench.c \
	bench/stats.h \
	bench/stats.c

noinst_PROGRAMS += \
	bench/bench-floor \
	bench/bench-sdbus \
	bench/bench-busd \
	bench/bench-report \
	bench/bench-journal-sink \
	bench/bench-listen-exec

# Floors: socketpair ping-pong and a two-hop epoll relay.
bench_bench_floor_SOURCES = bench/floor.c
bench_bench_floor_LDADD = bench/libbench.la

# dbus-broker and dbus-daemon through sd-bus.
bench_bench_sdbus_SOURCES = bench/sdbus.c
bench_bench_sdbus_CFLAGS = $(AM_CFLAGS) $(SYSTEMD_CFLAGS)
bench_bench_sdbus_LDADD = bench/libbench.la $(SYSTEMD_LIBS)

# busd through libbusclient.
bench_bench_busd_SOURCES = bench/busd.c
bench_bench_busd_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_bench_busd_LDADD = bench/libbench.la client/libbusclient.la $(JANSSON_LIBS)

# Medians over repetitions and the Markdown table.
bench_bench_report_SOURCES = bench/report.c
bench_bench_report_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_bench_report_LDADD = $(JANSSON_LIBS)

# What dbus-broker-launch needs outside systemd: a journal socket to log to
# and an inherited listening socket (LISTEN_FDS).
bench_bench_journal_sink_SOURCES = bench/journal-sink.c
bench_bench_listen_exec_SOURCES = bench/listen-exec.c

EXTRA_DIST += bench/run.sh docs/PERFORMANCE.md

# Inline vs memfd bodies, and payloads from 64 KiB to 1 GiB, through a
# busd it starts itself (docs/PERFORMANCE.md, "Inline vs memfd crossover").
noinst_PROGRAMS += bench/bench-payload-crossover
bench_bench_payload_crossover_SOURCES = bench/payload-crossover.c
bench_bench_payload_crossover_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_bench_payload_crossover_LDADD = client/libbusclient.la protocol/libbusprotocol.la \
	$(JANSSON_LIBS)

# Soak: a few hundred clients (libbusclient and hostile raw sockets) against one busd it
# starts itself, for minutes, with the broker's RSS and fds sampled and every message
# accounted for (bench/soak.sh; docs/PERFORMANCE.md, "Soak"). Never run by make check.
noinst_PROGRAMS += bench/bench-soak
bench_bench_soak_SOURCES = bench/soak.c
bench_bench_soak_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bench_bench_soak_LDADD = client/libbusclient.la protocol/libbusprotocol.la $(JANSSON_LIBS)
EXTRA_DIST += bench/soak.sh
