# daemon/backends.mk: libvirt and libxl back ends
# The pure mapping halves (libxl-map.c, libvirt-map.c) are tested without a
# hypervisor; the back ends themselves link the real libraries.
if HAVE_LIBXL
daemon_libmmiod_a_SOURCES += \
	daemon/libxl-map.h \
	daemon/libxl-map.c \
	daemon/toolstack-libxl-internal.h \
	daemon/toolstack-libxl-loop.c \
	daemon/toolstack-libxl.c

TESTS += tests/backends/test-libxl-map tests/backends/test-libxl-open
UNIT_TESTS += tests/backends/test-libxl-map tests/backends/test-libxl-open
check_PROGRAMS += tests/backends/test-libxl-map tests/backends/test-libxl-open
tests_backends_test_libxl_map_SOURCES = tests/backends/test-libxl-map.c
tests_backends_test_libxl_map_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS) \
	-DBACKENDS_FIXTURES='"$(abs_top_srcdir)/tests/backends"'
tests_backends_test_libxl_map_LDADD = $(MMIOD_LIBS)
tests_backends_test_libxl_open_SOURCES = tests/backends/test-libxl-open.c
tests_backends_test_libxl_open_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS)
tests_backends_test_libxl_open_LDADD = $(MMIOD_LIBS)
# The back end on a fake libxl (no hypervisor) whose device models can stop.
TESTS += tests/backends/test-libxl-stall
UNIT_TESTS += tests/backends/test-libxl-stall
check_PROGRAMS += tests/backends/test-libxl-stall
tests_backends_test_libxl_stall_SOURCES = tests/backends/test-libxl-stall.c \
	tests/backends/fake-libxl.c tests/backends/fake-libxl.h
tests_backends_test_libxl_stall_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS) \
	-DBACKENDS_FIXTURES='"$(abs_top_srcdir)/tests/backends"'
tests_backends_test_libxl_stall_LDADD = $(MMIOD_LIBS)
# Its life as on a real Xen host (tests/xen): hooks before setmode, domains
# found in the making, close with a call in flight.
TESTS += tests/backends/test-libxl-life
UNIT_TESTS += tests/backends/test-libxl-life
check_PROGRAMS += tests/backends/test-libxl-life
tests_backends_test_libxl_life_SOURCES = tests/backends/test-libxl-life.c \
	tests/backends/fake-libxl.c tests/backends/fake-libxl.h
tests_backends_test_libxl_life_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS) \
	-DBACKENDS_FIXTURES='"$(abs_top_srcdir)/tests/backends"'
tests_backends_test_libxl_life_LDADD = $(MMIOD_LIBS)
endif

if HAVE_LIBVIRT
daemon_libmmiod_a_SOURCES += \
	daemon/libvirt-map.h \
	daemon/libvirt-map.c \
	daemon/libvirt-calls.h \
	daemon/libvirt-calls.c \
	daemon/toolstack-libvirt-internal.h \
	daemon/toolstack-libvirt-jobs.c \
	daemon/toolstack-libvirt-guests.c \
	daemon/toolstack-libvirt-conn.c \
	daemon/toolstack-libvirt.c

TESTS += tests/backends/test-libvirt-map tests/backends/test-libvirt
UNIT_TESTS += tests/backends/test-libvirt-map tests/backends/test-libvirt
check_PROGRAMS += tests/backends/test-libvirt-map tests/backends/test-libvirt
tests_backends_test_libvirt_map_SOURCES = tests/backends/test-libvirt-map.c
tests_backends_test_libvirt_map_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS) \
	-DBACKENDS_FIXTURES='"$(abs_top_srcdir)/tests/backends"'
tests_backends_test_libvirt_map_LDADD = $(MMIOD_LIBS)
tests_backends_test_libvirt_SOURCES = tests/backends/test-libvirt.c
tests_backends_test_libvirt_CPPFLAGS = $(daemon_libmmiod_a_CPPFLAGS) \
	-DBACKENDS_FIXTURES='"$(abs_top_srcdir)/tests/backends"'
tests_backends_test_libvirt_LDADD = $(MMIOD_LIBS)
endif

EXTRA_DIST += tests/backends/README.md tests/backends/fixture.h tests/backends/node.xml \
	tests/backends/info-pci-qemu72-boot.txt tests/backends/info-pci-qemu72-hotplug.txt \
	tests/backends/info-pci-xen417-512.txt tests/backends/info-pci-xen417-512-before-hvmloader.txt \
	tests/backends/info-pci-xen417-boot64.txt \
	tests/backends/query-pci-pc-qemu72.json tests/backends/query-pci-q35-qemu72.json \
	tests/backends/libvirt-q35-qemu72.xml tests/backends/query-pci-libvirt-q35-qemu72.json

# The back ends as mmiod runs them, on a private bus (python3 with the dbus
# module, through tests/daemon/run-py; skips itself when mmiod has neither
# libvirt nor libxl): libvirt's test driver end to end, libxl declining
# cleanly next to a QMP guest (bench/fake-qmp.py, no QEMU needed).
TESTS += tests/backends/test-daemon-backends.py
dist_check_SCRIPTS += tests/backends/test-daemon-backends.py
