# debian/: `make deb` builds the Debian packages (dpkg-buildpackage -us -uc -b)
# from the release tarball, as a distribution would, into deb/.  The package
# build is a fresh one: nothing of this make (MAKEFLAGS: TESTS=...) leaks in.
EXTRA_DIST += debian

deb: dist
	rm -rf deb && $(MKDIR_P) deb
	tar -C deb -xzf $(distdir).tar.gz
	cd deb/$(distdir) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u TESTS \
		dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
		{ tail -60 ../build.log; exit 1; }
	@ls deb/*.deb

clean-local: clean-deb
clean-deb:
	rm -rf deb
.PHONY: deb clean-deb
