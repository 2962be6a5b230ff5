# tests/host/: mmiod as an administrator installs it (docs/host.md,
# sections 1 and 3).  Not part of `make check`: scripts/check runs both
# targets as their own step (MMIOD_HOST_TEST=no skips them).
#   make check-package  make install honours --prefix; `make deb`; lintian;
#                       where each file lands in the packages
#   make check-host     a Debian 12 VM (TCG) with systemd, dbus-broker,
#                       polkitd and sshd; the packages installed with dpkg;
#                       tests/host/in-vm.sh asserts the rest inside it
EXTRA_DIST += tests/host/test-package.sh tests/host/test-host.sh tests/host/in-vm.sh \
	tests/host/build-rootfs

check-package: all
	$(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/host/test-package.sh
	@cat tests/host/test-package.log

check-host: all
	$(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/host/test-host.sh
	@cat tests/host/test-host.log
.PHONY: check-package check-host
