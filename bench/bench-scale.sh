#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/bench-scale.sh — mmiod with many guests (issue "Performance and
# scale", item 3), against in-run baselines.
#
#   bench/bench-scale.sh [SECONDS] [COUNTS]   (run from the build directory)
#
# For each guest count N in COUNTS (default "10 1000 10000"): a node XML
# with N minimal running domains (i440fx, 1 GiB, no devices) for libvirt's
# test driver, and `mmiod --backend libvirt:test:///<abs>/node-N.xml` on a
# private dbus-daemon.  Measured per N:
#   ready_s   spawn -> sd_notify READY=1 (NOTIFY_SOCKET is a datagram socket
#             bench/notify-ready.py listens on; READY is sent after every
#             guest object exists and the bus name is owned)
#   rss_KiB   VmRSS from /proc/PID/status once READY (hwm: VmHWM at the end)
#   drv_*     the baseline for both: bench/libvirt-open, a bare program
#             opening the same URI and reading every domain's XML (the
#             test driver parses the node XML and keeps every domain in
#             the calling process): its open time and its VmRSS
#   own_KiB   rss - drv_rss: what mmiod adds beyond the test driver
#   status_ms `mmioctl --json status` (GetManagedObjects of all guests,
#             client decoding and JSON printing included), median of 3
#   Check     bench/bench-dbus ADDR org.mmiod1 gN profile:nvidia-t4 SECONDS 1 1
#             (the last guest, by name); the echo service on the same bus
#             with the same client is the per-N baseline
#   reserve   `mmioctl reserve gN bars:mem32:4K` (a state save) against
#             `mmioctl check gN bars:mem32:4K` (none), client start-up
#             included in both: medians of 5, then `mmioctl release`.
#             The state directory is on tmpfs (/dev/shm) when there is
#             one, so the save's CPU cost is measured, not the disk's fsync.
# Ratios: each figure at N against the same figure at the smallest N, and
# mmiod's Check against the echo service.  Never fails on time.
set -eu
secs=${1:-3}
rsecs=$(awk -v s="$secs" 'BEGIN{r=s/3; if (r < 1) r=1; printf "%d", r}')
counts=${2:-"10 1000 10000"}
b=$(pwd)
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
command -v dbus-daemon >/dev/null 2>&1 || { echo "# bench-scale: skipped (no dbus-daemon)"; exit 0; }
command -v python3 >/dev/null 2>&1 || { echo "# bench-scale: skipped (no python3)"; exit 0; }
if [ ! -x "$b/daemon/mmiod" ] || ! "$b/daemon/mmiod" --help 2>&1 | grep -q libvirt; then
	echo "# bench-scale: skipped (mmiod built without the libvirt back end)"; exit 0
fi
work=$(mktemp -d)
pids=""
mpid=""
cleanup() {
	[ -z "$mpid" ] || kill "$mpid" 2>/dev/null || true
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
	case "${sdir:-}" in /dev/shm/bench-scale.*) rm -rf "$sdir";; esac
}
trap cleanup EXIT INT TERM

dbus-daemon --config-file="$top/bench/bench-bus.conf" --address="unix:path=$work/bus.sock" \
	--nofork & pids="$pids $!"
addr="unix:path=$work/bus.sock"
i=0; until [ -S "$work/bus.sock" ]; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.05; done
"$b/bench/echo-service" "$addr" org.mmiod1bench.Echo & pids="$pids $!"
export DBUS_SYSTEM_BUS_ADDRESS="$addr"

gen_node() { # N FILE
	awk -v n="$1" 'BEGIN {
		print "<node><cpu><mhz>2000</mhz><model>x86_64</model><active>4</active><nodes>1</nodes>" \
		      "<sockets>1</sockets><cores>4</cores><threads>1</threads></cpu><memory>16777216</memory>"
		for (i = 1; i <= n; i++)
			printf "<domain type=\"test\"><name>g%d</name><uuid>%08x-0000-4000-8000-%012x</uuid>" \
			       "<memory unit=\"MiB\">1024</memory><os><type arch=\"x86_64\" machine=\"pc-i440fx-7.2\">hvm</type></os></domain>\n", i, i, i
		print "</node>" }' > "$2"
}
sdir="$work/state"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then sdir=$(mktemp -d /dev/shm/bench-scale.XXXXXX); fi
val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
now_ns() { date +%s%N; }

echo "# bench-scale: mmiod --backend libvirt:test:///<node-N.xml>, private dbus-daemon $(dbus-daemon --version | head -1 | awk '{print $NF}'), Check for $secs s per cell"
echo "# $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %7s %7s %8s %8s %8s %8s %9s %6s %7s %6s %6s %8s %6s\n' guests ready_s drv_s rss_KiB hwm_KiB \
	drv_KiB own_KiB status_ms listed "chk/s" p50_us p99_us echo_p50 ratio
reserve_line=""
base_ready="" base_rss="" base_status="" base_p50=""
for n in $counts; do
	gen_node "$n" "$work/node-$n.xml"
	rm -rf "$sdir"; mkdir -p "$sdir"
	drv=""
	[ -x "$b/bench/libvirt-open" ] && drv=$("$b/bench/libvirt-open" "test://$work/node-$n.xml" 2>/dev/null || true)
	out=$(python3 "$top/bench/notify-ready.py" "$work/notify" "$work/mmiod-$n.log" -- \
		"$b/daemon/mmiod" --bus-address="$addr" --state-dir="$sdir" --config /dev/null \
		--catalogue "$top/data/profiles.ini" --backend "libvirt:test://$work/node-$n.xml") || {
		echo "# $n guests: mmiod did not become ready:"; tail -5 "$work/mmiod-$n.log"; continue; }
	mpid=$(val "$out" pid); ready=$(val "$out" ready_s)
	rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$mpid/status")
	listed=0 st=""
	for k in 1 2 3; do
		t0=$(now_ns)
		"$b/client/mmioctl" --json --timeout 120 status > "$work/status.json"
		t1=$(now_ns)
		st="$st $(( (t1 - t0) / 1000 ))"
	done
	listed=$(grep -o '"backend"' "$work/status.json" | wc -l)
	status_ms=$(echo $st | tr ' ' '\n' | sort -n | sed -n 2p | awk '{printf "%.1f", $1/1000}')
	# three alternating mmiod/echo rounds of SECONDS/3; the round with the
	# median mmiod p50 is reported, and the median echo p50 (the machine
	# is shared: alternation keeps both sides under the same load)
	ms="" es=""
	for r in 1 2 3; do
		ms="$ms
$("$b/bench/bench-dbus" "$addr" org.mmiod1 "g$n" profile:nvidia-t4 "$rsecs" 1 1)"
		es="$es
$("$b/bench/bench-dbus" "$addr" org.mmiod1bench.Echo "g$n" profile:nvidia-t4 "$rsecs" 1 1)"
	done
	m=$(echo "$ms" | sed '/^$/d' | awk '{for(i=1;i<=NF;i++) if($i ~ /^p50_us=/){split($i,a,"="); print a[2], $0}}' | sort -n | sed -n 2p | cut -d' ' -f2-)
	e=$(echo "$es" | sed '/^$/d' | awk '{for(i=1;i<=NF;i++) if($i ~ /^p50_us=/){split($i,a,"="); print a[2], $0}}' | sort -n | sed -n 2p | cut -d' ' -f2-)
	rv="" cv=""
	for k in 1 2 3 4 5; do
		t0=$(now_ns)
		"$b/client/mmioctl" check "g$n" bars:mem32:4K >/dev/null || true
		t1=$(now_ns)
		rid=$("$b/client/mmioctl" --json reserve "g$n" bars:mem32:4K | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
		t2=$(now_ns)
		[ -z "$rid" ] || "$b/client/mmioctl" release "g$n" "$rid" >/dev/null || true
		cv="$cv $(( (t1 - t0) / 1000 ))"; rv="$rv $(( (t2 - t1) / 1000 ))"
	done
	med() { echo $1 | tr ' ' '\n' | sort -n | sed -n 3p; }
	reserve_line="$reserve_line
# $n guests: reserve $(med "$rv") us, check $(med "$cv") us (mmioctl, start-up included), ratio $(awk -v a="$(med "$rv")" -v b="$(med "$cv")" 'BEGIN{printf "%.2f", a/b}')"
	hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$mpid/status")
	[ "$(val "$m" errors)" = 0 ] || echo "# $n guests: $(val "$m" errors) Check errors"
	drv_rss=$(val "$drv" rss_kib)
	printf '%-6s %7s %7s %8s %8s %8s %8s %9s %6s %7s %6s %6s %8s %6s\n' "$n" "$ready" "$(val "$drv" open_s)" "$rss" "$hwm" \
		"${drv_rss:--}" "$( [ -n "$drv_rss" ] && echo $((rss - drv_rss)) || echo -)" "$status_ms" "$listed" \
		"$(val "$m" calls_per_s)" "$(val "$m" p50_us)" "$(val "$m" p99_us)" "$(val "$e" p50_us)" \
		"$(awk -v a="$(val "$m" p50_us)" -v b="$(val "$e" p50_us)" 'BEGIN{printf "%.2f", a/b}')"
	if [ -z "$base_ready" ]; then
		base_n=$n base_ready=$ready base_rss=$rss base_status=$status_ms base_p50=$(val "$m" p50_us)
	else
		echo "#   vs $base_n guests: ready x$(awk -v a="$ready" -v b="$base_ready" 'BEGIN{printf "%.1f", a/b}')," \
			"rss x$(awk -v a="$rss" -v b="$base_rss" 'BEGIN{printf "%.2f", a/b}')," \
			"status x$(awk -v a="$status_ms" -v b="$base_status" 'BEGIN{printf "%.1f", a/b}')," \
			"Check p50 x$(awk -v a="$(val "$m" p50_us)" -v b="$base_p50" 'BEGIN{printf "%.2f", a/b}')"
	fi
	kill "$mpid"; i=0
	while kill -0 "$mpid" 2>/dev/null; do i=$((i+1)); [ $i -lt 200 ] || { kill -9 "$mpid"; break; }; sleep 0.05; done
	mpid=""
done
echo "# state saves (state dir ${sdir%/*}):$reserve_line"
echo "# targets: READY <= 2 s at 1000 guests; RSS <= 65536 KiB at 10000; Check p50 within 20% from the smallest to the largest N"
