#!/bin/sh
# /init of the mmiod test guest (busybox-static).  Installed by build-initramfs.
#
# Console (ttyS0) gets the kernel log and a boot summary.  Commands are read
# from the second serial port (ttyS1, "command channel"; mmiod.cmdtty=TTY on
# the kernel command line names another), one per line:
#
#     <id> <command> [args...]
#
# and each answer is framed (/lib/cmdloop.sh, tests/guest/cmdloop.sh):
#
#     @@BEGIN <id>
#     ...payload lines...
#     @@END <id> rc=<status>
#
# The guest announces itself once with "@@READY <kernel-release>".
# Commands: ping, windows, dump, klog, klogall, rescan, enable BDF,
# disable BDF, remove BDF, waitdev BDF [secs], waitgone BDF [secs],
# sh <shell words...>, poweroff.
#
# Payload line formats (dump):
#   @DEV <bdf> <vendor>:<device> class=<class> driver=<name|-> enable=<n>
#   @RES <bdf> <index> <start> <end> <flags>     (sysfs "resource", all lines)
#   @CFG <bdf> <hex bytes of config space 0x00..0x3f>
#   @KLOG <kernel log line>                       (new since the last dump/klog)

PATH=/bin:/sbin
export PATH
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp
dmesg -n 1

if [ -f /lib/modules/load-order ]; then
    for m in $(cat /lib/modules/load-order); do
        insmod /lib/modules/$m || echo "init: insmod $m failed"
    done
fi

KLOG_RE='no space for|failed to assign|can.t assign|BAR|bridge window|root bus resource|acpiphp|pciehp|PCI|pci '

windows() {
    echo "# uname"
    uname -r
    echo "# cmdline"
    cat /proc/cmdline
    echo "# dmesg root bus resource / host bridge / e820"
    dmesg | grep -E 'root bus resource|host bridge window|E820|e820|PCI: Using|PCIBIOS|pci_bus 0000:00|MMCONFIG|ECAM|Hotplug|hotplug'
    echo "# /proc/iomem"
    cat /proc/iomem
    echo "# /proc/ioports"
    cat /proc/ioports
}

KLOG_SEEN=0
klog_new() {
    dmesg > /tmp/dmesg.all
    n=$(wc -l < /tmp/dmesg.all)
    if [ "$n" -gt "$KLOG_SEEN" ]; then
        tail -n +$((KLOG_SEEN + 1)) /tmp/dmesg.all | grep -E "$KLOG_RE" | sed 's/^/@KLOG /'
    fi
    KLOG_SEEN=$n
}

dump() {
    for d in /sys/bus/pci/devices/*; do
        [ -e "$d/vendor" ] || continue
        b=${d##*/}
        drv=-
        [ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
        en=$(cat "$d/enable" 2>/dev/null)
        echo "@DEV $b $(cut -c3- "$d/vendor"):$(cut -c3- "$d/device") class=$(cat "$d/class") driver=$drv enable=$en"
        i=0
        while read -r s e f; do
            echo "@RES $b $i $s $e $f"
            i=$((i + 1))
        done < "$d/resource"
        echo "@CFG $b $(od -An -tx1 -v -N64 "$d/config" | tr -d ' \n')"
    done
    klog_new
}

waitfor() { # $1 = present|gone, $2 = bdf, $3 = seconds
    t=$((${3:-20} * 10))
    while [ $t -gt 0 ]; do
        if [ "$1" = present ]; then
            [ -e "/sys/bus/pci/devices/$2" ] && return 0
        else
            [ -e "/sys/bus/pci/devices/$2" ] || return 0
        fi
        usleep 100000
        t=$((t - 1))
    done
    return 1
}

. /lib/cmdloop.sh

# handle "COMMAND ARGS": ARGS split into words
handle() {
    set -- $1
    cmd=$1
    shift
    case "$cmd" in
        ping) echo pong ;;
        windows) windows ;;
        dump) dump ;;
        klog) klog_new ;;
        klogall) dmesg ;;
        rescan) echo 1 > /sys/bus/pci/rescan ;;
        enable) echo 1 > "/sys/bus/pci/devices/$1/enable" ;;
        disable) echo 0 > "/sys/bus/pci/devices/$1/enable" ;;
        remove) echo 1 > "/sys/bus/pci/devices/$1/remove" ;;
        waitdev) waitfor present "$1" "$2" ;;
        waitgone) waitfor gone "$1" "$2" ;;
        sh) eval "$*" ;;
        poweroff) sync; poweroff -f ;;
        *) echo "unknown command: $cmd"; return 127 ;;
    esac
}

echo "=== mmiod guest: $(uname -r) ==="
windows | grep -E 'root bus resource|host bridge window|PCI: Using'

# mmiod.cmdtty=hvc0 on the kernel command line moves the command channel
# (tests/xen: a Xen PV console, where every byte on an emulated serial port
# is a round trip to the device model in dom0).
CMDTTY=/dev/ttyS1
for a in $(cat /proc/cmdline); do
    case "$a" in mmiod.cmdtty=*) CMDTTY=/dev/${a#mmiod.cmdtty=} ;; esac
done
if [ ! -c $CMDTTY ]; then
    echo "init: no $CMDTTY; using console"
    CMDTTY=/dev/console
fi
serve_commands $CMDTTY "@@READY $(uname -r)"
