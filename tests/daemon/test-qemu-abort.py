#!/bin/sh
''''exec "$(dirname "$0")/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""mmiod killed mid-attach (MMIOD_TEST_ABORT_AT) against a real QEMU: on
restart an in-flight attach is kept as attached when the device is in the
guest and released when it is not, and the Windows say the same."""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import busctx as t  # noqa: E402
import qemuctx as q  # noqa: E402

env, qdir, vms, _ = q.qemu_env(wait=False)
vm = vms["vm1"]
D = t.dbus
SPEC = q.testdev_spec(q.M)
DEV_BYTES = 4096 + q.M


def state_attaches():
    try:
        with open(os.path.join(env.state_dir, "state.json")) as f:
            st = json.load(f)
    except (OSError, ValueError):
        return []
    return [a for g in st.get("guests", {}).values() for a in g.get("attaches", [])]


# What must happen, per step: "absent" = the device never reached QEMU and
# the hold is released; "present" = it is in QEMU and kept as attached;
# "either" = it depends on whether device_add left mmiod before the abort,
# and mmiod must agree with QEMU.
STEPS = (("while-saving", "absent"), ("before-toolstack", "absent"),
         ("during-toolstack", "either"), ("after-toolstack", "present"))

try:
    path = q.wait_guest(env, "vm1")
    env.stop_daemon(signal.SIGTERM)
    for step, expect in STEPS:
        known = {a["id"] for a in state_attaches()}
        q.start_qmp_daemon(env, qdir, extra_env={"MMIOD_TEST_ABORT_AT": step})
        path = q.wait_guest(env, "vm1")
        q.wait_for(lambda: q.attaches(env, path) == [], 10, "no attach in flight")
        before = q.windows(env, path)
        mgr = env.manager()
        try:
            mgr.Attach("vm1", SPEC, {"qemu-device": "pci-testdev,membar=1M", "wait": False}, timeout=60)
        except D.DBusException:
            pass        # the daemon may die before its reply leaves
        env.daemon.wait(30)
        t.ok(env.daemon.returncode == -signal.SIGABRT, "%s: mmiod aborted there (rc %s)" %
             (step, env.daemon.returncode), env.logtext()[-1500:])
        new = [a for a in state_attaches() if a["id"] not in known]
        if step == "while-saving":
            t.ok(new == [], "%s: the state file never saw the attach (written atomically)" % step, new)
            aid = None
        else:
            t.ok(len(new) == 1 and new[0]["state"] == "attaching",
                 "%s: the state file holds the attach in flight" % step, new)
            aid = new[0]["id"] if new else None

        q.start_qmp_daemon(env, qdir)
        path = q.wait_guest(env, "vm1")
        # reconciliation runs when the guest's layout arrives
        q.wait_for(lambda: q.attaches(env, path) == [], 15, "reconciliation")
        present = aid is not None and vm.device(aid) is not None
        if expect != "either":
            t.ok(present == (expect == "present"), "%s: the device is %s in QEMU" % (step, expect),
                 [d.get("qdev_id") for d in vm.pci_devices()])
        after = q.windows(env, path)
        rows = [d for d in q.devices(env, path) if aid and d[0] == aid]
        recs = [a for a in state_attaches() if aid and a["id"] == aid]
        if present:
            t.ok(len(rows) == 3 and q.total_free(before) - q.total_free(after) == DEV_BYTES,
                 "%s: device in the guest -> kept as attached (Devices, Windows count it)" % step,
                 (rows, before, after))
            t.ok(len(recs) == 1 and recs[0]["state"] == "attached",
                 "%s: the state file says attached" % step, recs)
        else:
            t.ok(rows == [] and after == before,
                 "%s: device not in the guest -> hold released, Windows as before" % step,
                 (rows, before, after))
            t.ok(recs == [], "%s: the state file forgot the attach" % step, recs)
        if aid:
            log = env.logtext()
            said = ("attach %s of %s was in flight and the device is in the guest: kept as attached"
                    % (aid, SPEC)) in log if present else \
                ("attach %s of %s (attaching) is not in the guest: released" % (aid, SPEC)) in log
            t.ok(said, "%s: the reconciliation is logged" % step, log[-1500:])
        env.stop_daemon(signal.SIGTERM)
except Exception as e:
    import traceback
    t.ok(False, "unexpected exception: %s" % e, traceback.format_exc() + "\n" + env.logtext()[-3000:])
t.done()
