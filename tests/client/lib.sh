# SPDX-License-Identifier: MIT
# tests/client/lib.sh — shared by the mmioctl end-to-end tests: TAP output,
# a private temp dir, a private dbus-daemon, and cleanup of everything the
# test started, on every exit path.
#
# Sourced by bash scripts; uses top_srcdir/top_builddir from `make check`
# (or guesses them from the script's location when run by hand).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
MMIOCTL=${MMIOCTL:-$top_builddir/client/mmioctl}
MMIOD=${MMIOD:-$top_builddir/daemon/mmiod}

# Nothing from the caller's environment may reach a real bus or daemon.
unset DBUS_SESSION_BUS_ADDRESS
export LC_ALL=C

tap_n=0
tap_failed=0
_pids=()

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mmioctl-test.XXXXXX")

# Ends what this test started, by pid, newest first; then removes TMP.
cleanup()
{
	local i pid
	for ((i = ${#_pids[@]} - 1; i >= 0; i--)); do
		pid=${_pids[i]}
		kill -TERM "$pid" 2>/dev/null || continue
		# up to 5 s for a clean exit, then no more asking
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	_pids=()
	rm -rf "$TMP"
}
trap 'cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

track_pid() { _pids+=("$1"); }

ok()
{
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $*"
}

not_ok()
{
	tap_n=$((tap_n + 1))
	tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $*"
}

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# check DESCRIPTION COMMAND...: one test point from a command's status.
check()
{
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

skip_all()
{
	echo "1..0 # SKIP $*"
	exit 0
}

done_testing()
{
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# ctl ARGS...: runs mmioctl, leaving $out, $err and $rc.  stdin is not a
# terminal, so interactive authorization is off as in any script.
ctl()
{
	out=$("$MMIOCTL" "$@" 2>"$TMP/stderr" </dev/null)
	rc=$?
	err=$(cat "$TMP/stderr")
}

# expect RC DESCRIPTION ARGS...: runs mmioctl, one test point on the exit
# code; prints what came out when it is not the expected one.
expect()
{
	local want=$1 desc=$2
	shift 2
	ctl "$@"
	if [ "$rc" -eq "$want" ]; then
		ok "$desc (exit $want)"
	else
		not_ok "$desc: exit $rc, wanted $want"
		diag "mmioctl $*" "stdout: $out" "stderr: $err"
	fi
}

# The daemon-down sentence, exactly as mmioctl(1) documents it.
NOT_RUNNING="mmioctl: the mmiod daemon is not running on the system bus (start it with: systemctl start mmiod)"

# harness_conf: an mmiod.conf whose toolstack deadline is far above what a
# loaded machine makes of a healthy QEMU's answer (the default 5 s was
# reached under a load average of 15); prints its path.
harness_conf()
{
	printf '[daemon]\ntoolstack_timeout = 60\n' >"$TMP/harness.conf"
	echo "$TMP/harness.conf"
}

# start_bus: a private dbus-daemon on $TMP/bus; exports
# DBUS_SYSTEM_BUS_ADDRESS so mmioctl and mmiod meet there.
start_bus()
{
	command -v dbus-daemon >/dev/null || skip_all "dbus-daemon not installed"
	dbus-daemon --config-file="$top_srcdir/tests/open-bus.conf" --address="unix:path=$TMP/bus" \
		--nofork --nopidfile \
		--print-address=3 3>"$TMP/bus.addr" &
	track_pid $!
	for _ in $(seq 100); do
		[ -s "$TMP/bus.addr" ] && break
		sleep 0.05
	done
	[ -s "$TMP/bus.addr" ] || { echo "Bail out! dbus-daemon did not start"; exit 1; }
	export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$TMP/bus"
}

# name_owned: true when org.mmiod1 has an owner on the private bus.
name_owned()
{
	busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" --no-pager list 2>/dev/null |
		grep -q '^org\.mmiod1 '
}
