# SPDX-License-Identifier: LGPL-2.1-or-later
# busd under systemd's own tools (systemd-socket-activate, systemd-analyze
# verify); skipped where they are missing.
TESTS += tests/test-systemd.sh
EXTRA_DIST += tests/test-systemd.sh

# The shipped units under a real systemd booted in private namespaces (root
# only; skipped otherwise). Uses tests/busd-launch to await systemd's READY=1.
TESTS += tests/test-systemd-boot.sh
EXTRA_DIST += tests/test-systemd-boot.sh tests/systemd-ns.sh
