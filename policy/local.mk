# SPDX-License-Identifier: LGPL-2.1-or-later
# The shipped policy defaults (docs/POLICY.md): the system bus's and the user
# bus's drop-ins, and the example service's own drop-in, installed where
# busd --policy system|user reads them. The golden cases are run by
# tests/test-policy-tools.sh (tests/policy.mk).
busdpolicydir = $(datadir)/busd/policy.d
dist_busdpolicy_DATA = policy/policy.d/00-busd-system.json examples/policy/org.example.Echo.json
busduserpolicydir = $(datadir)/busd/user-policy.d
dist_busduserpolicy_DATA = policy/user-policy.d/00-busd-user.json
EXTRA_DIST += policy/golden-system.json policy/golden-user.json
EXTRA_DIST += bench/policy-cost.sh
