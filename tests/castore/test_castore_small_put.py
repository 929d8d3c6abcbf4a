"""put_file's in-memory path for small files, and directories created only when missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import blake3

from pytest_snixbuild.castore.blobs import CHUNK_SIZE, TMP_DIR, LocalBlobService


def test_sizes_around_the_small_file_limit(tmp_path: Path) -> None:
    blobs = LocalBlobService(tmp_path / "blobs")
    for size in (0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1):
        src = tmp_path / f"src-{size}"
        data = os.urandom(size)
        src.write_bytes(data)
        digest, length = blobs.put_file(src)
        assert (digest.raw, length) == (blake3.blake3(data).digest(), size)
        with blobs.open_read(digest) as f:
            assert f.read() == data
        assert blobs.put_file(src) == (digest, length)  # known: nothing written again
    assert os.listdir(tmp_path / "blobs" / TMP_DIR) == []


def test_missing_tmp_and_shard_directories_are_created(tmp_path: Path) -> None:
    blobs = LocalBlobService(tmp_path / "blobs")
    src = tmp_path / "src"
    src.write_bytes(b"small\n")
    for name in os.listdir(tmp_path / "blobs"):
        shutil.rmtree(tmp_path / "blobs" / name)
    digest, _ = blobs.put_file(src)
    stored = tmp_path / "blobs" / digest.hex[:2] / digest.hex
    assert stored.read_bytes() == b"small\n"
    assert stored.stat().st_mode & 0o777 == 0o444
    assert os.listdir(tmp_path / "blobs" / TMP_DIR) == []
