"""Signals to a pytest run in the middle of a build (a TOML case that reads its input over FUSE,
then sleeps): SIGINT and SIGTERM end the run as interrupted with everything cleaned up; after
SIGKILL the next run cleans up the leftovers and says what it cleaned.

Each run uses its own temporary root (``PYTEST_DEBUG_TEMPROOT``), so the runs' basetemps, bundle
roots and stores are found in the test's ``tmp_path``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from snix_fault_helpers import (
    WAIT,
    assert_nothing_left,
    clean_up_after,
    fuse_mounts_anywhere,
    leftovers,
    runc_processes,
    running_container,
    wait_until,
)

from pytest_snixbuild.castore.verify import verify_store

pytestmark = pytest.mark.snix_runc

PYTEST = Path(sys.executable).with_name("pytest")
MODES = pytest.mark.parametrize("mode", ["--snix-rootless", "--snix-rootful"])

SLEEPY = """# reads its input over FUSE, writes part of its output, then sleeps until killed
[request]
command_args = ["/bin/sh", "-c", "cat /nix/store/{lib} > $out; sleep 120"]
outputs = ["{out}"]

[request.environment_vars]
out = "/{out}"

[request.inputs]
"{lib}" = {{ contents = "greeting=hi\\n" }}
"""
LIB = "cqpygxchhbrk2a5c3l2shj8chbkj6zg6-cfg"
OUT = "nix/store/zff7wwwnmm6xdms5sm2nvcm93yzljwxp-env"


class Run:
    """One ``pytest --snix-runc`` of the sleepy suite, in its own temporary root."""

    #: the runs of the current test
    started: ClassVar[list[Run]] = []

    def __init__(
        self, suite: Path, temproot: Path, *args: str, basetemp: Path | None = None
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
        env.pop("PYTEST_CURRENT_TEST", None)
        env["PYTEST_DEBUG_TEMPROOT"] = str(temproot)
        temproot.mkdir(exist_ok=True)
        self.temproot = temproot
        self.basetemp = basetemp
        self.proc = subprocess.Popen(
            [
                str(PYTEST),
                "--snix-runc",
                "-p",
                "no:cacheprovider",
                "--snapshot-update",
                *args,
                "sleepy.toml",
            ],
            cwd=suite,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        Run.started.append(self)

    def bundle_roots(self) -> list[Path]:
        if self.basetemp is not None:
            return sorted(self.basetemp.glob("snix-bundles-*"))
        # not through pytest's "pytest-current" symlink: the same root under a second name
        found = self.temproot.glob("pytest-of-*/pytest-*/snix-bundles-*")
        return sorted(p for p in found if not p.parent.is_symlink())

    def wait_mid_build(self) -> tuple[Path, str]:
        """The bundle root and container id once the build runs with its inputs mounted."""

        def check() -> tuple[Path, str] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"pytest ended early:\n{self.proc.communicate()[0]}")
            for root in self.bundle_roots():
                cid = running_container(root)
                if cid and leftovers(root).mounts:
                    return root, cid
            return None

        found = wait_until("the case's build to run", check)
        assert isinstance(found, tuple)
        return found

    def finish(self) -> tuple[int, str]:
        out, _ = self.proc.communicate(timeout=WAIT * 2)
        return self.proc.returncode, out


@pytest.fixture
def suite(tmp_path: Path) -> Iterator[Path]:
    """The sleepy suite; afterwards no inner pytest survives, nor anything it left (also when
    the test fails half-way)."""
    where = tmp_path / "suite"
    where.mkdir()
    (where / "sleepy.toml").write_text(SLEEPY.format(lib=LIB, out=OUT))
    Run.started.clear()
    yield where
    clean_up_after(tmp_path, [run.proc for run in Run.started])


def store_of(bundle_root: Path) -> Path:
    return bundle_root.parent / "snix-store"


@MODES
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupting_pytest_cleans_up(
    mode: str, sig: signal.Signals, suite: Path, tmp_path: Path
) -> None:
    run = Run(suite, tmp_path / "temproot", mode)
    root, _ = run.wait_mid_build()
    run.proc.send_signal(sig)
    status, out = run.finish()
    assert status == pytest.ExitCode.INTERRUPTED, out
    assert "KeyboardInterrupt" in out
    assert_nothing_left(root)
    assert fuse_mounts_anywhere(tmp_path) == []
    assert verify_store(store_of(root)).ok


@MODES
def test_sigkill_of_pytest_then_the_next_run_cleans_up(
    mode: str, suite: Path, tmp_path: Path
) -> None:
    temproot = tmp_path / "temproot"
    run = Run(suite, temproot, mode)
    root, cid = run.wait_mid_build()
    run.proc.send_signal(signal.SIGKILL)
    status, _ = run.finish()
    assert status == -signal.SIGKILL
    left = leftovers(root)
    assert left.mounts == [root / cid / "inputs"]
    assert left.containers == [cid]
    assert left.bundles == [cid]

    # the next run, even one that only collects, finds and removes all of it, and says so
    status, out = Run(suite, temproot, mode, "--collect-only").finish()
    assert status == 0, out
    assert "snixbuild: cleaned up after an earlier run that was killed" in out
    for pid in left.runc_processes:
        assert f"killed orphaned runc process {pid} (it ran container {cid})" in out
    assert f"deleted container {cid} (runc root {root / '.runc'}): its process is gone" in out
    assert f"unmounted {root / cid / 'inputs'}: its FUSE server's process is gone" in out
    assert f"removed bundle {root / cid}" in out
    assert_nothing_left(root)
    assert runc_processes(root / ".runc") == []
    assert fuse_mounts_anywhere(tmp_path) == []
    assert verify_store(store_of(root)).ok

    # and a third run has nothing to say
    status, out = Run(suite, temproot, mode, "--collect-only").finish()
    assert status == 0
    assert "cleaned up after an earlier run" not in out


def test_sigkill_with_a_given_basetemp(suite: Path, tmp_path: Path) -> None:
    """With ``--basetemp`` pytest empties that directory when a test first needs it; the
    leftovers in it are cleaned before (pytest cannot remove a dead FUSE mount)."""
    temproot, basetemp = tmp_path / "temproot", tmp_path / "basetemp"
    run = Run(suite, temproot, f"--basetemp={basetemp}", basetemp=basetemp)
    root, cid = run.wait_mid_build()
    assert root == basetemp / "snix-bundles-main"
    run.proc.send_signal(signal.SIGKILL)
    run.finish()
    assert leftovers(root).mounts == [root / cid / "inputs"]

    status, out = Run(suite, temproot, f"--basetemp={basetemp}", "--collect-only").finish()
    assert status == 0, out
    assert f"unmounted {root / cid / 'inputs'}: its FUSE server's process is gone" in out
    assert f"removed bundle {root / cid}" in out
    assert not root.exists()  # pytest emptied the basetemp afterwards
    assert fuse_mounts_anywhere(tmp_path) == []
    assert runc_processes(root / ".runc") == []
