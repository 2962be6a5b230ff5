#!/bin/bash
# SPDX-License-Identifier: MIT
# mmioctl metrics against the real mmiod on a private bus with a paused
# QEMU guest: every family the man page lists is there, the numbers agree
# with status --json, the daemon's counters move, --output writes the file
# atomically, and Prometheus's own parser (promtool check metrics, from
# Debian's prometheus package, fetched once into a cache) accepts it.
. "$(dirname "$0")/lib.sh"

[ -x "$MMIOD" ] || skip_all "mmiod not built ($MMIOD)"
QEMU=$(command -v qemu-system-x86_64) || skip_all "qemu-system-x86_64 not installed"
start_bus
mkdir -p "$TMP/qmp" "$TMP/state"
"$QEMU" -machine pc -accel tcg -nographic -nic none -display none -name vm1 -m 64 \
	-qmp "unix:$TMP/qmp/vm1.sock,server=on,wait=off" -S >"$TMP/qemu.log" 2>&1 </dev/null &
track_pid $!
"$MMIOD" --bus-address="$DBUS_SYSTEM_BUS_ADDRESS" --state-dir="$TMP/state" \
	--backend "qmp:$TMP/qmp" --backend "libxl:" \
	--catalogue="$top_srcdir/data/profiles.ini" --config="$(harness_conf)" >"$TMP/mmiod.log" 2>&1 &
track_pid $!
for _ in $(seq 200); do
	ctl --no-legend list-guests
	grep -qx vm1 <<<"$out" && break
	sleep 0.1
done
check "vm1 appears" grep -qx vm1 <<<"$out" || { diag "$(tail -5 "$TMP/mmiod.log")"; done_testing; exit; }

# counters: one check that fits, one with an unknown guest (an error)
ctl check vm1 bars:mem32:1M
ctl check nosuch bars:mem32:1M
expect 0 "metrics" metrics
printf '%s\n' "$out" >"$TMP/metrics"
for fam in mmiod_up mmiod_calls_total mmiod_call_errors_total mmiod_backend_up mmiod_backend_guests \
	mmiod_window_size_bytes mmiod_window_free_bytes mmiod_window_largest_free_block_bytes \
	mmiod_window_free_blocks mmiod_guest_reservations mmiod_guest_reserved_bytes \
	mmiod_guest_attaches_in_flight mmiod_guest_can_attach mmiod_guest_refresh_age_seconds; do
	check "family $fam: HELP, TYPE and a sample" bash -c \
		'grep -q "^# HELP $1 " "$2" && grep -q "^# TYPE $1 " "$2" && grep -q "^$1[{ ]" "$2"' _ "$fam" "$TMP/metrics"
done
check "Check counted: 2 calls" grep -q '^mmiod_calls_total{method="Check"} 2$' "$TMP/metrics"
check "Check's NoSuchGuest counted as an error" grep -q '^mmiod_call_errors_total{method="Check"} 1$' "$TMP/metrics"
check "the working back end is up" grep -q "^mmiod_backend_up{backend=\"qmp:$TMP/qmp\"} 1$" "$TMP/metrics"
check "a back end that would not open (libxl: without Xen) is down" grep -q '^mmiod_backend_up{backend="libxl:"} 0$' "$TMP/metrics"
ctl --json status vm1
free_low=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print([w["free"] for w in d["guests"][0]["windows"] if w["kind"]=="low"][0])' <<<"$out")
check "low window free bytes agree with status --json ($free_low)" \
	grep -q "^mmiod_window_free_bytes{guest=\"vm1\",.*window=\"low\".*} $free_low\$" "$TMP/metrics"
# the free blocks add up to the free bytes of each memory window (I/O
# windows: at most, the model counts no I/O block below 0x1000 or above 256 B)
check "free blocks per order sum to the free bytes" python3 - "$TMP/metrics" <<'PY'
import re, sys
free, blocks = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r'mmiod_window_free_bytes\{(.*)\} (\d+)$', line)
    if m: free[m.group(1)] = int(m.group(2))
    m = re.match(r'mmiod_window_free_blocks\{(.*),order="(\d+)"\} (\d+)$', line)
    if m: blocks[m.group(1)] = blocks.get(m.group(1), 0) + int(m.group(3)) * (1 << int(m.group(2)))
bad = [k for k in free if blocks.get(k, 0) > free[k] or ('window="io"' not in k and blocks.get(k, 0) != free[k])]
for k in bad: print('#', k, 'free', free[k], 'blocks', blocks.get(k, 0))
sys.exit(1 if bad or not free else 0)
PY
ctl --json reserve vm1 bars:mem32:1M
check "reservation counted" bash -c '"$1" metrics | grep -q "^mmiod_guest_reservations{guest=\"vm1\",.*} 1$"' _ "$MMIOCTL"

# --output: written whole, readable by the exporter's user
expect 0 "metrics --output" metrics --output "$TMP/mmiod.prom"
check "--output wrote the file" grep -q '^mmiod_up 1$' "$TMP/mmiod.prom"
check "--output file is world-readable (0644 under umask 022)" \
	bash -c 'umask 022; "$1" metrics --output "$2" && test "$(stat -c %a "$2")" = 644' _ "$MMIOCTL" "$TMP/mmiod.prom"
check "--output leaves no temporary file" test "$(ls "$TMP" | grep -c 'mmiod.prom.')" = 0
expect 2 "--output on another verb" status --output "$TMP/x"

# promtool: Prometheus's parser and lint
cache=${MMIOD_PROMTOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmiod-promtool}
promtool=$(command -v promtool || true)
if [ -z "$promtool" ] && [ ! -x "$cache/usr/bin/promtool" ]; then
	mkdir -p "$cache/dl"
	(cd "$cache/dl" && apt-get download -q prometheus >/dev/null 2>&1 && dpkg -x prometheus_*.deb "$cache" &&
		rm -f prometheus_*.deb)
fi
[ -z "$promtool" ] && [ -x "$cache/usr/bin/promtool" ] && promtool=$cache/usr/bin/promtool
if [ -n "$promtool" ]; then
	"$promtool" check metrics <"$TMP/metrics" >"$TMP/promtool.out" 2>&1
	rc=$?
	check "promtool check metrics accepts the output" test $rc = 0
	[ $rc = 0 ] || diag "$(cat "$TMP/promtool.out")"
	check "promtool check metrics accepts the --output file" bash -c '"$1" check metrics <"$2"' _ "$promtool" "$TMP/mmiod.prom"
else
	ok "promtool check metrics # SKIP no promtool (apt-get download prometheus failed: no network?)"
fi
done_testing
