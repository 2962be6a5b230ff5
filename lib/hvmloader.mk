# lib/hvmloader.mk — the hvmloader model and the mmio_hole planner.
lib_libmmio_a_SOURCES += lib/hvmloader.h lib/hvmloader.c lib/plan.h lib/plan.c
