# SPDX-License-Identifier: LGPL-2.1-or-later
# busd, the broker daemon. The data-structure modules (hashmap, names, match)
# and the configuration parser (config-file) are also compiled directly into
# their unit tests (tests/daemon-units.mk, tests/config.mk).
bin_PROGRAMS += daemon/busd

daemon_busd_SOURCES = \
	daemon/main.c \
	daemon/util.h \
	daemon/list.h \
	daemon/log.c daemon/log.h \
	daemon/systemd.c daemon/systemd.h \
	daemon/config-file.c daemon/config-file.h \
	daemon/bus.c daemon/bus.h \
	daemon/listener.c daemon/listener.h \
	daemon/creds.c daemon/creds.h \
	daemon/message.c daemon/message.h \
	daemon/memfd.c daemon/memfd.h \
	daemon/quota.c daemon/quota.h \
	daemon/connection.c daemon/connection.h \
	daemon/peer.c daemon/peer.h \
	daemon/reply.c daemon/reply.h \
	daemon/router.c daemon/router.h \
	daemon/driver.c daemon/driver-emit.c daemon/driver.h \
	daemon/hashmap.c daemon/hashmap.h \
	daemon/names.c daemon/names.h \
	daemon/match.c daemon/match.h \
	daemon/monitor.c daemon/monitor.h
daemon_busd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon \
	$(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) $(SYSTEMD_CFLAGS)
daemon_busd_LDADD = protocol/libbusprotocol.la $(LIBEVENT_LIBS) $(JANSSON_LIBS) $(SYSTEMD_LIBS)

daemondocdir = $(docdir)
dist_daemondoc_DATA = docs/DAEMON.md
