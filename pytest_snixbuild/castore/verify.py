"""Check a castore end to end: every blob and Directory, every reference between them.

:func:`verify_store` re-hashes every blob (ignoring what a process remembers as verified), re-hashes
and decodes every Directory, and checks that every entry of every Directory refers to something
that exists: a child Directory with the size the entry records, a blob with the entry's size. On
disk it also reports files that do not belong in the layout, and temporary files that killed
writers left in ``tmp/`` (which :func:`verify_store` removes with ``sweep=True``).

Nothing is repaired: a corrupt object is replaced by storing the same content again
(``put``/``put_file``/ingesting the tree rewrites it), and a missing one by re-ingesting the tree
it belonged to.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_snixbuild.castore.blobs import (
    TMP_DIR,
    BlobService,
    LocalBlobService,
    _hash_stream,
    hash_file,
    shard_path,
)
from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.directories import DirectoryService, LocalDirectoryService
from pytest_snixbuild.castore.encoding import decode_directory
from pytest_snixbuild.castore.errors import CastoreError
from pytest_snixbuild.castore.nodes import Directory
from pytest_snixbuild.castore.store import BLOBS_DIR, DIRECTORIES_DIR, Store

__all__ = [
    "DEFAULT_SWEEP_AGE",
    "Problem",
    "ProblemKind",
    "StoreNotFoundError",
    "TempFile",
    "VerifyReport",
    "verify_store",
]

#: temporary files younger than this (seconds) may belong to a writer that is still working
DEFAULT_SWEEP_AGE = 60 * 60.0

ProblemKind = Literal[
    "corrupt-blob",
    "corrupt-directory",
    "undecodable-directory",
    "unreadable",
    "missing-blob",
    "missing-directory",
    "wrong-size",
    "stray-file",
]


class StoreNotFoundError(CastoreError):
    """The path given as a store is not an on-disk castore."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the store. ``digest`` is the object that is wrong or missing."""

    kind: ProblemKind
    digest: B3Digest | None
    message: str
    path: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "digest": None if self.digest is None else str(self.digest),
            "path": None if self.path is None else str(self.path),
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class TempFile:
    """A file in a ``tmp/`` directory of the store."""

    path: Path
    size: int
    age: float
    #: the pid in the name (``<pid>-<uuid>``), when there is one
    writer: int | None
    #: True when old enough and its writer is gone: safe to remove
    stale: bool


@dataclass
class VerifyReport:
    """What :func:`verify_store` found. ``ok`` is True when there are no problems (temporary
    files are not problems)."""

    store: Path | None
    blobs: int = 0
    blob_bytes: int = 0
    directories: int = 0
    problems: list[Problem] = field(default_factory=list)
    temp_files: list[TempFile] = field(default_factory=list)
    swept: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def stale_temp_files(self) -> list[TempFile]:
        return [t for t in self.temp_files if t.stale and t.path not in self.swept]

    def add(
        self, kind: ProblemKind, digest: B3Digest | None, message: str, path: Path | None = None
    ) -> None:
        self.problems.append(Problem(kind, digest, message, path))

    def summary(self) -> str:
        where = str(self.store) if self.store is not None else "the store"
        head = (
            f"{where}: {self.blobs} blob(s) ({self.blob_bytes} bytes), "
            f"{self.directories} directory(ies) checked"
        )
        if self.ok:
            return f"{head}: consistent"
        return f"{head}: {len(self.problems)} problem(s)"

    def lines(self) -> list[str]:
        """The report for people: one line per problem, then temporary files, then a summary."""
        out = [f"{p.kind}: {p.message}" for p in self.problems]
        for path in self.swept:
            out.append(f"removed stale temporary file {path}")
        stale = self.stale_temp_files
        if stale:
            total = sum(t.size for t in stale)
            out.append(
                f"{len(stale)} stale temporary file(s) ({total} bytes) left by killed writers: "
                "run with --sweep to remove them"
            )
        busy = [t for t in self.temp_files if not t.stale]
        if busy:
            out.append(f"{len(busy)} temporary file(s) of writers that may still be running")
        out.append(self.summary())
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "store": None if self.store is None else str(self.store),
            "ok": self.ok,
            "blobs": self.blobs,
            "blob_bytes": self.blob_bytes,
            "directories": self.directories,
            "problems": [p.to_json() for p in self.problems],
            "temp_files": [
                {
                    "path": str(t.path),
                    "size": t.size,
                    "age": round(t.age, 3),
                    "writer": t.writer,
                    "stale": t.stale,
                }
                for t in self.temp_files
            ],
            "swept": [str(p) for p in self.swept],
        }


# ------------------------------------------------------------------------------------------------
# walking the on-disk layout


def _scan_layout(root: Path, what: str, report: VerifyReport) -> Iterator[tuple[B3Digest, Path]]:
    """(digest, path) of every object file under ``root/<hex[:2]>/<hex>``; anything else found
    there (other names, symlinks, special files) is reported as a stray file."""
    try:
        shards = sorted(os.listdir(root))
    except FileNotFoundError:
        return
    for shard in shards:
        shard_dir = root / shard
        if shard == TMP_DIR:
            continue
        if len(shard) != 2 or not _is_hex(shard) or not _is_real_dir(shard_dir):
            report.add("stray-file", None, f"{shard_dir} does not belong in the {what} layout")
            continue
        for name in sorted(os.listdir(shard_dir)):
            path = shard_dir / name
            if len(name) != 64 or not _is_hex(name) or not name.startswith(shard):
                report.add("stray-file", None, f"{path} does not belong in the {what} layout")
                continue
            st = os.lstat(path)
            digest = B3Digest(bytes.fromhex(name))
            if not stat.S_ISREG(st.st_mode):
                kind: ProblemKind = "corrupt-blob" if what == "blob" else "corrupt-directory"
                report.add(kind, digest, f"{what} {digest}: {path} is not a regular file", path)
                continue
            yield digest, path


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _writer_gone(pid: int, created: float) -> bool:
    from pytest_snixbuild.engine.stale import owner_alive  # the engine's liveness rule

    return not owner_alive(pid, created)


def _temp_files(root: Path, min_age: float, now: float) -> Iterator[TempFile]:
    tmp_dir = root / TMP_DIR
    try:
        names = sorted(os.listdir(tmp_dir))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        path = tmp_dir / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue  # its writer just renamed it into place
        age = max(0.0, now - st.st_mtime)
        pid_text = name.split("-", 1)[0]
        writer = int(pid_text) if pid_text.isdigit() and "-" in name else None
        old = age >= min_age
        stale = old and (writer is None or _writer_gone(writer, st.st_mtime))
        yield TempFile(path, st.st_size, age, writer, stale)


# ------------------------------------------------------------------------------------------------
# the checks


def _check_blobs(blobs: BlobService, report: VerifyReport) -> dict[B3Digest, int]:
    """Re-hash every blob; returns the size of each good one."""
    sizes: dict[B3Digest, int] = {}
    if isinstance(blobs, LocalBlobService):
        objects: Iterator[tuple[B3Digest, Path | None]] = _scan_layout(blobs.root, "blob", report)
    else:
        objects = ((d, None) for d in blobs.iter_digests())
    for digest, path in objects:
        report.blobs += 1
        try:
            if path is not None:
                actual, size = hash_file(path)
            else:
                with blobs.open_read(digest) as f:
                    actual, size = _hash_stream(f)
        except (OSError, CastoreError) as exc:
            report.add("unreadable", digest, f"blob {digest}: cannot be read: {exc}", path)
            continue
        if actual != digest:
            where = f"the file {path}" if path is not None else "its contents"
            report.add(
                "corrupt-blob",
                digest,
                f"blob {digest} is corrupt: {where} hashes to {actual}",
                path,
            )
            continue
        report.blob_bytes += size
        sizes[digest] = size
    return sizes


def _check_directories(
    directories: DirectoryService, report: VerifyReport
) -> dict[B3Digest, Directory]:
    """Re-hash and decode every Directory; returns the good ones."""
    good: dict[B3Digest, Directory] = {}
    if isinstance(directories, LocalDirectoryService):
        for digest, path in _scan_layout(directories.root, "directory", report):
            report.directories += 1
            try:
                data = path.read_bytes()
            except OSError as exc:
                report.add("unreadable", digest, f"directory {digest}: cannot be read: {exc}", path)
                continue
            actual = B3Digest.of(data)
            if actual != digest:
                report.add(
                    "corrupt-directory",
                    digest,
                    f"directory {digest} is corrupt: the file {path} hashes to {actual}",
                    path,
                )
                continue
            try:
                good[digest] = decode_directory(data)
            except CastoreError as exc:
                report.add(
                    "undecodable-directory",
                    digest,
                    f"directory {digest} ({path}) does not decode: {exc}",
                    path,
                )
    else:
        for digest in directories.iter_digests():
            report.directories += 1
            try:
                directory = directories.get(digest)
            except CastoreError as exc:
                report.add("unreadable", digest, f"directory {digest}: {exc}")
                continue
            if directory.digest != digest:
                report.add(
                    "corrupt-directory",
                    digest,
                    f"directory {digest} is corrupt: its contents hash to {directory.digest}",
                )
                continue
            good[digest] = directory
    return good


def _check_references(
    store: Store,
    sizes: dict[B3Digest, int],
    good: dict[B3Digest, Directory],
    report: VerifyReport,
) -> None:
    """Every entry of every good Directory must point at an existing, intact object."""
    bad_blobs = {p.digest for p in report.problems if p.kind in ("corrupt-blob", "unreadable")}
    bad_dirs = {
        p.digest
        for p in report.problems
        if p.kind in ("corrupt-directory", "undecodable-directory", "unreadable")
    }
    for digest, directory in good.items():
        for name, child in directory.directories():
            entry = f"directory {digest} entry {name!r}"
            if child.digest in bad_dirs:
                continue  # reported already
            target = good.get(child.digest)
            if target is None:
                present = store.directories.has(child.digest)
                if not present:
                    report.add(
                        "missing-directory",
                        child.digest,
                        f"{entry} refers to directory {child.digest}, which is not in the store",
                    )
                continue
            if target.size != child.size:
                report.add(
                    "wrong-size",
                    digest,
                    f"{entry} records size {child.size} for directory {child.digest}, "
                    f"which has size {target.size}",
                )
        for name, file in directory.files():
            entry = f"directory {digest} entry {name!r}"
            if file.digest in bad_blobs:
                continue
            size = sizes.get(file.digest)
            if size is None:
                report.add(
                    "missing-blob",
                    file.digest,
                    f"{entry} refers to blob {file.digest}, which is not in the store",
                )
            elif size != file.size:
                report.add(
                    "wrong-size",
                    digest,
                    f"{entry} records size {file.size} for blob {file.digest}, "
                    f"which has {size} bytes",
                )


def _open_existing(path: Path) -> Store:
    """The on-disk store at ``path``, without creating anything."""
    path = Path(path)
    if not path.is_dir():
        raise StoreNotFoundError(f"store {path} does not exist: expected a castore directory")
    missing = [d for d in (BLOBS_DIR, DIRECTORIES_DIR) if not (path / d).is_dir()]
    if missing:
        raise StoreNotFoundError(
            f"{path} is not a castore: expected {BLOBS_DIR}/ and {DIRECTORIES_DIR}/ in it "
            f"(missing: {', '.join(missing)})"
        )
    return Store.open(path)


def verify_store(
    store: Store | Path,
    *,
    sweep: bool = False,
    sweep_age: float = DEFAULT_SWEEP_AGE,
    now: float | None = None,
) -> VerifyReport:
    """Check every blob, every Directory and every reference of ``store``.

    ``store`` is a :class:`Store` (in memory or on disk) or the directory of an on-disk store
    (which must exist; nothing is created). Temporary files under ``blobs/tmp`` and
    ``directories/tmp`` are listed; one is *stale* when it is at least ``sweep_age`` seconds old
    and the writer named in it (``<pid>-<uuid>``) is gone. ``sweep=True`` removes stale ones.
    """
    if not isinstance(store, Store):
        store = _open_existing(Path(store))
    report = VerifyReport(store.path)
    sizes = _check_blobs(store.blobs, report)
    good = _check_directories(store.directories, report)
    _check_references(store, sizes, good, report)
    now = time.time() if now is None else now
    for service in (store.blobs, store.directories):
        root = getattr(service, "root", None)
        if isinstance(root, Path):
            report.temp_files.extend(_temp_files(root, sweep_age, now))
    if sweep:
        for temp in report.temp_files:
            if temp.stale:
                try:
                    temp.path.unlink()
                except FileNotFoundError:
                    continue
                except OSError:
                    continue  # stays listed as stale
                report.swept.append(temp.path)
    return report


def shard_of(store_dir: Path, kind: Literal["blob", "directory"], digest: B3Digest) -> Path:
    """Where ``digest`` lives in the on-disk store ``store_dir`` (for messages and tests)."""
    sub = BLOBS_DIR if kind == "blob" else DIRECTORIES_DIR
    return shard_path(Path(store_dir) / sub, digest)
