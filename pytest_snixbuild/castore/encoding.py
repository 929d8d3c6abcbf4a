"""The canonical encoding of castore messages (snix.castore.v1), by hand.

``encode_directory`` writes exactly what prost writes; its BLAKE3 is the Directory digest.
``decode_directory`` applies snix's validation in snix's order (§1.7 of the spec), so the first
error reported for a bad message is the one snix would report.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_snixbuild.castore.digests import DIGEST_SIZE, B3Digest
from pytest_snixbuild.castore.errors import ValidationError
from pytest_snixbuild.castore.nodes import (
    U64_MAX,
    Directory,
    DirectoryNode,
    FileNode,
    InvalidNameError,
    InvalidSymlinkTargetError,
    Node,
    SymlinkNode,
    name_problem,
    validate_symlink_target,
)
from pytest_snixbuild.castore.protowire import (
    DecodeError,
    bool_field,
    iter_fields,
    len_field,
    uint_field,
)

# Directory fields
_DIRS, _FILES, _SYMLINKS = 1, 2, 3


class WrongSortingError(ValidationError):
    def __init__(self, name: bytes) -> None:
        self.name = name
        super().__init__(f"WrongSorting: {name!r} is not sorted after its predecessor")


class DuplicateNameError(ValidationError):
    def __init__(self, name: bytes) -> None:
        self.name = name
        super().__init__(f"DuplicateName: {name!r} appears more than once")


class InvalidNodeError(ValidationError):
    """A node inside a Directory or Entry is invalid (bad digest length, bad symlink target)."""

    def __init__(self, name: bytes, why: str) -> None:
        self.name = name
        super().__init__(f"InvalidNode {name!r}: {why}")


def encode_directory_entry(name: bytes, node: DirectoryNode) -> bytes:
    return len_field(1, name) + len_field(2, node.digest.raw) + uint_field(3, node.size)


def encode_file_entry(name: bytes, node: FileNode) -> bytes:
    return (
        len_field(1, name)
        + len_field(2, node.digest.raw)
        + uint_field(3, node.size)
        + bool_field(4, node.executable)
    )


def encode_symlink_entry(name: bytes, node: SymlinkNode) -> bytes:
    return len_field(1, name) + len_field(2, node.target)


def encode_directory(directory: Directory) -> bytes:
    out = bytearray()
    for name, dnode in directory.directories():
        out += len_field(_DIRS, encode_directory_entry(name, dnode), always=True)
    for name, fnode in directory.files():
        out += len_field(_FILES, encode_file_entry(name, fnode), always=True)
    for name, snode in directory.symlinks():
        out += len_field(_SYMLINKS, encode_symlink_entry(name, snode), always=True)
    return bytes(out)


def encode_entry(name: bytes, node: Node) -> bytes:
    """A ``snix.castore.v1.Entry`` (the oneof wrapper used by BuildRequest/BuildResponse)."""
    if isinstance(node, DirectoryNode):
        return len_field(1, encode_directory_entry(name, node), always=True)
    if isinstance(node, FileNode):
        return len_field(2, encode_file_entry(name, node), always=True)
    return len_field(3, encode_symlink_entry(name, node), always=True)


@dataclass(frozen=True, slots=True)
class _RawEntry:
    kind: int  # 1 dir, 2 file, 3 symlink
    name: bytes = b""
    digest: bytes = b""
    size: int = 0
    executable: bool = False
    target: bytes = b""


def _parse_entry_body(kind: int, body: bytes) -> _RawEntry:
    name = digest = target = b""
    size = 0
    executable = False
    for f in iter_fields(body):
        if f.number == 1:
            name = f.as_bytes("name")
        elif f.number == 2:
            if kind == 3:
                target = f.as_bytes("target")
            else:
                digest = f.as_bytes("digest")
        elif f.number == 3 and kind != 3:
            size = f.as_int("size")
        elif f.number == 4 and kind == 2:
            executable = bool(f.as_int("executable"))
    return _RawEntry(kind, name, digest, size, executable, target)


def _raw_to_node(raw: _RawEntry) -> Node:
    """Node validity only (snix checks the node before the name)."""
    if raw.kind == 3:
        try:
            return SymlinkNode(validate_symlink_target(raw.target))
        except InvalidSymlinkTargetError as exc:
            raise InvalidNodeError(raw.name, f"InvalidSymlinkTarget: {exc}") from exc
    if len(raw.digest) != DIGEST_SIZE:
        raise InvalidNodeError(
            raw.name, f"InvalidDigestLen({len(raw.digest)}): digests are {DIGEST_SIZE} bytes"
        )
    if raw.kind == 1:
        return DirectoryNode(B3Digest(raw.digest), raw.size)
    return FileNode(B3Digest(raw.digest), raw.size, raw.executable)


def _raw_to_named_node(raw: _RawEntry) -> tuple[bytes, Node]:
    node = _raw_to_node(raw)
    problem = name_problem(raw.name)
    if problem is not None:
        raise InvalidNameError(raw.name, problem)
    return raw.name, node


def decode_directory(data: bytes) -> Directory:
    """Decode and validate a Directory message, reporting errors in snix's order."""
    lists: dict[int, list[_RawEntry]] = {_DIRS: [], _FILES: [], _SYMLINKS: []}
    for f in iter_fields(data):
        if f.number in lists:
            lists[f.number].append(_parse_entry_body(f.number, f.as_bytes("Directory entry")))
    # 1. sorting per list (an empty first name compares equal to the initial b"")
    for entries in lists.values():
        prev = b""
        for raw in entries:
            if raw.name < prev:
                raise WrongSortingError(raw.name)
            if raw.name == prev:
                if raw.name == b"":
                    raise InvalidNameError(raw.name, "Empty")
                raise DuplicateNameError(raw.name)
            prev = raw.name
    # 2. node then name validity, dirs then files then symlinks
    named = [_raw_to_named_node(raw) for kind in (1, 2, 3) for raw in lists[kind]]
    # 3. uniqueness across lists and size overflow
    seen: dict[bytes, Node] = {}
    for name, node in named:
        if name in seen:
            raise DuplicateNameError(name)
        seen[name] = node
    total = sum(2 + (n.size if isinstance(n, DirectoryNode) else 0) for n in seen.values())
    if total > U64_MAX:
        raise ValidationError("SizeOverflow: directory size exceeds u64::MAX")
    return Directory(seen)


def decode_entry(data: bytes) -> tuple[bytes, Node]:
    """Decode a ``snix.castore.v1.Entry``; returns (name, node) after node and name checks.

    The name may be empty here (an anonymous node); callers that need a valid name check it.
    """
    raw: _RawEntry | None = None
    for f in iter_fields(data):
        if f.number in (1, 2, 3):
            raw = _parse_entry_body(f.number, f.as_bytes("Entry"))
    if raw is None:
        raise DecodeError("Entry has no node set")
    return raw.name, _raw_to_node(raw)
