#!/bin/sh
''''exec "$(dirname "$0")/run-py" "$0" "$@" # '''
# SPDX-License-Identifier: MIT
"""SIGHUP makes the running back ends the configured ones: with the back
ends in mmiod.conf (no --backend), a reload closes a back end that left the
file (its guests go away, their reservations are kept for their return) and
opens one that came; a broken file changes nothing; --backend on the command
line wins over the file, on a reload too."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import busctx as t  # noqa: E402
import qemuctx as q  # noqa: E402

why = q.missing_tools()
if why:
    t.skip_all(why)

env = t.Env()
d1, d2 = os.path.join(env.dir, "qmp1"), os.path.join(env.dir, "qmp2")
os.mkdir(d1)
os.mkdir(d2)
conf = os.path.join(env.dir, "mmiod.conf")
vm1 = q.Guest(env, "vm1", d1)
vm2 = q.Guest(env, "vm2", d2)


def write_conf(text):
    with open(conf, "w") as f:
        f.write(text)


def backends():
    return sorted(str(b) for b in env.prop(t.MANAGER_PATH, t.MANAGER, "Backends"))


def names():
    return sorted(str(p.get("Name")) for p in q.guests(env).values())


def reload_and_wait(want, what):
    env.daemon.send_signal(signal.SIGHUP)
    try:
        q.wait_for(lambda: backends() == want, 20, what)
        return True
    except TimeoutError:
        return False


try:
    write_conf("[daemon]\nbackends = qmp:%s\n" % d1)
    env.start_daemon("--config", conf)
    q.wait_guest(env, "vm1")
    mgr = env.manager()
    t.ok(backends() == ["qmp:" + d1] and names() == ["vm1"], "start: the back end of the file, its guest",
         (backends(), names()))
    rid = str(mgr.Reserve("vm1", ["bars:mem64p:256M"], {})[0])

    write_conf("[daemon]\nbackends = qmp:%s\n" % d2)
    t.ok(reload_and_wait(["qmp:" + d2], "qmp2 only"), "reload: the new back end replaces the old one",
         backends())
    q.wait_guest(env, "vm2")
    t.ok(names() == ["vm2"], "reload: vm1 went away with its back end, vm2 came", names())

    write_conf("[daemon]\nbackends = qmp:%s, qmp:%s\n" % (d1, d2))
    t.ok(reload_and_wait(sorted(["qmp:" + d1, "qmp:" + d2]), "both"), "reload: both back ends", backends())
    p1 = q.wait_guest(env, "vm1")
    t.ok(names() == ["vm1", "vm2"], "reload: both guests", names())
    t.ok([r[0] for r in q.reservations(env, p1)] == [rid],
         "vm1's reservation came back with its back end", q.reservations(env, p1))

    write_conf("[daemon]\nbackends = qmp:%s\nnonsense\n" % d1)
    env.daemon.send_signal(signal.SIGHUP)
    q.wait_for(lambda: conf + ":3:" in env.logtext(), 10, "the parse error logged")
    t.ok(backends() == sorted(["qmp:" + d1, "qmp:" + d2]), "a broken file changes nothing", backends())
    t.ok(env.daemon.poll() is None, "mmiod still runs")
    env.stop_daemon(signal.SIGTERM)

    # --backend wins over the file, on a reload too
    write_conf("[daemon]\nbackends = qmp:%s\n" % d1)
    env.start_daemon("--config", conf, "--backend", "qmp:" + d2)
    q.wait_guest(env, "vm2")
    before = env.logtext().count("SIGHUP: reloading")
    env.daemon.send_signal(signal.SIGHUP)
    q.wait_for(lambda: env.logtext().count("SIGHUP: reloading") > before, 10, "the second daemon's reload")
    t.ok(backends() == ["qmp:" + d2], "--backend on the command line wins over the file on reload",
         backends())
    env.stop_daemon(signal.SIGTERM)
    t.ok(env.daemon.returncode == 0, "clean exit")
finally:
    env.cleanup()
t.done()
