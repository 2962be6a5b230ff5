#!/bin/sh
# SPDX-License-Identifier: MIT
# The systemd unit as built (systemd/mmiod.service, @sbindir@ substituted):
# `systemd-analyze verify` passes and `systemd-analyze security --offline=yes`
# scores at most MMIOD_MAX_EXPOSURE (2.0; tests/host checks the same on a real host).  verify resolves ExecStart
# on this host, so the copy it checks points ExecStart at the mmiod of the
# build tree (the installed path does not exist before `make install`).
# TAP; skips without systemd-analyze >= 252 (--offline).
set -u
top_builddir=${top_builddir:-$(pwd)}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
max=${MMIOD_MAX_EXPOSURE:-2.0}
unit=$top_builddir/systemd/mmiod.service
mmiod=$(cd "$top_builddir" && pwd)/daemon/mmiod

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "1..0 # SKIP systemd-analyze not installed"; exit 0
fi
ver=$(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')
if [ -z "$ver" ] || [ "$ver" -lt 252 ]; then
	echo "1..0 # SKIP systemd-analyze ${ver:-?} lacks security --offline (needs 252)"; exit 0
fi
if [ ! -f "$unit" ] || [ ! -x "$mmiod" ]; then
	echo "1..0 # SKIP $unit or $mmiod not built"; exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mmiod-unit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0 failed=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; fi; }

grep -q '@[a-z]*@' "$unit"; ok $((1 - $?)) "no @substitution@ left in the built unit"
sed "s|^ExecStart=.*/mmiod|ExecStart=$mmiod|" "$unit" > "$tmp/mmiod.service"
systemd-analyze verify --man=no "$tmp/mmiod.service" > "$tmp/verify" 2>&1
rc=$?
ok $rc "systemd-analyze verify passes"
[ $rc = 0 ] || sed 's/^/#   /' "$tmp/verify"

systemd-analyze security --offline=yes --no-pager "$unit" > "$tmp/security" 2>&1
line=$(grep 'Overall exposure level' "$tmp/security")
score=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9.]*\) .*/\1/p')
[ -n "$score" ]; ok $? "security --offline=yes prints an overall exposure level ($line)"
if [ -n "$score" ]; then
	awk -v s="$score" -v m="$max" 'BEGIN { exit !(s + 0 <= m + 0) }'
	ok $? "exposure $score <= $max"
	echo "# figures: exposure=$score"
	grep '✗' "$tmp/security" | sed 's/  */ /g; s/^/# exposed: /'
else
	sed 's/^/#   /' "$tmp/security" | tail -5
fi
echo "1..$n"
exit $failed
