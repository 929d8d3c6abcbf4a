"""castore nodes and Directories, with snix's name and symlink-target rules.

A node carries no name: names live in the :class:`Directory` that holds it (or next to it, as in a
BuildRequest's ``inputs``). Names and symlink targets are byte strings, since snix allows any bytes
except the few its rules forbid.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.errors import ValidationError

MAX_NAME_LEN = 255
MAX_TARGET_LEN = 4095
U64_MAX = (1 << 64) - 1

NameProblem = Literal["Empty", "Parent", "CurDir", "TooLong", "Null", "Slashes"]


class InvalidNameError(ValidationError):
    """A path component breaks snix's name rules; ``problem`` says which one."""

    def __init__(self, name: bytes, problem: NameProblem) -> None:
        self.name = name
        self.problem = problem
        why = {
            "Empty": "names must not be empty",
            "Parent": "'..' is not a valid name",
            "CurDir": "'.' is not a valid name",
            "TooLong": f"names are at most {MAX_NAME_LEN} bytes, this one has {len(name)}",
            "Null": "names must not contain NUL",
            "Slashes": "names must not contain '/'",
        }[problem]
        super().__init__(f"invalid name {name!r}: {why}")


class InvalidSymlinkTargetError(ValidationError):
    """A symlink target is empty, too long, or contains NUL."""

    def __init__(self, target: bytes, why: str) -> None:
        self.target = target
        super().__init__(f"invalid symlink target {target[:80]!r}: {why}")


def name_problem(name: bytes) -> NameProblem | None:
    """The first rule ``name`` breaks, in snix's order, or None when it is valid."""
    if name == b"":
        return "Empty"
    if name == b"..":
        return "Parent"
    if name == b".":
        return "CurDir"
    if len(name) > MAX_NAME_LEN:
        return "TooLong"
    if b"\0" in name:
        return "Null"
    if b"/" in name:
        return "Slashes"
    return None


def validate_name(name: bytes) -> bytes:
    """Return ``name`` if it is a valid path component, else raise :class:`InvalidNameError`."""
    problem = name_problem(name)
    if problem is not None:
        raise InvalidNameError(name, problem)
    return name


def validate_symlink_target(target: bytes) -> bytes:
    """Return ``target`` if it is a valid symlink target (non-empty, ≤4095 bytes, no NUL)."""
    if not target:
        raise InvalidSymlinkTargetError(target, "targets must not be empty")
    if len(target) > MAX_TARGET_LEN:
        raise InvalidSymlinkTargetError(
            target, f"targets are at most {MAX_TARGET_LEN} bytes, this one has {len(target)}"
        )
    if b"\0" in target:
        raise InvalidSymlinkTargetError(target, "targets must not contain NUL")
    return target


@dataclass(frozen=True, slots=True)
class FileNode:
    """A regular file: the digest of its contents, its size and its executable bit."""

    digest: B3Digest
    size: int
    executable: bool = False

    @property
    def kind(self) -> Literal["file"]:
        return "file"


@dataclass(frozen=True, slots=True)
class DirectoryNode:
    """A reference to a Directory by its digest and its (snix HEAD) size."""

    digest: B3Digest
    size: int

    @property
    def kind(self) -> Literal["directory"]:
        return "directory"


@dataclass(frozen=True, slots=True)
class SymlinkNode:
    """A symbolic link; the target is never followed."""

    target: bytes

    def __post_init__(self) -> None:
        validate_symlink_target(self.target)

    @property
    def kind(self) -> Literal["symlink"]:
        return "symlink"


Node = FileNode | DirectoryNode | SymlinkNode


class Directory(Mapping[bytes, Node]):
    """A castore Directory: a mapping of unique valid names to nodes, iterated in name order.

    ``size`` is what snix HEAD computes (``crate::Directory::size()``): two per entry plus the size
    of every child directory. The proto comment (and ``spec_size``) says one per entry plus child
    sizes; see docs/castore.md for why we follow HEAD.
    """

    __slots__ = ("_digest", "_entries")

    def __init__(self, entries: Mapping[bytes, Node] | None = None) -> None:
        self._entries: dict[bytes, Node] = {}
        self._digest: B3Digest | None = None
        for name, node in sorted((entries or {}).items()):
            self._entries[validate_name(name)] = node
        self.size  # noqa: B018 - raises on overflow

    # Mapping protocol -----------------------------------------------------------------------
    def __getitem__(self, name: bytes) -> Node:
        return self._entries[name]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Directory):
            return self._entries == other._entries
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.digest)

    def __repr__(self) -> str:
        return f"Directory({self._entries!r})"

    # castore semantics ------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """snix HEAD's size: 2·entries + Σ child directory sizes (the doubled count)."""
        total = 0
        for node in self._entries.values():
            total += 1 + (1 + node.size if isinstance(node, DirectoryNode) else 1)
        if total > U64_MAX:
            raise ValidationError("SizeOverflow: directory size exceeds u64::MAX")
        return total

    @property
    def spec_size(self) -> int:
        """The size the proto comment describes: entries + Σ child directory sizes."""
        return len(self._entries) + sum(
            n.size for n in self._entries.values() if isinstance(n, DirectoryNode)
        )

    def directories(self) -> Iterator[tuple[bytes, DirectoryNode]]:
        for name, node in self._entries.items():
            if isinstance(node, DirectoryNode):
                yield name, node

    def files(self) -> Iterator[tuple[bytes, FileNode]]:
        for name, node in self._entries.items():
            if isinstance(node, FileNode):
                yield name, node

    def symlinks(self) -> Iterator[tuple[bytes, SymlinkNode]]:
        for name, node in self._entries.items():
            if isinstance(node, SymlinkNode):
                yield name, node

    def encode(self) -> bytes:
        """The canonical (deterministic proto3) encoding that the digest is taken over."""
        from pytest_snixbuild.castore.encoding import encode_directory

        return encode_directory(self)

    @property
    def digest(self) -> B3Digest:
        if self._digest is None:
            self._digest = B3Digest.of(self.encode())
        return self._digest

    def as_node(self) -> DirectoryNode:
        """The DirectoryNode a parent uses to refer to this Directory."""
        return DirectoryNode(self.digest, self.size)
