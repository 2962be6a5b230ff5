#!/bin/sh
# bench/bench-dbus.sh — Check throughput and latency of mmiod over D-Bus,
# against an in-run baseline: a trivial sd-bus echo service with the same
# method signature and reply shape, on the same private bus, driven by the
# same client (bench/bench-dbus).  Prints mmiod / echo ratios.
#
#   bench/bench-dbus.sh [SECONDS]      (run from the build directory)
#
# Needs qemu-system-x86_64 (one TCG guest, stopped before firmware, gives
# mmiod a real QMP back end).  dbus-broker is used too when it can be
# launched here (dbus-broker-launch needs systemd as PID 1).
set -eu
secs=${1:-3}
b=$(pwd)
work=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT INT TERM

mkdir -p "$work/qmp" "$work/state"
qemu-system-x86_64 -machine pc -accel tcg -m 512 -nographic -display none -nic none -S \
	-name vm1 -qmp "unix:$work/qmp/vm1.sock,server=on,wait=off" >/dev/null 2>&1 &
pids="$pids $!"

dbus-daemon --config-file="${top_srcdir:-$b/..}/bench/bench-bus.conf" --address="unix:path=$work/bus.sock" \
	--nofork & pids="$pids $!"
addr="unix:path=$work/bus.sock"
i=0; until [ -S "$work/bus.sock" ]; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.05; done

"$b/daemon/mmiod" --bus-address="$addr" --state-dir="$work/state" --backend "qmp:$work/qmp" \
	--catalogue "${top_srcdir:-$b/..}/data/profiles.ini" 2>"$work/mmiod.log" & pids="$pids $!"
"$b/bench/echo-service" "$addr" org.mmiod1bench.Echo & pids="$pids $!"
export DBUS_SYSTEM_BUS_ADDRESS="$addr"
i=0; until "$b/client/mmioctl" check vm1 profile:nvidia-t4 >/dev/null 2>&1; do
	i=$((i+1)); [ $i -lt 200 ] || { cat "$work/mmiod.log"; exit 1; }; sleep 0.05; done

rounds=${BENCH_ROUNDS:-3}
echo "# bench-dbus: Check(vm1, [profile:nvidia-t4]) through a private dbus-daemon $(dbus-daemon --version | head -1 | awk '{print $NF}')"
echo "# each cell: $rounds alternating rounds of mmiod then echo, $secs s each; medians shown"
echo "# $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%Y-%m-%d), command: bench/bench-dbus.sh $secs"
printf '%-22s %12s %8s %8s %12s %8s %8s %8s\n' "clients x in-flight" "mmiod/s" "p50 us" "p99 us" "echo/s" "p50 us" "p99 us" "ratio"
val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for cfg in "1 1" "4 1" "1 16" "4 4"; do
	set -- $cfg
	: > "$work/m"; : > "$work/e"
	r=0
	while [ $r -lt "$rounds" ]; do
		"$b/bench/bench-dbus" "$addr" org.mmiod1 vm1 profile:nvidia-t4 "$secs" "$1" "$2" >> "$work/m"
		"$b/bench/bench-dbus" "$addr" org.mmiod1bench.Echo vm1 profile:nvidia-t4 "$secs" "$1" "$2" >> "$work/e"
		r=$((r + 1))
	done
	col() { while read -r l; do val "$l" "$2"; done < "$1" | median; }
	mc=$(col "$work/m" calls_per_s); ec=$(col "$work/e" calls_per_s)
	printf '%-22s %12s %8s %8s %12s %8s %8s %8s\n' "$1 x $2" \
		"$mc" "$(col "$work/m" p50_us)" "$(col "$work/m" p99_us)" \
		"$ec" "$(col "$work/e" p50_us)" "$(col "$work/e" p99_us)" \
		"$(awk -v a="$mc" -v b="$ec" 'BEGIN{printf "%.2f", a/b}')"
done
if [ "$(ps -p 1 -o comm= 2>/dev/null)" != systemd ]; then
	echo "# dbus-broker: not measured (dbus-broker-launch needs systemd as PID 1 to start a bus)"
fi
