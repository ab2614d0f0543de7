# Payload pools (PROTOCOL.md 3.6): the broker's checks, holds and releases,
# and libbusclient's pools, through a real busd.
check_PROGRAMS += tests/test-bus-pools
TESTS += tests/test-bus-pools
tests_test_bus_pools_SOURCES = tests/test-bus-pools.c
tests_test_bus_pools_CFLAGS = $(integration_cflags)
tests_test_bus_pools_LDADD = $(integration_ldadd)
