#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs inside the systemd host VM (tests/host/test-host.sh boots it) as a
# oneshot unit once multi-user.target is up; TAP goes to the second serial
# port, which the host reads.  Everything here is the real thing: systemd
# as PID 1, dbus-broker, polkitd, sshd, the Debian packages installed with
# dpkg, a QEMU guest under the unit's sandbox.
set -u
export LC_ALL=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0
DEBS=/var/tmp/mmiod-debs
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
diag() { sed 's/^/# /'; }
# t DESC CMD...: a test point from a command's exit status; its output
# goes to the TAP stream as diagnostics when it fails; a point that takes
# 5 s or more says how long.
t() {
	local desc=$1 out rc start=$SECONDS
	shift
	out=$("$@" 2>&1)
	rc=$?
	ok $rc "$desc"
	[ $((SECONDS - start)) -lt 5 ] || echo "# ($((SECONDS - start)) s)"
	[ $rc = 0 ] || printf '%s\n' "$out" | tail -15 | diag
	return $rc
}
# wait_for SECONDS CMD...: polls CMD every 0.5 s.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.5
	done
}
# mark WHAT: where the time goes, as a diagnostic
mark() { echo "# at $SECONDS s: $*"; }
as() { local u=$1; shift; runuser -u "$u" -- "$@"; }
finish() {
	echo "1..$n"
	echo "# in-vm: done, $failed failed, $SECONDS s"
	systemctl poweroff --no-block
	exit 0
}
echo "# in-vm: $(uname -r), systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'), up $(cut -d' ' -f1 /proc/uptime) s"
echo "# in-vm: clock source $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource), $(dmesg | grep -o 'tsc: Detected [0-9.]* MHz' | head -1)"

# ---- the host ---------------------------------------------------------------------
mark "the host"
t "systemd is PID 1" test "$(cat /proc/1/comm)" = systemd
t "the system bus is dbus-broker" test "$(systemctl show -P Id dbus.service)" = dbus-broker.service
t "dbus-broker is running" systemctl is-active dbus-broker.service
t "polkitd answers on the bus (activated)" busctl call org.freedesktop.PolicyKit1 \
	/org/freedesktop/PolicyKit1/Authority org.freedesktop.DBus.Properties Get ss \
	org.freedesktop.PolicyKit1.Authority BackendName
t "sshd is running" systemctl is-active ssh.service

# ---- the packages ------------------------------------------------------------------
mark "the packages"
t "dpkg -i mmioctl mmiod" dpkg -i "$DEBS"/mmioctl_*.deb "$DEBS"/mmiod_*.deb
t "dpkg says both are installed" \
	sh -c 'dpkg-query -W -f="\${Status}\n" mmiod mmioctl | grep -c "install ok installed" | grep -qx 2'
t "the postinst made the group mmiod" getent group mmiod
t "mmiod.service is enabled" systemctl is-enabled mmiod.service
t "the postinst started mmiod" systemctl is-active mmiod.service

# ---- systemctl start reaches READY; status shows STATUS= ---------------------------
mark "systemctl start reaches READY; status shows STATUS="
t "systemctl stop mmiod" systemctl stop mmiod.service
# Type=notify: start returns only once mmiod sent READY=1
t "systemctl start mmiod (returns after READY=1)" systemctl start mmiod.service
t "mmiod is active (running)" \
	test "$(systemctl show -P ActiveState mmiod.service)/$(systemctl show -P SubState mmiod.service)" = active/running
status_text=$(systemctl show -P StatusText mmiod.service)
t "mmiod sent a STATUS= text ($status_text)" test -n "$status_text"
systemctl status --no-pager mmiod.service >/tmp/status 2>&1
t "systemctl status shows it" grep -qF "Status: \"$status_text\"" /tmp/status
t "the watchdog is armed (WatchdogUSec)" test "$(systemctl show -P WatchdogUSec mmiod.service)" != 0

# ---- a QEMU guest under the unit's sandbox ------------------------------------------
mark "a QEMU guest under the unit's sandbox"
# The unit's RuntimeDirectory is /run/mmiod; the QMP back end watches
# /run/mmiod/qmp by default.  Nested TCG is slow: a guest stopped at -S.
mkdir -p /run/mmiod/qmp
setsid qemu-system-x86_64 -machine pc -accel tcg -m 64 -S -display none -nic none \
	-name vm1 -qmp unix:/run/mmiod/qmp/vm1.sock,server=on,wait=off \
	</dev/null >/var/tmp/qemu-vm1.log 2>&1 &
qemu_pid=$!
t "QEMU made its QMP socket" wait_for 120 test -S /run/mmiod/qmp/vm1.sock
t "mmiod sees the guest through the QMP back end" \
	wait_for 120 sh -c 'mmioctl --no-legend list-guests | grep -qx vm1'
[ $? = 0 ] || journalctl -b -u mmiod.service --no-pager | tail -20 | diag

# ---- root: busctl and mmioctl ----------------------------------------------------------
mark "root: busctl and mmioctl"
t "busctl call org.mmiod1 ... Check (root)" \
	busctl call org.mmiod1 /org/mmiod1 org.mmiod1.Manager Check 'sasa{sv}' vm1 1 bars:mem32:1M 0
t "mmioctl status (root)" sh -c 'mmioctl status | grep -q "^vm1 "'
t "mmioctl check (root)" mmioctl check vm1 bars:mem32:1M
mmioctl status >/tmp/status-out 2>&1
diag </tmp/status-out

# ---- polkit: a user in the group mmiod may change things, a plain user may not ------
mark "polkit: a user in the group mmiod may change things, a plain user may not"
useradd -m -G mmiod alice
useradd -m bob
# something for bob to try to detach: root attaches a pci-testdev
aid=$(mmioctl --json attach --qemu-device pci-testdev,membar=1M vm1 bars:mem32:4K,io:256,mem64p:1M 2>/tmp/root-attach.err |
	sed -n 's/.*"attach_id": *"\([^"]*\)".*/\1/p' | head -1)
t "root attaches a device (QMP device_add into the -S guest): ${aid:-no id}" test -n "$aid"
[ -n "$aid" ] || diag </tmp/root-attach.err
rid=$(as alice mmioctl --json reserve vm1 bars:mem32:1M 2>/tmp/alice.err)
rc=$?
ok $rc "alice (group mmiod) may Reserve: polkit rule 50-mmiod.rules"
[ $rc = 0 ] || diag </tmp/alice.err
rid=$(printf '%s\n' "$rid" | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1)
t "bob may read: mmioctl status" as bob mmioctl status vm1
t "bob may read: mmioctl check" as bob mmioctl check vm1 bars:mem32:1M
t "bob may read: busctl Check" as bob busctl call org.mmiod1 /org/mmiod1 org.mmiod1.Manager Check 'sasa{sv}' vm1 1 bars:mem32:1M 0
# Every mutating method, refused twice: through the bus itself (busctl: an
# AccessDenied error; systemd's tools print every AccessDenied as "Access
# denied", whoever sent it), and through mmioctl, which prints the message
# mmiod sent, which only polkit's answer produces (daemon/authz.c): the
# action's default is auth_admin, so polkit says "authentication is
# required" (an admin's password through an agent would do; there is none).
denied() { # METHOD SIGNATURE ARGS...
	local m=$1 out
	shift
	out=$(as bob busctl call org.mmiod1 /org/mmiod1 org.mmiod1.Manager "$m" "$@" 2>&1)
	ok $((! $?)) "bob is refused $m (busctl fails)"
	grep -qiE 'access denied' <<<"$out"
	ok $? "  ... with AccessDenied: $(head -1 <<<"$out")"
}
denied_ctl() { # VERB ARGS...
	local out rc
	out=$(as bob mmioctl "$@" 2>&1)
	rc=$?
	test $rc = 5 && grep -qE '(authentication is required|not authorized) for org.mmiod1.manage' <<<"$out"
	ok $? "bob: mmioctl $1 exits 5 with polkit's refusal (rc $rc: $(head -1 <<<"$out"))"
}
denied Reserve 'sasa{sv}' vm1 1 bars:mem32:1M 0
denied Release 'ssa{sv}' vm1 "${rid:-r0}" 0
denied Attach 'ssa{sv}' vm1 bars:mem32:1M 0
denied Detach 'ssa{sv}' vm1 "${aid:-a0}" 0
denied_ctl reserve vm1 bars:mem32:1M
denied_ctl release vm1 "${rid:-r0}"
denied_ctl attach --qemu-device pci-testdev,membar=1M vm1 bars:mem32:4K,io:256,mem64p:1M
denied_ctl detach vm1 "${aid:-a0}"
t "alice's reservation is still there after bob's refused calls" \
	sh -c "mmioctl --json status vm1 | grep -q '\"${rid:-none}\"'"
t "alice may Release her reservation" as alice mmioctl release vm1 "${rid:-none}"

# ---- D-Bus activation --------------------------------------------------------------
mark "D-Bus activation"
t "systemctl stop mmiod" systemctl stop mmiod.service
t "mmiod is inactive" sh -c '! systemctl is-active mmiod.service'
t "the first call activates mmiod (dbus-broker -> systemd)" \
	busctl get-property org.mmiod1 /org/mmiod1 org.mmiod1.Manager Version
t "mmiod is active again" systemctl is-active mmiod.service
t "the activated mmiod finds the guest again" \
	wait_for 120 sh -c 'mmioctl --no-legend list-guests | grep -qx vm1'

# ---- systemctl reload applies mmiod.conf ----------------------------------------------
mark "systemctl reload applies mmiod.conf"
pid_before=$(systemctl show -P MainPID mmiod.service)
mkdir -p /run/mmiod/qmp-b
sed -i 's|^#\?backends *=.*|backends = qmp:/run/mmiod/qmp,qmp:/run/mmiod/qmp-b|' /etc/mmiod/mmiod.conf
t "mmiod.conf names a second QMP directory" grep -q '^backends = .*qmp-b' /etc/mmiod/mmiod.conf
t "systemctl reload mmiod" systemctl reload mmiod.service
t "the Backends property has the new back end" \
	wait_for 30 sh -c 'busctl get-property org.mmiod1 /org/mmiod1 org.mmiod1.Manager Backends | grep -q qmp-b'
t "reload kept the process ($pid_before)" test "$(systemctl show -P MainPID mmiod.service)" = "$pid_before"

# ---- systemd-analyze security on the real host -----------------------------------------
mark "systemd-analyze security on the real host"
systemd-analyze security --no-pager mmiod.service >/tmp/security 2>&1
score=$(sed -n 's/.*Overall exposure level for mmiod.service: \([0-9.]*\).*/\1/p' /tmp/security)
t "systemd-analyze security mmiod.service: ${score:-?} <= 2.0" \
	awk -v s="${score:-99}" 'BEGIN { exit !(s + 0 <= 2.0) }'
echo "# figures: exposure=${score:-?}"
grep '✗' /tmp/security | sed 's/  */ /g' | diag

# ---- mmioctl -H root@localhost over sshd --------------------------------------------------
mark "mmioctl -H root@localhost over sshd"
mkdir -p -m 700 /root/.ssh
ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519
cat /root/.ssh/id_ed25519.pub >>/root/.ssh/authorized_keys
# Under TCG an ssh login costs ~20 s: the post-quantum key exchange (~6 s)
# and logind starting user@UID.service for the session (~11 s), stopped
# again 10 s after logout.  curve25519 and lingering users keep it to a few
# seconds; the path under test (ssh, sshd, PAM, systemd-stdio-bridge, the
# remote caller's identity) is the same.
printf 'Host localhost\n  StrictHostKeyChecking accept-new\n  BatchMode yes\n  KexAlgorithms curve25519-sha256\n' \
	>/root/.ssh/config
loginctl enable-linger root bob
t "ssh root@localhost works" ssh root@localhost true
t "mmioctl -H root@localhost status" sh -c 'mmioctl -H root@localhost status | grep -q "^vm1 "'
t "mmioctl -H root@localhost --json check" \
	sh -c 'mmioctl -H root@localhost --json check vm1 bars:mem32:1M | grep -q "\"fits\": *true"'
t "as bob: mmioctl -H bob@... is bob on the remote side (Reserve refused, exit 5)" sh -c '
	mkdir -p -m 700 ~bob/.ssh && cp /root/.ssh/id_ed25519.pub ~bob/.ssh/authorized_keys &&
	chown -R bob: ~bob/.ssh && mmioctl -H bob@localhost reserve vm1 bars:mem32:1M; test $? = 5'

# ---- the metrics timer: shipped disabled; its service writes the textfile ---------------------
mark "the metrics timer: shipped disabled; its service writes the textfile"
t "mmiod-metrics.timer is shipped disabled" sh -c 'test "$(systemctl is-enabled mmiod-metrics.timer)" = disabled'
mkdir -p /var/lib/prometheus/node-exporter
t "systemctl start mmiod-metrics.service (under its sandbox)" systemctl start mmiod-metrics.service
t "it wrote mmiod.prom for the node exporter" \
	grep -q '^mmiod_window_free_bytes{guest="vm1"' /var/lib/prometheus/node-exporter/mmiod.prom
t "systemctl enable --now mmiod-metrics.timer" systemctl enable --now mmiod-metrics.timer
t "mmioctl metrics counts this test's calls" sh -c 'mmioctl metrics | grep -q "^mmiod_calls_total{method=\"Reserve\"} [1-9]"'

# ---- done ------------------------------------------------------------------------------
kill "$qemu_pid" 2>/dev/null
finish
