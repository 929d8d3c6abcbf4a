"""``[request.inputs]`` entries of a case file -> castore nodes, stored in a :class:`Store`.

Each input is an inline table with exactly one of these keys saying where its content is:

* ``{ path = "…" }``: a host file, directory or symlink, relative to the case file or absolute,
  ingested with :func:`ingest_path`;
* ``{ contents = "…" | { base64 = "…" }, executable = false }``: an inline file;
* ``{ symlink = "…" | { base64 = "…" } }``: a symbolic link to that target;
* ``{ directory = "blake3-…", size = N }``: a Directory already in the castore (``size`` may be
  left out; when given it must match the stored Directory);
* ``{ file = "blake3-…", size = N, executable = false }``: a blob already in the castore
  (``size`` may be left out; when given it must match the blob).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

from pytest_snixbuild.castore.digests import B3Digest, DigestError
from pytest_snixbuild.castore.errors import CastoreError
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import (
    MAX_TARGET_LEN,
    DirectoryNode,
    FileNode,
    InvalidSymlinkTargetError,
    Node,
    SymlinkNode,
)
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.request.toml_reader import Table, show, toml_type

#: the keys that say where an input's content comes from, and the other keys each allows
INPUT_KINDS: dict[str, tuple[str, ...]] = {
    "path": (),
    "contents": ("executable",),
    "symlink": (),
    "directory": ("size",),
    "file": ("size", "executable"),
}
_KINDS_TEXT = "exactly one of path, contents, symlink, directory, file"
DIGEST_EXPECTED = "'blake3-' followed by the padded standard base64 of 32 bytes (44 characters)"


def _where(store: Store) -> str:
    return f"the store at {store.path}" if store.path is not None else "the in-memory store"


def _digest(spec: Table, name: str) -> B3Digest:
    text = spec.string(name)
    try:
        return B3Digest.parse(text)
    except DigestError:
        raise spec.error(name, f"invalid digest {show(text)}", DIGEST_EXPECTED) from None


def _from_path(spec: Table, store: Store) -> Node:
    given = spec.string("path")
    if given == "":
        raise spec.error("path", "the path is empty", "a host path to ingest")
    resolved = Path(os.path.normpath((spec.source.path.parent / given).absolute()))
    if not os.path.lexists(resolved):
        raise spec.error(
            "path",
            f"{given!r} does not exist: {resolved}",
            "a file, directory or symlink, relative to the case file or absolute",
        )
    try:
        return ingest_path(resolved, store)
    except CastoreError as exc:
        raise spec.error("path", f"cannot ingest {resolved}: {exc}", "ingestible content") from None


def _from_contents(spec: Table, store: Store) -> Node:
    data = spec.get_bytes("contents")
    digest = store.blobs.put(data)
    return FileNode(digest, len(data), spec.boolean("executable", False))


def _from_symlink(spec: Table, store: Store) -> Node:
    target = spec.get_bytes("symlink")
    try:
        return SymlinkNode(target)
    except InvalidSymlinkTargetError as exc:
        raise spec.error(
            "symlink", str(exc), f"a target of 1 to {MAX_TARGET_LEN} bytes without NUL"
        ) from None


def _from_directory(spec: Table, store: Store) -> Node:
    digest = _digest(spec, "directory")
    if not store.directories.has(digest):
        raise spec.error(
            "directory", f"{digest} is not in {_where(store)}", "a directory already in the castore"
        )
    try:
        stored_size = store.directories.get(digest).size
    except CastoreError as exc:
        raise spec.error(
            "directory", f"cannot read {digest}: {exc}", "a readable directory"
        ) from None
    size = spec.integer("size", stored_size)
    if size != stored_size:
        raise spec.error(
            "size", f"size {size} does not match the stored directory", f"{stored_size}, or no size"
        )
    return DirectoryNode(digest, size)


def blob_size(store: Store, digest: B3Digest) -> int:
    """The length of a stored blob."""
    backing = store.blobs.backing_path(digest)
    if backing is not None:
        return backing.stat().st_size
    with store.blobs.open_read(digest) as f:
        return f.seek(0, io.SEEK_END)


def _from_file(spec: Table, store: Store) -> Node:
    digest = _digest(spec, "file")
    if not store.blobs.has(digest):
        raise spec.error(
            "file", f"{digest} is not in {_where(store)}", "a blob already in the castore"
        )
    stored_size = blob_size(store, digest)
    size = spec.integer("size", stored_size)
    if size != stored_size:
        raise spec.error(
            "size", f"size {size} does not match the stored blob", f"{stored_size}, or no size"
        )
    return FileNode(digest, size, spec.boolean("executable", False))


_LOADERS: dict[str, Callable[[Table, Store], Node]] = {
    "path": _from_path,
    "contents": _from_contents,
    "symlink": _from_symlink,
    "directory": _from_directory,
    "file": _from_file,
}


def load_input(spec: Table, store: Store) -> Node:
    """One input's node, its content stored in ``store``."""
    kinds = [k for k in INPUT_KINDS if spec.has(k)]
    if not kinds:
        spec.check_keys(
            dict.fromkeys((*INPUT_KINDS, *(k for v in INPUT_KINDS.values() for k in v)))
        )
        raise spec.error((), "no content given", _KINDS_TEXT)
    if len(kinds) > 1:
        raise spec.error(kinds[1], f"both {kinds[0]} and {kinds[1]} given", _KINDS_TEXT)
    kind = kinds[0]
    spec.check_keys((kind, *INPUT_KINDS[kind]))
    return _LOADERS[kind](spec, store)


def load_inputs(table: Table, store: Store) -> dict[str, Node]:
    """``[request.inputs]``: name -> node."""
    inputs: dict[str, Node] = {}
    for name, value in table.data.items():
        if not isinstance(value, dict):
            raise table.error(
                name,
                f"wrong type: {toml_type(value)} {show(value)}",
                'an inline table such as { path = "inputs/foo" } or { contents = "…" }',
            )
        inputs[name] = load_input(Table(table.source, (*table.key, name), value), store)
    return inputs
