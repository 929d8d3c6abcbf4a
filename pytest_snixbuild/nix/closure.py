"""A derivation's input closure, ingested from a Nix store directory into a castore.

The inputs of a build are the derivation's input sources, the selected outputs of its input
derivations, and everything those reference at run time (their closure). The store directory is
either the real ``/nix/store`` (then Nix's database knows the references: read directly, or
through ``nix-store --query --requisites``) or a plain directory holding store paths (then
references are found as Nix finds them: by scanning the contents for the hash parts of the other
store paths in that directory).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import Node
from pytest_snixbuild.castore.refscan import ReferencePattern, ReferenceScanner
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.nix.derivation import Derivation, DerivationError
from pytest_snixbuild.nix.hashing import DerivationResolver, resolver_from_store_dir
from pytest_snixbuild.nix.storepath import (
    STORE_DIR,
    StorePath,
    StorePathError,
    sorted_store_paths,
)

#: roots -> every store path in their closure (roots included)
ClosureFinder = Callable[[list[StorePath]], set[StorePath]]
ReferenceMode = Literal["auto", "nix", "scan", "none"]


class InputClosureError(DerivationError):
    """An input of a derivation is missing from the store directory or cannot be read."""


def direct_inputs(drv: Derivation, resolve: DerivationResolver) -> list[StorePath]:
    """Input sources plus the selected outputs of the input derivations, in store-path order."""
    paths = set(drv.input_sources)
    for drv_path, names in drv.input_derivations.items():
        input_drv = resolve(drv_path)
        for name in names:
            out = input_drv.outputs.get(name)
            if out is None:
                raise InputClosureError(
                    f"input derivation {drv_path.to_absolute()} has no output {name!r} "
                    f"(it has {', '.join(input_drv.outputs)})"
                )
            if out.path is None:
                raise InputClosureError(
                    f"output {name!r} of input derivation {drv_path.to_absolute()} has no path"
                )
            paths.add(out.path)
    return sorted_store_paths(paths)


def _host_path(store_dir: Path, path: StorePath) -> Path:
    host = store_dir / path.basename
    if not os.path.lexists(host):
        raise InputClosureError(
            f"input {path.to_absolute()} is not in {store_dir} (expected {host} to exist: "
            "build or fetch it first)"
        )
    return host


#: at most this many roots are looked up in one query (SQLite's limit on bound parameters)
_DB_MAX_ROOTS = 500
_DB_VALID = "SELECT path FROM ValidPaths WHERE path IN ({marks})"
_DB_CLOSURE = """
WITH RECURSIVE closure(id) AS (
    SELECT id FROM ValidPaths WHERE path IN ({marks})
    UNION
    SELECT Refs.reference FROM Refs JOIN closure ON Refs.referrer = closure.id
)
SELECT path FROM ValidPaths WHERE id IN (SELECT id FROM closure)
"""


def nix_database() -> Path:
    """Nix's SQLite database: ``$NIX_STATE_DIR/db/db.sqlite`` (default ``/nix/var/nix``)."""
    return Path(os.environ.get("NIX_STATE_DIR", "/nix/var/nix")) / "db" / "db.sqlite"


def database_requisites(
    roots: list[StorePath], database: Path | None = None
) -> set[StorePath] | None:
    """The closure of ``roots`` read from Nix's database, opened read-only; None when the
    database cannot answer (unreadable, locked, an unknown schema, a root that is not a valid
    path, too many roots): then ask ``nix-store``, which also explains what is wrong.

    Starting ``nix-store --query --requisites`` costs 20 ms or more on every build of a
    derivation; this query takes well under a millisecond.
    """
    database = database or nix_database()
    wanted = sorted({root.to_absolute() for root in roots})
    if not wanted or len(wanted) > _DB_MAX_ROOTS or not os.access(database, os.R_OK):
        return None
    marks = ",".join("?" * len(wanted))
    uri = f"file:{urllib.parse.quote(os.fspath(database))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=1.0)
        try:
            valid = connection.execute(_DB_VALID.format(marks=marks), wanted).fetchall()
            if len(valid) != len(wanted):
                return None
            rows = connection.execute(_DB_CLOSURE.format(marks=marks), wanted).fetchall()
        finally:
            connection.close()
        return {StorePath.from_absolute_path(path) for (path,) in rows}
    except (sqlite3.Error, StorePathError, TypeError, ValueError):
        return None


def nix_requisites(roots: list[StorePath]) -> set[StorePath]:
    """The closure according to Nix's database: read directly when possible
    (:func:`database_requisites`), else ``nix-store --query --requisites``."""
    if not roots:
        return set()
    found = database_requisites(roots)
    if found is not None:
        return found
    exe = shutil.which("nix-store")
    if exe is None:
        raise InputClosureError("nix-store is not installed: cannot ask Nix for references")
    proc = subprocess.run(
        [exe, "--query", "--requisites", *(p.to_absolute() for p in roots)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        message = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output"
        raise InputClosureError(f"nix-store --query --requisites failed: {message}")
    try:
        return {StorePath.from_absolute_path(line) for line in proc.stdout.split()}
    except StorePathError as exc:
        raise InputClosureError(f"nix-store printed an unexpected path: {exc}") from exc


def _store_entries(store_dir: Path) -> dict[str, StorePath]:
    entries: dict[str, StorePath] = {}
    for name in os.listdir(store_dir):
        try:
            path = StorePath.from_basename(name)
        except StorePathError:
            continue  # .links, lock files, temp roots: not store paths
        entries[path.hash_str] = path
    return entries


def _scan_references(host: Path, pattern: ReferencePattern) -> tuple[int, ...]:
    scanner = ReferenceScanner(pattern)
    if host.is_symlink():
        scanner.scan_symlink_target(os.readlink(os.fsencode(host)))
        return scanner.matches()
    if host.is_file():
        scanner.scan_file(host)
        return scanner.matches()
    for dirpath, dirnames, filenames in os.walk(host):
        for name in sorted(dirnames + filenames):
            child = Path(dirpath) / name
            if child.is_symlink():
                scanner.scan_symlink_target(os.readlink(os.fsencode(child)))
            elif child.is_file():
                scanner.scan_file(child)
    return scanner.matches()


def scanned_closure(store_dir: Path) -> ClosureFinder:
    """A closure finder that scans each path for the hash parts of its siblings in
    ``store_dir`` (what Nix records as references, for paths Nix built)."""

    def find(roots: list[StorePath]) -> set[StorePath]:
        entries = _store_entries(store_dir)
        needles = sorted(entries)
        pattern = ReferencePattern(needles)
        seen: set[StorePath] = set()
        queue = list(roots)
        while queue:
            path = queue.pop()
            if path in seen:
                continue
            seen.add(path)
            for index in _scan_references(_host_path(store_dir, path), pattern):
                ref = entries[needles[index]]
                if ref not in seen:
                    queue.append(ref)
        return seen

    return find


def closure_finder(store_dir: Path, mode: ReferenceMode = "auto") -> ClosureFinder:
    """How to find runtime references in ``store_dir``.

    ``auto`` asks Nix when ``store_dir`` is ``/nix/store`` and ``nix-store`` is installed and
    knows the paths, and scans otherwise; ``none`` takes the roots only.
    """
    if mode == "none":
        return lambda roots: set(roots)
    if mode == "nix":
        return nix_requisites
    if mode == "scan":
        return scanned_closure(store_dir)
    scan = scanned_closure(store_dir)
    real_store = Path(store_dir).resolve() == Path(STORE_DIR).resolve()
    if not real_store or shutil.which("nix-store") is None:
        return scan

    def find(roots: list[StorePath]) -> set[StorePath]:
        try:
            return nix_requisites(roots)
        except InputClosureError:
            return scan(roots)

    return find


def input_closure(
    drv: Derivation,
    store_dir: Path,
    castore: Store,
    *,
    resolve: DerivationResolver | None = None,
    references: ReferenceMode | ClosureFinder = "auto",
) -> dict[StorePath, Node]:
    """Ingest every store path the build of ``drv`` needs into ``castore``.

    Returns store path -> castore node, in store-path order, ready for
    :func:`~pytest_snixbuild.nix.to_request.derivation_to_build_request`.
    """
    store_dir = Path(store_dir)
    resolve = resolve or resolver_from_store_dir(store_dir)
    roots = direct_inputs(drv, resolve)
    for root in roots:
        _host_path(store_dir, root)  # a clear error before any work
    find = references if callable(references) else closure_finder(store_dir, references)
    closure = set(roots) | find(roots)
    return {
        path: ingest_path(_host_path(store_dir, path), castore)
        for path in sorted_store_paths(closure)
    }
