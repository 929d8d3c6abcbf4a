"""A castore: a blob service plus a directory service, in memory or in a directory on disk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_snixbuild.castore.blobs import BlobService, LocalBlobService, MemoryBlobService
from pytest_snixbuild.castore.directories import (
    DirectoryService,
    LocalDirectoryService,
    MemoryDirectoryService,
    check_child,
)
from pytest_snixbuild.castore.nodes import Directory, DirectoryNode, Node

BLOBS_DIR = "blobs"
DIRECTORIES_DIR = "directories"


@dataclass
class Store:
    """The two services together; ``path`` is the store's directory, None in memory."""

    blobs: BlobService
    directories: DirectoryService
    path: Path | None = None

    @classmethod
    def memory(cls) -> Store:
        return cls(MemoryBlobService(), MemoryDirectoryService(), None)

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) the on-disk store ``path/{blobs,directories}``.

        The store outlives the process and may be used by several processes at once.
        """
        path = Path(path)
        return cls(
            LocalBlobService(path / BLOBS_DIR),
            LocalDirectoryService(path / DIRECTORIES_DIR),
            path,
        )

    def get_directory(self, name: bytes, node: DirectoryNode) -> Directory:
        """Fetch the Directory ``node`` refers to, checking the recorded size (§1.9)."""
        return check_child(name, node, self.directories.get(node.digest))

    def walk(self, node: Node) -> Iterator[tuple[bytes, Node]]:
        """(path, node) for ``node`` (path ``b""``) and everything below it, depth first in
        name order; paths are ``/``-joined names relative to ``node``."""
        stack: list[tuple[bytes, Node]] = [(b"", node)]
        while stack:
            path, current = stack.pop()
            yield path, current
            if isinstance(current, DirectoryNode):
                directory = self.get_directory(path.rsplit(b"/", 1)[-1], current)
                prefix = path + b"/" if path else b""
                for name in reversed(list(directory)):
                    stack.append((prefix + name, directory[name]))
