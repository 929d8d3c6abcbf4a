"""Nix Archive (NAR) writing and strict reading (spec §8.4).

Every token is a byte string: its length as u64 little-endian, the bytes, zero padding to a
multiple of 8. A node is ``( type regular [executable ""] contents <data> )``,
``( type symlink target <target> )`` or ``( type directory {entry ( name <n> node <node> )}* )``,
after the magic ``nix-archive-1``. Directory entries are sorted by name bytes across all types.

Writing streams: file contents go out in bounded chunks, never a whole file in memory.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

from pytest_snixbuild.castore.blobs import CHUNK_SIZE, BlobWriter
from pytest_snixbuild.castore.directories import ClosurePutter
from pytest_snixbuild.castore.errors import CastoreError
from pytest_snixbuild.castore.ingest import file_type_name
from pytest_snixbuild.castore.nodes import (
    MAX_NAME_LEN,
    MAX_TARGET_LEN,
    Directory,
    DirectoryNode,
    FileNode,
    Node,
    SymlinkNode,
    name_problem,
)
from pytest_snixbuild.castore.store import Store

MAGIC = b"nix-archive-1"
T = TypeVar("T")


class NarError(CastoreError):
    """A NAR is malformed (``offset`` is the byte where the problem starts), or a host path
    cannot be written as one."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        if offset is not None:
            message = f"invalid NAR at byte {offset}: {message}"
        super().__init__(message)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 8)


def token(data: bytes) -> bytes:
    """One NAR string token: length, bytes, padding."""
    return struct.pack("<Q", len(data)) + data + _pad(len(data))


_T_OPEN, _T_CLOSE = token(b"("), token(b")")
_HEADER = token(MAGIC)
_T_TYPE = token(b"type")
_REGULAR = _T_OPEN + _T_TYPE + token(b"regular")
_EXECUTABLE = token(b"executable") + token(b"")
_CONTENTS = token(b"contents")
_SYMLINK = _T_OPEN + _T_TYPE + token(b"symlink") + token(b"target")
_DIRECTORY = _T_OPEN + _T_TYPE + token(b"directory")
_ENTRY = token(b"entry") + _T_OPEN + token(b"name")
_NODE = token(b"node")


# --------------------------------------------------------------------------------------------
# writing


@dataclass(frozen=True)
class _FileItem:
    executable: bool
    size: int
    open: Callable[[], BinaryIO]


@dataclass(frozen=True)
class _LinkItem:
    target: bytes


_Item = _FileItem | _LinkItem | list[tuple[bytes, T]]


def _read_chunks(f: BinaryIO, size: int, what: str) -> Iterator[bytes]:
    """Exactly ``size`` bytes of ``f`` in bounded chunks; an error if it has fewer or more."""
    left = size
    while left:
        chunk = f.read(min(CHUNK_SIZE, left))
        if not chunk:
            raise CastoreError(f"{what} is shorter than its recorded size {size}")
        left -= len(chunk)
        yield chunk
    if f.read(1):
        raise CastoreError(f"{what} is longer than its recorded size {size}")


def _iter_nar(root: T, describe: Callable[[T, bytes], _Item[T]]) -> Iterator[bytes]:
    yield _HEADER
    stack: list[Iterator[tuple[bytes, T]]] = []
    item = describe(root, b"")
    while True:
        if isinstance(item, _FileItem):
            with item.open() as f:
                head = _REGULAR + (_EXECUTABLE if item.executable else b"") + _CONTENTS
                yield head + struct.pack("<Q", item.size)
                yield from _read_chunks(f, item.size, "file")
            yield _pad(item.size) + _T_CLOSE
        elif isinstance(item, _LinkItem):
            yield _SYMLINK + token(item.target) + _T_CLOSE
        else:
            yield _DIRECTORY
            stack.append(iter(item))
        if not isinstance(item, list) and stack:
            yield _T_CLOSE  # the entry holding a file or symlink
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                yield _T_CLOSE  # the directory
                if stack:
                    yield _T_CLOSE  # the entry holding it
                continue
            name, obj = nxt
            yield _ENTRY + token(name) + _NODE
            item = describe(obj, name)
            break
        else:
            return


def iter_nar(node: Node, store: Store) -> Iterator[bytes]:
    """The NAR serialisation of a castore node, in chunks (file contents streamed)."""

    def describe(current: Node, name: bytes) -> _Item[Node]:
        if isinstance(current, FileNode):
            digest = current.digest
            return _FileItem(
                current.executable, current.size, lambda: store.blobs.open_read(digest)
            )
        if isinstance(current, SymlinkNode):
            return _LinkItem(current.target)
        return list(store.get_directory(name, current).items())

    return _iter_nar(node, describe)


def _host_describe(path: bytes, name: bytes) -> _Item[bytes]:
    shown = os.fsdecode(path)
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            return _FileItem(
                bool(st.st_mode & stat.S_IXUSR),
                st.st_size,
                lambda: os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb"),
            )
        if stat.S_ISLNK(st.st_mode):
            return _LinkItem(os.readlink(path))
        if stat.S_ISDIR(st.st_mode):
            return [(n, os.path.join(path, n)) for n in sorted(os.listdir(path))]
    except OSError as exc:
        raise NarError(f"cannot read {shown}: {exc.strerror}") from exc
    raise NarError(f"unsupported file type at {shown}: {file_type_name(st.st_mode)}")


def iter_nar_path(path: Path) -> Iterator[bytes]:
    """The NAR serialisation of a host path (what ``nix-store --dump`` writes), streamed."""
    return _iter_nar(os.fsencode(path), _host_describe)


def write_nar(node: Node, store: Store, out: BinaryIO) -> int:
    """Write the NAR of ``node`` to ``out``; returns the number of bytes written."""
    total = 0
    for chunk in iter_nar(node, store):
        out.write(chunk)
        total += len(chunk)
    return total


def _sha256_of(chunks: Iterator[bytes]) -> tuple[bytes, int]:
    h = hashlib.sha256()
    size = 0
    for chunk in chunks:
        h.update(chunk)
        size += len(chunk)
    return h.digest(), size


def nar_hash(node: Node, store: Store) -> tuple[bytes, int]:
    """(sha256 digest, size) of the NAR of a castore node."""
    return _sha256_of(iter_nar(node, store))


def nar_hash_path(path: Path) -> tuple[bytes, int]:
    """(sha256 digest, size) of the NAR of a host path, like ``nix-hash --type sha256 PATH``."""
    return _sha256_of(iter_nar_path(path))


# --------------------------------------------------------------------------------------------
# reading

_MAX_KEYWORD = 16


@dataclass
class _RFrame:
    entries: dict[bytes, Node] = field(default_factory=dict)
    prev: bytes | None = None
    pending: bytes = b""


class _Reader:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.offset = 0

    def fail(self, message: str, offset: int | None = None) -> NarError:
        return NarError(message, self.offset if offset is None else offset)

    def exact(self, n: int, what: str) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise self.fail(f"unexpected end of input while reading {what} ({n} bytes expected)")
        self.offset += n
        return data

    def u64(self, what: str) -> int:
        value: int = struct.unpack("<Q", self.exact(8, f"the length of {what}"))[0]
        return value

    def padding(self, n: int, what: str) -> None:
        pad = -n % 8
        if pad:
            start = self.offset
            if self.exact(pad, f"the padding of {what}") != b"\0" * pad:
                raise self.fail(f"non-zero padding after {what}", start)

    def string(self, max_len: int, what: str) -> bytes:
        start = self.offset
        n = self.u64(what)
        if n > max_len:
            raise self.fail(f"{what} is {n} bytes long, at most {max_len} are allowed", start)
        data = self.exact(n, what)
        self.padding(n, what)
        return data

    def keyword(self, *expected: bytes) -> bytes:
        start = self.offset
        shown = " or ".join(repr(e.decode()) for e in expected)
        n = self.u64(f"a token (expected {shown})")
        if n > _MAX_KEYWORD:
            raise self.fail(f"expected {shown}, got a {n}-byte string", start)
        got = self.exact(n, f"a token (expected {shown})")
        self.padding(n, "a token")
        if got not in expected:
            raise self.fail(f"expected {shown}, got {got!r}", start)
        return got

    def contents(self, writer: BlobWriter) -> int:
        n = self.u64("the file contents")
        left = n
        while left:
            chunk = self.stream.read(min(CHUNK_SIZE, left))
            if not chunk:
                raise self.fail(f"unexpected end of input inside file contents ({left} bytes left)")
            writer.write(chunk)
            left -= len(chunk)
            self.offset += len(chunk)
        self.padding(n, "the file contents")
        return n


def _read_leaf_or_open_dir(r: _Reader, store: Store) -> Node | None:
    """Read ``( type ...``: a whole file or symlink node, or just a directory's header (None)."""
    r.keyword(b"(")
    r.keyword(b"type")
    kind = r.keyword(b"regular", b"symlink", b"directory")
    if kind == b"regular":
        executable = r.keyword(b"executable", b"contents") == b"executable"
        if executable:
            start = r.offset
            if r.string(_MAX_KEYWORD, "the executable marker") != b"":
                raise r.fail("the executable marker must be followed by an empty string", start)
            r.keyword(b"contents")
        with store.blobs.writer() as w:
            size = r.contents(w)
        r.keyword(b")")
        return FileNode(w.digest, size, executable)
    if kind == b"symlink":
        r.keyword(b"target")
        start = r.offset
        target = r.string(MAX_TARGET_LEN, "the symlink target")
        if not target or b"\0" in target:
            raise r.fail(f"invalid symlink target {target!r}: must be non-empty without NUL", start)
        r.keyword(b")")
        return SymlinkNode(target)
    return None


def ingest_nar(stream: BinaryIO, store: Store, *, allow_trailing: bool = False) -> Node:
    """Read a NAR from ``stream`` into ``store`` and return its root node.

    Validation is strict: known tokens only, zero padding, entry names valid, sorted and unique,
    symlink targets valid, and (unless ``allow_trailing``) nothing after the root node.
    Errors are :class:`NarError` with the byte offset where the problem starts.
    """
    r = _Reader(stream)
    start = r.offset
    if r.string(_MAX_KEYWORD, "the magic") != MAGIC:
        raise r.fail(f"expected the magic {MAGIC.decode()!r}", start)
    putter = ClosurePutter(store.directories, allow_present=True)
    frames: list[_RFrame] = []
    node = _read_leaf_or_open_dir(r, store)
    if node is None:
        frames.append(_RFrame())
    while True:
        if node is None:
            frame = frames[-1]
            if r.keyword(b"entry", b")") == b"entry":
                r.keyword(b"(")
                r.keyword(b"name")
                start = r.offset
                name = r.string(MAX_NAME_LEN, "an entry name")
                problem = name_problem(name)
                if problem is not None:
                    raise r.fail(f"invalid entry name {name!r}: {problem}", start)
                if frame.prev is not None and name <= frame.prev:
                    order = "duplicate" if name == frame.prev else "unsorted"
                    raise r.fail(f"{order} entry name {name!r} after {frame.prev!r}", start)
                frame.prev = frame.pending = name
                r.keyword(b"node")
                node = _read_leaf_or_open_dir(r, store)
                if node is None:
                    frames.append(_RFrame())
                    continue
            else:
                frames.pop()
                directory = Directory(frame.entries)
                putter.add(directory)
                node = directory.as_node()
        # deliver the finished node to its parent, or return it
        if not frames:
            break
        parent = frames[-1]
        parent.entries[parent.pending] = node
        r.keyword(b")")
        node = None
    if isinstance(node, DirectoryNode):
        putter.finish()
    if not allow_trailing and r.stream.read(1):
        raise r.fail("trailing data after the NAR")
    return node
