# tests/xen: the libxl back end on a real Xen hypervisor nested in QEMU (TCG):
# Xen 4.17 and a PV dom0 from Debian 12's packages (fetched once into
# ~/.cache/mmiod-xen), mmiod --backend libxl in dom0, HVM guests created
# with xl (docs/verification.md, "Xen").  Boots take minutes under TCG, so
# `make check` skips it; `make check-xen` runs every scenario,
# MMIOD_XEN_SCENARIOS=ci|all|NAMES chooses.  Skipped with the reason when it
# cannot run (no QEMU, no libxl back end, no network on the first run).
TESTS += tests/xen/test-xen.py
dist_check_SCRIPTS += tests/xen/test-xen.py
EXTRA_DIST += tests/xen/xenrig.py tests/xen/dom0-init.sh tests/xen/scenarios.json tests/xen/try-passthrough

check-xen: all
	MMIOD_XEN_SCENARIOS=$${MMIOD_XEN_SCENARIOS:-all}; export MMIOD_XEN_SCENARIOS; \
	$(MAKE) $(AM_MAKEFLAGS) check TESTS=tests/xen/test-xen.py; rc=$$?; \
	cat tests/xen/test-xen.log; exit $$rc
.PHONY: check-xen
