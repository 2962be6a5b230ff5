# tests/guest/local.mk
EXTRA_DIST += tests/guest/build-initramfs tests/guest/fetch-stack tests/guest/init.sh tests/guest/cmdloop.sh tests/guest/rig.py \
	tests/guest/guest_devices.py tests/guest/guest_mmiod.py tests/guest/guest_steps.py \
	tests/guest/run-scenarios tests/guest/run-matrix tests/guest/scenarios

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

# `make check-guests-matrix`: every scenario on QEMU 7.2 and 10.0, SeaBIOS and
# OVMF 2022.11 / 2025.02, guest kernels 6.1 and 6.12 (fetched from Debian's
# archive into ~/.cache/mmiod-guest by tests/guest/fetch-stack); one table
# row per combination (docs/verification.md).  MATRIX_ARGS passes options.
check-guests-matrix: all
	MMIOD=$(abs_top_builddir)/daemon/mmiod MMIOCTL=$(abs_top_builddir)/client/mmioctl \
	top_builddir=$(abs_top_builddir) top_srcdir=$(abs_top_srcdir) python3 $(srcdir)/tests/guest/run-matrix --out $(abs_top_builddir)/matrix-results $(MATRIX_ARGS)
.PHONY: check-guests-matrix
