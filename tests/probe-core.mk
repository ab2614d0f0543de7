# An outside probe of payload pools and the library's event integration.
check_PROGRAMS += tests/test-probe-core
TESTS += tests/test-probe-core
tests_test_probe_core_SOURCES = tests/test-probe-core.c
tests_test_probe_core_CFLAGS = $(integration_cflags)
tests_test_probe_core_LDADD = $(integration_ldadd) -lpthread
