# tests/: unit tests of lib/ (TAP).  Each test is one program.
noinst_HEADERS = tests/tap.h tests/tap-mmio.h tests/rng.h tests/sysfs-tree.h tests/xen-devices.h
EXTRA_DIST += tests/open-bus.conf
TESTS += tests/test-place
UNIT_TESTS += tests/test-place
check_PROGRAMS += tests/test-place
tests_test_place_SOURCES = tests/test-place.c
tests_test_place_LDADD = lib/libmmio.a
TESTS += tests/test-replay
UNIT_TESTS += tests/test-replay
check_PROGRAMS += tests/test-replay
tests_test_replay_SOURCES = tests/test-replay.c
tests_test_replay_LDADD = lib/libmmio.a
TESTS += tests/test-pciehp
UNIT_TESTS += tests/test-pciehp
check_PROGRAMS += tests/test-pciehp
tests_test_pciehp_SOURCES = tests/test-pciehp.c
tests_test_pciehp_LDADD = lib/libmmio.a
