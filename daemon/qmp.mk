# daemon/qmp.mk: the QEMU QMP back end (always built: json-c and libevent only)
daemon_libmmiod_a_SOURCES += \
	daemon/qmp.h \
	daemon/qmp.c \
	daemon/qmp-map.h \
	daemon/qmp-map.c \
	daemon/sockdir.h \
	daemon/sockdir.c \
	daemon/toolstack-qmp-internal.h \
	daemon/toolstack-qmp-op.c \
	daemon/toolstack-qmp-layout.c \
	daemon/toolstack-qmp-guest.c \
	daemon/toolstack-qmp-attach.c \
	daemon/toolstack-qmp.c

# Pure mapping tests on replies captured from QEMU 7.2 (tests/qmp/*.json).
TESTS += tests/qmp/test-qmp-map
UNIT_TESTS += tests/qmp/test-qmp-map
check_PROGRAMS += tests/qmp/test-qmp-map
tests_qmp_test_qmp_map_SOURCES = tests/qmp/test-qmp-map.c
tests_qmp_test_qmp_map_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS) \
	-DQMP_FIXTURES='"$(abs_top_srcdir)/tests/qmp"'
tests_qmp_test_qmp_map_LDADD = $(MMIOD_LIBS)

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
	tests/qmp/query-pci-q35-S.json tests/qmp/query-pci-q35-devs-bios.json
