"""Real runc: bundles from make_bundle run, rootless and rootful, and leave nothing behind.

Run with ``pytest --snix-runc``. Each build gets its own runc state directory (``--root``), its
own container id and its own cgroups path; afterwards the state directory lists no container
and the cgroup is gone from every hierarchy.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.oci import host_output_paths, make_bundle, make_spec
from pytest_snixbuild.oci.bundle import build_user_host_ids
from pytest_snixbuild.request.model import AdditionalFile, BuildRequest

pytestmark = pytest.mark.snix_runc

SHELL = "/bin/busybox"
CGROUP_ROOT = Path("/sys/fs/cgroup")


@pytest.fixture(autouse=True)
def _needs_runc(request: pytest.FixtureRequest) -> None:
    missing = [what for what in ("runc", SHELL) if shutil.which(what) is None]
    if missing:
        message = f"not installed: {', '.join(missing)}"
        if request.config.getoption("--snix-strict"):
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, Path]
    spec: dict[str, Any]


@pytest.fixture
def state_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "runc-state"
    yield root
    listed = subprocess.run(
        ["runc", "--root", str(root), "list", "-q"], capture_output=True, text=True, check=False
    )
    assert listed.stdout.strip() == "", "a container was left behind"


def _cgroup_leftovers(cgroups_path: str) -> list[Path]:
    leaf = cgroups_path.strip("/")
    candidates = [CGROUP_ROOT / leaf, *(d / leaf for d in CGROUP_ROOT.iterdir() if d.is_dir())]
    return [p for p in candidates if p.exists()]


RunFn = Callable[..., Run]


@pytest.fixture
def run_build(tmp_path: Path, state_root: Path) -> RunFn:
    """Write the bundle of ``request`` and ``runc run`` it (stdin /dev/null, output captured)."""

    def run(
        request: BuildRequest,
        *,
        rootless: bool,
        prepare: Callable[[Path], None] | None = None,
    ) -> Run:
        spec = make_spec(request, rootless=rootless, sandbox_shell=SHELL)
        bundle = make_bundle(request, spec, tmp_path / f"bundle-{uuid.uuid4().hex[:8]}")
        if prepare is not None:
            prepare(bundle.path)
        container_id = f"snixoci-{uuid.uuid4().hex[:16]}"
        argv = ["runc", "--root", str(state_root), "run", "--bundle", str(bundle.path)]
        try:
            done = subprocess.run(
                [*argv, container_id],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            subprocess.run(
                ["runc", "--root", str(state_root), "delete", "--force", container_id],
                capture_output=True,
                check=False,
            )
        assert _cgroup_leftovers(spec["linux"]["cgroupsPath"]) == []
        return Run(
            done.returncode,
            done.stdout,
            done.stderr,
            host_output_paths(request, bundle.path),
            spec,
        )

    return run


MODES = pytest.mark.parametrize("rootless", [True, False], ids=["rootless", "rootful"])


@MODES
def test_build_writes_its_outputs(
    run_build: RunFn, make_request: Callable[..., BuildRequest], rootless: bool
) -> None:
    request = make_request(
        'echo hello > "$out"; echo "$(id -u):$(id -g) $(id -un) $(pwd) $(cat greeting)" > "$info"',
        outputs=("out", "info"),
        additional_files=(AdditionalFile("build/greeting", b"hi"),),
    )
    run = run_build(request, rootless=rootless)
    assert run.returncode == 0, run.stderr
    by_name = {p.name.rsplit("-", 1)[1]: p for p in run.outputs.values()}
    assert by_name["out"].read_text() == "hello\n"
    # the build user is nixbld (1000:100, from our root/etc/passwd), in /build
    assert by_name["info"].read_text() == "1000:100 nixbld /build hi\n"
    owner = build_user_host_ids(run.spec)
    st = by_name["out"].stat()
    assert (st.st_uid, st.st_gid) == owner


@MODES
def test_exit_status_and_stderr_pass_through(
    run_build: RunFn, make_request: Callable[..., BuildRequest], rootless: bool
) -> None:
    run = run_build(make_request("echo out; echo err >&2; exit 3"), rootless=rootless)
    assert (run.returncode, run.stdout, run.stderr) == (3, "out\n", "err\n")


NET_SCRIPT = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort > $out"


@MODES
def test_network_denied_has_only_loopback(
    run_build: RunFn, make_request: Callable[..., BuildRequest], rootless: bool
) -> None:
    request = make_request(NET_SCRIPT, network=False)
    run = run_build(request, rootless=rootless)
    assert run.returncode == 0, run.stderr
    assert next(iter(run.outputs.values())).read_text() == "lo\n"


def test_network_allowed_sees_the_host_interfaces(
    run_build: RunFn, make_request: Callable[..., BuildRequest]
) -> None:
    request = make_request(NET_SCRIPT + "; cat /etc/hosts > $out.hosts", network=True)
    run = run_build(request, rootless=True)
    assert run.returncode == 0, run.stderr
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    host = sorted(line.split(":")[0].strip() for line in lines)
    out = next(iter(run.outputs.values()))
    assert out.read_text().split() == host
    # with network access the host's /etc/hosts is mounted over ours, as in snix
    assert out.with_name(out.name + ".hosts").read_text() == Path("/etc/hosts").read_text()


@MODES
def test_inputs_are_read_only_bind_mounts(
    run_build: RunFn, make_request: Callable[..., BuildRequest], rootless: bool
) -> None:
    """An input is readable, not writable, even when its source is nosuid,nodev like FUSE.

    The input dir is bind-mounted onto itself with ``nosuid,nodev`` (as the FUSE mount is);
    without those options in the spec a rootless bind mount of it fails with EPERM.
    """
    from pytest_snixbuild.castore.digests import EMPTY_DIGEST
    from pytest_snixbuild.castore.nodes import DirectoryNode

    name = "0" * 32 + "-input"
    request = make_request(
        f"cat /nix/store/{name}/data > $out; touch /nix/store/{name}/new 2>/dev/null"
        " && echo writable >> $out || echo read-only >> $out",
        inputs={name: DirectoryNode(EMPTY_DIGEST, 0)},
    )
    mounted: list[Path] = []

    def prepare(bundle: Path) -> None:
        source = bundle / "inputs" / name
        source.mkdir()
        (source / "data").write_text("input data\n")
        subprocess.run(["mount", "--bind", str(source), str(source)], check=True)
        mounted.append(source)
        remount = ["mount", "-o", "remount,bind,ro,nosuid,nodev", str(source)]
        subprocess.run(remount, check=True)

    try:
        run = run_build(request, rootless=rootless, prepare=prepare)
    finally:
        for source in mounted:
            subprocess.run(["umount", str(source)], check=True)
    assert run.returncode == 0, run.stderr
    out = next(iter(run.outputs.values()))
    assert out.read_text() == "input data\nread-only\n"
    # runc leaves the (empty) mountpoint in the host's nix/store scratch dir, as snix notes
    assert sorted(p.name for p in out.parent.iterdir()) == sorted([name, out.name])


def test_available_ro_paths(
    run_build: RunFn, make_request: Callable[..., BuildRequest], tmp_path: Path
) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "file").write_text("from the host\n")
    request = make_request(
        f"cat {ro}/file > $out; echo x > {ro}/new 2>/dev/null"
        " && echo writable >> $out || echo read-only >> $out",
        ro_paths=(str(ro),),
    )
    run = run_build(request, rootless=True)
    assert run.returncode == 0, run.stderr
    assert next(iter(run.outputs.values())).read_text() == "from the host\nread-only\n"
    assert sorted(p.name for p in ro.iterdir()) == ["file"]


def test_unsorted_scratch_paths_last_mount_wins(
    run_build: RunFn, make_request: Callable[..., BuildRequest]
) -> None:
    """``/nix`` mounted after ``/nix/store`` hides it: host_output_paths follows the mounts."""
    request = make_request(
        "mkdir -p /nix/store && echo on-top > $out", scratch_paths=("nix/store", "nix")
    )
    run = run_build(request, rootless=True)
    assert run.returncode == 0, run.stderr
    out = next(iter(run.outputs.values()))
    assert out.read_text() == "on-top\n"
    assert out.parent.name == "store" and out.parent.parent.name.endswith("====")
