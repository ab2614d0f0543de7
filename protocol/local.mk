# SPDX-License-Identifier: LGPL-2.1-or-later
# libbusprotocol: the pure wire-format library (no I/O, no allocation), linked
# into the daemon and into libbusclient (which hides its symbols).
noinst_LTLIBRARIES += protocol/libbusprotocol.la
protocol_libbusprotocol_la_SOURCES = \
	protocol/bus-protocol.h \
	protocol/bus-limits.h \
	protocol/address.h \
	protocol/wire.h \
	protocol/validate.c \
	protocol/encode.c \
	protocol/name-syntax.c \
	protocol/match-rule.c
EXTRA_DIST += protocol/PROTOCOL.md
# The payload acceptance rule (pure) and the header-only fd fact gatherer
# that the broker and the library share.
protocol_libbusprotocol_la_SOURCES += \
	protocol/payload-check.h \
	protocol/payload-check.c \
	protocol/payload-fd.h
# The stream cutter and fd-batch pairing both ends use (PROTOCOL.md section 1).
protocol_libbusprotocol_la_SOURCES += \
	protocol/frame.h \
	protocol/frame.c
