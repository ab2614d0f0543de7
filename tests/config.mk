# SPDX-License-Identifier: LGPL-2.1-or-later
# Tests of the daemon configuration (daemon/process/config-file.c): parsing and validation.
# The module is compiled straight into the test (as in tests/daemon-units.mk),
# with the allocator wrapped (ld --wrap) for tests/alloc-fail.h; the test
# routes jansson's allocations through the wrapped malloc too.

check_PROGRAMS += tests/test-config
TESTS += tests/test-config

tests_test_config_SOURCES = tests/test-config.c tests/alloc-fail.c tests/alloc-fail.h \
	daemon/process/config-file.c daemon/process/config-file.h
tests_test_config_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon $(JANSSON_CFLAGS) $(CHECK_CFLAGS)
tests_test_config_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc
tests_test_config_LDADD = $(JANSSON_LIBS) $(CHECK_LIBS)

# The configuration wired into a real busd: --config, limits enforced and
# reported, ReloadConfig and SIGHUP (hostile-peers.md item 26), refusing to
# start; built like tests/integration.mk's.
check_PROGRAMS += tests/test-bus-config
TESTS += tests/test-bus-config
tests_test_bus_config_SOURCES = tests/test-bus-config.c
tests_test_bus_config_CFLAGS = $(integration_cflags)
tests_test_bus_config_LDADD = $(integration_ldadd)
