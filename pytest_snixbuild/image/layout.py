"""Writing an OCI image layout directory, atomically, and its Docker-archive tar.

:class:`LayoutWriter` builds the layout in a hidden sibling directory
(``.<name>.tmp-<random>``) and renames it to the destination only when everything is written; on
any error (or Ctrl-C) the temporary directory is removed, so a failed build leaves nothing behind.
The destination must not exist, or be an empty directory.

:func:`write_docker_archive` tars a finished layout (``oci-layout``, ``index.json``,
``manifest.json``, ``blobs/…``) reproducibly: ``docker load`` reads the ``manifest.json`` of such
a tar, and OCI tools read the rest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from pytest_snixbuild.image.errors import ImageOptionError
from pytest_snixbuild.image.hashsink import LayerDigests
from pytest_snixbuild.image.ocijson import canonical_json, oci_layout, sha256_digest
from pytest_snixbuild.image.tarstream import TarEntry, TarWriter

OCI_LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
DOCKER_MANIFEST_FILE = "manifest.json"
BLOBS_DIR = "blobs/sha256"
FILE_MODE = 0o644
DIR_MODE = 0o755


def check_destination(path: Path, what: str) -> None:
    """``path`` must not exist, or be an empty directory."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise ImageOptionError(f"{what} {path} exists and is not a directory: expected a new path")
    if path.is_dir() and any(path.iterdir()):
        raise ImageOptionError(f"{what} {path} is not empty: expected a new or empty directory")


class LayoutWriter:
    """The layout under construction; use as a context manager, then :meth:`commit`."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir).absolute()
        self.tmp = self.out_dir.parent / f".{self.out_dir.name}.tmp-{uuid.uuid4().hex[:12]}"
        self._committed = False

    def __enter__(self) -> LayoutWriter:
        check_destination(self.out_dir, "output directory")
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        (self.tmp / BLOBS_DIR).mkdir(parents=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def blobs(self) -> Path:
        return self.tmp / BLOBS_DIR

    def layer_tmp_path(self) -> Path:
        """A fresh file name in the blob directory for a layer being written."""
        return self.blobs / f".layer-{uuid.uuid4().hex}"

    def adopt_layer(self, tmp: Path, digests: LayerDigests) -> None:
        """Give a written layer its content-addressed name."""
        final = self.blobs / digests.hex
        if final.exists():  # the same bytes twice: keep one copy
            tmp.unlink()
        else:
            os.replace(tmp, final)

    def put_json(self, value: Any) -> tuple[str, int]:
        """Store ``value`` as a canonical JSON blob; returns (digest, size)."""
        data = canonical_json(value)
        digest = sha256_digest(data)
        (self.tmp / BLOBS_DIR / digest.split(":", 1)[1]).write_bytes(data)
        return digest, len(data)

    def write_json(self, name: str, value: Any) -> None:
        (self.tmp / name).write_bytes(canonical_json(value))

    def write_layout_file(self) -> None:
        self.write_json(OCI_LAYOUT_FILE, oci_layout())

    def commit(self) -> Path:
        """Move the finished layout to its destination."""
        if self.out_dir.is_dir():
            self.out_dir.rmdir()  # empty, as checked on entry
        os.replace(self.tmp, self.out_dir)
        self._committed = True
        return self.out_dir


def _open(path: Path) -> BinaryIO:
    return path.open("rb")


def archive_entries(directory: Path, prefix: bytes = b"") -> Iterator[TarEntry]:
    """Every file and directory below ``directory``, depth first, names in byte order."""
    for name in sorted(os.listdir(os.fsencode(directory))):
        rel = prefix + b"/" + name if prefix else name
        path = directory / os.fsdecode(name)
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            raise ImageOptionError(f"{path}: expected only files and directories in a layout")
        if path.is_dir():
            yield TarEntry(rel, "directory", DIR_MODE)
            yield from archive_entries(path, rel)
        else:
            yield TarEntry(
                rel,
                "file",
                FILE_MODE,
                size=path.stat().st_size,
                source=partial(_open, path),
                origin=str(path),
            )


def write_docker_archive(layout: Path, dest: Path) -> Path:
    """Tar the layout to ``dest`` (must not exist), atomically; returns ``dest``."""
    dest = Path(dest).absolute()
    if dest.exists() or dest.is_symlink():
        raise ImageOptionError(f"docker archive {dest} exists: expected a new file name")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        with tmp.open("xb") as f:
            writer = TarWriter(f)
            writer.add_all(archive_entries(layout))
            writer.finish()
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return dest
