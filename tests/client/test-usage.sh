#!/bin/bash
# SPDX-License-Identifier: MIT
# mmioctl usage and local input checks: no bus and no daemon needed.
# Everything here must fail with exit 2 *before* the bus is touched, which
# is why the bus address points nowhere: a bus attempt would give exit 3.
. "$(dirname "$0")/lib.sh"

export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$TMP/no-such-bus"

expect 0 "--help" --help
check "--help lists every verb" bash -c '
	for v in status check attach detach reserve release plan watch profiles metrics; do
		grep -q "^  $v " <<<"$1" || { echo "# missing $v"; exit 1; }
	done' _ "$out"
check "--help hides the completion helper" bash -c '! grep -q list-guests <<<"$1"' _ "$out"
check "--help lists every global option" bash -c '
	for o in --json --no-legend --no-ask-password --timeout --version --user --bus-address --host --machine; do
		grep -q -- "$o" <<<"$1" || { echo "# missing $o"; exit 1; }
	done' _ "$out"
for v in status check attach detach reserve release plan watch profiles metrics; do
	expect 0 "$v --help" "$v" --help
	check "$v --help shows its synopsis" grep -q "^Usage: mmioctl \[OPTIONS...\] $v" <<<"$out"
done
check "attach --help lists attach's options" bash -c '
	for o in --qemu-device --reservation --persistent --no-wait; do
		grep -q -- "$o" <<<"$1" || exit 1
	done' _ "$(${MMIOCTL} attach --help)"
expect 0 "--version" --version
check "--version prints the package version" grep -qE '^mmioctl [0-9]+\.[0-9]+' <<<"$out"

# usage errors
expect 2 "unknown verb" frobnicate
check "unknown verb named" grep -q 'unknown verb "frobnicate"' <<<"$err"
expect 2 "unknown option" --frobnicate
expect 2 "unknown short option" -z
expect 2 "option missing its argument" --timeout
expect 2 "check with one argument" check vm1
check "argument count explained" grep -q 'check: wanted at least 2 arguments' <<<"$err"
expect 2 "attach with three arguments" attach vm1 0000:03:00.0 0000:04:00.0
check "exact count explained" grep -q 'attach: wanted 2 arguments' <<<"$err"
expect 2 "release with one argument" release vm1
expect 2 "plan without devices" plan
expect 2 "status with two guests" status vm1 vm2
expect 2 "watch with an argument" watch vm1
expect 2 "profiles with an argument" profiles x
expect 2 "option of another verb" status --label x
check "foreign option named" grep -q 'status does not take --label' <<<"$err"
expect 2 "--no-wait on check" check vm1 0000:03:00.0 --no-wait
expect 2 "--timeout not a number" --timeout abc status
expect 2 "--timeout zero" --timeout 0 status
expect 2 "--timeout negative" --timeout -1 status
expect 2 "--user with --bus-address" --user --bus-address=unix:path=/x status
expect 2 "--user with --host" --user -H root@h status
expect 2 "--host with --machine" -H h -M c status
check "transport clash named" grep -q -- '--bus-address, --host and --machine exclude each other' <<<"$err"
expect 2 "--bus-address with --host" --bus-address=unix:path=/x --host=h status
expect 2 "empty --host" --host= status
expect 2 "-H without a host" -H

# bad input: exit 2, one line, "mmioctl: <verb>: <reason>", no D-Bus names
bad()
{
	local desc=$1 pattern=$2
	shift 2
	expect 2 "$desc" "$@"
	check "$desc: message" grep -qE "^mmioctl: [a-z]+.*: .*$pattern" <<<"$err"
	check "$desc: one line on stderr, nothing on stdout" \
		test "$(wc -l <<<"$err")" -eq 1 -a -z "$out"
}
bad "malformed BDF (bus)" 'bus "zz"' check vm1 0000:zz:00.0
bad "malformed BDF (device > 31)" '' check vm1 0000:03:20.0
bad "malformed BDF (function > 7)" '' check vm1 03:00.9
bad "malformed BDF in attach" '' attach vm1 0000:03:00.y
bad "empty function of a slot" 'function 1 is empty' check vm1 bars:mem32:4K+
bad "a whole slot joined with +" 'is a whole slot' check vm1 0000:03:00+bars:mem32:4K
bad "a bad function of a slot" 'not a power of two' check vm1 bars:mem32:4K+bars:mem32:3000
bad "nine functions" 'at most 8 functions' check vm1 "bars:io:4+bars:io:4+bars:io:4+bars:io:4+bars:io:4+bars:io:4+bars:io:4+bars:io:4+bars:io:4"
bad "a profile name with + is two functions" 'unrecognised device "b"' check vm1 "profile:a+b"
expect 3 "a host slot passes the local checks" check vm1 0000:03:00
expect 3 "a slot spelled with .* passes the local checks" check vm1 '03:00.*'
expect 3 "functions joined with + pass the local checks" check vm1 bars:mem32:4K+0000:03:00.1
bad "not a device at all" 'unrecognised device "gpu0"' check vm1 gpu0
bad "bad size: not a power of two" 'not a power of two' check vm1 bars:mem32:3000
bad "bad size: garbage" '' check vm1 bars:mem64p:lots
bad "bad BAR kind" '' check vm1 bars:mem48:4K
bad "I/O BAR above 256 bytes" '' reserve vm1 bars:io:512
bad "empty BAR list" '' plan bars:
bad "profile name with a space" 'invalid profile name' check vm1 "profile:a b"
bad "empty profile name" 'invalid profile name' attach vm1 profile:
bad "empty guest" 'empty guest' check "" bars:mem32:4K
bad "bad device after a good one" '' check vm1 bars:mem32:4K 0000:03:00.8
bad "bad device in plan" '' plan --guest vm1 bars:mem32:5K
bad "bad device in detach" "" detach vm1 0000:03:00.x
bad "empty attach id in detach" "empty device or attach id" detach vm1 ""
bad "empty reservation id" "empty reservation id" release vm1 ""
bad "empty --port in check" "empty port name" check --port "" vm1 bars:mem32:4K
bad "empty --port in attach" "empty port name" attach --port "" vm1 bars:mem32:4K

# --json changes nothing about usage errors: still nothing on stdout
expect 2 "--json with bad input" --json check vm1 bars:mem32:3000
check "--json bad input: stdout empty" test -z "$out"

done_testing
