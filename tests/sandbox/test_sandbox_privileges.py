"""Sandbox probes, privileges: no_new_privs, the capability sets as specified, setuid binaries,
mknod and mount, nested user namespaces, and RLIMIT_NOFILE."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from snix_sandbox_helpers import (
    PROBE_INPUT,
    Sandbox,
    capability_mask,
    status_fields,
)

from pytest_snixbuild.castore.nodes import Node
from pytest_snixbuild.oci.spec import NOFILE_LIMIT, ROOTFUL_CAPABILITIES, ROOTLESS_CAPABILITIES
from pytest_snixbuild.request.model import BuildConstraints

pytestmark = pytest.mark.snix_runc

#: /proc/<pid>/status field -> the spec's capability set
CAP_FIELDS = {
    "CapInh": "inheritable",
    "CapPrm": "permitted",
    "CapEff": "effective",
    "CapBnd": "bounding",
    "CapAmb": "ambient",
}
PROBE = f"/nix/store/{PROBE_INPUT}"


def test_no_new_privileges_and_capability_sets(sandbox: Sandbox) -> None:
    probe = sandbox.probe("try status 'cat /proc/self/status'\n")
    status = status_fields(probe.attempt("status").out)
    assert status["NoNewPrivs"] == "1"
    assert status["Uid"].split() == ["1000"] * 4
    assert status["Gid"].split() == ["100"] * 4
    # no seccomp filter: documented as not protected
    assert status["Seccomp"] == "0"
    caps = sandbox.specs[-1]["process"]["capabilities"]
    expected = ROOTLESS_CAPABILITIES if sandbox.rootless else ROOTFUL_CAPABILITIES
    for field, set_name in CAP_FIELDS.items():
        assert caps[set_name] == list(expected)
        assert int(status[field], 16) == capability_mask(expected), field
    # the same numbers, spelled out
    assert int(status["CapEff"], 16) == (0xA80425FB if sandbox.rootless else 0x20000020)


def test_setuid_binaries_do_not_elevate(
    sandbox: Sandbox, probe_binary: Path, probe_input: dict[str, Node], host_dir: Path
) -> None:
    """A setuid-root binary (here mounted from the host, and one the build makes itself) runs
    with the build user's ids: no_new_privs ignores the setuid bit."""
    suid = host_dir / "suid-probe"
    shutil.copy(probe_binary, suid)
    os.chown(suid, 0, 0)
    suid.chmod(0o4755)
    script = f"""
    try host_suid "{suid} ids"
    try own_suid "cp {PROBE} /build/p && chown 0:0 /build/p && chmod 4755 /build/p && /build/p ids"
    ls -ln /build/p > $out/own_ls 2>&1 || true
    """
    constraints = BuildConstraints(available_ro_paths=(str(host_dir),))
    probe = sandbox.probe(script, constraints=constraints, inputs=probe_input)
    host = dict(line.split("=", 1) for line in probe.attempt("host_suid").out.splitlines())
    # the ids before setuid(0): the setuid bit did nothing
    assert host["uids"] == "1000,1000,1000"
    assert host["gids"] == "100,100,100"
    if sandbox.rootless:
        # CAP_SETUID/CAP_SETGID in the user namespace: the build may become container root,
        # which is host uid 0 for files, with no capability beyond the 14 of its bounding set
        assert (host["setuid0"], host["setgid0"]) == ("0 0", "0 0")
        own = dict(line.split("=", 1) for line in probe.attempt("own_suid").out.splitlines())
        assert own["uids"] == "1000,1000,1000"
        assert probe.text("own_ls").startswith("-rwsr-xr-x    1 0        0")
    else:
        assert (host["setuid0"], host["setgid0"]) == ("-1 EPERM", "-1 EPERM")
        chown = probe.attempt("own_suid")
        assert chown.rc != 0 and "Operation not permitted" in chown.err  # no CAP_CHOWN


def test_mknod_mount_and_nested_user_namespaces(sandbox: Sandbox) -> None:
    script = """
    mkdir -p /build/p
    try mknod "mknod /build/null c 1 3"
    try mknod_tmp "mknod /dev/shm/null c 1 3"
    try mount_tmpfs "mount -t tmpfs none /build/p"
    try mount_proc "mount -t proc proc /build/p"
    try hostname "hostname evil"
    try mkfifo "mkfifo /build/fifo"
    try nested "unshare -Ur id -u"
    try nested_proc "unshare -Urmpf mount -t proc proc /build/p"
    try nested_devices "unshare -Urm sh -c 'mknod /build/null2 c 1 3'"
    """
    probe = sandbox.probe(script)
    for name in ("mknod", "mknod_tmp", "hostname"):
        attempt = probe.attempt(name)
        assert attempt.rc != 0 and "Operation not permitted" in attempt.err, (name, attempt)
    for name in ("mount_tmpfs", "mount_proc"):
        attempt = probe.attempt(name)
        assert attempt.rc != 0 and "permission denied" in attempt.err, (name, attempt)
    assert probe.attempt("mkfifo").rc == 0
    # not protected: without a seccomp filter the build may create a user namespace and be
    # "root" in it (it has every capability there, over nothing of the host's) ...
    assert probe.attempt("nested") == (0, "0\n", "")
    # ... but it still cannot mount a fresh /proc (the masked one is not fully visible) or
    # make device nodes there
    nested_proc = probe.attempt("nested_proc")
    assert nested_proc.rc != 0 and "permission denied" in nested_proc.err, nested_proc
    nested_devices = probe.attempt("nested_devices")
    assert nested_devices.rc != 0 and "Operation not permitted" in nested_devices.err


def test_rlimit_nofile(sandbox: Sandbox, probe_input: dict[str, Node]) -> None:
    script = f"""
    try soft "ulimit -n"
    try hard "ulimit -Hn"
    try raise "ulimit -n 4096"
    try fds "{PROBE} fds"
    try fd1023 "exec 1023</dev/null && echo ok"
    try fd1024 "exec 1024</dev/null && echo ok"
    """
    probe = sandbox.probe(script, inputs=probe_input)
    assert probe.attempt("soft") == (0, f"{NOFILE_LIMIT}\n", "")
    assert probe.attempt("hard") == (0, f"{NOFILE_LIMIT}\n", "")
    raised = probe.attempt("raise")
    assert raised.rc != 0 and "Operation not permitted" in raised.err
    fds = dict(line.split("=", 1) for line in probe.attempt("fds").out.splitlines())
    # 0, 1 and 2 are open: 1021 more, up to fd 1023, then EMFILE
    assert fds == {
        "opened": "1021",
        "highest": "1023",
        "error": "EMFILE",
        "soft": "1024",
        "hard": "1024",
        "raise": "-1 EPERM",
    }
    assert probe.attempt("fd1023") == (0, "ok\n", "")
    fd1024 = probe.attempt("fd1024")
    assert fd1024.rc != 0 and "Bad file descriptor" in fd1024.err
