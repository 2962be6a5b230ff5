# daemon/qmp.mk: the QEMU QMP back end (always built: json-c and libevent only)
daemon_libmmiod_a_SOURCES += \
	daemon/qmp.h \
	daemon/qmp.c \
	daemon/qmp-map.h \
	daemon/qmp-map-windows.h \
	daemon/qmp-map-windows.c \
	daemon/qmp-map.c \
	daemon/qmp-map-spec.c \
	daemon/sockdir.h \
	daemon/sockdir.c \
	daemon/toolstack-qmp-internal.h \
	daemon/toolstack-qmp-op.c \
	daemon/toolstack-qmp-layout.c \
	daemon/toolstack-qmp-guest.c \
	daemon/toolstack-qmp-attach.c \
	daemon/toolstack-qmp.c

# Pure mapping tests on replies captured from QEMU 7.2 (tests/qmp/*.json),
# one program a source: QOM (windows, holes, machine facts) and query-pci
# (BARs, slots, hot-plug ports).
QMP_MAP_TESTS = tests/qmp/test-qmp-map-windows tests/qmp/test-qmp-map-pci
TESTS += $(QMP_MAP_TESTS)
UNIT_TESTS += $(QMP_MAP_TESTS)
check_PROGRAMS += $(QMP_MAP_TESTS)
QMP_MAP_TEST_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS) \
	-DQMP_FIXTURES='"$(abs_top_srcdir)/tests/qmp"'
tests_qmp_test_qmp_map_windows_SOURCES = tests/qmp/test-qmp-map-windows.c tests/qmp/qmp-fixture.h
tests_qmp_test_qmp_map_windows_CPPFLAGS = $(QMP_MAP_TEST_CPPFLAGS)
tests_qmp_test_qmp_map_windows_LDADD = $(MMIOD_LIBS)
tests_qmp_test_qmp_map_pci_SOURCES = tests/qmp/test-qmp-map-pci.c tests/qmp/qmp-fixture.h
tests_qmp_test_qmp_map_pci_CPPFLAGS = $(QMP_MAP_TEST_CPPFLAGS)
tests_qmp_test_qmp_map_pci_LDADD = $(MMIOD_LIBS)

# Against real QEMUs (TCG, -S): not a unit test; skipped without qemu-system-x86_64.
TESTS += tests/qmp/test-qmp-live
check_PROGRAMS += tests/qmp/test-qmp-live
tests_qmp_test_qmp_live_SOURCES = tests/qmp/test-qmp-live.c
tests_qmp_test_qmp_live_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS)
tests_qmp_test_qmp_live_LDADD = $(MMIOD_LIBS)

EXTRA_DIST += tests/qmp/README.md \
	tests/qmp/qom-pc-S.json tests/qmp/qom-pc-devs-bios.json \
	tests/qmp/qom-q35-S.json tests/qmp/qom-q35-devs-bios.json \
	tests/qmp/query-pci-pc-S.json tests/qmp/query-pci-pc-devs-S.json \
	tests/qmp/query-pci-pc-devs-bios.json tests/qmp/query-pci-pc-hotplug-S.json \
	tests/qmp/query-pci-q35-S.json tests/qmp/query-pci-q35-devs-bios.json \
	tests/qmp/qom-q35-ovmf2025-S.json tests/qmp/qom-q35-ovmf2025.json \
	tests/qmp/query-pci-q35-ovmf2025.json
