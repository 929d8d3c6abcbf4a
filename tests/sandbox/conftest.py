"""Fixtures for the sandbox probes: one engine per test, rootless and rootful, checked for
leftovers afterwards; the compiled probe binary; host directories to mount read-only."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from snix_sandbox_helpers import PROBE_INPUT, SHELL, Sandbox, unmount_below

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import FileNode, Node
from pytest_snixbuild.castore.store import Store

HERE = Path(__file__).resolve().parent
#: host directories that builds mount read-only live here, not below /tmp: the build's /tmp is
#: a tmpfs of mode 0700, which a rootful build user could not traverse to reach them
HOST_DIR_PARENT = "/var/tmp"


def _require(request: pytest.FixtureRequest, what: str, ok: bool) -> None:
    if ok:
        return
    message = f"not available: {what}"
    if request.config.getoption("--snix-strict"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=["rootless", "rootful"])
def sandbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sandbox]:
    """Engines in one mode; afterwards nothing may be left: no mount, container, bundle, or
    cgroup."""
    _require(request, "runc", shutil.which("runc") is not None)
    _require(request, SHELL, os.access(SHELL, os.X_OK))
    box = Sandbox(tmp_path, request.param == "rootless", Store.open(tmp_path / "store"))
    yield box
    assert box.leftovers() == []


@pytest.fixture(scope="session")
def probe_binary(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/sandbox/sandbox_probe.c, compiled statically (the build's root has no libc)."""
    gcc = shutil.which("gcc")
    _require(request, "gcc (to build the static probe binary)", gcc is not None)
    assert gcc is not None
    binary = tmp_path_factory.mktemp("probe") / "sandbox-probe"
    done = subprocess.run(
        [gcc, "-static", "-O2", "-Wall", "-o", str(binary), str(HERE / "sandbox_probe.c")],
        capture_output=True,
        text=True,
        check=False,
    )
    _require(request, f"a static C toolchain ({done.stderr.strip()})", done.returncode == 0)
    return binary


@pytest.fixture
def probe_input(probe_binary: Path, sandbox: Sandbox) -> dict[str, Node]:
    """The probe binary as an input, served from the castore at /nix/store/<PROBE_INPUT>."""
    node = ingest_path(probe_binary, sandbox.store)
    assert isinstance(node, FileNode) and node.executable
    return {PROBE_INPUT: node}


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """An empty host directory (0755, outside /tmp) for builds to mount read-only; anything
    mounted below it and the directory itself are removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="snixbuild-sandbox-", dir=HOST_DIR_PARENT))
    path.chmod(0o755)
    try:
        yield path
    finally:
        unmount_below(path)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(path)
