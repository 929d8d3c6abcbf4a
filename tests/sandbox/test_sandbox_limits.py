"""Sandbox probes, limits: a build that eats memory or writes without end is stopped by the
engine's configured limits (``memory_limit``, ``disk_limit``, ``timeout``), and nothing is left
behind either way (the ``sandbox`` fixture checks mounts, containers, bundles and cgroups).

The disk tests stay small: the bundle is a tmpfs of a few MiB, never the host's disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from snix_sandbox_helpers import OUT, Sandbox, probe_request, unmount_below

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.nodes import FileNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.errors import (
    BuildFailedError,
    BuildTimeoutError,
    EngineConfigError,
    RuntimeFailedError,
)
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.engine.tmpfs import tmpfs_options
from pytest_snixbuild.oci.errors import SpecError
from pytest_snixbuild.oci.scratch import scratch_name
from pytest_snixbuild.oci.spec import make_spec
from pytest_snixbuild.oci.subuid import IdMappings
from pytest_snixbuild.request.model import BuildRequest

MiB = 1 << 20
runc = pytest.mark.snix_runc

#: the build's view of its memory limit (cgroup v1, else v2)
SHOW_LIMIT = (
    "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"
)
#: a shell that doubles a string until something stops it
MEMORY_HOG = "x=0123456789abcdef; while :; do x=$x$x; done"


# -- the spec and the options (no runc) ---------------------------------------------------------
def _spec(**options: Any) -> dict[str, Any]:
    request = BuildRequest(command_args=("/bin/true",))
    mappings = IdMappings.snix(uid=0, gid=0, subuid=100000, subgid=100000)
    return make_spec(
        request,
        rootless=True,
        sandbox_shell="/bin/busybox",
        mappings=mappings,
        cgroups_path="/snixbuild-test",
        **options,
    )


def test_memory_limit_in_the_spec() -> None:
    assert _spec()["linux"]["resources"] == {"devices": []}
    limited = _spec(memory_limit=64 * MiB)["linux"]["resources"]
    # memory and memory+swap alike: the build cannot swap
    assert limited == {"devices": [], "memory": {"limit": 64 * MiB, "swap": 64 * MiB}}


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_bad_memory_limit_in_the_spec(bad: object) -> None:
    with pytest.raises(SpecError, match=r"memory_limit is .*: expected a positive number of bytes"):
        _spec(memory_limit=bad)


@pytest.mark.parametrize("option", ["memory_limit", "disk_limit"])
@pytest.mark.parametrize("bad", [0, -5, False])
def test_bad_limits_are_engine_config_errors(tmp_path: Path, option: str, bad: object) -> None:
    with pytest.raises(EngineConfigError, match=rf"{option} is .*: expected a positive number"):
        OCIBuildService.from_store(tmp_path / "bundles", Store.memory(), **{option: bad})


def test_tmpfs_options() -> None:
    assert tmpfs_options(16 * MiB) == "size=16777216,mode=700"


# -- memory -------------------------------------------------------------------------------------
@runc
def test_memory_hog_is_killed_at_the_memory_limit(sandbox: Sandbox) -> None:
    service = sandbox.service(memory_limit=64 * MiB)
    request = probe_request(f"{SHOW_LIMIT}\n{MEMORY_HOG}", prologue=False)
    with pytest.raises(BuildFailedError) as caught:
        sandbox.build(request, service)
    assert caught.value.exit_code == 137  # SIGKILL from the OOM killer
    assert caught.value.stdout == f"{64 * MiB}\n".encode()


@runc
def test_tmpfs_writes_count_against_the_memory_limit(sandbox: Sandbox) -> None:
    """/dev/shm (and /tmp) are tmpfs: what a build writes there is memory, charged to it."""
    service = sandbox.service(memory_limit=32 * MiB)
    script = """
    try fill "dd if=/dev/zero of=/dev/shm/fill bs=1M count=60"
    wc -c < /dev/shm/fill > $out/size
    """
    probe = sandbox.probe(script, service)
    fill = probe.attempt("fill")
    assert fill.rc == 137, fill  # dd was killed ...
    assert int(probe.text("size")) < 32 * MiB  # ... before it got past the limit


@runc
def test_too_small_memory_limit_is_a_runtime_error(sandbox: Sandbox) -> None:
    service = sandbox.service(memory_limit=1 * MiB)
    with pytest.raises(RuntimeFailedError, match="unable to set memory limit to 1048576"):
        sandbox.build(probe_request("true"), service)


# -- disk ---------------------------------------------------------------------------------------
@runc
def test_runaway_write_is_stopped_by_the_disk_limit(sandbox: Sandbox) -> None:
    service = sandbox.service(disk_limit=16 * MiB)
    request = probe_request("dd if=/dev/zero of=$out bs=1M count=1024", prologue=False)
    with pytest.raises(BuildFailedError) as caught:
        sandbox.build(request, service)
    assert caught.value.exit_code == 1
    assert b"No space left on device" in caught.value.stderr


@runc
def test_disk_limit_covers_all_scratch_paths_together(sandbox: Sandbox) -> None:
    service = sandbox.service(disk_limit=16 * MiB)
    script = """
    try df "df -k /build /nix/store"
    try build "dd if=/dev/zero of=/build/a bs=1M count=10"
    # $out is on the full tmpfs too: keep dd's message in /dev/shm and free the space before
    # try records the result
    try store "dd if=/dev/zero of=/nix/store/b bs=1M count=10 2>/dev/shm/err; rc=\\$?
               rm /build/a /nix/store/b; cat /dev/shm/err >&2; exit \\$rc"
    """
    probe = sandbox.probe(script, service)
    assert probe.attempt("build").rc == 0
    store = probe.attempt("store")
    assert store.rc == 1 and "No space left on device" in store.err, store
    # one file system of 16 MiB (1K blocks) under both (and under the read-only root)
    sizes = {line.split()[1] for line in probe.attempt("df").out.splitlines()[1:]}
    assert sizes == {str(16 * 1024)}


@runc
def test_endless_writer_is_stopped_by_the_timeout(sandbox: Sandbox) -> None:
    """A build that ignores ENOSPC and keeps trying only ends at the timeout."""
    service = sandbox.service(disk_limit=4 * MiB, timeout=2)
    script = "while :; do dd if=/dev/zero of=/build/f bs=1M count=64 2>/dev/null; done"
    with pytest.raises(BuildTimeoutError):
        sandbox.build(probe_request(script, prologue=False), service)


@runc
def test_disk_limited_build_succeeds(sandbox: Sandbox) -> None:
    service = sandbox.service(disk_limit=16 * MiB)
    result = sandbox.build(
        probe_request("head -c 1048576 /dev/zero > $out", prologue=False), service
    )
    assert result.outputs[0].path == OUT
    assert result.outputs[0].node == FileNode(B3Digest.of(bytes(MiB)), MiB, executable=False)


@runc
def test_kept_bundle_stays_on_its_tmpfs(sandbox: Sandbox) -> None:
    service = sandbox.service(disk_limit=8 * MiB, keep_failed=True)
    request = probe_request("echo partial > /build/log; exit 3", prologue=False)
    with pytest.raises(BuildFailedError) as caught:
        sandbox.build(request, service)
    bundle = caught.value.bundle_path
    assert bundle is not None
    try:
        assert os.path.ismount(bundle)
        log = bundle / "scratch" / scratch_name("build") / "log"
        assert log.read_text() == "partial\n"
    finally:
        unmount_below(bundle)
        bundle.rmdir()  # everything was on the tmpfs
