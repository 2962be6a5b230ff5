# tests/parse.mk — unit tests of lib/parse.c and lib/catalogue.c (TAP).
TESTS += tests/test-parse tests/test-catalogue
UNIT_TESTS += tests/test-parse tests/test-catalogue
check_PROGRAMS += tests/test-parse tests/test-catalogue
tests_test_parse_SOURCES = tests/test-parse.c
tests_test_parse_LDADD = lib/libmmio.a $(INIH_LIBS)
tests_test_catalogue_SOURCES = tests/test-catalogue.c
tests_test_catalogue_LDADD = lib/libmmio.a $(INIH_LIBS)
# Fake sysfs trees: <root>/bus/pci/devices/<BDF>/resource for catalogue devices.
EXTRA_DIST += tests/fixtures/sysfs
