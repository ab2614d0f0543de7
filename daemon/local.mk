# SPDX-License-Identifier: LGPL-2.1-or-later
# busd, the broker daemon, one folder per layer (docs/ARCHITECTURE.md):
#   transport/  bytes and fds in and out of sockets, credentials, messages
#   registry/   state that answers questions (names, matches, replies, quotas)
#   core/       the bus: peers, routing, the driver, monitors
#   process/    main, the loop (signals, stop), configuration and its reload,
#               systemd, logging
# Includes are path-qualified from daemon/ ("core/peer.h"). Leaf modules are
# also compiled directly into their unit tests (tests/daemon-units.mk).
bin_PROGRAMS += daemon/busd

daemon_busd_SOURCES = \
	daemon/process/main.c \
	daemon/process/loop.c daemon/process/loop.h \
	daemon/process/reload.c daemon/process/reload.h \
	daemon/process/log.c daemon/process/log.h \
	daemon/process/systemd.c daemon/process/systemd.h \
	daemon/process/keepalive.c daemon/process/keepalive.h \
	daemon/process/config-file.c daemon/process/config-file.h \
	daemon/transport/listener.c daemon/transport/listener.h \
	daemon/transport/creds.c daemon/transport/creds.h \
	daemon/transport/message.c daemon/transport/message.h \
	daemon/transport/connection.c daemon/transport/connection.h \
	daemon/transport/payload.c daemon/transport/payload.h \
	daemon/registry/names.c daemon/registry/names.h \
	daemon/registry/matches.c daemon/registry/matches.h \
	daemon/registry/replies.c daemon/registry/replies.h \
	daemon/registry/quota.c daemon/registry/quota.h \
	daemon/registry/pools.c daemon/registry/pools.h \
	daemon/core/bus.c daemon/core/bus.h \
	daemon/core/peer.c daemon/core/peer.h \
	daemon/core/router.c daemon/core/router.h \
	daemon/core/driver.c daemon/core/driver-messages.c daemon/core/driver.h \
	daemon/core/monitor.c daemon/core/monitor.h \
	daemon/core/access.c daemon/core/access.h \
	daemon/core/pool-routing.c daemon/core/pool-routing.h \
	daemon/activation/activation.c daemon/activation/activation.h \
	daemon/activation/service-file.c daemon/activation/service-file.h \
	daemon/activation/exec.c daemon/activation/exec.h \
	daemon/activation/systemd-unit.c daemon/activation/systemd-unit.h
daemon_busd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon \
	-DBUSD_SERVICE_DATA_DIR='"$(datadir)/busd/services"' \
	$(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) $(SYSTEMD_CFLAGS)
daemon_busd_LDADD = daemon/policy/libbuspolicy.la common/libbuscommon.la protocol/libbusprotocol.la \
	$(LIBEVENT_LIBS) $(JANSSON_LIBS) $(SYSTEMD_LIBS)

# Man pages: busd(8) and busd.json(5), generated at build time (they name the
# socket paths, the data and doc directories).
nodist_man8_MANS = daemon/busd.8
nodist_man5_MANS = daemon/busd.json.5
CLEANFILES += daemon/busd.8 daemon/busd.json.5
EXTRA_DIST += daemon/busd.8.in daemon/busd.json.5.in
daemon_man_sed = sed -e 's|@VERSION[@]|$(VERSION)|g' -e 's|@datadir[@]|$(datadir)|g' \
	-e 's|@docdir[@]|$(docdir)|g' -e 's|@BUSD_SYSTEM_SOCKET[@]|$(BUSD_SYSTEM_SOCKET)|g' \
	-e 's|@BUSD_USER_SOCKET[@]|$(BUSD_USER_SOCKET)|g'
daemon/busd.8: $(top_srcdir)/daemon/busd.8.in Makefile
	$(AM_V_GEN)$(MKDIR_P) daemon && $(daemon_man_sed) $(top_srcdir)/daemon/busd.8.in > $@.tmp && mv $@.tmp $@
daemon/busd.json.5: $(top_srcdir)/daemon/busd.json.5.in Makefile
	$(AM_V_GEN)$(MKDIR_P) daemon && $(daemon_man_sed) $(top_srcdir)/daemon/busd.json.5.in > $@.tmp && mv $@.tmp $@

daemondocdir = $(docdir)
dist_daemondoc_DATA = docs/DAEMON.md docs/POLICY.md docs/ARCHITECTURE.md
