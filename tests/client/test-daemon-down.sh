#!/bin/bash
# SPDX-License-Identifier: MIT
# mmioctl when mmiod is not there: a private bus nobody owns org.mmiod1 on,
# no bus at all, and a name owner that never answers.  Each case is one
# sentence on stderr, nothing on stdout, exit 3 (mmioctl(1) EXIT STATUS).
. "$(dirname "$0")/lib.sh"

start_bus

one_sentence()
{
	local desc=$1 sentence=$2
	shift 2
	expect 3 "$desc" "$@"
	if [ "$err" = "$sentence" ] && [ -z "$out" ]; then
		ok "$desc: the one sentence, nothing else"
	else
		not_ok "$desc: the one sentence, nothing else"
		diag "stdout: $out" "stderr: $err"
	fi
}

# every verb, with and without --json
for args in "" "status" "status vm1" "check vm1 bars:mem32:4K" "check --refresh vm1 0000:03:00.0" \
	"attach vm1 0000:03:00.0" "attach --no-wait vm1 profile:x" "detach vm1 0000:03:00.0" \
	"reserve vm1 bars:mem64p:1G" "release vm1 r1" "plan bars:mem64p:64G" \
	"plan --guest vm1 bars:mem32:256M" "profiles" "watch" "list-guests"; do
	# shellcheck disable=SC2086
	one_sentence "daemon down: mmioctl $args" "$NOT_RUNNING" $args
	# shellcheck disable=SC2086
	one_sentence "daemon down: mmioctl --json $args" "$NOT_RUNNING" --json $args
done

# input is still checked first: a typo is exit 2 even with no daemon
expect 2 "daemon down, bad input still exit 2" check vm1 0000:zz:00.0

# no bus at all behind the address
DBUS_SYSTEM_BUS_ADDRESS="unix:path=$TMP/nothing-here" \
	one_sentence "no system bus" "$NOT_RUNNING" status
one_sentence "--bus-address to nothing" \
	"mmioctl: the mmiod daemon is not running on the bus at unix:path=$TMP/nothing-here (start it with: mmiod --bus-address=unix:path=$TMP/nothing-here)" \
	--bus-address="unix:path=$TMP/nothing-here" status
one_sentence "--bus-address to the bus without mmiod" \
	"mmioctl: the mmiod daemon is not running on the bus at $DBUS_SYSTEM_BUS_ADDRESS (start it with: mmiod --bus-address=$DBUS_SYSTEM_BUS_ADDRESS)" \
	--bus-address="$DBUS_SYSTEM_BUS_ADDRESS" profiles

# A name owner that never answers: --timeout bounds the wait, and the
# answer is one sentence too (not "Connection timed out" plus a trace).
PY=/usr/bin/python3
if [ -x "$PY" ] && "$PY" -c 'import dbus' 2>/dev/null; then
	"$PY" - "$DBUS_SYSTEM_BUS_ADDRESS" >"$TMP/silent.out" 2>&1 <<-'PYEOF' &
	import sys, time, dbus
	bus = dbus.bus.BusConnection(sys.argv[1])
	bus.request_name("org.mmiod1")
	print("ready", flush=True)
	# no main loop: method calls queue up unanswered
	time.sleep(120)
	PYEOF
	track_pid $!
	for _ in $(seq 100); do grep -q ready "$TMP/silent.out" 2>/dev/null && break; sleep 0.05; done
	start=$(date +%s%N)
	expect 3 "silent daemon: --timeout 0.5 status" --timeout 0.5 status
	elapsed_ms=$((($(date +%s%N) - start) / 1000000))
	# the time is printed; asserted is only that --timeout, not the 10 s
	# a read-only verb waits by default, ended the wait
	check "silent daemon: gave up at --timeout 0.5, before the default 10 s (took ${elapsed_ms} ms)" \
		test "$elapsed_ms" -lt 10000
	check "silent daemon: one sentence" test "$err" = \
		"mmioctl: status: the mmiod daemon did not answer within 0.5 s (see: systemctl status mmiod)"
	expect 3 "silent daemon: --timeout 0.3 attach" --timeout 0.3 attach vm1 bars:mem32:4K
else
	ok "# SKIP python3-dbus not available for the silent-owner case"
fi

done_testing
