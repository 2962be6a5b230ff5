#!/bin/bash
# SPDX-License-Identifier: MIT
# `make check-host`: mmiod on a real systemd host (TAP).
#
# A Debian 12 VM under QEMU (TCG) boots systemd as PID 1 with dbus-broker,
# polkitd and sshd from a root file system built from Debian's archive
# (tests/host/build-rootfs, cached), the kernel of tests/guest (Debian's,
# cached).  The Debian packages of this tree (`make deb`) and
# tests/host/in-vm.sh ride along in a second cpio archive; in-vm.sh runs as a
# unit once the VM is up, installs the packages with dpkg and asserts
# what docs/host.md (section 3) lists, and
# prints TAP on the VM's second serial port, which this script renumbers into
# its own.
#
# Skips (with the reason) without root, QEMU, mmdebstrap, dpkg-buildpackage,
# or the network a cold cache needs.  MMIOD_HOST_TEST=no skips it;
# MMIOD_HOST_TIMEOUT (default 1200 s) bounds the VM; MMIOD_HOST_KEEP=1 keeps
# the work directory (console log, TAP, the VM's initrd).
set -u
top_builddir=${top_builddir:-$(pwd)}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
here=$top_srcdir/tests/host
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }
diag() { sed 's/^/# /'; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
bail() { echo "Bail out! $*"; exit 1; }

[ "${MMIOD_HOST_TEST:-yes}" = no ] && skip_all "MMIOD_HOST_TEST=no"
[ "$(id -u)" = 0 ] || skip_all "needs root (mmdebstrap's chroot, dpkg-buildpackage)"
for t in qemu-system-x86_64 mmdebstrap cpio dpkg-buildpackage dh python3; do
	command -v $t >/dev/null 2>&1 || skip_all "$t not installed (scripts/deps installs it)"
done
work=$(mktemp -d "${TMPDIR:-/tmp}/mmiod-host.XXXXXX")
chmod 755 "$work"
qemu_pid=
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
	if [ "${MMIOD_HOST_KEEP:-0}" = 1 ]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
t0=$(date +%s)
elapsed() { echo $(($(date +%s) - t0)); }

# ---- the packages: reused when newer than the binaries they hold ------------------
deb_dir=$top_builddir/deb
fresh=false
if ls "$deb_dir"/mmiod_*.deb "$deb_dir"/mmioctl_*.deb >/dev/null 2>&1; then
	fresh=true
	for bin in "$top_builddir/daemon/mmiod" "$top_builddir/client/mmioctl"; do
		[ "$bin" -nt "$(ls "$deb_dir"/mmiod_*.deb)" ] && fresh=false
	done
fi
if ! $fresh; then
	(cd "$top_builddir" && make -s deb) >"$work/deb.log" 2>&1
	rc=$?
	ok $rc "make deb ($(elapsed) s)"
	[ $rc = 0 ] || { tail -30 "$work/deb.log" | diag; bail "no packages"; }
else
	ok 0 "packages in deb/ are newer than the build"
fi
debs=$(ls "$deb_dir"/mmiod_*.deb "$deb_dir"/mmioctl_*.deb)

# ---- kernel and root file system (cached) -------------------------------------
t=$(date +%s)
kernel=$(python3 "$top_srcdir/tests/guest/build-initramfs" --print 2>"$work/kernel.log" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["kernel"])' 2>/dev/null)
[ -n "$kernel" ] && [ -f "$kernel" ] ||
	skip_all "no kernel (tests/guest/build-initramfs: $(tail -1 "$work/kernel.log"))"
t=$(date +%s)
rootfs=$("$here/build-rootfs" --print $debs 2>"$work/rootfs.log")
rc=$?
[ $rc = 77 ] && skip_all "$(tail -1 "$work/rootfs.log")"
ok $rc "root file system ($(($(date +%s) - t)) s: $(grep -o 'cached\|built.*' "$work/rootfs.log" | tail -1))"
[ $rc = 0 ] || { tail -20 "$work/rootfs.log" | diag; bail "no root file system"; }
echo "# figures: rootfs_seconds=$(($(date +%s) - t))"

# ---- what rides along: the packages, the test, its unit -------------------------
stage=$work/stage
mkdir -p "$stage/var/tmp/mmiod-debs" "$stage/usr/local/libexec" \
	"$stage/etc/systemd/system/multi-user.target.wants"
cp $debs "$stage/var/tmp/mmiod-debs/"
install -m 755 "$here/in-vm.sh" "$stage/usr/local/libexec/mmiod-host-test"
cat >"$stage/etc/systemd/system/mmiod-host-test.service" <<'EOF'
[Unit]
Description=mmiod systemd-host test (tests/host/in-vm.sh)
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/libexec/mmiod-host-test
StandardOutput=tty
StandardError=journal
TTYPath=/dev/ttyS1
TimeoutStartSec=infinity
EOF
ln -s ../mmiod-host-test.service "$stage/etc/systemd/system/multi-user.target.wants/"
# localhost for ssh (the image has no netbase and no nss-myhostname)
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tmmiod-host\n' \
	>"$stage/etc/hosts"
# No "." entry: the kernel would give the root directory the stage's mode.
(cd "$stage" && find . -mindepth 1 | cpio -o -H newc --quiet) >"$work/run.cpio"
# Two archives back to back: the kernel unpacks both into its root.
cat "$rootfs" "$work/run.cpio" >"$work/initrd"

# ---- boot ----------------------------------------------------------------------
# No udev in the image: the getty on the console would wait 90 s for its
# device unit.  tsc=reliable no_timer_check: TCG on a loaded host (as
# tests/guest).  clocksource=hpet: QEMU's HPET counts the host's time, while
# the TSC counts at the rate the kernel calibrated at boot, which on a loaded
# host can be far off (a run's guest clock went 20 times too fast and every
# timeout inside fired early: polkit, QMP, D-Bus calls).
append="console=ttyS0 rdinit=/lib/systemd/systemd panic=-1 8250.nr_uarts=2
 tsc=reliable no_timer_check clocksource=hpet mitigations=off systemd.show_status=0
 systemd.mask=serial-getty@ttyS0.service"
t=$(date +%s)
qemu-system-x86_64 -accel tcg,thread=multi -machine pc -smp 2 -m 2048 -nodefaults \
	-display none -nic none -no-reboot -kernel "$kernel" -initrd "$work/initrd" \
	-append "$(echo $append)" -serial "file:$work/console.log" -serial "file:$work/tap.log" \
	</dev/null >"$work/qemu.log" 2>&1 &
qemu_pid=$!
timeout=${MMIOD_HOST_TIMEOUT:-1200}
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ $(($(date +%s) - t)) -ge "$timeout" ]; then
		kill "$qemu_pid"
		echo "# the VM did not power off within $timeout s"
		break
	fi
	sleep 1
done
wait "$qemu_pid" 2>/dev/null
qemu_pid=
vm_seconds=$(($(date +%s) - t))

# ---- the VM's TAP, renumbered into ours ---------------------------------------------
tr -d '\r' <"$work/tap.log" >"$work/tap"
grep -q '^# in-vm: done' "$work/tap"
done_rc=$?
inner_fail=0
while IFS= read -r line; do
	case $line in
	"ok "[0-9]*) ok 0 "${line#ok [0-9]* - }" ;;
	"not ok "[0-9]*) ok 1 "${line#not ok [0-9]* - }"; inner_fail=1 ;;
	1..*) ;;
	*) echo "$line" | sed 's/^\([^#]\)/# \1/' ;;
	esac
done <"$work/tap"
ok $done_rc "the test inside the VM ran to its end and powered off ($vm_seconds s)"
# The guest's own count of its time against ours: a guest clock that runs
# fast makes every timeout inside fire early.
guest_seconds=$(sed -n 's/^# in-vm: done, .*, \([0-9]*\) s$/\1/p' "$work/tap")
guest_boot=$(sed -n 's/^# in-vm: .*, up \([0-9]*\).* s$/\1/p' "$work/tap")
if [ -n "$guest_seconds" ] && [ -n "$guest_boot" ]; then
	echo "# figures: guest clock $((guest_boot + guest_seconds)) s for ${vm_seconds} s of ours"
	[ $((guest_boot + guest_seconds)) -le $((vm_seconds * 3 / 2)) ] ||
		echo "# the guest's clock ran fast: timeouts inside the VM fired early"
fi
if [ $done_rc != 0 ] || [ $inner_fail != 0 ]; then
	echo "# ---- console (last 40 lines)"
	sed 's/\x1b\[[0-9;]*m//g' "$work/console.log" | tail -40 | diag
fi
echo "# figures: vm_seconds=$vm_seconds total_seconds=$(elapsed)"
echo "1..$n"
exit $failed
