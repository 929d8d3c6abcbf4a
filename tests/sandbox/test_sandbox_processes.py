"""Sandbox probes, processes and namespaces: what a build can see of the host's processes, which
namespaces it gets, and what it shares with the host (the kernel, host-wide /proc files)."""

from __future__ import annotations

import os
import pwd
import uuid
from pathlib import Path

import pytest
from snix_sandbox_helpers import NAMESPACES, Sandbox, host_namespaces, processes_with_arg

from pytest_snixbuild.oci.subuid import FALLBACK_SUBORDINATE_ID

pytestmark = pytest.mark.snix_runc


def test_only_the_builds_processes_are_visible(sandbox: Sandbox) -> None:
    script = """
    sleep 1000 &
    # wait (at most ~5 s) until the child has exec'd sleep: until then it is a copy of the shell
    i=0
    until tr '\\0' ' ' < /proc/$!/cmdline | grep -q '^sleep' || [ $i -ge 500 ]; do
        sleep 0.01; i=$((i + 1))
    done
    for p in /proc/[0-9]*; do
        echo "${p#/proc/} $(tr '\\0\\n' '  ' < $p/cmdline)" >> $out/processes
    done
    try kill_host "kill -0 $hostpid"
    try proc_host "ls /proc/$hostpid"
    kill $!
    """
    host_pid = os.getpid()
    probe = sandbox.probe(script, env={"hostpid": str(host_pid)})
    processes = dict(line.split(" ", 1) for line in probe.lines("processes"))
    # PID 1 is the build itself
    assert processes["1"].startswith("/bin/sh -c set -u")
    # everything else is the build's own: its background sleep, and the shell and tr of the loop
    others = sorted(cmd.split(" ")[0] for pid, cmd in processes.items() if pid != "1")
    assert set(others) <= {"sleep", "/bin/sh", "tr", ""}, processes
    assert "sleep" in others
    assert len(processes) <= 5, processes
    assert str(host_pid) not in processes
    kill = probe.attempt("kill_host")
    assert kill.rc != 0 and "No such process" in kill.err, kill
    assert probe.attempt("proc_host").rc != 0


def test_namespaces_differ_from_the_hosts(sandbox: Sandbox) -> None:
    script = "".join(f'echo "{n} $(readlink /proc/self/ns/{n})" >> $out/ns\n' for n in NAMESPACES)
    probe = sandbox.probe(script)
    inside = dict(line.split(" ", 1) for line in probe.lines("ns"))
    host = host_namespaces()
    separate = {n for n in NAMESPACES if inside[n] != host[n]}
    expected = {"ipc", "mnt", "net", "pid", "uts"} | ({"user"} if sandbox.rootless else set())
    # no cgroup namespace (as snix), and rootful builds share the host's user namespace
    assert separate == expected


def test_background_processes_die_with_the_build(sandbox: Sandbox) -> None:
    marker = f"snixbuild-daemon-{uuid.uuid4().hex}"
    # a child, a new session, a double-forked child ignoring SIGTERM; the marker comes from the
    # environment, so only these three have it on their command line
    script = """
    /bin/sh -c "sleep 1000; : $marker" &
    setsid /bin/sh -c "sleep 1000; : $marker" &
    ( /bin/sh -c "trap '' HUP TERM; sleep 1000; : $marker" > /dev/null 2>&1 & ) &
    sleep 0.2
    for p in /proc/[0-9]*; do
        case "$(tr '\\0' ' ' < $p/cmdline)" in *"$marker"*) echo ${p#/proc/} >> $out/daemons;; esac
    done
    """
    probe = sandbox.probe(script, env={"marker": marker})
    assert len(probe.lines("daemons")) == 3
    # PID 1 exited: the kernel killed the rest of its PID namespace
    assert processes_with_arg(marker) == []


def test_host_kernel_and_host_wide_proc_files_are_shared(sandbox: Sandbox) -> None:
    """Not protected: the build runs on the host's kernel and sees host-wide /proc files, the
    host paths of its mounts, and the host's cgroup layout."""
    script = """
    uname -r > $out/kernel
    nproc > $out/nproc
    grep MemTotal /proc/meminfo > $out/memtotal
    cat /proc/self/mountinfo > $out/mountinfo
    cat /proc/self/cgroup > $out/cgroup
    """
    probe = sandbox.probe(script)
    assert probe.text("kernel").strip() == os.uname().release
    assert int(probe.text("nproc")) == len(os.sched_getaffinity(0))
    host_memtotal = next(
        line for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line
    )
    assert probe.text("memtotal").strip() == host_memtotal
    bundle_root = str(sandbox.default_service.bundle_root)
    assert bundle_root in probe.text("mountinfo")  # e.g. the source of /build
    cgroups_path = sandbox.specs[-1]["linux"]["cgroupsPath"]
    assert cgroups_path in probe.text("cgroup")


def test_id_mappings(sandbox: Sandbox) -> None:
    """Rootless: container root is the engine's user (host root here) and the build user is
    the first subordinate id, or the fallback id for root without one. Rootful: no user
    namespace, the identity map; the build user is host uid 1000."""
    script = """
    cat /proc/self/uid_map > $out/uid_map
    cat /proc/self/gid_map > $out/gid_map
    id > $out/id
    """
    probe = sandbox.probe(script)
    assert probe.text("id").startswith("uid=1000(nixbld) gid=100(nixbld)")
    uid_map = [tuple(int(n) for n in line.split()) for line in probe.lines("uid_map")]
    gid_map = [tuple(int(n) for n in line.split()) for line in probe.lines("gid_map")]
    if not sandbox.rootless:
        assert uid_map == gid_map == [(0, 0, 4294967295)]
        return
    linux = sandbox.specs[-1]["linux"]
    build_uid = linux["uidMappings"][1]["hostID"]
    build_gid = linux["gidMappings"][1]["hostID"]
    assert uid_map == [(0, os.geteuid(), 1), (1000, build_uid, 1)]
    assert gid_map == [(0, os.getegid(), 1), (100, build_gid, 1)]
    if not _has_subordinate_ids():
        assert build_uid == build_gid == FALLBACK_SUBORDINATE_ID


def _has_subordinate_ids() -> bool:
    name = pwd.getpwuid(os.geteuid()).pw_name
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            return False
        if not any(line.split(":")[0] in (name, str(os.geteuid())) for line in lines):
            return False
    return True
