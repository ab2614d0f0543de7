# SPDX-License-Identifier: LGPL-2.1-or-later
# busd-bridge: the local bus onto a NATS cluster (docs/BRIDGE.md). Built only
# on the public client API (client/busclient.h) plus the protocol library's
# name validators; built when configure finds libnats (--enable-bridge).
if BRIDGE
bin_PROGRAMS += bridge/busd-bridge

noinst_LTLIBRARIES += bridge/libbridge.la
bridge_libbridge_la_SOURCES = \
	bridge/bridge-config.c bridge/bridge-config.h \
	bridge/nats-wire.c bridge/nats-wire.h
bridge_libbridge_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
bridge_libbridge_la_LIBADD = client/libbusclient.la protocol/libbusprotocol.la $(JANSSON_LIBS)

bridge_busd_bridge_SOURCES = \
	bridge/main.c \
	bridge/bridge.c bridge/bridge.h \
	bridge/nats-loop.c bridge/nats-loop.h
bridge_busd_bridge_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(NATS_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(SYSTEMD_CFLAGS)
bridge_busd_bridge_LDADD = bridge/libbridge.la client/libbusclient.la \
	protocol/libbusprotocol.la $(NATS_LIBS) $(LIBEVENT_LIBS) $(SYSTEMD_LIBS) $(JANSSON_LIBS) \
	-lpthread

dist_man_MANS += bridge/busd-bridge.8
endif

if BRIDGE
# The unit names the installed binary, so it is generated at build time
# (as systemd/busd.service is; systemdsystemunitdir comes from systemd/local.mk).
nodist_systemdsystemunit_DATA += systemd/busd-bridge.service
CLEANFILES += systemd/busd-bridge.service
systemd/busd-bridge.service: $(top_srcdir)/systemd/busd-bridge.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@docdir[@]|$(docdir)|g' \
		$(top_srcdir)/systemd/busd-bridge.service.in > $@.tmp && \
	mv $@.tmp $@
endif
EXTRA_DIST += systemd/busd-bridge.service.in docs/BRIDGE.md bridge/demo.sh

if BRIDGE
# bench/bridge-rtt: cross-host call round trip and signal throughput through
# two bridges, beside raw NATS request/reply and a local call (docs/BRIDGE.md).
noinst_PROGRAMS += bench/bridge-rtt
bench_bridge_rtt_SOURCES = bench/bridge-rtt.c
bench_bridge_rtt_CPPFLAGS = $(AM_CPPFLAGS) \
	-DBENCH_BUSD_BINARY='"$(abs_top_builddir)/daemon/busd"' \
	-DBENCH_BRIDGE_BINARY='"$(abs_top_builddir)/bridge/busd-bridge"' \
	-DBENCH_NATS_SERVER='"$(NATS_SERVER)"'
bench_bridge_rtt_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(NATS_CFLAGS)
bench_bridge_rtt_LDADD = client/libbusclient.la $(NATS_LIBS) $(JANSSON_LIBS)
endif
