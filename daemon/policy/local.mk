# SPDX-License-Identifier: LGPL-2.1-or-later
# The policy (docs/POLICY.md) as an internal library: busd consults it, and
# busdctl's "policy check|explain|test" verbs use the same code. Users link
# common/libbuscommon.la and protocol/libbusprotocol.la themselves (not added
# here, so that busd does not get two copies of them).
noinst_LTLIBRARIES += daemon/policy/libbuspolicy.la
daemon_policy_libbuspolicy_la_SOURCES = \
	daemon/policy/policy.c daemon/policy/policy-load.c \
	daemon/policy/policy.h daemon/policy/policy-internal.h
daemon_policy_libbuspolicy_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon $(JANSSON_CFLAGS) \
	-DPOLICY_DATADIR=\"$(datadir)/busd\"
