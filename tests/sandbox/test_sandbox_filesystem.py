"""Sandbox probes, file systems: builds that try to write where they must not, read what is
masked, or smuggle a host file out through a symlink. Real runc and FUSE, rootless and rootful;
the ``sandbox`` fixture checks afterwards that nothing was left behind."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from snix_sandbox_helpers import (
    INPUT,
    OUT,
    OUT2,
    Sandbox,
    fusectl_mounted,
    mount_tmpfs,
    probe_request,
    read_tree,
)

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, SymlinkNode
from pytest_snixbuild.engine.errors import BuildFailedError, OutputIngestError
from pytest_snixbuild.engine.mount import mount_castore
from pytest_snixbuild.oci.bundle import BUNDLE_MODE, build_user_host_ids
from pytest_snixbuild.oci.etc_files import etc_files
from pytest_snixbuild.oci.scratch import scratch_name
from pytest_snixbuild.oci.spec import MASKED_PATHS, READONLY_PATHS
from pytest_snixbuild.request.model import BuildConstraints

pytestmark = pytest.mark.snix_runc

EROFS = "Read-only file system"
#: run a command as an unprivileged host user
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def mountinfo(text: str) -> dict[str, tuple[str, str]]:
    """``/proc/<pid>/mountinfo`` as mount point -> (mount options, fs type); the last (top)
    mount wins."""
    mounts = {}
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        mounts[fields[4]] = (fields[5], right.split()[0])
    return mounts


# -- inputs -------------------------------------------------------------------------------------
def test_inputs_are_read_only(sandbox: Sandbox, tmp_path: Path) -> None:
    tree = tmp_path / "victim"
    (tree / "sub").mkdir(parents=True)
    (tree / "data").write_text("original\n")
    (tree / "sub" / "inner").write_text("inner\n")
    node = ingest_path(tree, sandbox.store)
    script = """
    in=/nix/store/$input
    try write "echo changed > $in/data"
    try append "echo more >> $in/data"
    try create "echo new > $in/new"
    try mkdir "mkdir $in/newdir"
    try remove "rm $in/sub/inner"
    try rename "mv $in/data $in/renamed"
    try chmod "chmod 777 $in/data"
    try truncate "truncate -s 0 $in/data"
    try touch "touch $in/data"
    try remount "unshare -Urm mount -o remount,bind,rw $in"
    cat $in/data $in/sub/inner > $out/after
    cat /proc/self/mountinfo > $out/mountinfo
    """
    probe = sandbox.probe(script, inputs={INPUT: node}, env={"input": INPUT})
    for name in ("write", "append", "create", "mkdir", "remove", "rename", "chmod", "truncate"):
        attempt = probe.attempt(name)
        assert attempt.rc != 0 and EROFS in attempt.err, (name, attempt)
    assert probe.attempt("touch").rc != 0
    # not even a nested user namespace, where the build has every capability, can remount it
    remount = probe.attempt("remount")
    assert remount.rc != 0 and "permission denied" in remount.err, remount
    assert probe.text("after") == "original\ninner\n"
    options, _fstype = mountinfo(probe.text("mountinfo"))[f"/nix/store/{INPUT}"]
    assert options.split(",")[0] == "ro" and {"nosuid", "nodev"} <= set(options.split(","))
    # the castore is untouched
    assert read_tree(sandbox.store, node) == {"data": b"original\n", "sub/inner": b"inner\n"}


# -- the root file system -----------------------------------------------------------------------
def test_root_is_read_only(sandbox: Sandbox) -> None:
    script = """
    try root_file "echo x > /newfile"
    try root_dir "mkdir /newdir"
    try root_link "ln -s /build /link"
    try etc_passwd "echo 'evil::0:0::/:/bin/sh' >> /etc/passwd"
    try etc_new "echo x > /etc/newfile"
    try bin_sh "echo x > /bin/sh"
    try bin_new "echo x > /bin/newfile"
    try nix_dir "mkdir /nix/newdir"
    try remount "unshare -Urm mount -o remount,bind,rw /"
    try build_ok "echo x > /build/file && cat /build/file"
    try store_ok "mkdir /nix/store/x-scratch && rmdir /nix/store/x-scratch"
    cat /etc/passwd > $out/passwd
    cat /proc/self/mountinfo > $out/mountinfo
    """
    probe = sandbox.probe(script)
    names = ("root_file", "root_dir", "root_link", "etc_passwd", "etc_new", "bin_sh", "bin_new")
    for name in (*names, "nix_dir"):
        attempt = probe.attempt(name)
        assert attempt.rc != 0, (name, attempt)
        # rootless: CAP_DAC_OVERRIDE passes the permission check, the read-only mount refuses;
        # rootful: the build user has no write permission there in the first place
        refusals = (EROFS,) if sandbox.rootless else (EROFS, "Permission denied")
        assert any(r in attempt.err for r in refusals), (name, attempt)
    assert mountinfo(probe.text("mountinfo"))["/"][0].split(",")[0] == "ro"
    assert probe.attempt("remount").rc != 0
    # the scratch paths are the writable places
    assert probe.attempt("build_ok") == (0, "x\n", "")
    assert probe.attempt("store_ok").rc == 0
    assert probe.text("passwd") == etc_files("/build")["passwd"]


# -- masked and read-only paths -----------------------------------------------------------------
def test_masked_paths_show_nothing(sandbox: Sandbox) -> None:
    present = [p for p in MASKED_PATHS if os.path.exists(p)]
    files = [p for p in present if not os.path.isdir(p)]
    dirs = [p for p in present if os.path.isdir(p)]
    assert files and dirs, "this host has none of the masked paths to probe"
    # on the host they are not empty
    for path in files:
        with open(path, "rb") as f:
            assert f.read(64), path
    for path in dirs:
        assert os.listdir(path), path
    script = "".join(
        f'try "f{i}" "head -c 4096 {p} | wc -c"\n' for i, p in enumerate(files)
    ) + "".join(f'try "d{i}" "ls -A {p}"\n' for i, p in enumerate(dirs))
    script += (
        "try unmask 'unshare -Urm sh -c \"umount " + files[0] + "; head -c 64 " + files[0] + "\"'\n"
    )
    probe = sandbox.probe(script)
    for i, path in enumerate(files):
        assert probe.attempt(f"f{i}") == (0, "0\n", ""), path
    for i, path in enumerate(dirs):
        assert probe.attempt(f"d{i}") == (0, "", ""), path
    # a nested user namespace cannot unmount the mask: the mounts are locked
    unmask = probe.attempt("unmask")
    assert "Invalid argument" in unmask.err and unmask.out == "", unmask


def test_read_only_proc_paths(sandbox: Sandbox) -> None:
    present = [p for p in READONLY_PATHS if os.path.exists(p)]
    assert "/proc/sys" in present
    script = """
    try hostname "cat /proc/sys/kernel/hostname > /proc/sys/kernel/hostname"
    cat /proc/self/mountinfo > $out/mountinfo
    """
    probe = sandbox.probe(script)
    hostname = probe.attempt("hostname")
    assert hostname.rc != 0 and EROFS in hostname.err, hostname
    mounts = mountinfo(probe.text("mountinfo"))
    for path in present:
        assert mounts[path][0].split(",")[0] == "ro", path


def test_host_sys_submounts_are_read_only(sandbox: Sandbox, tmp_path: Path) -> None:
    """Regression: the rootless /sys is the host's, bind-mounted with its submounts. With a
    plain ``ro`` the fusectl submount stayed writable, and the build user's CAP_DAC_OVERRIDE
    (host root's files count as container root's) let it abort any FUSE connection on the
    host. Now /sys is mounted ``rro``."""
    victim_data = b"another build's input\n"
    digest = sandbox.store.blobs.put(victim_data)
    victim = FileNode(digest, len(victim_data), executable=False)
    with (
        fusectl_mounted() as fusectl,
        mount_castore({"f": victim}, sandbox.store, tmp_path / "victim") as mountpoint,
    ):
        minor = os.minor(os.stat(mountpoint).st_dev)
        assert (fusectl / str(minor) / "abort").exists()  # the host could abort it
        script = f"""
        try abort "echo 1 > /sys/fs/fuse/connections/{minor}/abort"
        try congestion "echo 1 > /sys/fs/fuse/connections/{minor}/congestion_threshold"
        cat /proc/self/mountinfo > $out/mountinfo
        """
        probe = sandbox.probe(script)
        assert (mountpoint / "f").read_bytes() == victim_data  # still served
    for name in ("abort", "congestion"):
        attempt = probe.attempt(name)
        assert attempt.rc != 0, attempt
        # rootless: the host's fusectl, read-only; rootful: a fresh sysfs without it
        expected = EROFS if sandbox.rootless else "nonexistent directory"
        assert expected in attempt.err, attempt
    mounts = mountinfo(probe.text("mountinfo"))
    below_sys = {p: v for p, v in mounts.items() if p == "/sys" or p.startswith("/sys/")}
    writable = {p: v for p, v in below_sys.items() if v[0].split(",")[0] != "ro"}
    # only runc's own tmpfs that holds the container's cgroup mounts is writable
    assert writable.keys() <= {"/sys/fs/cgroup"}, writable
    assert all(fstype == "tmpfs" for _options, fstype in writable.values()), writable
    if sandbox.rootless:
        assert mounts["/sys/fs/fuse/connections"][0].split(",")[0] == "ro"


def test_submounts_of_read_only_paths_are_read_only(sandbox: Sandbox, host_dir: Path) -> None:
    """Regression: ``available_ro_paths`` are mounted ``rro``; with ``ro`` alone a file system
    mounted below such a path (here a world-writable tmpfs) stayed writable in the build."""
    (host_dir / "file").write_text("host\n")
    (host_dir / "sub").mkdir()
    mount_tmpfs(host_dir / "sub", "size=1m,mode=1777")
    script = f"""
    try file "echo build > {host_dir}/file"
    try sub "echo build > {host_dir}/sub/written"
    cat /proc/self/mountinfo > $out/mountinfo
    """
    constraints = BuildConstraints(available_ro_paths=(str(host_dir),))
    probe = sandbox.probe(script, constraints=constraints)
    for name in ("file", "sub"):
        attempt = probe.attempt(name)
        assert attempt.rc != 0 and EROFS in attempt.err, (name, attempt)
    assert (host_dir / "file").read_text() == "host\n"
    assert list((host_dir / "sub").iterdir()) == []
    mounts = mountinfo(probe.text("mountinfo"))
    assert mounts[str(host_dir / "sub")][0].split(",")[0] == "ro"


def test_host_root_files_in_ro_paths_readable_only_rootless(
    sandbox: Sandbox, host_dir: Path
) -> None:
    """Not protected: a rootless build's CAP_DAC_OVERRIDE covers files owned by host root
    (container root is host root), so it reads a 0600 root file below a read-only path. A
    rootful build, without capabilities, cannot."""
    secret = host_dir / "secret"
    secret.write_text("root only\n")
    secret.chmod(0o600)
    assert secret.stat().st_uid == 0
    script = f'try read "cat {secret}"\ntry write "echo x > {secret}"\n'
    constraints = BuildConstraints(available_ro_paths=(str(host_dir),))
    probe = sandbox.probe(script, constraints=constraints)
    read = probe.attempt("read")
    if sandbox.rootless:
        assert read == (0, "root only\n", "")
    else:
        assert read.rc != 0 and "Permission denied" in read.err, read
    write = probe.attempt("write")
    assert write.rc != 0 and EROFS in write.err, write
    assert secret.read_text() == "root only\n"


# -- outputs ------------------------------------------------------------------------------------
def test_output_symlinks_are_stored_not_followed(sandbox: Sandbox) -> None:
    script = """
    set -e
    ln -s /etc/shadow $out
    mkdir $out2 $out2/d
    echo data > $out2/file
    ln -s /etc/shadow $out2/abs
    ln -s ../../../../../../etc/shadow $out2/rel
    ln -s .. $out2/parent
    ln -s / $out2/root
    ln -s ../../../.. $out2/d/up
    """
    request = probe_request(script, outputs=(OUT, OUT2), prologue=False)
    result = sandbox.build(request)
    nodes = {o.path: o.node for o in result.outputs}
    assert nodes[OUT] == SymlinkNode(b"/etc/shadow")
    assert isinstance(nodes[OUT2], DirectoryNode)
    assert read_tree(sandbox.store, nodes[OUT2]) == {
        "file": b"data\n",
        "abs": SymlinkNode(b"/etc/shadow"),
        "rel": SymlinkNode(b"../../../../../../etc/shadow"),
        "parent": SymlinkNode(b".."),
        "root": SymlinkNode(b"/"),
        "d/up": SymlinkNode(b"../../../.."),
    }
    # the only blob the build added is its one file: nothing of the host was read
    assert set(sandbox.store.blobs.iter_digests()) == {B3Digest.of(b"data\n")}


def test_symlinked_parent_of_an_output_is_refused(sandbox: Sandbox, host_dir: Path) -> None:
    """Regression: for an output below a directory the build controls (``build/x/secret``), the
    build made ``x`` a symlink to a host directory it cannot even see. The engine (root) used
    to follow it on the host and ingest the host's file; now that output is refused."""
    secret = host_dir / "secret"
    secret.write_text("host secret\n")
    script = f"""
    ln -s {host_dir} /build/x
    mkdir /build/real && echo fine > /build/real/out
    """
    request = probe_request(script, outputs=("build/real/out",), prologue=False)
    assert read_tree(sandbox.store, sandbox.build(request).outputs[0].node) == {"": b"fine\n"}
    request = probe_request(script, outputs=("build/x/secret",), prologue=False)
    with pytest.raises(OutputIngestError, match=r"'x' on the way to it is a symlink") as caught:
        sandbox.build(request)
    assert caught.value.output_path == "build/x/secret"
    assert not sandbox.store.blobs.has(B3Digest.of(b"host secret\n"))


def test_setuid_files_in_a_bundle_are_out_of_reach(sandbox: Sandbox) -> None:
    """A build can leave setuid files in its scratch directories: owned by host root in a
    rootless build (container root is host root), by the build user in a rootful one. The
    bundle directory is 0700, so no other host user can reach them, even in a kept bundle."""
    service = sandbox.service(keep_failed=True)
    script = """
    cp /bin/sh /build/suid
    chown 0:0 /build/suid
    chmod 4755 /build/suid
    exit 7
    """
    with pytest.raises(BuildFailedError) as caught:
        sandbox.build(probe_request(script, prologue=False), service)
    bundle = caught.value.bundle_path
    assert bundle is not None
    try:
        suid = bundle / "scratch" / scratch_name("build") / "suid"
        st = suid.lstat()
        assert st.st_mode & stat.S_ISUID
        owner = 0 if sandbox.rootless else build_user_host_ids(sandbox.specs[-1])[0]
        assert st.st_uid == owner
        assert stat.S_IMODE(bundle.stat().st_mode) == BUNDLE_MODE == 0o700
        as_nobody = subprocess.run(
            [*NOBODY, "/bin/busybox", "stat", "-c", "%a", str(suid)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert as_nobody.returncode != 0 and "Permission denied" in as_nobody.stderr
    finally:
        shutil.rmtree(bundle)
