# SPDX-License-Identifier: LGPL-2.1-or-later
# libbusclient: the client library. Its code is built once as a convenience
# library (so unit tests can reach internal functions) and linked into the
# shared library, which exports only the bus_* functions of busclient.h
# (hidden visibility + version script; tests/test-symbols.sh checks it).
noinst_LTLIBRARIES += client/libbusclient-internal.la
client_libbusclient_internal_la_SOURCES = \
	client/busclient.h \
	client/bus-internal.h \
	client/address.c \
	client/call.c \
	client/connection.c \
	client/credentials.c \
	client/dispatch.c \
	client/driver-call.c \
	client/errno-map.c \
	client/error.c \
	client/event.c \
	client/interface-file.c \
	client/introspect.c \
	client/handshake.c \
	client/io.c \
	client/message.c \
	client/monitor.c \
	client/names.c \
	client/object.c \
	client/object-internal.h \
	client/object-manager.c \
	client/payload.c \
	client/pool.c \
	client/payload-memfd.c \
	client/poll.c \
	client/properties.c \
	client/read-queue.c \
	client/schema.c \
	client/track.c
client_libbusclient_internal_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS)
client_libbusclient_internal_la_LIBADD = common/libbuscommon.la protocol/libbusprotocol.la

lib_LTLIBRARIES += client/libbusclient.la
client_libbusclient_la_SOURCES =
client_libbusclient_la_LIBADD = client/libbusclient-internal.la $(LIBEVENT_LIBS) $(JANSSON_LIBS)
client_libbusclient_la_LDFLAGS = $(AM_LDFLAGS) -version-info $(BUSCLIENT_LT_VERSION) \
	-Wl,--version-script=$(srcdir)/client/libbusclient.sym -Wl,--no-undefined
EXTRA_client_libbusclient_la_DEPENDENCIES = client/libbusclient.sym

include_HEADERS += client/busclient.h
pkgconfig_DATA = client/busclient.pc
EXTRA_DIST += client/libbusclient.sym client/busclient.pc.in
# The object model's documentation (issue #13).
EXTRA_DIST += docs/OBJECTS.md
