"""Helpers for the engine tests: hand-made OCI bundles and leftover checks (no engine code)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

BUSYBOX = "/bin/busybox"


def write_bundle(
    path: Path,
    args: Sequence[str],
    *,
    rootless: bool = True,
    env: Sequence[str] = ("PATH=/bin",),
) -> Path:
    """A minimal bundle: an empty read-only root with busybox bind-mounted at /bin/sh.

    ``rootless`` adds a user namespace mapping the caller's ids to 0 (as ``runc spec
    --rootless`` does); otherwise the container runs without one, as root.
    """
    (path / "root").mkdir(parents=True, exist_ok=True)
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")]
    linux: dict[str, object] = {"namespaces": namespaces}
    if rootless:
        namespaces.append({"type": "user"})
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    spec = {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": list(env),
            "cwd": "/",
            "noNewPrivileges": True,
        },
        "root": {"path": "root", "readonly": True},
        "hostname": "localhost",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "mode=700"],
            },
            {
                "destination": "/bin/sh",
                "type": "none",
                "source": BUSYBOX,
                "options": ["rbind", "ro"],
            },
        ],
        "linux": linux,
    }
    (path / "config.json").write_text(json.dumps(spec))
    return path


def fuse_mounts_below(path: Path) -> list[str]:
    """Mount points of FUSE file systems at or below ``path``, read from /proc/mounts."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 3 or "fuse" not in fields[2]:
                continue
            mountpoint = fields[1].replace("\\040", " ")
            if mountpoint == prefix or mountpoint.startswith(prefix + "/"):
                found.append(mountpoint)
    return found


def processes_with_arg(needle: str) -> list[int]:
    """Pids of processes whose command line contains ``needle`` (to find leaked builders)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if needle.encode() in cmdline:
            pids.append(int(entry))
    return pids
