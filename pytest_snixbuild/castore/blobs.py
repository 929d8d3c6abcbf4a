"""Blob services: content addressed by BLAKE3, in memory or on local disk.

The on-disk layout is ``<root>/<hex[:2]>/<hex>``, one read-only (0o444) file per blob. Writes go
to a temporary file under ``<root>/tmp/`` and are renamed into place, so a reader never sees a
partial blob and any number of processes may write the same blob at once. Reading a blob hashes it
first (once per process for an unchanged file) so that a corrupted blob is an error, never served.
Everything streams in bounded chunks: a 1 GiB blob never sits in memory.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol, Self, runtime_checkable

import blake3

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.errors import CastoreError, CorruptionError, NotFoundError

#: bytes read or written per step when streaming
CHUNK_SIZE = 1 << 20
#: name of the directory holding in-flight temporary files in a local store
TMP_DIR = "tmp"


class BlobWriter(Protocol):
    """Receives a blob's bytes; after ``__exit__`` its ``digest`` and ``size`` are known."""

    def write(self, data: bytes | bytearray | memoryview) -> int: ...

    @property
    def digest(self) -> B3Digest: ...

    @property
    def size(self) -> int: ...

    def __enter__(self) -> BlobWriter: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class BlobService(Protocol):
    """Where blobs live. Implementations: :class:`MemoryBlobService`, :class:`LocalBlobService`."""

    def has(self, digest: B3Digest) -> bool:
        """Whether a blob with this digest is stored (existence only, no verification)."""
        ...

    def open_read(self, digest: B3Digest) -> BinaryIO:
        """A readable binary stream of the blob; :class:`NotFoundError` when absent."""
        ...

    def put(self, data: bytes) -> B3Digest: ...

    def put_file(self, path: Path) -> tuple[B3Digest, int]:
        """Store the contents of a host file, streamed; returns (digest, size)."""
        ...

    def writer(self) -> BlobWriter: ...

    def backing_path(self, digest: B3Digest) -> Path | None:
        """The verified file holding the blob on disk, or None when the service keeps blobs
        elsewhere (in memory); :class:`NotFoundError` when absent, :class:`CorruptionError` when
        the file does not match the digest."""
        ...

    def iter_digests(self) -> Iterator[B3Digest]: ...


def _digest_or_raise(hasher: blake3.blake3, what: str, done: bool) -> B3Digest:
    if not done:
        raise CastoreError(f"{what}: digest and size are known only after the writer is closed")
    return B3Digest(hasher.digest())


def hash_file(path: Path) -> tuple[B3Digest, int]:
    """BLAKE3 and size of a host file, read in bounded chunks (no symlink following)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb", buffering=0) as f:
        return _hash_stream(f)


def _hash_stream(f: BinaryIO) -> tuple[B3Digest, int]:
    hasher = blake3.blake3()
    buf = bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    size = 0
    while True:
        n = f.readinto(view)  # type: ignore[attr-defined]
        if not n:
            break
        hasher.update(view[:n])
        size += n
    return B3Digest(hasher.digest()), size


# --------------------------------------------------------------------------------------------
# in memory


class _BlobWriter:
    """What every blob writer does: hash and count what is written, refuse writes after close,
    and on a clean exit hand the data over to the service under its digest (``_commit``); on an
    exception the data is dropped (``_discard``). Subclasses say where the bytes go."""

    def __init__(self) -> None:
        self._hasher = blake3.blake3()
        self._size = 0
        self._done = False

    def _sink(self, view: memoryview) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _discard(self) -> None:
        """Drop what was written (after an exception); nothing to do by default."""

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._done:
            raise CastoreError("blob writer: write after close")
        view = memoryview(data)
        self._sink(view)
        self._hasher.update(view)
        self._size += len(view)
        return len(view)

    @property
    def digest(self) -> B3Digest:
        return _digest_or_raise(self._hasher, "blob writer", self._done)

    @property
    def size(self) -> int:
        return self._size

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._done:
            return
        if exc_type is not None:
            self._discard()
            return
        self._done = True
        self._commit()


class _MemoryBlobWriter(_BlobWriter):
    def __init__(self, service: MemoryBlobService) -> None:
        super().__init__()
        self._service = service
        self._buf = io.BytesIO()

    def _sink(self, view: memoryview) -> None:
        self._buf.write(view)

    def _commit(self) -> None:
        self._service._blobs.setdefault(self.digest, self._buf.getvalue())
        self._buf = io.BytesIO()


class MemoryBlobService:
    """Blobs in a dict, for tests and throw-away stores."""

    def __init__(self) -> None:
        self._blobs: dict[B3Digest, bytes] = {}

    def has(self, digest: B3Digest) -> bool:
        return digest in self._blobs

    def open_read(self, digest: B3Digest) -> BinaryIO:
        try:
            return io.BytesIO(self._blobs[digest])
        except KeyError:
            raise NotFoundError(f"blob {digest} is not in the store") from None

    def put(self, data: bytes) -> B3Digest:
        digest = B3Digest.of(data)
        self._blobs.setdefault(digest, bytes(data))
        return digest

    def put_file(self, path: Path) -> tuple[B3Digest, int]:
        with self.writer() as w:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb", buffering=0) as f:
                _copy_into(f, w)
        return w.digest, w.size

    def writer(self) -> _MemoryBlobWriter:
        return _MemoryBlobWriter(self)

    def backing_path(self, digest: B3Digest) -> Path | None:
        if digest not in self._blobs:
            raise NotFoundError(f"blob {digest} is not in the store")
        return None

    def iter_digests(self) -> Iterator[B3Digest]:
        return iter(list(self._blobs))


def _copy_into(src: BinaryIO, w: BlobWriter) -> None:
    buf = bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    while True:
        n = src.readinto(view)  # type: ignore[attr-defined]
        if not n:
            return
        w.write(view[:n])


# --------------------------------------------------------------------------------------------
# on disk

#: (path, size, mtime_ns, ino) of files this process has hashed and found correct
_verified: set[tuple[str, int, int, int]] = set()
_verified_lock = threading.Lock()


def _stat_key(path: Path, st: os.stat_result) -> tuple[str, int, int, int]:
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)


def shard_path(root: Path, digest: B3Digest) -> Path:
    """Where an object with this digest lives under ``root``: ``root/<hex[:2]>/<hex>``."""
    hexd = digest.hex
    return root / hexd[:2] / hexd


def iter_sharded(root: Path) -> Iterator[B3Digest]:
    """The digests of the objects stored under ``root`` in the sharded layout."""
    if not root.is_dir():
        return
    for shard in sorted(os.listdir(root)):
        if len(shard) != 2 or shard == TMP_DIR:
            continue
        for name in sorted(os.listdir(root / shard)):
            if len(name) == 64 and name.startswith(shard):
                try:
                    yield B3Digest(bytes.fromhex(name))
                except ValueError:
                    continue


class AtomicFile:
    """A temporary file under ``root/tmp`` that :meth:`commit` renames into place (or discards).

    Directories are created only when missing (on ENOENT), not checked before every file: a
    tree of small files is stored at about one ``open`` and one ``rename`` per file.
    """

    def __init__(self, root: Path | str) -> None:
        tmp_dir = os.path.join(root, TMP_DIR)
        self.path = f"{tmp_dir}/{os.getpid()}-{uuid.uuid4().hex}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o600)
        except FileNotFoundError:
            os.makedirs(tmp_dir, exist_ok=True)
            fd = os.open(self.path, flags, 0o600)
        self.file: BinaryIO = os.fdopen(fd, "wb", buffering=0)

    def commit(self, final: Path | str) -> os.stat_result:
        """Make the file read-only and rename it to ``final``; returns the final stat."""
        os.fchmod(self.file.fileno(), 0o444)
        st = os.fstat(self.file.fileno())
        self.file.close()
        try:
            os.replace(self.path, final)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(self.path, final)
        return st

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


class _LocalBlobWriter(_BlobWriter):
    def __init__(self, service: LocalBlobService) -> None:
        super().__init__()
        self._service = service
        self._tmp: AtomicFile | None = None

    def _file(self) -> AtomicFile:
        if self._tmp is None:
            self._tmp = AtomicFile(self._service.root)
        return self._tmp

    def _sink(self, view: memoryview) -> None:
        file = self._file().file
        written = 0
        while written < len(view):
            written += file.write(view[written:]) or 0

    def __enter__(self) -> Self:
        self._file()  # the temporary file exists from the start of the with-block
        return self

    def _commit(self) -> None:
        self._service._commit(self._file(), self.digest)

    def _discard(self) -> None:
        if self._tmp is not None:
            self._tmp.discard()


class LocalBlobService:
    """Blobs as read-only files under ``root/<hex[:2]>/<hex>``, verified before they are served."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._root_name = str(self.root)

    def _path(self, digest: B3Digest) -> Path:
        return shard_path(self.root, digest)

    def _commit(self, tmp: AtomicFile, digest: B3Digest) -> None:
        final = self._path(digest)
        try:
            existing = os.stat(final)
        except FileNotFoundError:
            existing = None
        if existing is not None:
            with _verified_lock:
                known_good = _stat_key(final, existing) in _verified
            if known_good:
                tmp.discard()
                return
        # Replacing is atomic and harmless when another process already stored the same
        # bytes; it also repairs a corrupted copy.
        try:
            st = tmp.commit(final)
        except BaseException:
            tmp.discard()
            raise
        with _verified_lock:
            _verified.add(_stat_key(final, st))

    def has(self, digest: B3Digest) -> bool:
        return self._path(digest).is_file()

    def _verify_open(self, digest: B3Digest) -> BinaryIO:
        path = self._path(digest)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in the store ({path})") from None
        except OSError as exc:
            raise CastoreError(f"cannot open blob {digest} at {path}: {exc.strerror}") from exc
        f = os.fdopen(fd, "rb")
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise CorruptionError(f"blob {digest}: {path} is not a regular file")
            key = _stat_key(path, st)
            with _verified_lock:
                known_good = key in _verified
            if not known_good:
                actual, _ = _hash_stream(f)
                if actual != digest:
                    raise CorruptionError(
                        f"blob {digest} is corrupt: the file {path} hashes to {actual}"
                    )
                with _verified_lock:
                    _verified.add(key)
                f.seek(0)
        except BaseException:
            f.close()
            raise
        return f

    def open_read(self, digest: B3Digest) -> BinaryIO:
        return self._verify_open(digest)

    def put(self, data: bytes) -> B3Digest:
        with self.writer() as w:
            w.write(data)
        return w.digest

    def _put_small(self, digest: B3Digest, data: bytes) -> None:
        """Store a small blob held in memory and already hashed (the common case in a tree):
        one ``stat`` when it is stored and verified already, else one new file."""
        hexd = digest.hex
        name = f"{self._root_name}/{hexd[:2]}/{hexd}"  # str(shard_path(...)), without pathlib
        try:
            st = os.stat(name, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None:
            with _verified_lock:
                if (name, st.st_size, st.st_mtime_ns, st.st_ino) in _verified:
                    return
            try:
                self._verify_open(digest).close()
                return
            except CorruptionError:
                pass  # stored again below, which replaces the corrupt copy
        tmp = AtomicFile(self._root_name)
        try:
            view = memoryview(data)
            while view:
                view = view[tmp.file.write(view) or 0 :]
            created = tmp.commit(name)
        except BaseException:
            tmp.discard()
            raise
        with _verified_lock:
            _verified.add((name, created.st_size, created.st_mtime_ns, created.st_ino))

    def put_file(self, path: Path) -> tuple[B3Digest, int]:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb", buffering=0) as f:
            if os.fstat(fd).st_size < CHUNK_SIZE:
                # small: read once and hash in memory (no 1 MiB buffers, no second pass)
                data = f.read(CHUNK_SIZE)
                if len(data) < CHUNK_SIZE:
                    digest = B3Digest.of(data)
                    self._put_small(digest, data)
                    return digest, len(data)
                f.seek(0)  # it grew meanwhile: stream it
            # A first pass only hashes: re-ingesting known content writes nothing.
            digest, size = _hash_stream(f)
            if self.has(digest):
                try:
                    self._verify_open(digest).close()
                    return digest, size
                except CorruptionError:
                    pass  # stored again below, which replaces the corrupt copy
            f.seek(0)
            with self.writer() as w:
                _copy_into(f, w)
        return w.digest, w.size

    def writer(self) -> _LocalBlobWriter:
        return _LocalBlobWriter(self)

    def backing_path(self, digest: B3Digest) -> Path | None:
        """The path of the blob's file, after verifying it (cached per process).

        A file this process has verified (same path, size, mtime and inode) costs one ``stat``:
        the FUSE mount asks for every file a build opens.
        """
        hexd = digest.hex
        name = f"{self._root_name}/{hexd[:2]}/{hexd}"  # str(shard_path(...)), without pathlib
        try:
            st = os.stat(name, follow_symlinks=False)
        except OSError:
            st = None
        if st is not None and stat.S_ISREG(st.st_mode):
            with _verified_lock:
                if (name, st.st_size, st.st_mtime_ns, st.st_ino) in _verified:
                    return Path(name)
        self._verify_open(digest).close()
        return self._path(digest)

    def iter_digests(self) -> Iterator[B3Digest]:
        return iter_sharded(self.root)
