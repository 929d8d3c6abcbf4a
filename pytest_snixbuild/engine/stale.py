"""Recover what killed runs left in a bundle root: FUSE mounts, runc containers, bundle dirs.

A build's process normally cleans up after itself (see ``engine/service.py``), also on a timeout,
Ctrl-C or SIGTERM. Only a process that dies without running its cleanup (``kill -9``, the OOM
killer, a power cut of the test runner) leaves state behind:

* the **FUSE mount** at ``<bundle>/inputs``: its server was a thread of the dead process, so the
  mount is dead (every access fails with ENOTCONN) but still in the mount table;
* the **container** in ``<bundle_root>/.runc``: runc keeps it running, reparented to PID 1, with
  its cgroups (``runc run`` was started in its own session, so it may still be running too);
* the **bundle directory** ``<bundle_root>/<container id>`` (a tmpfs mount of its own when the
  engine has a ``disk_limit``).

Every container id the engine creates is ``<prefix>-<pid>-<uuid hex>`` (:func:`new_container_id`),
and the bundle directory has the same name, so each leftover names the process that owned it.
:func:`recover_stale_state` cleans only what belongs to processes that are gone: builds running
right now in this process (any thread) or in another live process are never touched. A pid that
was reused by a newer process is recognised by the process's start time, which is later than the
leftover's.

Each thing cleaned is reported as one line ("deleted container …", "unmounted …", "removed
bundle …"); what cannot be cleaned is reported with the command that cleans it by hand.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_snixbuild.engine.mount import (
    MNT_DETACH,
    MountEntry,
    MountError,
    _umount2,
    force_unmount,
    read_mountinfo,
)
from pytest_snixbuild.engine.runtime import Runc
from pytest_snixbuild.errors import SnixError

__all__ = [
    "KEPT_MARKER",
    "OWNED_ID_PATTERN",
    "RUNTIME_STATE_DIR",
    "mount_is_dead",
    "owner_alive",
    "owner_pid",
    "recover_stale_state",
]

log = logging.getLogger(__name__)

#: the runtime's state directory inside a bundle root (as in ``engine/service.py``)
RUNTIME_STATE_DIR = ".runc"
#: a file the engine puts into a bundle it keeps on purpose (``keep_failed``): never removed here
KEPT_MARKER = ".snixbuild-kept"
#: container ids (and bundle names) made by ``runtime.new_container_id``
OWNED_ID_PATTERN = re.compile(r"(?P<prefix>[a-z0-9][a-z0-9_.]*)-(?P<pid>[0-9]{1,10})-[0-9a-f]{32}")
#: seconds of slack when comparing a process's start time with a file's time (``btime`` in
#: /proc/stat has whole seconds)
START_TIME_SLACK = 2.0
#: seconds ``runc delete --force`` may take
RUNC_TIMEOUT = 60.0


def owner_pid(name: str) -> int | None:
    """The pid encoded in a container id or bundle name made by the engine, else None."""
    match = OWNED_ID_PATTERN.fullmatch(name)
    return int(match.group("pid")) if match else None


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _process_state(pid: int) -> tuple[str, float | None] | None:
    """(state letter, start time in seconds since the epoch) of ``pid``; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return ("?", None)
    # the command name (field 2) is in parentheses and may contain anything: split after it
    fields = raw[raw.rfind(b")") + 2 :].split()
    state = fields[0].decode("ascii", "replace") if fields else "?"
    boot = _boot_time()
    try:
        ticks = int(fields[19])
    except (IndexError, ValueError):
        return (state, None)
    if boot is None:
        return (state, None)
    return (state, boot + ticks / os.sysconf("SC_CLK_TCK"))


def owner_alive(pid: int, created: float | None = None) -> bool:
    """Whether process ``pid`` still runs and can be the owner of something made at ``created``
    (seconds since the epoch; a process that started later only reuses the pid).

    This process counts as alive, whatever the time: its other threads may be building. A zombie
    (killed, not yet reaped) counts as dead.
    """
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    info = _process_state(pid)
    if info is None:
        return False
    state, started = info
    if state in ("Z", "X"):
        return False
    return not (
        created is not None and started is not None and started > created + START_TIME_SLACK
    )


def _mtime(path: Path) -> float | None:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return None


def _owner_is_gone(name: str, evidence: Path) -> bool:
    """True when ``name`` is one of ours and the process that made ``evidence`` is gone."""
    pid = owner_pid(name)
    return pid is not None and not owner_alive(pid, _mtime(evidence))


def _q(path: Path | str) -> str:
    return shlex.quote(os.fspath(path))


# ------------------------------------------------------------------------------------------------
# runc processes and containers


@dataclass(frozen=True)
class _RuncProcess:
    pid: int
    container_id: str


def _runc_processes(state_dir: Path) -> Iterator[_RuncProcess]:
    """``runc … --root <state_dir> … run … <id>`` processes still running (orphaned by a killed
    engine, which had started them in their own session)."""
    root_arg = os.fsencode(os.path.realpath(state_dir))
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--root" not in argv or b"run" not in argv:
            continue
        at = argv.index(b"--root")
        if at + 1 >= len(argv) or os.path.realpath(argv[at + 1]) != root_arg:
            continue
        ids = [a for a in argv if owner_pid(a.decode("ascii", "replace")) is not None]
        if ids:
            yield _RuncProcess(int(entry), ids[-1].decode("ascii"))


def _kill_orphaned_runc(state_dir: Path) -> list[str]:
    lines = []
    for proc in _runc_processes(state_dir):
        if not _owner_is_gone(proc.container_id, state_dir / proc.container_id):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
            lines.append(
                f"killed orphaned runc process {proc.pid} (it ran container {proc.container_id})"
            )
    return lines


def _delete_stale_containers(state_dir: Path, runtime: str) -> list[str]:
    names = sorted(p.name for p in state_dir.iterdir() if p.is_dir())
    stale = [n for n in names if _owner_is_gone(n, state_dir / n)]
    if not stale:
        return []
    lines = _kill_orphaned_runc(state_dir)
    try:
        runc = Runc(state_dir, runtime)
    except SnixError as exc:
        return lines + [
            f"cannot delete stale container {cid} ({exc}): run "
            f"`runc --root {_q(state_dir)} delete --force {cid}`"
            for cid in stale
        ]
    for cid in stale:
        try:
            runc.delete(cid)
        except (SnixError, OSError, subprocess.SubprocessError) as exc:
            lines.append(
                f"could not delete stale container {cid} ({exc}): run "
                f"`{runc.name} --root {_q(state_dir)} delete --force {cid}`"
            )
            continue
        lines.append(f"deleted container {cid} (runc root {state_dir}): its process is gone")
    return lines


# ------------------------------------------------------------------------------------------------
# mounts


def mount_is_dead(path: Path) -> bool:
    """True when ``path`` is a FUSE mount whose server is gone (ENOTCONN) or whose connection
    was aborted (ECONNABORTED)."""
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno in (errno.ENOTCONN, errno.ECONNABORTED)
    return False


def _mounts_under(root: Path) -> list[MountEntry]:
    """Every mount at or below ``root``, deepest first."""
    found = {
        entry.mountpoint: entry
        for entry in read_mountinfo()
        if entry.mountpoint == root or root in entry.mountpoint.parents
    }
    return sorted(found.values(), key=lambda e: (len(e.mountpoint.parts), str(e.mountpoint)))[::-1]


def _unmount_other(mountpoint: Path) -> None:
    """Unmount a non-FUSE mount (a bundle's tmpfs), lazily when it is busy."""
    for flags in (0, MNT_DETACH):
        if _umount2(mountpoint, flags) == 0:
            return
    raise MountError(f"cannot unmount {mountpoint}")


def _unmount_stale(root: Path) -> list[str]:
    """Unmount what gone owners left below ``root``: the FUSE mounts of their inputs and any
    other mount inside their bundles (a bundle's tmpfs); dead FUSE mounts of unknown origin."""
    lines = []
    for entry in _mounts_under(root):
        mountpoint = entry.mountpoint
        try:
            first = mountpoint.relative_to(root).parts[0]
        except (ValueError, IndexError):
            first = ""
        is_fuse = entry.fstype == "fuse" or entry.fstype.startswith(("fuse.", "fuseblk"))
        if owner_pid(first) is not None:
            if not _owner_is_gone(first, root / first):
                continue
        elif not (is_fuse and mount_is_dead(mountpoint)):
            continue  # not ours and still served: leave it alone
        try:
            if is_fuse:
                force_unmount(mountpoint)
            else:
                _unmount_other(mountpoint)
        except (MountError, OSError) as exc:
            tool = "umount -l" if os.geteuid() == 0 or not is_fuse else "fusermount3 -uz"
            lines.append(f"could not unmount {mountpoint} ({exc}): run `{tool} {_q(mountpoint)}`")
            continue
        if is_fuse:
            lines.append(f"unmounted {mountpoint}: its FUSE server's process is gone")
        else:
            lines.append(f"unmounted {mountpoint} ({entry.fstype}): its process is gone")
    return lines


# ------------------------------------------------------------------------------------------------
# bundles


def _remove_stale_bundles(root: Path, state_dir: Path) -> list[str]:
    # imported here: the service module calls into this one
    from pytest_snixbuild.engine.service import mounts_below, remove_bundle

    lines = []
    for bundle in sorted(root.iterdir()):
        if not bundle.is_dir() or bundle.is_symlink() or bundle.name == RUNTIME_STATE_DIR:
            continue
        if not _owner_is_gone(bundle.name, bundle):
            continue
        if (bundle / KEPT_MARKER).exists() or (state_dir / bundle.name).exists():
            continue  # kept on purpose, or its container could not be deleted (reported)
        mounted = mounts_below(bundle)
        if mounted:
            lines.append(
                f"could not remove bundle {bundle}: {', '.join(mounted)} still mounted: run "
                f"`umount -l {' '.join(_q(m) for m in mounted)} && rm -rf {_q(bundle)}`"
            )
            continue
        remove_bundle(bundle)
        if os.path.lexists(bundle):
            lines.append(f"could not remove bundle {bundle}: run `rm -rf {_q(bundle)}`")
        else:
            lines.append(f"removed bundle {bundle}")
    return lines


# ------------------------------------------------------------------------------------------------


def recover_stale_state(bundle_root: Path, *, runtime: str = "runc") -> list[str]:
    """Clean up what dead processes left under ``bundle_root`` and say what was done.

    In order: orphaned ``runc run`` processes and containers in ``<bundle_root>/.runc`` whose
    owner is gone are killed and ``runc delete --force``-d; FUSE mounts below the bundle root of
    gone owners (or dead mounts of unknown origin) are unmounted (connection aborted first, lazy
    unmount as the last resort); then bundle directories of gone owners are removed, except
    bundles kept on purpose (``keep_failed``). Builds of live processes, this one included, are
    not touched.

    Returns one human-readable line per action; lines that start with "could not" or "cannot"
    name the command that cleans that leftover by hand. Each line is also logged (WARNING).
    """
    root = Path(os.path.realpath(bundle_root))  # as /proc/self/mountinfo shows it
    if not root.is_dir():
        return []
    started = time.monotonic()
    state_dir = root / RUNTIME_STATE_DIR
    lines: list[str] = []
    if state_dir.is_dir():
        lines += _delete_stale_containers(state_dir, runtime)
    lines += _unmount_stale(root)
    lines += _remove_stale_bundles(root, state_dir)
    for line in lines:
        log.warning("stale state: %s", line)
    log.debug("stale-state check of %s took %.3f s", root, time.monotonic() - started)
    return lines
