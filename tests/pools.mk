# Payload pools (PROTOCOL.md 3.6): the broker's checks, holds and releases,
# and libbusclient's pools, through a real busd.
check_PROGRAMS += tests/test-bus-pools
TESTS += tests/test-bus-pools
tests_test_bus_pools_SOURCES = tests/test-bus-pools.c
tests_test_bus_pools_CFLAGS = $(integration_cflags)
tests_test_bus_pools_LDADD = $(integration_ldadd)

# The pools registry alone (a leaf: no bus, no sockets).
check_PROGRAMS += tests/test-pools-registry
TESTS += tests/test-pools-registry
tests_test_pools_registry_SOURCES = tests/test-pools-registry.c daemon/registry/pools.c common/hashmap.c
tests_test_pools_registry_CPPFLAGS = $(DAEMON_UNIT_INCLUDES)
tests_test_pools_registry_LDADD = $(CHECK_LIBS)

# Pools and the library's event integration at their edges (an outside
# probe's cases): hostile owners and receivers, pools taken back and given
# again, fds of PoolAdded counted, fork, monitors, event-driven receivers.
check_PROGRAMS += tests/test-bus-pools-edges
TESTS += tests/test-bus-pools-edges
tests_test_bus_pools_edges_SOURCES = tests/test-bus-pools-edges.c
tests_test_bus_pools_edges_CFLAGS = $(integration_cflags)
tests_test_bus_pools_edges_LDADD = $(integration_ldadd) -lpthread
