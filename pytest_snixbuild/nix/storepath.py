"""Nix store paths: ``/nix/store/<nixbase32 of a 20-byte digest>-<name>``.

A :class:`StorePath` is equal to another only when digest *and* name are equal, but Nix (and
snix) order store paths by their digest alone: use :func:`store_path_key` as the sort key
wherever a list or set of store paths has to be in Nix's order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.nix import nixbase32
from pytest_snixbuild.nix.nixbase32 import Nixbase32Error

STORE_DIR = "/nix/store"
DIGEST_SIZE = 20
#: characters of the nixbase32 hash part
HASH_LEN = nixbase32.encoded_len(DIGEST_SIZE)
NAME_MAX = 211
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-_?=.")


class StorePathError(SnixError):
    """A string is not a valid store path, basename or store path name."""


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid store path name, or None when it is."""
    if not name:
        return "names must not be empty"
    if len(name.encode()) > NAME_MAX:
        return f"names are at most {NAME_MAX} bytes, this one has {len(name.encode())}"
    for pos, ch in enumerate(name):
        if ch not in _NAME_CHARS:
            return f"character {ch!r} at position {pos} is not one of A-Z a-z 0-9 + - _ ? = ."
    return None


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid store path name, else raise :class:`StorePathError`."""
    problem = name_problem(name)
    if problem is not None:
        raise StorePathError(f"invalid store path name {name!r}: {problem}")
    return name


@dataclass(frozen=True, slots=True)
class StorePath:
    """A store path: a 20-byte digest and a name, independent of the store directory."""

    digest: bytes
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.digest, bytes) or len(self.digest) != DIGEST_SIZE:
            raise StorePathError(
                f"invalid store path digest {self.digest!r}: expected {DIGEST_SIZE} bytes"
            )
        validate_name(self.name)

    @classmethod
    def from_basename(cls, basename: str) -> StorePath:
        """Parse ``<hash>-<name>`` (no directory)."""
        parsed = _parse_basename(basename)
        if isinstance(parsed, str):
            raise StorePathError(f"invalid store path basename {basename!r}: {parsed}")
        return parsed

    @classmethod
    def from_absolute_path(cls, path: str, store_dir: str = STORE_DIR) -> StorePath:
        """Parse ``<store_dir>/<hash>-<name>``; nothing may follow the basename."""
        prefix = store_dir.rstrip("/") + "/"
        if not path.startswith(prefix):
            raise StorePathError(
                f"invalid store path {path!r}: expected it to start with {prefix!r}"
            )
        basename = path[len(prefix) :]
        if "/" in basename:
            raise StorePathError(
                f"invalid store path {path!r}: expected {prefix}<hash>-<name> with nothing after it"
            )
        parsed = _parse_basename(basename)
        if isinstance(parsed, str):
            raise StorePathError(f"invalid store path {path!r}: {parsed}")
        return parsed

    @property
    def hash_str(self) -> str:
        """The 32-character nixbase32 hash part."""
        return nixbase32.encode(self.digest)

    @property
    def basename(self) -> str:
        return f"{self.hash_str}-{self.name}"

    def to_absolute(self, store_dir: str = STORE_DIR) -> str:
        return f"{store_dir.rstrip('/')}/{self.basename}"

    def __str__(self) -> str:
        return self.to_absolute()


def store_path_key(path: StorePath) -> str:
    """Sort key giving Nix's order: the hash string (= digest compared byte-reversed).

    The name is deliberately not part of the key, as in snix's ``Ord``.
    """
    return path.hash_str


def sorted_store_paths(paths: Iterable[StorePath]) -> list[StorePath]:
    """The given store paths in Nix's order."""
    return sorted(paths, key=store_path_key)


def _parse_basename(basename: str) -> StorePath | str:
    """The parsed basename, or why it is not one."""
    if len(basename) < HASH_LEN + 2:
        return f"expected <{HASH_LEN}-character hash>-<name>, got only {len(basename)} characters"
    if basename[HASH_LEN] != "-":
        return f"expected '-' after the {HASH_LEN}-character hash, found {basename[HASH_LEN]!r}"
    hash_part = basename[:HASH_LEN]
    try:
        digest = nixbase32.decode(hash_part)
    except Nixbase32Error:
        return f"the hash part {hash_part!r} is not valid nixbase32"
    name = basename[HASH_LEN + 1 :]
    problem = name_problem(name)
    if problem is not None:
        return problem
    return StorePath(digest, name)
