"""Directory services (in memory and on disk) and closure validation (spec §1.9).

On disk a Directory is stored as its canonical encoding under ``<root>/<hex[:2]>/<hex>``, written
atomically like blobs. Reading checks the bytes against the digest (``CorruptionError``) before
decoding them with snix's validation (:func:`decode_directory`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from pytest_snixbuild.castore.blobs import AtomicFile, iter_sharded, shard_path
from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.encoding import decode_directory
from pytest_snixbuild.castore.errors import CastoreError, CorruptionError, NotFoundError
from pytest_snixbuild.castore.errors import ValidationError as _ValidationError
from pytest_snixbuild.castore.nodes import Directory, DirectoryNode


class ClosureError(_ValidationError):
    """A set of Directories is not a valid closure (unknown child, wrong size, several roots)."""


@runtime_checkable
class DirectoryService(Protocol):
    """Where Directories live. Implementations: in memory and on local disk."""

    def has(self, digest: B3Digest) -> bool: ...

    def get(self, digest: B3Digest) -> Directory:
        """The Directory with this digest; :class:`NotFoundError` when absent."""
        ...

    def put(self, directory: Directory) -> B3Digest: ...

    def iter_digests(self) -> Iterator[B3Digest]: ...


class MemoryDirectoryService:
    """Directories in a dict."""

    def __init__(self) -> None:
        self._dirs: dict[B3Digest, Directory] = {}

    def has(self, digest: B3Digest) -> bool:
        return digest in self._dirs

    def get(self, digest: B3Digest) -> Directory:
        try:
            return self._dirs[digest]
        except KeyError:
            raise NotFoundError(f"directory {digest} is not in the store") from None

    def put(self, directory: Directory) -> B3Digest:
        digest = directory.digest
        self._dirs.setdefault(digest, directory)
        return digest

    def iter_digests(self) -> Iterator[B3Digest]:
        return iter(list(self._dirs))


class LocalDirectoryService:
    """Directories as canonical encodings under ``root/<hex[:2]>/<hex>``, verified on read."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: B3Digest) -> Path:
        return shard_path(self.root, digest)

    def has(self, digest: B3Digest) -> bool:
        return self._path(digest).is_file()

    def get(self, digest: B3Digest) -> Directory:
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"directory {digest} is not in the store ({path})") from None
        except OSError as exc:
            raise CastoreError(f"cannot read directory {digest} at {path}: {exc.strerror}") from exc
        actual = B3Digest.of(data)
        if actual != digest:
            raise CorruptionError(
                f"directory {digest} is corrupt: the file {path} hashes to {actual}"
            )
        try:
            return decode_directory(data)
        except CastoreError as exc:
            raise CorruptionError(f"directory {digest} at {path} does not decode: {exc}") from exc

    def put(self, directory: Directory) -> B3Digest:
        digest = directory.digest
        data = directory.encode()
        path = self._path(digest)
        try:
            if path.read_bytes() == data:
                return digest
        except FileNotFoundError:
            pass
        # absent, or corrupt (then the rename below replaces it)
        tmp = AtomicFile(self.root)
        try:
            view = memoryview(data)
            while view:
                n = tmp.file.write(view)
                view = view[n or 0 :]
            tmp.commit(self._path(digest))
        except BaseException:
            tmp.discard()
            raise
        return digest

    def iter_digests(self) -> Iterator[B3Digest]:
        return iter_sharded(self.root)


class ClosurePutter:
    """Upload a Directory closure leaves-to-root, validating it as snix does (§1.9).

    Each Directory may only refer to Directories added before it (or, with ``allow_present``,
    already in the service), with the size the child really has (snix HEAD's ``size()``).
    :meth:`finish` checks that exactly one root remains and returns its digest.
    """

    def __init__(self, service: DirectoryService, *, allow_present: bool = False) -> None:
        self._service = service
        self._allow_present = allow_present
        self._sizes: dict[B3Digest, int] = {}
        self._unreferenced: dict[B3Digest, None] = {}
        self._last: B3Digest | None = None

    def _known_size(self, digest: B3Digest) -> int | None:
        size = self._sizes.get(digest)
        if size is None and self._allow_present and self._service.has(digest):
            size = self._service.get(digest).size
            self._sizes[digest] = size
        return size

    def add(self, directory: Directory) -> B3Digest:
        for name, child in directory.directories():
            recorded = self._known_size(child.digest)
            if recorded is None:
                raise ClosureError(
                    f"unknown directory was referenced: {name!r} -> {child.digest} "
                    "(directories must be uploaded leaves first)"
                )
            if recorded != child.size:
                raise ClosureError(
                    f"{name!r} has wrong size, specified {child.size}, recorded {recorded}"
                )
            self._unreferenced.pop(child.digest, None)
        digest = self._service.put(directory)
        if digest not in self._sizes:
            self._unreferenced[digest] = None
        self._sizes[digest] = directory.size
        self._last = digest
        return digest

    def finish(self) -> B3Digest:
        if self._last is None:
            raise ClosureError("no directories were uploaded")
        roots = list(self._unreferenced)
        if len(roots) != 1 or roots[0] != self._last:
            raise ClosureError(
                f"a closure must have exactly one root, uploaded last; "
                f"unreferenced: {', '.join(map(str, roots))}"
            )
        return self._last


def put_closure(service: DirectoryService, directories: Iterable[Directory]) -> B3Digest:
    """Upload ``directories`` (leaves first, root last) with §1.9 validation; the root digest."""
    putter = ClosurePutter(service)
    for directory in directories:
        putter.add(directory)
    return putter.finish()


def iter_closure(service: DirectoryService, root: B3Digest) -> Iterator[Directory]:
    """Every Directory reachable from ``root``, root first (breadth first, each once).

    Child sizes are checked against the fetched Directory, so a closure that snix would refuse
    is refused here too.
    """
    seen = {root}
    queue: deque[tuple[bytes, DirectoryNode | None, B3Digest]] = deque([(b"", None, root)])
    while queue:
        name, node, digest = queue.popleft()
        directory = service.get(digest)
        if node is not None:
            check_child(name, node, directory)
        yield directory
        for child_name, child in directory.directories():
            if child.digest not in seen:
                seen.add(child.digest)
                queue.append((child_name, child, child.digest))


def check_child(name: bytes, node: DirectoryNode, directory: Directory) -> Directory:
    """``directory`` if its size matches what ``node`` (under ``name``) records."""
    if directory.size != node.size:
        raise ClosureError(
            f"{name!r} has wrong size, specified {node.size}, recorded {directory.size}"
        )
    return directory
