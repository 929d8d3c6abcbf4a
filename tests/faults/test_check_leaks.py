"""``scripts/check-leaks.sh``: CI's check that the suite leaked nothing. A killed engine's
leftovers are each reported with the command that removes them, and the exit status is 1.

FUSE mounts and runc processes are checked machine-wide, and other tests may be building at the
same time: so this test only looks for the lines about its own leftovers."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from snix_fault_helpers import (
    clean_up_after,
    kill_and_reap,
    leftovers,
    start_victim,
    wait_for_build,
    wait_until,
)

from pytest_snixbuild.engine.stale import KEPT_MARKER, recover_stale_state

SCRIPT = Path(__file__).parents[2] / "scripts" / "check-leaks.sh"


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[1][0] != "Z"


def ended(pid: int) -> bool:
    return not running(pid)


def check_leaks(*roots: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *map(str, roots)], capture_output=True, text=True, check=False
    )


@pytest.fixture
def victims(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Build processes the test starts; whatever happens, none survives it, nor its leftovers."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    clean_up_after(tmp_path, started)


def test_only_unkept_bundle_directories_are_leaks(tmp_path: Path) -> None:
    root = tmp_path / "bundles"
    (root / ".runc").mkdir(parents=True)
    kept = root / f"snix-1-{'a' * 32}"
    kept.mkdir()
    (kept / KEPT_MARKER).touch()  # kept on purpose (keep_failed): not a leak
    (root / "snix-store").mkdir()  # not a bundle name
    leaked = root / f"snix-2-{'b' * 32}"
    leaked.mkdir()
    done = check_leaks(tmp_path)
    assert done.returncode == 1
    mine = [line for line in done.stdout.splitlines() if str(root) in line]
    assert mine == [
        f"check-leaks: LEAK: bundle directory {leaked}: remove it with: rm -rf '{leaked}' "
        "(unmount anything below it first)"
    ]
    leaked.rmdir()
    assert str(root) not in check_leaks(tmp_path).stdout


@pytest.mark.snix_runc
def test_leftovers_of_a_killed_engine_are_reported(
    tmp_path: Path, victims: list[subprocess.Popen[bytes]]
) -> None:
    root = tmp_path / "bundles"
    victim = start_victim(root, tmp_path / "store", rootless=True)
    victims.append(victim)
    cid = wait_for_build(root, victim)
    kill_and_reap(victim)
    left = leftovers(root)

    done = check_leaks(tmp_path)
    assert done.returncode == 1, done.stdout
    mountpoint = root / cid / "inputs"
    expected = [
        f"check-leaks: LEAK: FUSE mount {mountpoint} (fuse.snix-castore): "
        f"remove it with: umount -l '{mountpoint}'",
        f"check-leaks: LEAK: runc container {cid} in {root / '.runc'}: "
        f"remove it with: runc --root '{root / '.runc'}' delete --force {cid}",
        f"check-leaks: LEAK: bundle directory {root / cid}: remove it with: rm -rf '{root / cid}' "
        "(unmount anything below it first)",
    ]
    for line in expected:
        assert line in done.stdout.splitlines()
    for pid in left.runc_processes:
        assert f"check-leaks: LEAK: runc process {pid} (runc: " in done.stdout

    assert recover_stale_state(root)
    for pid in left.runc_processes:  # SIGKILLed: wait until it is gone (or a zombie)
        wait_until(f"runc process {pid} to end", partial(ended, pid))
    after = check_leaks(tmp_path)
    assert str(root) not in after.stdout
    for pid in left.runc_processes:
        assert f"runc process {pid} " not in after.stdout
