# SPDX-License-Identifier: LGPL-2.1-or-later
# Quotas per uid and the two-level fair share (docs/DAEMON.md "Fair shares",
# "Quotas per uid"), against a real busd, with connections of other uids
# (needs root for setuid; skipped otherwise).
check_PROGRAMS += tests/test-bus-uidquota
TESTS += tests/test-bus-uidquota
tests_test_bus_uidquota_SOURCES = tests/test-bus-uidquota.c
tests_test_bus_uidquota_CFLAGS = $(integration_cflags)
tests_test_bus_uidquota_LDADD = $(integration_ldadd)
