# tests/guest/local.mk
EXTRA_DIST += tests/guest/build-initramfs tests/guest/fetch-stack tests/guest/init.sh tests/guest/rig.py \
	tests/guest/run-scenarios tests/guest/scenarios

# mmiod's predictions against real Linux guests (docs/verification.md): QEMU
# (TCG) boots a Debian kernel fetched once into ~/.cache/mmiod-guest; skipped
# when QEMU, dbus-daemon or the kernel (no network) is missing.  `make check`
# runs the scenarios marked "ci": true; MMIOD_GUEST_SCENARIOS=all|ci|none|NAMES
# overrides, MMIOD_GUEST_JOBS (default 2) sets how many guests run at once.
TESTS += tests/guest/test-guests.py
dist_check_SCRIPTS += tests/guest/test-guests.py

# `make check-guests`: every scenario.
check-guests:
	MMIOD_GUEST_SCENARIOS=$${MMIOD_GUEST_SCENARIOS:-all}; export MMIOD_GUEST_SCENARIOS; \
	$(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/guest/test-guests.py
.PHONY: check-guests
