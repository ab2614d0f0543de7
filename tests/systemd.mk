# SPDX-License-Identifier: LGPL-2.1-or-later
# busd under systemd's own tools (systemd-socket-activate, systemd-analyze
# verify); skipped where they are missing.
TESTS += tests/test-systemd.sh
EXTRA_DIST += tests/test-systemd.sh
