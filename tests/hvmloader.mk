# tests/hvmloader.mk — unit tests of the hvmloader model and the planner.
TESTS += tests/test-hvmloader
UNIT_TESTS += tests/test-hvmloader
check_PROGRAMS += tests/test-hvmloader
tests_test_hvmloader_SOURCES = tests/test-hvmloader.c
tests_test_hvmloader_LDADD = lib/libmmio.a
