#!/bin/sh
# SPDX-License-Identifier: MIT
# man/check-man.sh — each manual page formats without warnings (TAP).
# groff -ww turns on every warning; man --warnings adds man-db's own checks
# (the preprocessors a page asks for, line widths).  Any output is a failure.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
pages="mmioctl.1 mmiod.conf.5 mmiod-dbus.7 mmiod.8"
n=0
failed=0
echo "1..8"
for p in $pages; do
	f="$top_srcdir/man/$p"
	for tool in groff man; do
		n=$((n + 1))
		case $tool in
		groff)
			if ! command -v groff >/dev/null; then
				echo "ok $n - $p with groff # SKIP groff not installed"
				continue
			fi
			out=$(groff -ww -z -man "$f" 2>&1)
			;;
		man)
			if ! command -v man >/dev/null; then
				echo "ok $n - $p with man --warnings # SKIP man-db not installed"
				continue
			fi
			# a fixed width, so the result does not depend on the terminal
			out=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
			;;
		esac
		if [ -z "$out" ] && [ -s "$f" ]; then
			echo "ok $n - $p formats cleanly with $tool"
		else
			echo "not ok $n - $p formats cleanly with $tool"
			printf '%s\n' "$out" | sed 's/^/# /'
			failed=$((failed + 1))
		fi
	done
done
[ "$failed" -eq 0 ]
