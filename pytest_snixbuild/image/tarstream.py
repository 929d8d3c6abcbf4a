"""Reproducible tar streams: entries in, bytes out, nothing but the entries shaping the result.

Every header is a POSIX (PAX) header made by :meth:`tarfile.TarInfo.tobuf` with mtime 0, uid
and gid 0, empty user and group names; a PAX extended header appears only where ustar cannot hold
a value (long or non-UTF-8 names, sizes of 8 GiB and more). File contents are copied in bounded
chunks. The stream ends with two zero blocks and is padded to a multiple of 10240 bytes (tar's
default record), as GNU tar and Python's tarfile do. The order of entries is the caller's: the
layer and archive writers sort them (parents first, names in byte order).
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO, Literal, Protocol

from pytest_snixbuild.image.errors import LayerWriteError

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
#: bytes copied per read when streaming a file into the archive
COPY_CHUNK = 1 << 20

EntryKind = Literal["directory", "file", "symlink"]


class Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...


@dataclass(frozen=True)
class TarEntry:
    """One archive member. ``path`` is relative (no leading ``/``, no trailing ``/``)."""

    path: bytes
    kind: EntryKind
    mode: int
    #: file size in bytes (files only)
    size: int = 0
    #: symlink target (symlinks only)
    target: bytes = b""
    #: opens the file's contents (files only)
    source: Callable[[], BinaryIO] | None = None
    #: what the contents are, for error messages (e.g. the blob digest)
    origin: str = ""


_TYPES = {"directory": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE}


def header(entry: TarEntry) -> bytes:
    """The (PAX) header block(s) of ``entry``."""
    info = tarfile.TarInfo(os.fsdecode(entry.path))
    info.type = _TYPES[entry.kind]
    info.mode = entry.mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.kind == "file":
        info.size = entry.size
    elif entry.kind == "symlink":
        info.linkname = os.fsdecode(entry.target)
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


class TarWriter:
    """Writes entries to ``out`` as a tar stream; call :meth:`finish` once at the end."""

    def __init__(self, out: Writable) -> None:
        self._out = out
        self._offset = 0
        self._buf = bytearray(COPY_CHUNK)
        self.entries = 0

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        self._out.write(data)
        self._offset += len(data)

    def add(self, entry: TarEntry) -> None:
        if entry.path.startswith(b"/") or entry.path.endswith(b"/") or not entry.path:
            raise LayerWriteError(f"tar entry {entry.path!r}: expected a relative path")
        self._write(header(entry))
        self.entries += 1
        if entry.kind != "file" or entry.size == 0:
            return
        if entry.source is None:
            raise LayerWriteError(f"tar entry {os.fsdecode(entry.path)}: no contents to copy")
        with entry.source() as src:
            self._copy(src, entry)
        remainder = entry.size % BLOCK
        if remainder:
            self._write(bytes(BLOCK - remainder))

    def _copy(self, src: BinaryIO, entry: TarEntry) -> None:
        view = memoryview(self._buf)
        left = entry.size
        while left:
            n = src.readinto(view[: min(left, COPY_CHUNK)])  # type: ignore[attr-defined]
            if not n:
                raise LayerWriteError(
                    f"{os.fsdecode(entry.path)}: the contents ({entry.origin or 'file'}) end "
                    f"after {entry.size - left} bytes, expected {entry.size}"
                )
            self._write(view[:n])
            left -= n
        if src.read(1):
            raise LayerWriteError(
                f"{os.fsdecode(entry.path)}: the contents ({entry.origin or 'file'}) are longer "
                f"than the recorded size {entry.size}"
            )

    def add_all(self, entries: Iterable[TarEntry]) -> None:
        for entry in entries:
            self.add(entry)

    def finish(self) -> int:
        """Write the end-of-archive blocks and the record padding; returns the total size."""
        self._write(bytes(2 * BLOCK))
        remainder = self._offset % RECORD
        if remainder:
            self._write(bytes(RECORD - remainder))
        return self._offset
