# SPDX-License-Identifier: LGPL-2.1-or-later
# Connection admission and identity limits against a real busd
# (hostile-peers.md items 2, 24, 25); built like tests/integration.mk's.
check_PROGRAMS += tests/test-bus-limits
TESTS += tests/test-bus-limits
tests_test_bus_limits_SOURCES = tests/test-bus-limits.c
tests_test_bus_limits_CFLAGS = $(integration_cflags)
tests_test_bus_limits_LDADD = $(integration_ldadd)

# The fd budget and per-uid handshake slots (issue 9 items 3, 4, 7).
check_PROGRAMS += tests/test-bus-fd-budget
TESTS += tests/test-bus-fd-budget
tests_test_bus_fd_budget_SOURCES = tests/test-bus-fd-budget.c
tests_test_bus_fd_budget_CFLAGS = $(integration_cflags)
tests_test_bus_fd_budget_LDADD = $(integration_ldadd)
