#!/bin/sh
# /init of the Xen rig's dom0 (a PV dom0 on Xen nested in QEMU; built by
# tests/xen/xenrig.py).  Starts what a Xen host runs (xenstored,
# xen-init-dom0, xenconsoled), then answers commands on the agent channel,
# one per line:
#
#     <id> <command> [text]
#
# each answer framed as the test guest's (/lib/cmdloop.sh, tests/guest/cmdloop.sh):
#
#     @@BEGIN <id>
#     ...output...
#     @@END <id> rc=<status>
#
# Commands: sh TEXT (eval'd in a subshell), put PATH BASE64 (writes a
# file), chat and expect (below: with the HVM guests' command channels and
# the rig's QMP monitors), poweroff.
# The first line dom0 writes there is "@@READY dom0 <kernel> problems: ...".

PATH=/usr/lib/xen-4.17/bin:/opt/mmiod/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp /var/lib/xen /var/lib/xenstored /var/log/xen /var/lock
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
ln -sf /run /var/run
mkdir -p /run/xen /run/xenstored /run/rig
dmesg -n 1

problems=""
for m in $(cat /lib/modules/load-order); do
	insmod "/lib/modules/$m" || problems="$problems insmod:$m"
done
mount -t xenfs xenfs /proc/xen || problems="$problems xenfs"
ip link set lo up 2>/dev/null

xenstored --pid-file /run/xenstored.pid >/var/log/xen/xenstored.out 2>&1 ||
	problems="$problems xenstored"
xen-init-dom0 >/var/log/xen/xen-init-dom0.log 2>&1 || problems="$problems xen-init-dom0"
xenconsoled --pid-file=/run/xenconsoled.pid >/var/log/xen/xenconsoled.out 2>&1 ||
	problems="$problems xenconsoled"
xenstore-read /local/domain/0/name >/dev/null 2>&1 || problems="$problems xenstore-read"

# chat BASE SECONDS LINE: LINE to BASE.in, then BASE.out's lines until the
# reply ends: "@@END <id>" for a guest command ("<id> <cmd>" lines), a
# "return" or "error" object for QMP (lines starting with "{").
# expect BASE SECONDS PATTERN: BASE.out's lines until one matches PATTERN.
# Both fail (124) when the end does not come within SECONDS.
readuntil() {
	secs=$1 endpat=$2
	end=$(($(date +%s) + secs))
	while :; do
		left=$((end - $(date +%s)))
		[ "$left" -gt 0 ] || { echo "@@TIMEOUT after $secs s"; return 124; }
		IFS= read -r -t "$left" reply <&7 || continue
		reply=$(printf '%s' "$reply" | tr -d '\r')
		printf '%s\n' "$reply"
		printf '%s\n' "$reply" | grep -Eq "$endpat" && return 0
	done
}

# A channel is a FIFO pair BASE.in/BASE.out (QEMU's pipe chardev) or a
# terminal (a guest's PV console, the pty xenconsoled made).
chan_open() {
	if [ -p "$1.out" ]; then
		exec 7<>"$1.out" 8>"$1.in"
	else
		exec 7<>"$1" 8>&7
	fi
}

chat() {
	base=${1%% *}
	rest=${1#* }
	secs=${rest%% *}
	line=${rest#* }
	case "$line" in
	"{"*) endpat='"return"|"error"' ;;
	*) endpat="^@@END ${line%% *} " ;;
	esac
	chan_open "$base"
	printf '%s\n' "$line" >&8
	readuntil "$secs" "$endpat"
	rc=$?
	exec 7<&- 8>&-
	return $rc
}

expect() {
	base=${1%% *}
	rest=${1#* }
	chan_open "$base"
	readuntil "${rest%% *}" "${rest#* }"
	rc=$?
	exec 7<&- 8>&-
	return $rc
}

. /lib/cmdloop.sh

# handle "COMMAND TEXT": TEXT as the command takes it (not split by the shell)
handle() {
	cmd=${1%% *}
	rest=
	case "$1" in *" "*) rest=${1#* } ;; esac
	case "$cmd" in
	sh) (eval "$rest") ;;
	put) printf '%s' "${rest#* }" | base64 -d >"${rest%% *}" ;;
	chat) chat "$rest" ;;
	expect) expect "$rest" ;;
	poweroff) sync; poweroff -f ;;
	*) echo "unknown command: $cmd"; return 127 ;;
	esac
}

echo "=== mmiod xen rig dom0: $(uname -r), problems:${problems:- none} ==="
cat /proc/tty/driver/serial
dmesg | grep -iE 'tty|serial|8250|virtio'
# a shell on the console for a person (xenrig.py: console.sock)
setsid sh -c 'while :; do sh </dev/hvc0 >/dev/hvc0 2>&1; done' &
serve_commands /dev/ttyS1 "@@READY dom0 $(uname -r) problems:${problems:- none}"
