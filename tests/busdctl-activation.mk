# SPDX-License-Identifier: LGPL-2.1-or-later
# busdctl's view of activation and reloads against a real busd with its own
# service directory: invalid service files shown as such, a failed reload
# shown and logged as one (tests/test-busdctl-activation.sh; needs
# tests/busd-launch from tests/busdctl.mk).
TESTS += tests/test-busdctl-activation.sh
EXTRA_DIST += tests/test-busdctl-activation.sh
