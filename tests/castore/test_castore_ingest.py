"""Ingestion of host paths (spec §6.1, the expectations of snix's import tests) and export."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from pytest_snixbuild.castore.digests import EMPTY_DIGEST, B3Digest
from pytest_snixbuild.castore.errors import IngestError, NotFoundError
from pytest_snixbuild.castore.ingest import ExportError, export_node, ingest_path
from pytest_snixbuild.castore.nodes import Directory, DirectoryNode, FileNode, SymlinkNode
from pytest_snixbuild.castore.store import Store

COMPLICATED = B3Digest(
    bytes.fromhex("424a7f6ce08d805d15b428062faae96299a1675d708c3a39261afe38cdd04feb")
)
WITH_KEEP = B3Digest(
    bytes.fromhex("8b5b5d642b646bb8ed504b0862c39413e87e57491497de7bd075953f7b83810e")
)
HELLO = B3Digest.parse("blake3-XKeBWty0hOmhNsEe/mnB1TAXbVSbXRjQOOtSgLSzRww=")


def test_complicated_tree(store: Store, complicated_tree: Path) -> None:
    node = ingest_path(complicated_tree, store)
    assert node == DirectoryNode(COMPLICATED, 8)
    root = store.directories.get(COMPLICATED)
    assert dict(root) == {
        b".keep": FileNode(EMPTY_DIGEST, 0, False),
        b"aa": SymlinkNode(b"/nix/store/somewhereelse"),
        b"keep": DirectoryNode(WITH_KEEP, 2),
    }
    assert store.directories.get(WITH_KEEP) == Directory({b".keep": FileNode(EMPTY_DIGEST, 0)})
    assert store.blobs.has(EMPTY_DIGEST)


def test_single_symlink_root_is_not_followed(store: Store, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to("/nix/store/somewhereelse")
    assert ingest_path(link, store) == SymlinkNode(b"/nix/store/somewhereelse")
    assert list(store.directories.iter_digests()) == []


def test_symlink_to_a_directory_root(store: Store, complicated_tree: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(complicated_tree)
    assert ingest_path(link, store) == SymlinkNode(os.fsencode(complicated_tree))


def test_single_file(store: Store, hello_file: Path) -> None:
    assert ingest_path(hello_file, store) == FileNode(HELLO, 12, False)
    with store.blobs.open_read(HELLO) as f:
        assert f.read() == b"Hello World!"
    assert list(store.directories.iter_digests()) == []


@pytest.mark.parametrize(("mode", "executable"), [(0o644, False), (0o744, True), (0o655, False)])
def test_only_the_owner_exec_bit_counts(
    store: Store, hello_file: Path, mode: int, executable: bool
) -> None:
    hello_file.chmod(mode)
    assert ingest_path(hello_file, store) == FileNode(HELLO, 12, executable)


def test_fifo_is_rejected(store: Store, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    fifo = tmp_path / "d" / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(IngestError, match=f"unsupported file type at {fifo}: fifo"):
        ingest_path(tmp_path / "d", store)
    with pytest.raises(IngestError, match="fifo"):
        ingest_path(fifo, store)


def test_socket_is_rejected(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(IngestError, match=f"unsupported file type at {path}: socket"):
            ingest_path(path, store)


def test_missing_path(store: Store, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"cannot stat .*missing"):
        ingest_path(tmp_path / "missing", store)


def test_callbacks(store: Store, complicated_tree: Path) -> None:
    files: list[tuple[Path, FileNode]] = []
    links: list[tuple[Path, bytes]] = []
    ingest_path(
        complicated_tree,
        store,
        on_file=lambda p, n: files.append((p, n)),
        on_symlink=lambda p, t: links.append((p, t)),
    )
    assert sorted(p for p, _ in files) == [
        complicated_tree / ".keep",
        complicated_tree / "keep" / ".keep",
    ]
    assert all(n == FileNode(EMPTY_DIGEST, 0, False) for _, n in files)
    assert links == [(complicated_tree / "aa", b"/nix/store/somewhereelse")]


def test_non_utf8_names_and_targets(store: Store, tmp_path: Path) -> None:
    root = os.fsencode(tmp_path / "odd")
    os.mkdir(root)
    with open(os.path.join(root, b"\xff\xfe name"), "wb") as f:
        f.write(b"x")
    os.symlink(b"\x80target", os.path.join(root, b"\xc3"))
    node = ingest_path(tmp_path / "odd", store)
    assert isinstance(node, DirectoryNode)
    directory = store.directories.get(node.digest)
    assert sorted(directory) == [b"\xc3", b"\xff\xfe name"]
    assert directory[b"\xc3"] == SymlinkNode(b"\x80target")


def test_empty_directory(store: Store, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert ingest_path(tmp_path / "empty", store) == DirectoryNode(EMPTY_DIGEST, 0)


def test_deep_tree_needs_no_recursion(store: Store, tmp_path: Path) -> None:
    path = os.fsencode(tmp_path / "deep")
    os.mkdir(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        for _ in range(1100):  # deeper than Python's recursion limit
            os.mkdir(b"d", dir_fd=fd)
            nfd = os.open(b"d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)
    try:
        node = ingest_path(tmp_path / "deep", store)
        assert isinstance(node, DirectoryNode)
        assert node.size == 2 * 1100
    finally:  # shutil.rmtree (pytest's clean-up) recurses and cannot remove it
        subprocess.run(["rm", "-rf", os.fsdecode(path)], check=True)


# export ---------------------------------------------------------------------------------------


def test_export_roundtrip_and_modes(store: Store, complicated_tree: Path, tmp_path: Path) -> None:
    (complicated_tree / "run").write_bytes(b"#!/bin/sh\n")
    (complicated_tree / "run").chmod(0o700)
    node = ingest_path(complicated_tree, store)
    dest = tmp_path / "out"
    export_node(node, store, dest)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "keep").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / ".keep").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "run").stat().st_mode) == 0o755
    assert os.readlink(dest / "aa") == "/nix/store/somewhereelse"
    assert ingest_path(dest, store) == node


def test_export_file_and_symlink(store: Store, hello_file: Path, tmp_path: Path) -> None:
    export_node(ingest_path(hello_file, store), store, tmp_path / "h")
    assert (tmp_path / "h").read_bytes() == b"Hello World!"
    export_node(SymlinkNode(b"../x"), store, tmp_path / "l")
    assert os.readlink(tmp_path / "l") == "../x"


def test_export_refuses_existing_dest(store: Store, hello_file: Path) -> None:
    node = ingest_path(hello_file, store)
    with pytest.raises(ExportError, match="already exists"):
        export_node(node, store, hello_file)


def test_export_missing_parent(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="parent directory does not exist"):
        export_node(SymlinkNode(b"x"), store, tmp_path / "no" / "such")


def test_export_leaves_nothing_on_error(store: Store, tmp_path: Path) -> None:
    missing = FileNode(HELLO, 12, False)
    directory = Directory({b"a": FileNode(EMPTY_DIGEST, 0), b"b": missing})
    store.blobs.put(b"")
    store.directories.put(directory)
    with pytest.raises(NotFoundError):
        export_node(directory.as_node(), store, tmp_path / "out")
    assert not os.path.lexists(tmp_path / "out")
