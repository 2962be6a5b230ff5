# lib/parse.mk — parsers (BDF, sizes, BAR lists, sysfs), the device catalogue and the resolver.
lib_libmmio_a_SOURCES += lib/parse.c lib/catalogue.c lib/resolve.c
# libmmio.a is one library, so its per-target CPPFLAGS live here, once:
# only catalogue.c needs inih's headers, but automake allows one setting.
lib_libmmio_a_CPPFLAGS = $(AM_CPPFLAGS) $(INIH_CFLAGS)
dist_pkgdata_DATA += data/profiles.ini
