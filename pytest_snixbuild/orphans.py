"""Snapshots left behind by deleted TOML cases.

syrupy cannot see these (a case's snapshot file is only tied to a test that runs), so the plugin
looks for ``<dir>/__snapshots__/<stem>/<stem>.json`` whose ``<dir>/<stem>.toml`` is gone,
reports them, and deletes them on ``--snapshot-update``.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

SNAPSHOT_DIRNAME = "__snapshots__"


def find_orphans(case_dirs: Iterable[Path], skip_dirs: Sequence[str] = ()) -> list[Path]:
    """Snapshot directories of cases that no longer exist, under every directory given.

    Directories whose name starts with ``.``, matches a pattern of ``skip_dirs`` (pytest's
    ``norecursedirs``) or that hold a virtualenv are not searched."""
    orphans: set[Path] = set()
    for root in case_dirs:
        for snapdir in _snapshot_dirs(root, skip_dirs):
            for sub in sorted(snapdir.iterdir()):
                if _is_case_snapshot_dir(sub) and not _case_exists(snapdir.parent, sub.name):
                    orphans.add(sub)
    return sorted(orphans)


def _snapshot_dirs(root: Path, skip_dirs: Sequence[str]) -> Iterator[Path]:
    if not root.is_dir():
        return
    for dirpath, dirnames, _files in os.walk(root):
        here = Path(dirpath)
        if SNAPSHOT_DIRNAME in dirnames:
            yield here / SNAPSHOT_DIRNAME
        dirnames[:] = [
            d
            for d in dirnames
            if d != SNAPSHOT_DIRNAME
            and not d.startswith(".")
            and not any(fnmatch.fnmatch(d, pattern) for pattern in skip_dirs)
            and not (here / d / "pyvenv.cfg").exists()
        ]


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
