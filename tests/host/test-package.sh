#!/bin/sh
# SPDX-License-Identifier: MIT
# The Debian packages and the install layout (TAP):
#  - `make install` with a staging --prefix writes nothing outside it;
#  - `make deb` (dpkg-buildpackage -us -uc -b from the release tarball)
#    builds mmiod and mmioctl, and lintian finds no error or warning
#    (each remaining tag is overridden in debian/*.lintian-overrides with
#    its reason);
#  - every integration file lands where Debian's tools look for it.
# Skips without dpkg-buildpackage/debhelper; MMIOD_PACKAGE_TEST=no skips it
# (the sanitizer pass of scripts/check).
set -u
top_builddir=${top_builddir:-$(pwd)}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
[ "${MMIOD_PACKAGE_TEST:-yes}" = no ] && { echo "1..0 # SKIP MMIOD_PACKAGE_TEST=no"; exit 0; }
for t in dpkg-buildpackage dh lintian dpkg-deb; do
	command -v $t >/dev/null 2>&1 || { echo "1..0 # SKIP $t not installed (scripts/deps installs it)"; exit 0; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mmiod-pkg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
diag() { sed 's/^/# /'; }

# ---- make install honours --prefix -------------------------------------------
mkdir -p "$tmp/conf" "$tmp/stage"
(cd "$tmp/conf" && "$top_srcdir/configure" -q --prefix="$tmp/prefix" >/dev/null &&
	make -s -j2 >/dev/null 2>&1 && make -s install DESTDIR="$tmp/stage" >/dev/null 2>&1)
ok $? "configure --prefix=\$tmp/prefix; make install DESTDIR=..."
outside=$(cd "$tmp/stage" && find . \( -type f -o -type l \) | sed 's|^\.||' | grep -v "^$tmp/prefix/")
[ -z "$outside" ]; ok $? "every installed file is under the prefix"
[ -z "$outside" ] || printf '%s\n' "$outside" | diag
for f in lib/systemd/system/mmiod.service lib/systemd/system/mmiod-metrics.timer etc/mmiod/mmiod.conf share/dbus-1/system.d/org.mmiod1.conf \
	share/dbus-1/system-services/org.mmiod1.service share/polkit-1/actions/org.mmiod1.policy \
	share/polkit-1/rules.d/50-mmiod.rules lib/sysusers.d/mmiod.conf \
	share/bash-completion/completions/mmioctl; do
	[ -f "$tmp/stage$tmp/prefix/$f" ]; ok $? "installed: \$prefix/$f"
done
grep -q "^ExecStart=$tmp/prefix/sbin/mmiod\$" "$tmp/stage$tmp/prefix/lib/systemd/system/mmiod.service"
ok $? "the installed unit starts \$prefix/sbin/mmiod"

# ---- the Debian packages -------------------------------------------------------
(cd "$top_builddir" && make -s deb >"$tmp/deb.log" 2>&1)
rc=$?
ok $rc "make deb (dpkg-buildpackage -us -uc -b)"
[ $rc = 0 ] || { tail -40 "$tmp/deb.log" | diag; echo "1..$n"; exit 1; }
deb_mmiod=$(ls "$top_builddir"/deb/mmiod_*.deb)
deb_ctl=$(ls "$top_builddir"/deb/mmioctl_*.deb)
changes=$(ls "$top_builddir"/deb/mmiod_*.changes)
echo "# figures: $(basename "$deb_mmiod") $(stat -c %s "$deb_mmiod") B, $(basename "$deb_ctl") $(stat -c %s "$deb_ctl") B"

dpkg-deb -c "$deb_mmiod" | awk '{ print $6 }' | sed 's|^\./|/|' >"$tmp/mmiod.files"
dpkg-deb -c "$deb_ctl" | awk '{ print $6 }' | sed 's|^\./|/|' >"$tmp/mmioctl.files"
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
for f in /usr/sbin/mmiod "$unitdir/mmiod.service" /etc/mmiod/mmiod.conf \
	"$unitdir/mmiod-metrics.service" "$unitdir/mmiod-metrics.timer" \
	/usr/share/dbus-1/system.d/org.mmiod1.conf /usr/share/dbus-1/system-services/org.mmiod1.service \
	/usr/share/dbus-1/interfaces/org.mmiod1.xml /usr/share/polkit-1/actions/org.mmiod1.policy \
	/usr/share/polkit-1/rules.d/50-mmiod.rules /usr/lib/sysusers.d/mmiod.conf \
	/usr/share/mmiod/profiles.ini /usr/share/man/man8/mmiod.8.gz /usr/share/man/man5/mmiod.conf.5.gz \
	/usr/share/man/man7/mmiod-dbus.7.gz; do
	grep -qx "$f" "$tmp/mmiod.files"; ok $? "mmiod ships $f"
done
for f in /usr/bin/mmioctl /usr/share/man/man1/mmioctl.1.gz /usr/share/bash-completion/completions/mmioctl; do
	grep -qx "$f" "$tmp/mmioctl.files"; ok $? "mmioctl ships $f"
done
dpkg-deb -I "$deb_mmiod" conffiles | grep -qx /etc/mmiod/mmiod.conf; ok $? "/etc/mmiod/mmiod.conf is a conffile"
dpkg-deb -I "$deb_mmiod" postinst >"$tmp/postinst" 2>/dev/null
grep -q 'systemd-sysusers' "$tmp/postinst"; ok $? "postinst creates the mmiod group (systemd-sysusers)"
grep -q 'deb-systemd-helper.*enable' "$tmp/postinst" || grep -q "'mmiod.service'" "$tmp/postinst"
ok $? "postinst enables mmiod.service"
# dh_installsystemd --no-enable: postinst enables the timer only where the
# administrator had it enabled before (an upgrade), and never starts it.
grep -q "debian-installed 'mmiod-metrics.timer'" "$tmp/postinst" &&
	! grep -q "deb-systemd-invoke.*'mmiod-metrics" "$tmp/postinst"
ok $? "the metrics timer is shipped but neither enabled nor started on installation"
dpkg-deb -f "$deb_mmiod" Depends | grep -q 'mmioctl (= '; ok $? "mmiod depends on the same version of mmioctl"

lintian --fail-on error,warning --tag-display-limit 0 "$changes" >"$tmp/lintian" 2>&1
rc=$?
ok $rc "lintian: no error or warning"
sed 's/^/lintian: /' "$tmp/lintian" | diag
echo "1..$n"
exit $failed
