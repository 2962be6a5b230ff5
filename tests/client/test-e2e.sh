#!/bin/bash
# SPDX-License-Identifier: MIT
# mmioctl against the real mmiod on a private bus, with a real QEMU guest
# under the QMP back end when QEMU is installed.  Every verb, --json parsed
# field by field, and the exit codes the daemon's answers map to.
. "$(dirname "$0")/lib.sh"

[ -x "$MMIOD" ] || skip_all "mmiod not built ($MMIOD)"
PY=$(command -v python3) || skip_all "python3 not installed"

start_bus
mkdir -p "$TMP/qmp" "$TMP/state"

# jq-like field checks without jq: json_eq FILE EXPR WANT evaluates the
# Python expression EXPR over the parsed document `d`.
json_eq()
{
	local got
	got=$("$PY" -c 'import json,sys; d=json.loads(sys.stdin.read()); print(json.dumps(eval(sys.argv[1])))' "$2" <<<"$1" 2>&1)
	if [ "$got" = "$3" ]; then
		ok "json: $2 == $3"
	else
		not_ok "json: $2 == $3 (got $got)"
	fi
}

# A paused QEMU guest (no firmware runs: -S) whose QMP socket mmiod finds.
QEMU=$(command -v qemu-system-x86_64)
start_guest()
{
	"$QEMU" -machine pc -accel tcg -nographic -nic none -display none -name "$1" \
		-qmp "unix:$TMP/qmp/$1.sock,server=on,wait=off" -S \
		>"$TMP/qemu-$1.log" 2>&1 </dev/null &
	track_pid $!
	eval "qemu_$1=$!"
	for _ in $(seq 100); do [ -S "$TMP/qmp/$1.sock" ] && return 0; sleep 0.05; done
	return 1
}

start_daemon()
{
	"$MMIOD" --bus-address="$DBUS_SYSTEM_BUS_ADDRESS" --state-dir="$TMP/state" \
		--backend "qmp:$TMP/qmp" --catalogue="$top_srcdir/data/profiles.ini" \
		--config="$(harness_conf)" >>"$TMP/mmiod.log" 2>&1 &
	mmiod_pid=$!
	track_pid $mmiod_pid
	# ready means the Version property answers: no sleeps for luck
	for _ in $(seq 200); do
		busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" get-property org.mmiod1 /org/mmiod1 \
			org.mmiod1.Manager Version >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

stop_daemon()
{
	kill -TERM "$mmiod_pid" 2>/dev/null
	wait "$mmiod_pid" 2>/dev/null
}

have_guest=false
if [ -n "$QEMU" ] && start_guest vm1; then
	have_guest=true
else
	diag "no QEMU: guest tests are skipped"
fi
check "mmiod starts and answers" start_daemon || { cat "$TMP/mmiod.log"; done_testing; exit; }

# The guest shows up once the back end has read it.
if $have_guest; then
	for _ in $(seq 100); do
		ctl --no-legend list-guests
		grep -qx vm1 <<<"$out" && break
		sleep 0.1
	done
	if ! grep -qx vm1 <<<"$out"; then
		diag "vm1 did not appear (QMP back end not ready?):" "$(tail -5 "$TMP/mmiod.log")"
		have_guest=false
	fi
fi

# ---- read verbs -------------------------------------------------------------
expect 0 "status (default verb)"
expect 0 "status --json" --json status
json_eq "$out" 'type(d["guests"]).__name__' '"list"'
expect 0 "profiles" profiles
check "profiles lists nvidia-t4" grep -q '^nvidia-t4 ' <<<"$out"
check "profiles has a header" grep -q '^PROFILE ' <<<"$out"
expect 0 "profiles --no-legend" --no-legend profiles
check "--no-legend drops the header" bash -c '! grep -q "^PROFILE" <<<"$1"' _ "$out"
expect 0 "profiles --json" --json profiles
json_eq "$out" '[p for p in d["profiles"] if p["name"] == "nvidia-t4"][0]["bars"]' '"bars:mem32:16M,mem64p:256M,mem64p:32M"'
json_eq "$out" 'sorted(d["profiles"][0].keys())' '["bars", "description", "name", "source"]'

# ---- -H: sd-bus's remote transport ------------------------------------------------
# sd-bus runs `ssh -xT -- [USER@]HOST systemd-stdio-bridge`; an ssh on PATH
# that logs its arguments and runs the bridge to this test's bus stands in
# for the remote host (tests/host does the same over a real sshd).
if command -v systemd-stdio-bridge >/dev/null; then
	mkdir -p "$TMP/fakessh"
	cat >"$TMP/fakessh/ssh" <<-FAKE
	#!/bin/sh
	printf '%s\n' "\$*" >>"$TMP/ssh.args"
	[ "\$3" = unreachable ] && { echo "ssh: connect to host unreachable port 22: Connection refused" >&2; exit 255; }
	exec systemd-stdio-bridge --bus-path="$DBUS_SYSTEM_BUS_ADDRESS"
	FAKE
	chmod +x "$TMP/fakessh/ssh"
	PATH="$TMP/fakessh:$PATH" ctl -H admin@host2 --json status
	check "-H admin@host2 status (exit $rc)" test "$rc" -eq 0
	json_eq "$out" 'type(d["guests"]).__name__' '"list"'
	check "-H ran ssh -xT -- admin@host2 systemd-stdio-bridge" \
		grep -qx -- '-xT -- admin@host2 systemd-stdio-bridge' "$TMP/ssh.args"
	PATH="$TMP/fakessh:$PATH" ctl --host=unreachable status
	check "--host to a host ssh cannot reach: exit 3 (got $rc)" test "$rc" -eq 3
	check "--host failure names the host" grep -q 'not reachable on unreachable' <<<"$err"
else
	diag "no systemd-stdio-bridge: -H skipped"
fi

# ---- unknown guest, unknown profile: invalid input, exit 2 --------------------
expect 2 "check an unknown guest" check no-such-vm bars:mem32:4K
check "unknown guest: one line, D-Bus name stripped" bash -c \
	'[[ $1 == "mmioctl: check: "* && $1 != *org.mmiod1* && $(wc -l <<<"$1") -eq 1 ]]' _ "$err"
expect 2 "status of an unknown guest" status no-such-vm
expect 2 "attach to an unknown guest" --no-ask-password attach no-such-vm bars:mem32:4K
expect 2 "release in an unknown guest" release no-such-vm r1
if $have_guest; then
	expect 2 "unknown profile" check vm1 profile:no-such-profile
	check "unknown profile named" grep -q 'no-such-profile' <<<"$err"
	expect 2 "release of an unknown reservation" release vm1 no-such-reservation
	expect 2 "detach of a device never attached" detach vm1 0000:7f:1f.7
fi

# ---- plan ---------------------------------------------------------------------
ctl plan bars:mem64p:64G
if [ "$rc" -eq 4 ] && grep -q 'no planner' <<<"$err"; then
	ok "plan # SKIP this mmiod has no planner yet"
else
	check "plan answers (exit $rc)" test "$rc" -eq 0
	check "plan prints configuration lines" grep -qE '^(xl.cfg|QEMU|libvirt domain XML):' <<<"$out"
	expect 0 "plan --json" --json plan bars:mem64p:64G bars:mem32:512M
	json_eq "$out" 'd["possible"]' 'true'
	json_eq "$out" 'all(d[k] is None or isinstance(d[k], int) for k in ("mmio_hole_mib", "high_window_bytes", "pci_hole64_bytes", "low_bytes_needed"))' 'true'
	json_eq "$out" 'any(isinstance(d[k], int) for k in ("mmio_hole_mib", "pci_hole64_bytes"))' 'true'
	json_eq "$out" 'bool(d["xl_cfg"] or d["qemu_args"] or d["libvirt_xml"])' 'true'
	json_eq "$out" 'sorted(d.keys())' '["high_window_bytes", "libvirt_xml", "low_bytes_needed", "mmio_hole_mib", "ovmf_libvirt_xml", "ovmf_mmio64_mb", "ovmf_qemu_args", "pci_hole64_bytes", "possible", "qemu_args", "reason", "xl_cfg"]'
fi

# ---- a real guest ------------------------------------------------------------
if $have_guest; then
	expect 0 "status vm1" status vm1
	check "status vm1 shows the guest" grep -q '^Guest: *vm1' <<<"$out"
	check "status vm1: sizes in binary units" grep -qE '[0-9] (KiB|MiB|GiB)' <<<"$out"
	check "status piped: no free-space bar" bash -c '! grep -q "\[[#.]*\]" <<<"$1"' _ "$out"
	if command -v script >/dev/null; then
		tty_out=$(script -qec "$(printf '%q ' "$MMIOCTL" status vm1)" /dev/null </dev/null 2>&1)
		check "status on a terminal (pty): a free-space bar on every window line" \
			test "$(grep -cE '^(low|high|I/O) .*\[[#.]{20}\]' <<<"$tty_out")" -eq "$(grep -cE '^(low|high|I/O) ' <<<"$tty_out")" -a \
			"$(grep -cE '^(low|high|I/O) ' <<<"$tty_out")" -gt 0
	fi
	expect 0 "status --json vm1" --json status vm1
	json_eq "$out" 'len(d["guests"])' '1'
	json_eq "$out" 'd["guests"][0]["id"]' '"vm1"'
	json_eq "$out" 'd["guests"][0]["backend"].startswith("qmp:")' 'true'
	json_eq "$out" 'sorted({w["kind"] for w in d["guests"][0]["windows"]}) <= ["high", "io", "low"]' 'true'
	json_eq "$out" 'all(w["size"] == w["end"] - w["start"] and 0 <= w["largest_free"] <= w["free"] <= w["size"] for w in d["guests"][0]["windows"])' 'true'
	json_eq "$out" 'all(isinstance(w[k], int) for w in d["guests"][0]["windows"] for k in ("start", "end", "size", "free", "largest_free"))' 'true'
	json_eq "$out" 'sorted(d["guests"][0].keys())' '["attaches", "backend", "can_attach", "cannot_attach_reason", "devices", "id", "name", "ports", "reservations", "stale", "unresponsive", "unresponsive_reason", "unresponsive_since", "uuid", "windows"]'

	expect 0 "check a small device fits" check vm1 bars:mem32:4K
	check "check says fits" grep -q '^vm1: fits' <<<"$out"
	expect 0 "check --refresh" check --refresh vm1 bars:mem32:4K
	expect 0 "check --json" --json check vm1 bars:mem32:16M,io:32
	json_eq "$out" 'd["fits"]' 'true'
	json_eq "$out" 'd["reason"]' '""'
	json_eq "$out" 'len(d["placement"])' '2'
	json_eq "$out" '[p["kind"] for p in d["placement"]]' '["mem32", "io"]'
	json_eq "$out" '[p["window"] for p in d["placement"]]' '["low", "io"]'
	json_eq "$out" 'd["placement"][0]["size"]' '16777216'
	json_eq "$out" 'd["placement"][0]["address"] % 16777216' '0'
	json_eq "$out" 'all(p["placed"] for p in d["placement"])' 'true'
	json_eq "$out" '"advice" in d' 'false'

	# far more than a pc machine's windows can take
	expect 1 "check a device that cannot fit" check vm1 bars:mem32:2G,mem32:2G
	check "does not fit, with the reason" grep -q '^vm1: does not fit: ' <<<"$out"
	expect 1 "check --json, does not fit" --json check vm1 bars:mem32:2G,mem32:2G
	json_eq "$out" 'd["fits"]' 'false'
	json_eq "$out" 'len(d["reason"]) > 0' 'true'
	json_eq "$out" 'any(not p["placed"] and p["address"] is None and p["window"] is None for p in d["placement"])' 'true'
	json_eq "$out" '"advice" in d' 'true'

	# reserve / release
	expect 0 "reserve" --json reserve --label "for the GPU" vm1 bars:mem32:1M
	rid=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$out" 2>/dev/null)
	check "reserve returns an id" test -n "$rid"
	json_eq "$out" 'd["label"]' '"for the GPU"'
	json_eq "$out" 'd["placement"][0]["size"]' '1048576'
	expect 0 "the reservation shows in status" --json status vm1
	json_eq "$out" '[r["label"] for r in d["guests"][0]["reservations"] if r["id"] == "'"$rid"'"]' '["for the GPU"]'
	expect 0 "release" release vm1 "$rid"
	expect 2 "release twice" release vm1 "$rid"
	expect 1 "reserve what cannot fit (NoSpace)" reserve vm1 bars:mem32:2G,mem32:2G
	check "NoSpace: one line, no D-Bus name" bash -c '[[ $1 == "mmioctl: reserve: "* && $1 != *org.mmiod1* ]]' _ "$err"

	# attach / detach through QMP device_add / device_del
	# pci-testdev: BAR0 mem32 4K, BAR1 io 256, BAR2 mem64p "membar"
	expect 0 "attach with --qemu-device" --json attach --qemu-device pci-testdev,membar=1M vm1 bars:mem32:4K,io:256,mem64p:1M
	aid=$("$PY" -c 'import json,sys; print(json.load(sys.stdin)["attach_id"])' <<<"$out" 2>/dev/null)
	check "attach returns an attach id" test -n "$aid"
	json_eq "$out" 'd["finished"]' 'true'
	expect 1 "attach refused for lack of space" attach --qemu-device pci-testdev vm1 bars:mem32:2G,mem32:2G
	# A paused guest (-S) never ejects the device, so a detach may not
	# finish here; only a completed one is a pass, anything else a skip.
	# It runs on a terminal (a pty from script(1)): the spinner with the
	# elapsed time must show on it while mmioctl waits, and be wiped after.
	if command -v script >/dev/null; then
		tty_out=$(script -qec "$(printf '%q ' "$MMIOCTL" --timeout 5 detach vm1 "$aid")" /dev/null </dev/null 2>&1)
		rc=$?
		err=$(tr -d '\r' <<<"$tty_out" | sed 's/\x1b\[K/\n/g' | grep -o 'mmioctl: .*' | tail -1 || true)
		if [ "$rc" -ne 0 ]; then
			check "detach on a terminal: the spinner with the elapsed time" \
				grep -qE $'\r[|/\\-] detach [^ ]+ from vm1 \\([0-9]+\\.[0-9] s\\)' <<<"$tty_out"
			check "detach on a terminal: the spinner line is wiped before the message" \
				grep -qF $'\r\x1b[Kmmioctl: detach' <<<"$tty_out"
		fi
	else
		ctl --timeout 5 detach vm1 "$aid"
	fi
	if [ "$rc" -eq 0 ]; then
		ok "detach by attach id"
	else
		ok "detach by attach id # SKIP did not finish on a paused guest (exit $rc: $err)"
	fi
	expect 0 "attach --no-wait" attach --no-wait --qemu-device pci-testdev,membar=4K vm1 bars:mem32:4K,io:256,mem64p:4K
	check "--no-wait says admitted" grep -q '^Admitted ' <<<"$out"
fi

# ---- watch --------------------------------------------------------------------
"$MMIOCTL" --json watch >"$TMP/watch.out" 2>"$TMP/watch.err" &
watch_pid=$!
track_pid $watch_pid
# watch is live once its five match rules are in (it adds them before its
# first call): the bus daemon's statistics say so; a bus without them gets
# a moment instead
watch_live() {
	local name n
	for _ in $(seq 600); do
		for name in $(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" --no-pager list --no-legend 2>/dev/null |
			awk -v p="$1" '$2 == p && $1 ~ /^:/ { print $1 }'); do
			n=$(busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" call org.freedesktop.DBus /org/freedesktop/DBus \
				org.freedesktop.DBus.Debug.Stats GetConnectionStats s "$name" 2>/dev/null |
				grep -o '"MatchRules" u [0-9]*' | awk '{ print $3 }')
			[ -n "$n" ] || { sleep 0.5; return 0; }
			[ "$n" -ge 5 ] && return 0
		done
		sleep 0.05
	done
	return 1
}
check "watch: its match rules are in" watch_live "$watch_pid"
if $have_guest && start_guest vm2; then
	for _ in $(seq 300); do grep -q '"guest-added"' "$TMP/watch.out" && break; sleep 0.1; done
	check "watch: guest-added for vm2" grep -q '"event":"guest-added","guest":"vm2"' "$TMP/watch.out"
	kill -TERM "$qemu_vm2"
	for _ in $(seq 300); do grep -q '"guest-removed"' "$TMP/watch.out" && break; sleep 0.1; done
	check "watch: guest-removed for vm2" grep -q '"event":"guest-removed","guest":"vm2"' "$TMP/watch.out"
fi
stop_daemon
for _ in $(seq 100); do grep -q daemon-stopped "$TMP/watch.out" && break; sleep 0.05; done
check "watch: daemon-stopped when mmiod exits" grep -qx '{"event":"daemon-stopped"}' "$TMP/watch.out"
check "watch: every line is JSON" "$PY" -c '
import json, sys
for line in open(sys.argv[1]):
    json.loads(line)' "$TMP/watch.out"
kill -INT "$watch_pid"
wait "$watch_pid"
check "watch: SIGINT ends it with exit 0" test $? -eq 0
check "watch: nothing on stderr" test ! -s "$TMP/watch.err"

# ---- daemon gone --------------------------------------------------------------
expect 3 "after mmiod stopped" status
check "the one sentence" test "$err" = "$NOT_RUNNING"

done_testing
