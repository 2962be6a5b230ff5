#!/bin/bash
# SPDX-License-Identifier: MIT
# The bash completion: verbs, options per verb, and guest and profile names
# asked from "the daemon" — here a stand-in mmioctl that answers like the
# real one, because what is tested is the completion's logic, not mmiod.
. "$(dirname "$0")/lib.sh"

cat >"$TMP/mmioctl" <<'FAKE'
#!/bin/bash
for a; do
	case $a in
	list-guests) printf '%s\n' vm1 web-1 vm2 ;;
	profiles) printf '%s\n' 'nvidia-t4     bars:...  NVIDIA T4' 'nvme-generic  bars:...  NVMe' ;;
	esac
done
FAKE
chmod +x "$TMP/mmioctl"

# shellcheck source=/dev/null
. "$top_srcdir/completion/mmioctl"

# complete LINE: runs the completion function for LINE (cursor at its end)
# and leaves the candidates, sorted and space-separated, in $got.
complete_line()
{
	COMP_LINE="$TMP/mmioctl $1"
	COMP_POINT=${#COMP_LINE}
	COMP_WORDBREAKS=$' \t\n"\'><=;|&(:'
	COMPREPLY=()
	_mmioctl
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	got=${got% }
}

expect_completion()
{
	complete_line "$1"
	if [ "$got" = "$2" ]; then
		ok "complete \"$1\""
	else
		not_ok "complete \"$1\": got \"$got\", wanted \"$2\""
	fi
}

expect_completion "" "attach check detach metrics plan profiles release reserve status watch"
expect_completion "metrics --o" "--output"
expect_completion "re" "release reserve"
expect_completion "--json st" "status"
expect_completion "status " "vm1 vm2 web-1"
expect_completion "check w" "web-1"
expect_completion "attach vm1 --" "--bus-address --help --host --json --machine --no-ask-password --no-legend --no-wait --persistent --port --qemu-device --reservation --timeout --user --version"
expect_completion "-H root@h1 st" "status"
expect_completion "--machine c1 check w" "web-1"
expect_completion "check vm1 --r" "--refresh"
expect_completion "check vm1 --p" "--port"
expect_completion "reserve vm1 --l" "--label"
expect_completion "plan --guest " "vm1 vm2 web-1"
expect_completion "--timeout 5 check vm1 profile:nv" "nvidia-t4 nvme-generic"
expect_completion "check vm1 profile:nvid" "nvidia-t4"
# readline breaks words at ":" only, so what follows the last ":" is replaced
expect_completion "check vm1 bars:mem64p:16G,mem3" "16G,mem32: 16G,mem32p:"
expect_completion "attach vm1 bars:" "io: mem32: mem32p: mem64: mem64p: rom:"
expect_completion "release vm1 " ""
expect_completion "watch " ""
expect_completion "--timeout " ""

complete_line "check vm1 "
check "device position offers profile: and bars:" \
	bash -c '[[ " $1 " == *" profile: "* && " $1 " == *" bars: "* ]]' _ "$got"
# functions of one slot joined with '+': the last one completes as a device
expect_completion "check vm1 bars:mem32:4K+profile:nvid" "nvidia-t4"
expect_completion "check vm1 bars:mem64p:1G+bars:m" "mem32: mem32p: mem64: mem64p:"
complete_line "attach vm1 bars:io:4+"
check "after '+' a function: profile: and bars: again" \
	bash -c '[[ " $1 " == *" 4+profile: "* && " $1 " == *" 4+bars: "* ]]' _ "$got"

done_testing
