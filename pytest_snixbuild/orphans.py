"""Snapshots left behind by deleted TOML cases.

syrupy cannot see these (a case's snapshot file is only tied to a test that runs), so the plugin
looks for ``<dir>/__snapshots__/<stem>/<stem>.json`` whose ``<dir>/<stem>.toml`` is gone,
reports them, and deletes them on ``--snapshot-update``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

SNAPSHOT_DIRNAME = "__snapshots__"


def find_orphans(case_dirs: Iterable[Path]) -> list[Path]:
    """Snapshot directories of cases that no longer exist, under every directory given."""
    orphans: set[Path] = set()
    for root in case_dirs:
        if not root.is_dir():
            continue
        for snapdir in root.rglob(SNAPSHOT_DIRNAME):
            if not snapdir.is_dir():
                continue
            for sub in sorted(snapdir.iterdir()):
                if _is_case_snapshot_dir(sub) and not _case_exists(snapdir.parent, sub.name):
                    orphans.add(sub)
    return sorted(orphans)


def _is_case_snapshot_dir(path: Path) -> bool:
    """A directory holding only ``<name>.json``, ``<name>[rootful].json`` (and numbered
    ``<name>.N.json``) files: the snapshots of one case."""
    if not path.is_dir():
        return False
    files = list(path.iterdir())
    return bool(files) and all(
        f.is_file() and f.suffix == ".json" and f.name.split(".")[0] in _case_stems(path.name)
        for f in files
    )


def _case_stems(name: str) -> tuple[str, str]:
    return name, f"{name}[rootful]"


def _case_exists(directory: Path, stem: str) -> bool:
    return (directory / f"{stem}.toml").exists() or (directory / f"{stem}.py").exists()


def delete_orphans(orphans: Iterable[Path]) -> list[Path]:
    deleted = []
    for path in orphans:
        shutil.rmtree(path, ignore_errors=True)
        deleted.append(path)
        parent = path.parent
        if parent.name == SNAPSHOT_DIRNAME and not any(parent.iterdir()):
            parent.rmdir()
    return deleted
