"""Host paths into the castore (spec §6.1) and castore nodes back out to host paths.

Ingestion never follows a symlink (not even the root), keeps only the owner-exec bit of regular
files, refuses special files (fifos, sockets, devices) with an error naming the path, and uploads
Directories leaves first with snix's closure validation. A file or symlink root is returned as
that node, with no Directory uploaded. Both directions stream file contents in bounded chunks.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_snixbuild.castore.blobs import CHUNK_SIZE
from pytest_snixbuild.castore.directories import ClosurePutter
from pytest_snixbuild.castore.errors import CastoreError, CorruptionError, IngestError
from pytest_snixbuild.castore.nodes import (
    Directory,
    FileNode,
    InvalidSymlinkTargetError,
    Node,
    SymlinkNode,
    name_problem,
)
from pytest_snixbuild.castore.store import Store

OnFile = Callable[[Path, FileNode], None]
OnSymlink = Callable[[Path, bytes], None]

#: permission bits given to exported files and directories
FILE_MODE = 0o644
EXEC_MODE = 0o755
DIR_MODE = 0o755


class ExportError(CastoreError):
    """A node cannot be written to a host path (destination exists, I/O error)."""


def file_type_name(mode: int) -> str:
    """A readable name for the type in ``st_mode`` (what an error message shows)."""
    for test, name in (
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISREG, "regular file"),
        (stat.S_ISLNK, "symlink"),
    ):
        if test(mode):
            return name
    return f"unknown type (mode {mode:o})"


def _show(path: bytes) -> str:
    return os.fsdecode(path)


def _lstat(path: bytes) -> os.stat_result:
    try:
        return os.lstat(path)
    except OSError as exc:
        raise IngestError(f"cannot stat {_show(path)}: {exc.strerror}") from exc


def _leaf(
    path: bytes,
    st: os.stat_result,
    store: Store,
    on_file: OnFile | None,
    on_symlink: OnSymlink | None,
) -> Node:
    """The node of a non-directory: a regular file or a symlink; anything else is refused."""
    if stat.S_ISREG(st.st_mode):
        try:
            digest, size = store.blobs.put_file(Path(_show(path)))
        except OSError as exc:
            raise IngestError(f"cannot read {_show(path)}: {exc.strerror}") from exc
        node = FileNode(digest, size, bool(st.st_mode & stat.S_IXUSR))
        if on_file is not None:
            on_file(Path(_show(path)), node)
        return node
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError as exc:
            raise IngestError(f"cannot read symlink {_show(path)}: {exc.strerror}") from exc
        try:
            snode = SymlinkNode(target)
        except InvalidSymlinkTargetError as exc:
            raise IngestError(f"invalid symlink target at {_show(path)}: {exc}") from exc
        if on_symlink is not None:
            on_symlink(Path(_show(path)), target)
        return snode
    raise IngestError(f"unsupported file type at {_show(path)}: {file_type_name(st.st_mode)}")


def _list_dir(path: bytes) -> list[bytes]:
    try:
        return os.listdir(path)
    except OSError as exc:
        raise IngestError(f"cannot list directory {_show(path)}: {exc.strerror}") from exc


@dataclass
class _Frame:
    path: bytes
    name: bytes
    pending: list[bytes]
    entries: dict[bytes, Node] = field(default_factory=dict)


def ingest_path(
    path: Path,
    store: Store,
    *,
    on_file: OnFile | None = None,
    on_symlink: OnSymlink | None = None,
) -> Node:
    """Ingest a host file, symlink or directory tree; returns its root node.

    ``on_file(path, node)`` and ``on_symlink(path, target)`` are called for every regular file and
    symlink once it is stored (the build engine scans outputs for references with them).
    """
    root = os.fsencode(path)
    st = _lstat(root)
    if not stat.S_ISDIR(st.st_mode):
        return _leaf(root, st, store, on_file, on_symlink)

    putter = ClosurePutter(store.directories)
    frames = [_Frame(root, b"", _list_dir(root))]
    while True:
        frame = frames[-1]
        if frame.pending:
            name = frame.pending.pop()
            child = os.path.join(frame.path, name)
            problem = name_problem(name)
            if problem is not None:
                raise IngestError(f"invalid name at {_show(child)}: {problem}")
            st = _lstat(child)
            if stat.S_ISDIR(st.st_mode):
                frames.append(_Frame(child, name, _list_dir(child)))
            else:
                frame.entries[name] = _leaf(child, st, store, on_file, on_symlink)
            continue
        frames.pop()
        try:
            directory = Directory(frame.entries)
        except CastoreError as exc:
            raise IngestError(f"cannot ingest directory {_show(frame.path)}: {exc}") from exc
        putter.add(directory)
        node = directory.as_node()
        if not frames:
            putter.finish()
            return node
        frames[-1].entries[frame.name] = node


# --------------------------------------------------------------------------------------------
# export


def _export_file(node: FileNode, store: Store, dest: bytes) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb", buffering=0) as out, store.blobs.open_read(node.digest) as src:
        written = 0
        while True:
            chunk = src.read(CHUNK_SIZE)
            if not chunk:
                break
            out.write(chunk)
            written += len(chunk)
        if written != node.size:
            raise CorruptionError(
                f"blob {node.digest} has {written} bytes but the file node at {_show(dest)} "
                f"records {node.size}"
            )
        os.fchmod(out.fileno(), EXEC_MODE if node.executable else FILE_MODE)


def _export_tree(node: Node, store: Store, dest: bytes) -> None:
    stack: list[tuple[bytes, bytes, Node]] = [(dest, b"", node)]
    while stack:
        path, name, current = stack.pop()
        if isinstance(current, FileNode):
            _export_file(current, store, path)
        elif isinstance(current, SymlinkNode):
            os.symlink(current.target, path)
        else:
            directory = store.get_directory(name, current)
            os.mkdir(path, 0o700)
            os.chmod(path, DIR_MODE)
            for child_name, child in directory.items():
                stack.append((os.path.join(path, child_name), child_name, child))


def _remove(path: bytes) -> None:
    """Remove what an export created, bottom up without recursion (trees may be deep)."""
    if not os.path.isdir(path) or os.path.islink(path):
        if os.path.lexists(path):
            os.unlink(path)
        return
    stack: list[tuple[bytes, bool]] = [(path, False)]
    while stack:
        current, emptied = stack.pop()
        if emptied:
            os.rmdir(current)
            continue
        os.chmod(current, 0o700)
        stack.append((current, True))
        with os.scandir(current) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, False))
                else:
                    os.unlink(entry.path)


def export_node(node: Node, store: Store, dest: Path) -> None:
    """Write ``node`` (and everything below it) to the host path ``dest``, which must not exist.

    Files get mode 0o644 (0o755 when executable), directories 0o755. On any error nothing is
    left at ``dest``.
    """
    target = os.fsencode(dest)
    if os.path.lexists(target):
        raise ExportError(f"cannot export to {dest}: it already exists (expected a new path)")
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        raise ExportError(f"cannot export to {dest}: the parent directory does not exist")
    try:
        _export_tree(node, store, target)
    except BaseException as exc:
        _remove(target)
        if isinstance(exc, OSError):
            where = _show(exc.filename) if isinstance(exc.filename, bytes) else str(dest)
            raise ExportError(f"cannot export to {where}: {exc.strerror}") from exc
        raise
