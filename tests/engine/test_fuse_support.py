"""Shared builders for the FUSE tests (no tests here): an input tree and its expected contents."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.store import Store

MIB = 1 << 20
BIG_SIZE = 70 * MIB  # > 64 MiB
DEPTH = 40

SRC = "0k7xcwz4v7gxjn4iqa7qf4k4vd2iz2yb-src"
SAME = "1bjsl7r6ds8zw9zjn4k4m4n8gr9yfwaq-same-src"
HELLO = "2cx3q3p8dn1p0kz0bchqv0vf83m0qg4s-hello"
LINK = "3f5v6jp1c4d9q3n7h0l4r1b2w9k5z8x4-link"
MISSING_BLOB = "4mzb0f8a1x6c2v9n3k7j5h1g4d8s2a0q-missing-blob"
MISSING_DIR = "5pq9w8e7r6t5y4u3i2o1a9s8d7f6g5h4-missing-dir"

HELLO_TEXT = b"hello, world\n"
SCRIPT = b"#!/bin/sh\necho ran $0\n"


@dataclass
class Tree:
    store: Store
    inputs: dict[str, Node]
    src: Path  # the host directory ingested as SRC
    big: bytes  # contents of SRC/big.bin (empty when not built)


def big_data(size: int = BIG_SIZE) -> bytes:
    return random.Random(20240601).randbytes(size)


def build_tree(base: Path, *, big: bool, store: Store | None = None) -> Tree:
    """Host files, ingested into ``store`` (on disk under ``base`` by default).

    SRC holds: hello.txt, copy.txt (same bytes), empty, bin/run (executable), link and link2
    (both -> hello.txt), dangling (-> /nix/store/…), a chain d00/d01/…/d39/leaf.txt, and
    big.bin (70 MiB of random bytes) when ``big``.
    """
    src = base / "src"
    (src / "bin").mkdir(parents=True)
    (src / "hello.txt").write_bytes(HELLO_TEXT)
    (src / "copy.txt").write_bytes(HELLO_TEXT)
    (src / "empty").write_bytes(b"")
    (src / "bin" / "run").write_bytes(SCRIPT)
    os.chmod(src / "bin" / "run", 0o755)
    os.symlink("hello.txt", src / "link")
    os.symlink("hello.txt", src / "link2")
    os.symlink("/nix/store/6zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-dep/bin/x", src / "dangling")
    deep = src
    for level in range(DEPTH):
        deep = deep / f"d{level:02d}"
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_bytes(b"leaf\n")
    data = b""
    if big:
        data = big_data()
        (src / "big.bin").write_bytes(data)
    store = store if store is not None else Store.open(base / "store")
    node = ingest_path(src, store)
    hello = store.blobs.put(HELLO_TEXT)
    inputs: dict[str, Node] = {
        SRC: node,
        SAME: node,
        HELLO: FileNode(hello, len(HELLO_TEXT)),
        LINK: SymlinkNode(f"{SRC}/hello.txt".encode()),
        MISSING_BLOB: FileNode(B3Digest.of(b"never stored"), 12),
        MISSING_DIR: DirectoryNode(B3Digest.of(b"no such directory"), 4),
    }
    return Tree(store, inputs, src, data)


def fuse_mounts_in(path: Path) -> list[str]:
    """FUSE mountpoints at or below ``path`` according to /proc/mounts."""
    prefix = os.path.abspath(path)
    found = []
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            mountpoint = fields[1].replace("\\040", " ")
            if "fuse" in fields[2] and (
                mountpoint == prefix or mountpoint.startswith(prefix + "/")
            ):
                found.append(mountpoint)
    return found
