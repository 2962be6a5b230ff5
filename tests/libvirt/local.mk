# tests/libvirt: the libvirt back end against a real libvirtd (libvirtd.py
# starts a private system libvirtd + virtlogd as root) and real Linux
# guests it runs (docs/verification.md, "libvirt").  Skipped when libvirtd
# cannot run here (not root, libvirt-daemon-system missing), or QEMU,
# dbus-daemon or the guest kernel are missing.  `make check` runs the
# scenarios marked "ci": true; MMIOD_LIBVIRT_SCENARIOS=all|ci|none|NAMES
# overrides (MMIOD_GUEST_SCENARIOS=none turns it off too).
TESTS += tests/libvirt/test-libvirt-guests.py
dist_check_SCRIPTS += tests/libvirt/test-libvirt-guests.py
# A guest's QEMU and libvirtd itself stopped under mmiod (issue #15,
# docs/reliability.md); MMIOD_SKIP_UNRESPONSIVE=1 skips it.
TESTS += tests/libvirt/test-libvirt-stall.py
dist_check_SCRIPTS += tests/libvirt/test-libvirt-stall.py
EXTRA_DIST += tests/libvirt/libvirtd.py tests/libvirt/scenarios

# `make check-libvirt`: every scenario.
check-libvirt:
	MMIOD_LIBVIRT_SCENARIOS=$${MMIOD_LIBVIRT_SCENARIOS:-all}; export MMIOD_LIBVIRT_SCENARIOS; \
	$(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/libvirt/test-libvirt-guests.py
.PHONY: check-libvirt
