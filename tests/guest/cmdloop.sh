# The command channel of the test guest's init (tests/guest/init.sh) and the
# Xen rig's dom0 (tests/xen/dom0-init.sh), sourced by both as
# /lib/cmdloop.sh; tests/guest/rig.py's CommandChannel is the other end.
#
# serve_commands TTY TEXT...: announces "TEXT..." on TTY on a fresh line
# (the firmware may have left a partial one there: OVMF writes terminal
# escapes without a newline), then reads commands from it, one per line,
#
#     <id> <command> [text]
#
# runs each as `handle "<command> [text]"` (the caller's function) and
# frames the answer:
#
#     @@BEGIN <id>
#     ...output (stdout and stderr)...
#     @@END <id> rc=<status>
serve_commands() {
	tty=$1
	shift
	stty -F "$tty" 115200 raw -echo -icrnl -onlcr -opost 2>/dev/null
	exec 3<>"$tty"
	printf '\n%s\n' "$*" >&3
	while :; do
		if ! read -r id rest <&3; then
			usleep 100000
			continue
		fi
		[ -n "$id" ] || continue
		{
			echo "@@BEGIN $id"
			handle "$rest"
			echo "@@END $id rc=$?"
		} >&3 2>&1 </dev/null
	done
}
