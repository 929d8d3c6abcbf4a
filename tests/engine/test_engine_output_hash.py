"""Hashing large build outputs (memory-mapped windows, every core) and adopting them."""

from __future__ import annotations

import os
from pathlib import Path

import blake3

from pytest_snixbuild.castore.blobs import hash_file
from pytest_snixbuild.castore.nodes import FileNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine import service
from pytest_snixbuild.engine.service import _hash_output_file, ingest_and_scan

MIB = 1 << 20


def _write(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def test_windows_give_the_whole_file_hash(tmp_path: Path) -> None:
    """Sizes around the window size and the parallel threshold, and not a page multiple."""
    window = service.HASH_WINDOW
    for size in (service.PARALLEL_HASH_MIN, window - 1, window, 2 * window + 12345):
        path = tmp_path / f"out-{size}"
        data = _write(path, size)
        digest, length = _hash_output_file(path, size)
        assert (digest.raw, length) == (blake3.blake3(data).digest(), size)
        assert (digest, length) == hash_file(path)
        path.unlink()


def test_large_output_is_adopted_with_its_digest(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    out = tmp_path / "out"
    data = _write(out, 40 * MIB + 7)
    needle = b"x7bqy9c0i6k3hlm2v5d4n8p1r0s9w2af"
    node, found = ingest_and_scan(out, store, (needle.decode(),))
    assert found == ()
    assert isinstance(node, FileNode)
    assert node.digest.raw == blake3.blake3(data).digest() and node.size == len(data)
    assert os.stat(out).st_nlink == 2  # hard-linked into the store, not copied
    with store.blobs.open_read(node.digest) as blob:
        assert blob.read() == data
