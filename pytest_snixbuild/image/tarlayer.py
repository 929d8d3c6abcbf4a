"""Layer tars from castore nodes: store paths under ``nix/store/…``, reproducibly.

:func:`store_path_entries` lists the archive members of a set of store paths: first the parent
directories (``nix/``, ``nix/store/``, mode 0755), then each store path and everything below it,
depth first with names in byte order (so parents always precede their children). Modes are the
Nix store's: directories 0555, files 0444, executables 0555, symlinks 0777.

:func:`write_layer` streams those members through a :class:`~pytest_snixbuild.image.tarstream.
TarWriter` into a :class:`~pytest_snixbuild.image.hashsink.LayerSink` (one pass: diff_id,
digest and BLAKE3 together) and into a file; file contents are read from the castore's blobs in
bounded chunks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import BinaryIO

from pytest_snixbuild.castore.errors import CastoreError
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.image.errors import LayerWriteError
from pytest_snixbuild.image.hashsink import LayerDigests, LayerSink
from pytest_snixbuild.image.tarstream import TarEntry, TarWriter

PARENT_MODE = 0o755
DIR_MODE = 0o555
FILE_MODE = 0o444
EXEC_MODE = 0o555
SYMLINK_MODE = 0o777


def components(store_path: str) -> tuple[bytes, ...]:
    """``/nix/store/x`` -> ``(b"nix", b"store", b"x")``."""
    return tuple(
        part.encode("utf-8", "surrogateescape") for part in store_path.strip("/").split("/")
    )


def _open_blob(store: Store, node: FileNode, path: bytes) -> BinaryIO:
    try:
        return store.blobs.open_read(node.digest)
    except CastoreError as exc:
        raise LayerWriteError(
            f"/{path.decode(errors='replace')}: cannot read its blob: {exc}"
        ) from exc


def node_entry(path: bytes, node: Node, store: Store) -> TarEntry:
    """The archive member for one castore node at ``path``."""
    if isinstance(node, DirectoryNode):
        return TarEntry(path, "directory", DIR_MODE)
    if isinstance(node, SymlinkNode):
        return TarEntry(path, "symlink", SYMLINK_MODE, target=node.target)
    return TarEntry(
        path,
        "file",
        EXEC_MODE if node.executable else FILE_MODE,
        size=node.size,
        source=partial(_open_blob, store, node, path),
        origin=f"blob {node.digest}",
    )


def tree_entries(prefix: bytes, node: Node, store: Store) -> Iterator[TarEntry]:
    """``node`` at ``prefix`` and everything below it, depth first, names in byte order."""
    try:
        for rel, child in store.walk(node):
            yield node_entry(prefix + b"/" + rel if rel else prefix, child, store)
    except CastoreError as exc:
        raise LayerWriteError(f"cannot read {prefix.decode(errors='replace')}: {exc}") from exc


def store_path_entries(paths: Iterable[tuple[str, Node]], store: Store) -> Iterator[TarEntry]:
    """Every member of a layer holding ``paths`` (store path, node), parents first, sorted."""
    emitted: set[tuple[bytes, ...]] = set()
    for parts, node in sorted(((components(p), n) for p, n in paths), key=lambda pn: pn[0]):
        for depth in range(1, len(parts)):
            parent = parts[:depth]
            if parent not in emitted:
                emitted.add(parent)
                yield TarEntry(b"/".join(parent), "directory", PARENT_MODE)
        yield from tree_entries(b"/".join(parts), node, store)


class LayerCancelledError(LayerWriteError):
    """Another layer failed or the build was interrupted: this one stopped early."""


class _Cancellable:
    """Passes writes on until ``cancel`` is set, then raises (checked once per write)."""

    def __init__(self, sink: LayerSink, cancel: threading.Event | None) -> None:
        self._sink = sink
        self._cancel = cancel

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        if self._cancel is not None and self._cancel.is_set():
            raise LayerCancelledError("layer writing cancelled")
        return self._sink.write(data)


def write_entries(
    entries: Iterable[TarEntry], dest: Path, cancel: threading.Event | None = None
) -> LayerDigests:
    """Write ``entries`` as a gzipped tar to ``dest`` (created; must not exist). Setting
    ``cancel`` stops the writing with :class:`LayerCancelledError`."""
    with dest.open("xb") as f:
        sink = LayerSink(f)
        writer = TarWriter(_Cancellable(sink, cancel))
        writer.add_all(entries)
        writer.finish()
        return sink.close()


def write_layer(
    paths: Sequence[tuple[str, Node]],
    store: Store,
    dest: Path,
    cancel: threading.Event | None = None,
) -> LayerDigests:
    """The layer of ``paths`` written to ``dest``, with its digests."""
    return write_entries(store_path_entries(paths, store), dest, cancel)
