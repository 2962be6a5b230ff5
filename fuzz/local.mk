# fuzz/local.mk — libFuzzer targets (fuzz/fuzz-*.c), seed corpora (fuzz/corpus/<target>/)
# and fuzz/run-fuzzers.  Nothing here is built by `make` or `make check`: the
# targets need clang with -fsanitize=fuzzer, and they link the lib/ sources
# compiled with coverage rather than the gcc-built lib/libmmio.a.
#
#   make fuzz                    every target for FUZZ_SECONDS (default 300)
#   make fuzz FUZZ_SECONDS=60
#   fuzz/run-fuzzers 60          the same without configure; see docs/reliability.md
FUZZ_SECONDS = 300
FUZZ_WORKDIR = $(abs_top_builddir)/fuzz/work

fuzz:
	FUZZ_WORKDIR='$(FUZZ_WORKDIR)' $(SHELL) $(top_srcdir)/fuzz/run-fuzzers $(FUZZ_SECONDS)
.PHONY: fuzz

clean-fuzz:
	-rm -rf '$(FUZZ_WORKDIR)'
.PHONY: clean-fuzz

EXTRA_DIST += \
	fuzz/run-fuzzers \
	fuzz/.gitignore \
	fuzz/fuzz.h \
	fuzz/fuzz-layout.h \
	fuzz/fuzz-bdf.c \
	fuzz/fuzz-size.c \
	fuzz/fuzz-bars.c \
	fuzz/fuzz-sysfs-line.c \
	fuzz/fuzz-sysfs-file.c \
	fuzz/fuzz-catalogue.c \
	fuzz/fuzz-resolve.c \
	fuzz/fuzz-model.c \
	fuzz/fuzz-qmp.c \
	fuzz/fuzz-info-pci.c \
	fuzz/fuzz-libvirt-xml.c \
	fuzz/fuzz-query-pci.c \
	fuzz/corpus
