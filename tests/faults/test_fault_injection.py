"""Faults during real builds (runc, FUSE, an on-disk castore): each one ends the build with a clear
error and no hang, leaves no FUSE mount, container or bundle behind, and the castore consistent.

Faults: SIGKILL of ``runc run``; a crash of the FUSE server (its connection aborted through
fusectl); a corrupted blob used as an input; a full bundle root (a 2 MiB tmpfs); concurrent
writers to one castore.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from snix_fault_helpers import (
    WAIT,
    assert_nothing_left,
    clean_up_after,
    runc_processes,
    wait_for_build,
)

from pytest_snixbuild.castore.blobs import shard_path
from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import DirectoryNode, Node
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.castore.verify import verify_store
from pytest_snixbuild.engine.errors import (
    BuildFailedError,
    HostIOError,
    RuntimeFailedError,
)
from pytest_snixbuild.engine.mount import abort_connection, read_mountinfo
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.request.model import BuildRequest, BuildResult, EnvVar

pytestmark = pytest.mark.snix_runc

OUT = "nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-out"
LIB = "v137y81wxx44zx8nln1b4xhj75bs7dbn-lib"
MODES = pytest.mark.parametrize("rootless", [True, False], ids=["rootless", "rootful"])
SNIXBUILD = Path(sys.executable).with_name("snixbuild")


def request(script: str, inputs: Mapping[str, Node] | None = None) -> BuildRequest:
    return BuildRequest(
        command_args=("/bin/sh", "-c", script),
        inputs=inputs or {},
        outputs=(OUT,),
        environment_vars=(
            EnvVar("lib", f"/nix/store/{LIB}".encode()),
            EnvVar("out", f"/{OUT}".encode()),
        ),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield Store.open(tmp_path / "store")
    clean_up_after(tmp_path)  # a safety net for failing tests: live builds are not touched


def many_files(store: Store, base: Path, count: int = 200) -> DirectoryNode:
    base.mkdir()
    for i in range(count):
        (base / f"f{i}").write_text(f"file number {i}\n")
    node = ingest_path(base, store)
    assert isinstance(node, DirectoryNode)
    return node


class Background:
    """A build running in a thread; ``outcome()`` is its result or the exception it raised."""

    def __init__(self, service: OCIBuildService, req: BuildRequest) -> None:
        self._outcome: list[BuildResult | BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(service, req), daemon=True)
        self._thread.start()

    def _run(self, service: OCIBuildService, req: BuildRequest) -> None:
        try:
            self._outcome.append(service.build(req))
        except BaseException as exc:  # handed to the test
            self._outcome.append(exc)

    def outcome(self) -> BuildResult | BaseException:
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the build hangs"
        return self._outcome[0]


def check_consistent(service: OCIBuildService, store: Store) -> None:
    assert_nothing_left(service.bundle_root)
    report = verify_store(store)
    assert report.ok, report.lines()
    assert report.temp_files == []


# -- SIGKILL of runc -----------------------------------------------------------------------------
@MODES
def test_sigkill_of_runc(rootless: bool, tmp_path: Path, store: Store) -> None:
    inputs = {LIB: many_files(store, tmp_path / "tree")}
    service = OCIBuildService.from_store(
        tmp_path / "bundles", store, rootless=rootless, timeout=WAIT
    )
    build = Background(service, request("cat $lib/f1 > $out; sleep 120", inputs))
    wait_for_build(service.bundle_root)
    (runc,) = runc_processes(service.bundle_root / ".runc")
    os.kill(runc, signal.SIGKILL)
    error = build.outcome()
    assert isinstance(error, RuntimeFailedError)
    assert str(error).startswith(
        "runc failed: runc itself was killed by SIGKILL while the build ran; "
        "its container was deleted"
    )
    assert error.exit_status == 125
    check_consistent(service, store)


# -- a crash of the FUSE server ------------------------------------------------------------------
@MODES
def test_fuse_server_crash(rootless: bool, tmp_path: Path, store: Store) -> None:
    """The connection of the inputs' mount is aborted while the builder reads them (what the
    kernel does when a FUSE server dies): the builder's reads fail, the build fails saying why,
    and the engine still unmounts and cleans up."""
    inputs = {LIB: many_files(store, tmp_path / "tree")}
    service = OCIBuildService.from_store(tmp_path / "bundles", store, rootless=rootless)
    script = (
        "set -e; i=0; while [ $i -lt 200 ]; do cat $lib/f$i > /dev/null; i=$((i+1)); "
        "sleep 0.2; done; echo read everything > $out"
    )
    build = Background(service, request(script, inputs))
    cid = wait_for_build(service.bundle_root)
    mountpoint = service.bundle_root / cid / "inputs"
    (entry,) = [e for e in read_mountinfo() if e.mountpoint == mountpoint]
    assert abort_connection(entry.minor)
    error = build.outcome()
    assert isinstance(error, BuildFailedError)
    assert f"the inputs' FUSE mount {mountpoint} stopped serving during the build" in str(error)
    # ECONNABORTED for requests on the aborted connection, ENOTCONN once it is gone
    assert re.search(
        "Software caused connection abort|Transport endpoint is not connected", error.stderr_tail
    )
    check_consistent(service, store)


# -- a corrupt blob ------------------------------------------------------------------------------
@MODES
def test_corrupt_input_blob(
    rootless: bool, tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    data = b"precious input\n" * 100
    source = tmp_path / "input.txt"
    source.write_bytes(data)
    node = ingest_path(source, store)
    assert store.path is not None
    blob = shard_path(store.path / "blobs", B3Digest.of(data))
    blob.chmod(0o644)
    with open(blob, "r+b") as f:  # one flipped byte, same size
        f.seek(700)
        f.write(b"X")
    blob.chmod(0o444)
    service = OCIBuildService.from_store(tmp_path / "bundles", store, rootless=rootless)
    caplog.set_level(logging.WARNING, logger="pytest_snixbuild.engine.fusefs")
    with pytest.raises(BuildFailedError) as caught:
        service.build(request("cat $lib > $out", {LIB: node}))
    assert "Input/output error" in caught.value.stderr_tail
    assert any(f"blob {B3Digest.of(data)} is corrupt" in m for m in caplog.messages)
    assert_nothing_left(service.bundle_root)

    report = verify_store(store)
    assert [(p.kind, p.digest, p.path) for p in report.problems] == [
        ("corrupt-blob", B3Digest.of(data), blob)
    ]
    # ingesting the same content again repairs the store, and the build works
    assert ingest_path(source, store) == node
    assert verify_store(store).ok
    result = service.build(request("cat $lib > $out", {LIB: node}))
    assert result.outputs[0].node == node
    check_consistent(service, store)


# -- a full disk ---------------------------------------------------------------------------------
@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs as the bundle root, unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "bundles"
    where.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "snixtest-full", str(where)],
        check=True,
    )
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)
        assert not any(e.mountpoint == where for e in read_mountinfo())


@MODES
def test_full_bundle_root(rootless: bool, small_tmpfs: Path, tmp_path: Path, store: Store) -> None:
    source = tmp_path / "input.txt"
    source.write_text("x\n")
    inputs = {LIB: ingest_path(source, store)}
    service = OCIBuildService.from_store(small_tmpfs, store, rootless=rootless)
    writer = request("cat $lib > /dev/null; dd if=/dev/zero of=$out bs=1M count=8", inputs)

    # the build fills the disk: it fails with ENOSPC and its partial output is removed
    with pytest.raises(BuildFailedError) as caught:
        service.build(writer)
    assert "No space left on device" in caught.value.stderr_tail
    assert_nothing_left(small_tmpfs)

    # the disk is full before the build starts: the bundle cannot be written
    filler = small_tmpfs / "filler"
    with pytest.raises(OSError), open(filler, "wb", buffering=0) as f:
        while True:
            f.write(bytes(64 << 10))
    with pytest.raises(HostIOError) as full:
        service.build(writer)
    message = str(full.value)
    assert message.startswith("build failed on the host: No space left on device while building in")
    assert str(small_tmpfs) in message
    assert full.value.exit_status == 125
    filler.unlink()
    assert_nothing_left(small_tmpfs)

    # with space again, the same engine builds (a smaller output)
    result = service.build(request("cat $lib > $out", inputs))
    assert result.outputs[0].node == inputs[LIB]
    check_consistent(service, store)


# -- concurrent writers --------------------------------------------------------------------------
CASE = """
[request]
command_args = ["/bin/sh", "-c", "cat /nix/store/{lib} > $out; echo {n} >> $out"]
outputs = ["{out}"]

[request.environment_vars]
out = "/{out}"

[request.inputs]
"{lib}" = {{ contents = "shared input\\n" }}

[expect.outputs."{out}"]
type = "file"
contents = "shared input\\n{n}\\n"
"""


def writer_tree(base: Path, k: int) -> Path:
    """Trees that share most contents (so several processes write the same blobs at once)."""
    base.mkdir()
    (base / "big").write_bytes(bytes(range(256)) * (16 << 10))  # 4 MiB, in every tree
    for i in range(60):
        sub = base / f"d{i % 6}"
        sub.mkdir(exist_ok=True)
        (sub / f"shared{i}").write_text(f"shared {i}\n")
        (sub / f"own{i}").write_text(f"tree {k} file {i}\n")
    return base


def test_concurrent_writers(tmp_path: Path, store: Store) -> None:
    assert store.path is not None
    trees = [writer_tree(tmp_path / f"tree{k}", k) for k in range(3)]
    procs: list[tuple[str, Path | None, subprocess.Popen[str]]] = []
    bundle_root = tmp_path / "bundles"
    for k in range(2):
        case = tmp_path / f"case{k}.toml"
        case.write_text(CASE.format(lib=LIB, out=OUT, n=k))
        argv = [
            str(SNIXBUILD), "build", str(case), "--store", str(store.path),
            "--bundle-root", str(bundle_root), "--json",
        ]  # fmt: skip
        procs.append(("build", None, subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)))
    for tree in trees * 2:  # every tree twice, all at once
        argv = [str(SNIXBUILD), "ingest", "--store", str(store.path), str(tree)]
        procs.append(("ingest", tree, subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)))

    expected: dict[Path, str] = {}
    for kind, source, proc in procs:
        out, _ = proc.communicate(timeout=WAIT * 2)
        assert proc.returncode == 0, (kind, source, out)
        if source is not None:
            digest = json.loads(out)["digest"]
            assert expected.setdefault(source, digest) == digest

    report = verify_store(store)
    assert report.ok, report.lines()
    assert report.temp_files == []
    for tree, digest in expected.items():
        node = ingest_path(tree, Store.memory())
        assert isinstance(node, DirectoryNode)
        assert str(node.digest) == digest
        walked = dict(store.walk(node))
        assert sum(1 for _ in tree.rglob("*")) + 1 == len(walked)
    assert_nothing_left(bundle_root)
