"""Helpers for the fault-injection tests: start builds in other processes, wait for them to reach
the builder, and list what is left behind (no engine code here except reading state)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_snixbuild.engine.mount import fuse_mounts_under
from pytest_snixbuild.engine.stale import recover_stale_state

HERE = Path(__file__).parent
VICTIM = HERE / "snix_fault_victim.py"
RUNC_DIR = ".runc"
#: seconds any wait in these tests may take before the test fails (never asserted as a time)
WAIT = 60.0


def wait_until(what: str, check: Callable[[], object], timeout: float = WAIT) -> object:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def runc_list(state_dir: Path) -> list[dict[str, object]]:
    """``runc --root state_dir list`` (empty when the directory does not exist)."""
    if not state_dir.is_dir():
        return []
    done = subprocess.run(
        ["runc", "--root", str(state_dir), "list", "--format", "json"],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        return [{"id": p.name, "status": "unknown"} for p in state_dir.iterdir()]
    entries: list[dict[str, object]] = json.loads(done.stdout or b"null") or []
    return entries


def running_container(bundle_root: Path) -> str | None:
    """The id of a running container in the bundle root's runc state dir, if any."""
    for entry in runc_list(bundle_root / RUNC_DIR):
        if entry.get("status") == "running":
            return str(entry["id"])
    return None


def runc_processes(state_dir: Path) -> list[int]:
    """Pids of runc processes working on ``state_dir``."""
    pids = []
    needle = os.fsencode(state_dir)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"runc") and needle in argv:
            pids.append(int(entry))
    return pids


@dataclass(frozen=True)
class Leftovers:
    mounts: list[Path]
    containers: list[str]
    bundles: list[str]
    runc_processes: list[int]

    @property
    def empty(self) -> bool:
        return not (self.mounts or self.containers or self.bundles or self.runc_processes)


def leftovers(bundle_root: Path, *, keep: tuple[str, ...] = ()) -> Leftovers:
    """What is left under a bundle root: FUSE mounts, runc containers, bundle dirs, runc
    processes. ``keep`` names bundle dirs that may stay (e.g. a kept failed build)."""
    state_dir = bundle_root / RUNC_DIR
    bundles = []
    if bundle_root.is_dir():
        bundles = sorted(
            p.name for p in bundle_root.iterdir() if p.name != RUNC_DIR and p.name not in keep
        )
    containers = [str(e["id"]) for e in runc_list(state_dir)]
    if state_dir.is_dir():
        containers += [p.name for p in state_dir.iterdir() if p.name not in containers]
    return Leftovers(
        mounts=fuse_mounts_under(bundle_root) if bundle_root.exists() else [],
        containers=sorted(containers),
        bundles=bundles,
        runc_processes=runc_processes(state_dir),
    )


def assert_nothing_left(bundle_root: Path, *, keep: tuple[str, ...] = ()) -> None:
    found = leftovers(bundle_root, keep=keep)
    assert found.empty, f"left behind under {bundle_root}: {found}"


def start_victim(
    bundle_root: Path,
    store_dir: Path,
    *,
    rootless: bool,
    script: str = "cat $lib > $out; sleep 120",
    timeout: float | None = None,
) -> subprocess.Popen[bytes]:
    """Start :mod:`snix_fault_victim` building ``script`` (with one input over FUSE)."""
    argv = [
        sys.executable,
        str(VICTIM),
        str(bundle_root),
        str(store_dir),
        "rootless" if rootless else "rootful",
        script,
    ]
    if timeout is not None:
        argv.append(str(timeout))
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def wait_for_build(bundle_root: Path, proc: subprocess.Popen[bytes] | None = None) -> str:
    """Wait until a container runs under ``bundle_root`` with its inputs mounted; its id."""

    def check() -> str | None:
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the build process ended early: {out!r} {err!r}")
        cid = running_container(bundle_root)
        if cid and fuse_mounts_under(bundle_root / cid):
            return cid
        return None

    return str(wait_until(f"a running build under {bundle_root}", check))


def kill_and_reap(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> int:
    """Send ``sig`` and wait for the process (so it is not left as a zombie)."""
    proc.send_signal(sig)
    proc.communicate(timeout=WAIT)
    return proc.returncode


def bundle_roots_under(path: Path) -> list[Path]:
    """Every bundle root (a directory holding ``.runc``) at or below ``path``; dead mounts and
    unreadable directories are skipped."""
    roots = []
    for dirpath, dirnames, _files in os.walk(path, onerror=lambda _exc: None):
        if RUNC_DIR in dirnames:
            roots.append(Path(dirpath))
        dirnames[:] = [
            d for d in dirnames if d != RUNC_DIR and not os.path.ismount(Path(dirpath, d))
        ]
    return roots


def clean_up_after(path: Path, procs: Sequence[subprocess.Popen[Any]] = ()) -> list[str]:
    """A test's safety net, whatever it asserted: SIGKILL and reap ``procs`` still running, then
    recover every bundle root under ``path`` (so a failing test leaks nothing either)."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=WAIT)
    lines = []
    for root in bundle_roots_under(path):
        lines += recover_stale_state(root)
    return lines


def fuse_mounts_anywhere(under: Path) -> list[str]:
    """FUSE mounts in /proc/mounts at or below ``under`` (another view than mountinfo)."""
    prefix = str(under)
    found = []
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 2 and fields[2].startswith("fuse"):
                point = fields[1].replace("\\040", " ")
                if point == prefix or point.startswith(prefix + "/"):
                    found.append(point)
    return found
