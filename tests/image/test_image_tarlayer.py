"""Layer tars: members, order, metadata, one-pass digests, gzip header, bounded memory, errors."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile
import tracemalloc
from pathlib import Path
from typing import BinaryIO

import blake3
import pytest
from snix_image_helpers import BUSYBOX_PATH, HELLO_PATH, HelloImage

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import Directory, FileNode, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.image.errors import LayerWriteError
from pytest_snixbuild.image.hashsink import GZIP_HEADER, LayerSink
from pytest_snixbuild.image.tarlayer import store_path_entries, write_layer
from pytest_snixbuild.image.tarstream import TarEntry, TarWriter


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tar:
        return tar.getmembers()


def test_members_parents_first_sorted_with_store_modes(
    hello_image: HelloImage, tmp_path: Path
) -> None:
    layer = tmp_path / "layer"
    paths = [(HELLO_PATH, hello_image.hello.node), (BUSYBOX_PATH, hello_image.busybox.node)]
    write_layer(paths, hello_image.store, layer)
    members = _members(layer)
    bb = BUSYBOX_PATH.lstrip("/")
    hello = HELLO_PATH.lstrip("/")
    assert [(m.name, m.type, m.mode) for m in members] == [
        ("nix", tarfile.DIRTYPE, 0o755),
        ("nix/store", tarfile.DIRTYPE, 0o755),
        (bb, tarfile.DIRTYPE, 0o555),
        (f"{bb}/bin", tarfile.DIRTYPE, 0o555),
        (f"{bb}/bin/busybox", tarfile.REGTYPE, 0o555),
        *[
            (f"{bb}/bin/{a}", tarfile.SYMTYPE, 0o777)
            for a in ("cat", "echo", "env", "id", "ls", "sh", "stat")
        ],
        (hello, tarfile.DIRTYPE, 0o555),
        (f"{hello}/bin", tarfile.DIRTYPE, 0o555),
        (f"{hello}/bin/hello", tarfile.REGTYPE, 0o555),
    ]
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
        if m.issym():
            assert m.linkname == "busybox"
    assert members[4].size == Path("/bin/busybox").stat().st_size


def test_digests_are_those_of_the_bytes_written(hello_image: HelloImage, tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    digests = write_layer([(BUSYBOX_PATH, hello_image.busybox.node)], hello_image.store, layer)
    blob = layer.read_bytes()
    tar = gzip.decompress(blob)
    assert digests.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert digests.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert digests.blake3 == B3Digest(blake3.blake3(tar).digest())
    assert (digests.size, digests.tar_size) == (len(blob), len(tar))
    assert len(tar) % tarfile.RECORDSIZE == 0
    # gzip member: no timestamp, no file name, OS unknown
    assert blob[:10] == GZIP_HEADER
    assert blob[4:8] == b"\0\0\0\0"


def test_each_blob_is_read_exactly_once(hello_image: HelloImage, tmp_path: Path) -> None:
    store = hello_image.store
    reads: dict[B3Digest, int] = {}
    original = store.blobs.open_read

    class Counting(io.RawIOBase):
        def __init__(self, inner: BinaryIO, digest: B3Digest) -> None:
            self.inner, self.digest = inner, digest

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
            n = self.inner.readinto(b)  # type: ignore[attr-defined]
            reads[self.digest] = reads.get(self.digest, 0) + (n or 0)
            return int(n or 0)

        def close(self) -> None:
            self.inner.close()
            super().close()

    def counting_open(digest: B3Digest) -> BinaryIO:
        return Counting(original(digest), digest)  # type: ignore[return-value]

    store.blobs.open_read = counting_open  # type: ignore[method-assign]
    write_layer([(BUSYBOX_PATH, hello_image.busybox.node)], store, tmp_path / "layer")
    (digest,) = reads
    assert reads[digest] == Path("/bin/busybox").stat().st_size


def test_pax_long_and_non_utf8_names_round_trip(tmp_path: Path) -> None:
    store = Store.memory()
    long_name = b"x" * 200
    odd_name = b"caf\xe9"  # Latin-1, not UTF-8
    data = b"contents\n"
    digest = store.blobs.put(data)
    directory = Directory(
        {
            long_name: FileNode(digest, len(data)),
            odd_name: SymlinkNode(b"/nix/store/" + b"t" * 300),
        }
    )
    store.directories.put(directory)
    layer = tmp_path / "layer"
    write_layer([("/nix/store/" + "a" * 32 + "-odd", directory.as_node())], store, layer)
    with tarfile.open(layer, "r:gz", encoding="utf-8", errors="surrogateescape") as tar:
        members = {os.fsencode(m.name).rsplit(b"/", 1)[-1]: m for m in tar.getmembers()}
        assert tar.extractfile(members[long_name]).read() == data  # type: ignore[union-attr]
    assert members[odd_name].linkname == "/nix/store/" + "t" * 300
    assert members[long_name].mode == 0o444


def test_single_file_and_symlink_store_paths(tmp_path: Path) -> None:
    store = Store.memory()
    data = b"#!/bin/sh\n"
    node = FileNode(store.blobs.put(data), len(data), executable=True)
    entries = list(
        store_path_entries(
            [
                ("/nix/store/b-link", SymlinkNode(b"/nix/store/a-script")),
                ("/nix/store/a-script", node),
            ],
            store,
        )
    )
    assert [(e.path, e.kind, e.mode) for e in entries] == [
        (b"nix", "directory", 0o755),
        (b"nix/store", "directory", 0o755),
        (b"nix/store/a-script", "file", 0o555),
        (b"nix/store/b-link", "symlink", 0o777),
    ]


def test_wrong_recorded_size_is_an_error(tmp_path: Path) -> None:
    store = Store.memory()
    data = b"0123456789"
    digest = store.blobs.put(data)
    for size, message in [
        (20, "end after 10 bytes, expected 20"),
        (5, "are longer than the recorded size 5"),
    ]:
        dest = tmp_path / f"layer-{size}"
        with pytest.raises(LayerWriteError, match=message):
            write_layer([("/nix/store/a-f", FileNode(digest, size))], store, dest)


def test_missing_blob_is_an_error(tmp_path: Path) -> None:
    store = Store.memory()
    missing = B3Digest.of(b"never stored")
    expected = f"/nix/store/a-f: cannot read its blob: blob {missing} is not in the store"
    with pytest.raises(LayerWriteError, match=re.escape(expected)):
        write_layer([("/nix/store/a-f", FileNode(missing, 3))], store, tmp_path / "layer")


def test_relative_entry_paths_only() -> None:
    writer = TarWriter(io.BytesIO())
    for bad in (b"/abs", b"trailing/", b""):
        with pytest.raises(LayerWriteError, match="expected a relative path"):
            writer.add(TarEntry(bad, "directory", 0o755))


def test_sink_matches_gzip_module_decompression() -> None:
    out = io.BytesIO()
    sink = LayerSink(out)
    chunks = [b"a" * 10, os.urandom(3 << 20), b"", b"tail" * 1000]
    for c in chunks:
        sink.write(c)
    d = sink.close()
    assert sink.close() is d  # idempotent
    raw = b"".join(chunks)
    assert gzip.decompress(out.getvalue()) == raw
    assert d.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    with pytest.raises(ValueError, match="closed"):
        sink.write(b"x")


def test_memory_stays_bounded_for_a_large_file(tmp_path: Path) -> None:
    big = tmp_path / "src" / "big"
    big.parent.mkdir()
    with big.open("wb") as f:  # 48 MiB of varied data
        block = os.urandom(1 << 20)
        for i in range(48):
            f.write(block[i:] + block[:i])
    store = Store.open(tmp_path / "castore")
    node = ingest_path(big.parent, store)
    tracemalloc.start()
    try:
        digests = write_layer([("/nix/store/a-big", node)], store, tmp_path / "layer")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digests.tar_size > 48 << 20
    assert peak < 12 << 20, f"peak {peak} bytes"
