"""CastoreFS semantics, called directly (no mount): attributes, inodes, lazy loading, errors."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from test_fuse_support import (
    DEPTH,
    HELLO,
    HELLO_TEXT,
    LINK,
    MISSING_BLOB,
    MISSING_DIR,
    SAME,
    SCRIPT,
    SRC,
    Tree,
    build_tree,
)

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.nodes import Directory, DirectoryNode, FileNode, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.fusefs import MTIME_NS, CastoreFS


@pytest.fixture(params=["memory", "disk"])
def tree(request: pytest.FixtureRequest, tmp_path: Path) -> Tree:
    store = Store.memory() if request.param == "memory" else Store.open(tmp_path / "store")
    return build_tree(tmp_path, big=False, store=store)


def errno_of(fn: object, *args: object) -> int:
    with pytest.raises(OSError) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.errno is not None
    return info.value.errno


def read_all(fs: CastoreFS, path: str) -> bytes:
    fh = fs.open(path, os.O_RDONLY)
    try:
        size = fs.getattr(path)["st_size"]
        return fs.read(path, size + 10, 0, fh)
    finally:
        fs.release(path, fh)


def test_root_attributes_and_sorted_listing(tree: Tree) -> None:
    fs = CastoreFS(tree.inputs, tree.store)
    root = fs.getattr("/")
    assert root["st_ino"] == 1
    assert root["st_mode"] == stat.S_IFDIR | 0o555
    assert (root["st_mtime"], root["st_size"], root["st_blocks"], root["st_nlink"]) == (0, 0, 0, 0)
    names = [name for name, _, _ in fs.readdir("/", 0)]
    assert names == sorted(tree.inputs)
    assert "." not in names


def test_list_root_false_is_eperm(tree: Tree) -> None:
    fs = CastoreFS(tree.inputs, tree.store, list_root=False)
    assert errno_of(fs.opendir, "/") == errno.EPERM
    assert errno_of(fs.readdir, "/", 0) == errno.EPERM
    assert fs.getattr(f"/{HELLO}")["st_size"] == len(HELLO_TEXT)  # lookups still work


def test_modes_and_snix_attributes(tree: Tree) -> None:
    fs = CastoreFS(tree.inputs, tree.store)
    hello = fs.getattr(f"/{SRC}/hello.txt")
    assert hello["st_mode"] == stat.S_IFREG | 0o444
    assert hello["st_size"] == len(HELLO_TEXT)
    assert (hello["st_uid"], hello["st_gid"], hello["st_nlink"]) == (0, 0, 0)
    assert (hello["st_mtime"], hello["st_atime"], hello["st_ctime"]) == (MTIME_NS, 0, 0)
    assert (hello["st_blksize"], hello["st_blocks"]) == (1024, 1024)
    assert fs.getattr(f"/{SRC}/bin/run")["st_mode"] == stat.S_IFREG | 0o555
    assert fs.getattr(f"/{SRC}/empty")["st_size"] == 0
    link = fs.getattr(f"/{SRC}/link")
    assert link["st_mode"] == stat.S_IFLNK | 0o444
    assert link["st_size"] == len(b"hello.txt")
    assert fs.readlink(f"/{SRC}/link") == "hello.txt"
    assert fs.getattr(f"/{SRC}/bin")["st_mode"] == stat.S_IFDIR | 0o555


def test_directory_size_switches_to_child_count_when_loaded(tree: Tree) -> None:
    fs = CastoreFS(tree.inputs, tree.store)
    node = tree.inputs[SRC]
    assert isinstance(node, DirectoryNode)
    assert fs.getattr(f"/{SRC}")["st_size"] == node.size  # sparse: the node's size
    fs.readdir(f"/{SRC}", 0)
    assert fs.getattr(f"/{SRC}")["st_size"] == len(os.listdir(tree.src))


def test_inodes_are_deduplicated_by_content(tree: Tree) -> None:
    fs = CastoreFS(tree.inputs, tree.store)
    ino = {
        p: fs.getattr(p)["st_ino"]
        for p in (
            f"/{SRC}",
            f"/{SAME}",
            f"/{SRC}/hello.txt",
            f"/{SRC}/copy.txt",
            f"/{HELLO}",
            f"/{SRC}/link",
            f"/{SRC}/link2",
            f"/{SRC}/empty",
            f"/{SRC}/bin",
            f"/{SAME}/bin/run",
        )
    }
    assert ino[f"/{SRC}"] == ino[f"/{SAME}"]  # same directory digest
    assert ino[f"/{SRC}/hello.txt"] == ino[f"/{SRC}/copy.txt"] == ino[f"/{HELLO}"]  # same blob
    assert ino[f"/{SRC}/link"] == ino[f"/{SRC}/link2"]  # same target
    distinct = {
        ino[f"/{SRC}"],
        ino[f"/{SRC}/hello.txt"],
        ino[f"/{SRC}/link"],
        ino[f"/{SRC}/empty"],
        ino[f"/{SRC}/bin"],
        ino[f"/{SAME}/bin/run"],
    }
    assert len(distinct) == 6
    assert min(distinct) >= 2
    # readdir reports the same numbers
    listed = {name: attrs["st_ino"] for name, attrs, _ in fs.readdir(f"/{SRC}", 0)}
    assert listed["copy.txt"] == ino[f"/{SRC}/hello.txt"]


def test_first_seen_node_decides_the_executable_bit() -> None:
    """snix dedups by blob digest, ignoring the executable flag: the first node seen wins."""
    store = Store.memory()
    digest = store.blobs.put(SCRIPT)
    inputs = {
        "a-exec": FileNode(digest, len(SCRIPT), executable=True),
        "b-plain": FileNode(digest, len(SCRIPT), executable=False),
    }
    fs = CastoreFS(inputs, store)
    assert fs.getattr("/b-plain")["st_mode"] == stat.S_IFREG | 0o444
    assert fs.getattr("/a-exec")["st_mode"] == stat.S_IFREG | 0o444
    fs = CastoreFS(inputs, store)
    assert fs.getattr("/a-exec")["st_mode"] == stat.S_IFREG | 0o555
    assert fs.getattr("/b-plain")["st_mode"] == stat.S_IFREG | 0o555


def test_contents_and_deep_paths(tree: Tree) -> None:
    fs = CastoreFS(tree.inputs, tree.store)
    assert read_all(fs, f"/{SRC}/hello.txt") == HELLO_TEXT
    assert read_all(fs, f"/{SRC}/empty") == b""
    assert read_all(fs, f"/{HELLO}") == HELLO_TEXT
    deep = "/".join(f"d{level:02d}" for level in range(DEPTH))
    assert read_all(fs, f"/{SAME}/{deep}/leaf.txt") == b"leaf\n"
    fh = fs.open(f"/{SRC}/bin/run", os.O_RDONLY)
    assert fs.read(f"/{SRC}/bin/run", 4, 3, fh) == SCRIPT[3:7]
    fs.release(f"/{SRC}/bin/run", fh)


def test_directories_are_loaded_lazily(tree: Tree) -> None:
    fetched: list[B3Digest] = []
    directories = tree.store.directories
    original = directories.get

    def counting_get(digest: B3Digest) -> Directory:
        fetched.append(digest)
        return original(digest)

    directories.get = counting_get  # type: ignore[method-assign]
    fs = CastoreFS(tree.inputs, tree.store)
    fs.getattr(f"/{SRC}")
    fs.readdir("/", 0)
    assert fetched == []
    fs.getattr(f"/{SRC}/hello.txt")
    assert len(fetched) == 1
    fs.getattr(f"/{SAME}/copy.txt")  # same digest: same inode, loaded once
    fs.readdir(f"/{SRC}", 0)
    assert len(fetched) == 1
    fs.getattr(f"/{SRC}/d00/d01")  # loads d00 to find d01; d01 itself stays sparse
    assert len(fetched) == 2
    fs.readdir(f"/{SRC}/d00/d01", 0)
    assert len(fetched) == 3


def test_invalid_and_unknown_names_are_enoent(tree: Tree) -> None:
    fs = CastoreFS(tree.inputs, tree.store)
    for path in ("/nope", "/" + "a" * 256, f"/{SRC}/nope", f"/{SRC}/d00/nope"):
        assert errno_of(fs.getattr, path) == errno.ENOENT, path
    assert errno_of(fs.getattr, f"/{SRC}/hello.txt/x") == errno.ENOTDIR


def test_missing_blob_is_eio_on_open_but_stat_works(tree: Tree) -> None:
    fs = CastoreFS(tree.inputs, tree.store)
    assert fs.getattr(f"/{MISSING_BLOB}")["st_size"] == 12
    assert errno_of(fs.open, f"/{MISSING_BLOB}", os.O_RDONLY) == errno.EIO


def test_missing_directory_is_eio(tree: Tree) -> None:
    fs = CastoreFS(tree.inputs, tree.store)
    assert fs.getattr(f"/{MISSING_DIR}")["st_mode"] == stat.S_IFDIR | 0o555
    assert errno_of(fs.readdir, f"/{MISSING_DIR}", 0) == errno.EIO
    assert errno_of(fs.getattr, f"/{MISSING_DIR}/x") == errno.EIO


def test_wrong_kinds(tree: Tree) -> None:
    fs = CastoreFS(tree.inputs, tree.store)
    assert errno_of(fs.open, f"/{SRC}", os.O_RDONLY) == errno.EISDIR
    assert errno_of(fs.open, f"/{LINK}", os.O_RDONLY) == errno.EISDIR
    assert errno_of(fs.open, "/", os.O_RDONLY) == errno.ENOSYS
    assert errno_of(fs.readlink, f"/{HELLO}") == errno.EINVAL
    assert errno_of(fs.readlink, "/") == errno.ENOSYS


def test_every_write_is_erofs(tree: Tree) -> None:
    fs = CastoreFS(tree.inputs, tree.store)
    path = f"/{SRC}/hello.txt"
    assert errno_of(fs.open, path, os.O_WRONLY) == errno.EROFS
    assert errno_of(fs.open, path, os.O_RDWR) == errno.EROFS
    assert errno_of(fs.open, path, os.O_RDONLY | os.O_TRUNC) == errno.EROFS
    for op, args in [
        (fs.mkdir, (f"/{SRC}/new", 0o755)),
        (fs.rmdir, (f"/{SRC}/bin",)),
        (fs.unlink, (path,)),
        (fs.symlink, (f"/{SRC}/s", "x")),
        (fs.rename, (path, f"/{SRC}/moved")),
        (fs.link, (f"/{SRC}/l", path)),
        (fs.chmod, (path, 0o777)),
        (fs.chown, (path, 1, 1)),
        (fs.truncate, (path, 0)),
        (fs.create, (f"/{SRC}/c", 0o644)),
        (fs.write, (path, b"x", 0, 0)),
        (fs.utimens, (path, None)),
    ]:
        assert errno_of(op, *args) == errno.EROFS, op


def test_names_with_any_bytes(tmp_path: Path) -> None:
    """castore names are bytes; paths reach the filesystem as latin-1 text and map back."""
    store = Store.memory()
    blob = store.blobs.put(b"x")
    name = b"caf\xc3\xa9-\xff"
    directory = Directory({name: FileNode(blob, 1)})
    store.directories.put(directory)
    fs = CastoreFS({b"in\xfe": directory.as_node()}, store)
    listed = [entry for entry, _, _ in fs.readdir("/", 0)]
    assert listed == ["in\xfe"]
    child = [entry for entry, _, _ in fs.readdir("/in\xfe", 0)]
    assert child == [name.decode("latin-1")]
    assert read_all(fs, "/in\xfe/" + name.decode("latin-1")) == b"x"


def test_symlink_input_at_root(tree: Tree) -> None:
    fs = CastoreFS({"l": SymlinkNode(b"/somewhere/else")}, tree.store)
    assert fs.readlink("/l") == "/somewhere/else"
