# lib/: the pure model.  Depends on nothing but libc (and inih for the catalogue reader).
noinst_LIBRARIES += lib/libmmio.a
lib_libmmio_a_SOURCES = \
	lib/mmio-model.h \
	lib/error.c \
	lib/space-internal.h \
	lib/space.c \
	lib/place.c \
	lib/replay.c \
	lib/pciehp.c
