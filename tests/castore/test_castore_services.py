"""Blob and directory services, in memory and on disk; closure validation; the Store."""

from __future__ import annotations

import multiprocessing
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_snixbuild.castore.blobs import LocalBlobService
from pytest_snixbuild.castore.digests import EMPTY_DIGEST, B3Digest
from pytest_snixbuild.castore.directories import (
    ClosureError,
    LocalDirectoryService,
    iter_closure,
    put_closure,
)
from pytest_snixbuild.castore.errors import CastoreError, CorruptionError, NotFoundError
from pytest_snixbuild.castore.nodes import Directory, DirectoryNode, FileNode, SymlinkNode
from pytest_snixbuild.castore.store import Store

HELLO = b"Hello World!"
HELLO_DIGEST = B3Digest.parse("blake3-XKeBWty0hOmhNsEe/mnB1TAXbVSbXRjQOOtSgLSzRww=")
BLOB_B = bytes(range(255)) * 4096
BLOB_B_DIGEST = B3Digest.parse("blake3-qCxRVKegwmLG/bkpoxdYVkb4+8+AMm0Ke4dH7a8tmdI=")


def test_put_get_blob(store: Store) -> None:
    assert not store.blobs.has(HELLO_DIGEST)
    assert store.blobs.put(HELLO) == HELLO_DIGEST
    assert store.blobs.has(HELLO_DIGEST)
    with store.blobs.open_read(HELLO_DIGEST) as f:
        assert f.read() == HELLO
    assert store.blobs.put(HELLO) == HELLO_DIGEST  # idempotent
    assert list(store.blobs.iter_digests()) == [HELLO_DIGEST]


def test_missing_blob(store: Store) -> None:
    with pytest.raises(NotFoundError, match=str(HELLO_DIGEST).replace("+", r"\+")):
        store.blobs.open_read(HELLO_DIGEST)


def test_writer_streams(store: Store) -> None:
    with store.blobs.writer() as w:
        for i in range(0, len(BLOB_B), 100_000):
            w.write(memoryview(BLOB_B)[i : i + 100_000])
    assert w.digest == BLOB_B_DIGEST
    assert w.size == len(BLOB_B)
    with store.blobs.open_read(BLOB_B_DIGEST) as f:
        assert f.read() == BLOB_B


def test_writer_digest_only_after_close(store: Store) -> None:
    with store.blobs.writer() as w:
        w.write(b"x")
        with pytest.raises(CastoreError, match="only after the writer is closed"):
            _ = w.digest


def test_writer_failure_stores_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.blobs.writer() as w:
        w.write(b"half")
        raise RuntimeError("boom")
    assert list(store.blobs.iter_digests()) == []
    if store.path is not None:
        assert list((store.path / "blobs" / "tmp").iterdir()) == []


def test_empty_blob(store: Store) -> None:
    with store.blobs.writer() as w:
        pass
    assert w.digest == EMPTY_DIGEST
    assert w.size == 0
    with store.blobs.open_read(EMPTY_DIGEST) as f:
        assert f.read() == b""


def test_put_file(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "b"
    src.write_bytes(BLOB_B)
    before = src.stat()
    assert store.blobs.put_file(src) == (BLOB_B_DIGEST, len(BLOB_B))
    after = src.stat()
    assert (after.st_mode, after.st_nlink) == (before.st_mode, before.st_nlink)  # untouched
    assert src.read_bytes() == BLOB_B
    # a second time: already there
    assert store.blobs.put_file(src) == (BLOB_B_DIGEST, len(BLOB_B))


def test_backing_path(store: Store) -> None:
    store.blobs.put(HELLO)
    path = store.blobs.backing_path(HELLO_DIGEST)
    if store.path is None:
        assert path is None
    else:
        assert path is not None
        assert path.read_bytes() == HELLO
    with pytest.raises(NotFoundError):
        store.blobs.backing_path(BLOB_B_DIGEST)


def test_local_layout_and_permissions(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    store.blobs.put(HELLO)
    d = Directory({b"hello": FileNode(HELLO_DIGEST, 12, False)})
    store.directories.put(d)
    blob = tmp_path / "s" / "blobs" / HELLO_DIGEST.hex[:2] / HELLO_DIGEST.hex
    assert blob.read_bytes() == HELLO
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444
    dfile = tmp_path / "s" / "directories" / d.digest.hex[:2] / d.digest.hex
    assert dfile.read_bytes() == d.encode()
    assert stat.S_IMODE(dfile.stat().st_mode) == 0o444
    assert list((tmp_path / "s" / "blobs" / "tmp").iterdir()) == []


def _corrupt(path: Path, data: bytes) -> None:
    os.chmod(path, 0o644)
    path.write_bytes(data)


def test_corrupt_blob_is_never_served(tmp_path: Path) -> None:
    blobs = LocalBlobService(tmp_path / "blobs")
    digest = blobs.put(HELLO)
    path = tmp_path / "blobs" / digest.hex[:2] / digest.hex
    _corrupt(path, b"Hello World?")
    with pytest.raises(CorruptionError) as info:
        blobs.open_read(digest)
    assert str(digest) in str(info.value)
    assert str(path) in str(info.value)
    with pytest.raises(CorruptionError):
        blobs.backing_path(digest)


def test_corruption_detected_by_a_fresh_process(tmp_path: Path) -> None:
    """The per-process verification cache does not hide a corruption from another process."""
    store = Store.open(tmp_path / "s")
    digest = store.blobs.put(HELLO)
    _corrupt(tmp_path / "s" / "blobs" / digest.hex[:2] / digest.hex, b"Jello World!")
    code = (
        "import sys; from pathlib import Path\n"
        "from pytest_snixbuild.castore.store import Store\n"
        "from pytest_snixbuild.castore.digests import B3Digest\n"
        "from pytest_snixbuild.castore.errors import CorruptionError\n"
        f"s = Store.open(Path({str(tmp_path / 's')!r}))\n"
        "try:\n"
        f"    s.blobs.open_read(B3Digest.parse({str(digest)!r}))\n"
        "except CorruptionError as e:\n"
        "    print('corrupt:', e); sys.exit(0)\n"
        "sys.exit(1)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "corrupt" in result.stdout


def test_rewriting_repairs_a_corrupt_blob(tmp_path: Path) -> None:
    blobs = LocalBlobService(tmp_path / "blobs")
    digest = blobs.put(HELLO)
    _corrupt(tmp_path / "blobs" / digest.hex[:2] / digest.hex, b"garbage")
    with pytest.raises(CorruptionError):
        blobs.open_read(digest)
    blobs.put(HELLO)
    with blobs.open_read(digest) as f:
        assert f.read() == HELLO


def test_put_file_repairs_a_corrupt_blob(tmp_path: Path) -> None:
    blobs = LocalBlobService(tmp_path / "blobs")
    src = tmp_path / "src"
    src.write_bytes(HELLO)
    digest, _ = blobs.put_file(src)
    _corrupt(tmp_path / "blobs" / digest.hex[:2] / digest.hex, b"garbage")
    assert blobs.put_file(src) == (digest, len(HELLO))
    with blobs.open_read(digest) as f:
        assert f.read() == HELLO


def test_corrupt_directory(tmp_path: Path) -> None:
    dirs = LocalDirectoryService(tmp_path / "dirs")
    d = Directory({b"a": SymlinkNode(b"b")})
    digest = dirs.put(d)
    assert dirs.get(digest) == d
    path = tmp_path / "dirs" / digest.hex[:2] / digest.hex
    _corrupt(path, d.encode()[:-1] + b"c")
    with pytest.raises(CorruptionError, match=str(path)):
        dirs.get(digest)
    dirs.put(d)  # storing it again repairs it
    assert dirs.get(digest) == d


def test_directory_service(store: Store) -> None:
    d = Directory({b"x": FileNode(HELLO_DIGEST, 12, True)})
    assert not store.directories.has(d.digest)
    with pytest.raises(NotFoundError):
        store.directories.get(d.digest)
    assert store.directories.put(d) == d.digest
    assert store.directories.has(d.digest)
    assert store.directories.get(d.digest) == d
    assert list(store.directories.iter_digests()) == [d.digest]


def test_store_survives_the_process(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path\n"
        "from pytest_snixbuild.castore.store import Store\n"
        f"print(Store.open(Path({str(tmp_path / 's')!r})).blobs.put(b'Hello World!'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(HELLO_DIGEST)
    with Store.open(tmp_path / "s").blobs.open_read(HELLO_DIGEST) as f:
        assert f.read() == HELLO


def _writer_proc(root: str, rounds: int) -> None:
    store = Store.open(Path(root))
    for _ in range(rounds):
        store.blobs.put(BLOB_B)
        store.blobs.put(HELLO)
        store.directories.put(Directory({b"b": FileNode(BLOB_B_DIGEST, len(BLOB_B), False)}))
        with store.blobs.open_read(BLOB_B_DIGEST) as f:
            assert f.read() == BLOB_B


def test_concurrent_writers(tmp_path: Path) -> None:
    """Several processes writing the same blobs and directories at once into one store."""
    root = tmp_path / "s"
    Store.open(root)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer_proc, args=(str(root), 10)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = Store.open(root)
    assert sorted(store.blobs.iter_digests()) == sorted([BLOB_B_DIGEST, HELLO_DIGEST])
    assert len(list(store.directories.iter_digests())) == 1
    with store.blobs.open_read(BLOB_B_DIGEST) as f:
        assert f.read() == BLOB_B
    assert list((root / "blobs" / "tmp").iterdir()) == []
    assert list((root / "directories" / "tmp").iterdir()) == []


# closures -------------------------------------------------------------------------------------

A = Directory()
B = Directory({b"a": A.as_node()})
D = Directory({b"a": A.as_node(), b"b": B.as_node()})


def test_put_closure(store: Store) -> None:
    assert put_closure(store.directories, [A, B, D]) == D.digest
    assert [d.digest for d in iter_closure(store.directories, D.digest)] == [
        D.digest,
        A.digest,
        B.digest,
    ]


def test_closure_wrong_size(store: Store) -> None:
    bad = Directory({b"a": DirectoryNode(A.digest, 0), b"b": DirectoryNode(B.digest, 1)})
    with pytest.raises(ClosureError, match="'b' has wrong size, specified 1, recorded 2"):
        put_closure(store.directories, [A, B, bad])


def test_closure_unknown_child(store: Store) -> None:
    with pytest.raises(ClosureError, match="unknown directory was referenced"):
        put_closure(store.directories, [B, D])


def test_closure_two_roots(store: Store) -> None:
    other = Directory({b"x": SymlinkNode(b"y")})
    with pytest.raises(ClosureError, match="exactly one root"):
        put_closure(store.directories, [A, B, other])


def test_closure_empty(store: Store) -> None:
    with pytest.raises(ClosureError, match="no directories"):
        put_closure(store.directories, [])


def test_walk(store: Store) -> None:
    put_closure(store.directories, [A, B, D])
    assert [p for p, _ in store.walk(D.as_node())] == [b"", b"a", b"b", b"b/a"]


def test_walk_refuses_wrong_size(store: Store) -> None:
    put_closure(store.directories, [A, B])
    with pytest.raises(ClosureError, match="wrong size"):
        list(store.walk(DirectoryNode(B.digest, 99)))
