# tests/hvmloader.mk — unit tests of the hvmloader model and the planner.
TESTS += tests/test-hvmloader tests/test-plan
UNIT_TESTS += tests/test-hvmloader tests/test-plan
check_PROGRAMS += tests/test-hvmloader tests/test-plan
tests_test_hvmloader_SOURCES = tests/test-hvmloader.c
tests_test_hvmloader_LDADD = lib/libmmio.a
tests_test_plan_SOURCES = tests/test-plan.c
tests_test_plan_LDADD = lib/libmmio.a
