"""The castore mounted for real over FUSE: contents, modes, inodes, errors and always unmounting."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
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
    fuse_mounts_in,
)

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.mount import (
    MountError,
    force_unmount,
    fuse_mounts_under,
    mount_castore,
)
from pytest_snixbuild.errors import SnixError

pytestmark = pytest.mark.snix_runc

BACKENDS = ["mfusepy", "fusepy"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return build_tree(tmp_path_factory.mktemp("fuse-tree"), big=True)


@pytest.fixture(params=BACKENDS)
def mounted(request: pytest.FixtureRequest, tree: Tree, tmp_path: Path) -> Iterator[Path]:
    with mount_castore(tree.inputs, tree.store, tmp_path / "mnt", backend=request.param) as mnt:
        yield mnt
    assert fuse_mounts_in(tmp_path) == []


def oserror(fn: object, *args: object) -> int:
    with pytest.raises(OSError) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.errno is not None
    return info.value.errno


def test_root_listing_and_lookups(mounted: Path, tree: Tree) -> None:
    assert sorted(os.listdir(mounted)) == sorted(tree.inputs)
    root = os.stat(mounted)
    assert root.st_ino == 1
    assert stat.S_IMODE(root.st_mode) == 0o555
    assert root.st_mtime == 0
    assert oserror(os.stat, mounted / "not-an-input") == errno.ENOENT
    assert oserror(os.stat, mounted / ("x" * 300)) == errno.ENOENT  # not a valid castore name


def test_files_modes_symlinks_and_deep_paths(mounted: Path, tree: Tree) -> None:
    src = mounted / SRC
    assert (src / "hello.txt").read_bytes() == HELLO_TEXT
    assert (src / "empty").read_bytes() == b""
    assert (src / "bin" / "run").read_bytes() == SCRIPT
    assert (mounted / HELLO).read_bytes() == HELLO_TEXT
    hello = os.stat(src / "hello.txt")
    assert (stat.S_IFMT(hello.st_mode), stat.S_IMODE(hello.st_mode)) == (stat.S_IFREG, 0o444)
    assert (hello.st_uid, hello.st_gid, hello.st_mtime, hello.st_size) == (0, 0, 1, 13)
    assert stat.S_IMODE(os.stat(src / "bin" / "run").st_mode) == 0o555
    assert stat.S_IMODE(os.stat(src / "bin").st_mode) == 0o555
    assert os.readlink(src / "link") == "hello.txt"
    assert os.readlink(mounted / LINK) == f"{SRC}/hello.txt"
    assert (mounted / LINK).read_bytes() == HELLO_TEXT  # followed inside the mount
    assert os.readlink(src / "dangling").startswith("/nix/store/")
    assert stat.S_ISLNK(os.lstat(src / "link").st_mode)
    deep = src.joinpath(*(f"d{level:02d}" for level in range(DEPTH)))
    assert (deep / "leaf.txt").read_bytes() == b"leaf\n"
    assert sorted(os.listdir(src)) == sorted(os.listdir(tree.src))
    # executables run (the kernel honours the mode without default_permissions)
    done = subprocess.run([str(src / "bin" / "run")], capture_output=True, check=True)
    assert done.stdout.startswith(b"ran ")
    assert oserror(subprocess.run, [str(src / "hello.txt")]) == errno.EACCES


def test_inodes_deduplicated_by_content(mounted: Path) -> None:
    src, same = mounted / SRC, mounted / SAME
    assert os.stat(src).st_ino == os.stat(same).st_ino
    assert os.stat(src / "hello.txt").st_ino == os.stat(src / "copy.txt").st_ino
    assert os.stat(src / "hello.txt").st_ino == os.stat(mounted / HELLO).st_ino
    assert os.lstat(src / "link").st_ino == os.lstat(src / "link2").st_ino
    assert os.stat(src / "hello.txt").st_ino != os.stat(src / "empty").st_ino
    listed = {entry.name: entry.inode() for entry in os.scandir(src)}
    assert listed["hello.txt"] == os.stat(src / "hello.txt").st_ino


def test_big_file_streams_back_identically(mounted: Path, tree: Tree) -> None:
    path = mounted / SRC / "big.bin"
    assert os.stat(path).st_size == len(tree.big)
    hasher = blake3.blake3()
    sha = hashlib.sha256()
    with path.open("rb", buffering=0) as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
            sha.update(chunk)
    assert hasher.digest() == blake3.blake3(tree.big).digest()
    assert sha.digest() == hashlib.sha256(tree.big).digest()
    rng = random.Random(3)
    fd = os.open(path, os.O_RDONLY)
    try:
        for _ in range(200):
            offset = rng.randrange(len(tree.big) + 10)
            size = rng.choice([1, 17, 4096, 65537, 1 << 20, 3 << 20])
            assert os.pread(fd, size, offset) == tree.big[offset : offset + size], (offset, size)
    finally:
        os.close(fd)


def test_writes_are_erofs(mounted: Path) -> None:
    src = mounted / SRC
    assert oserror(open, src / "hello.txt", "wb") == errno.EROFS
    assert oserror(open, src / "new.txt", "xb") == errno.EROFS
    assert oserror(os.mkdir, src / "newdir") == errno.EROFS
    assert oserror(os.mkdir, mounted / "newinput") == errno.EROFS
    assert oserror(os.unlink, src / "hello.txt") == errno.EROFS
    assert oserror(os.rmdir, src / "bin") == errno.EROFS
    assert oserror(os.rename, src / "hello.txt", src / "moved") == errno.EROFS
    assert oserror(os.symlink, "x", src / "newlink") == errno.EROFS
    assert oserror(os.chmod, src / "hello.txt", 0o777) == errno.EROFS
    assert oserror(os.truncate, src / "hello.txt", 0) == errno.EROFS


def test_missing_blob_and_directory_are_eio(mounted: Path) -> None:
    assert os.stat(mounted / MISSING_BLOB).st_size == 12  # stat works
    assert oserror(open, mounted / MISSING_BLOB, "rb") == errno.EIO
    assert stat.S_ISDIR(os.stat(mounted / MISSING_DIR).st_mode)
    assert oserror(os.listdir, mounted / MISSING_DIR) == errno.EIO
    assert oserror(os.stat, mounted / MISSING_DIR / "x") == errno.EIO


def test_memory_store_is_served_too(tmp_path: Path) -> None:
    tree = build_tree(tmp_path, big=False, store=Store.memory())
    for backend in BACKENDS:
        with mount_castore(tree.inputs, tree.store, tmp_path / "mnt", backend=backend) as mnt:  # type: ignore[arg-type]
            assert (mnt / SRC / "hello.txt").read_bytes() == HELLO_TEXT
            with (mnt / SRC / "bin" / "run").open("rb") as f:
                f.seek(3)
                assert f.read(5) == SCRIPT[3:8]
    assert fuse_mounts_in(tmp_path) == []


# ----------------------------------------------------------------------------------------------
# always unmounted


def test_unmounted_after_an_exception(tree: Tree, tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        mount_castore(tree.inputs, tree.store, tmp_path / "mnt") as mnt,
    ):
        assert fuse_mounts_in(tmp_path) == [str(mnt)]
        raise RuntimeError("boom")
    assert fuse_mounts_in(tmp_path) == []
    assert fuse_mounts_under(tmp_path) == []


def test_unmounted_after_keyboard_interrupt(tree: Tree, tmp_path: Path) -> None:
    with (
        pytest.raises(KeyboardInterrupt),
        mount_castore(tree.inputs, tree.store, tmp_path / "mnt") as mnt,
    ):
        (mnt / SRC / "hello.txt").read_bytes()
        raise KeyboardInterrupt
    assert fuse_mounts_in(tmp_path) == []


def test_unmounted_after_sigint_while_blocked(tree: Tree, tmp_path: Path) -> None:
    """A real Ctrl-C (SIGINT to the process) while the with-block waits."""
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt), mount_castore(tree.inputs, tree.store, tmp_path / "mnt"):
        timer.start()
        time.sleep(30)
    timer.cancel()
    assert fuse_mounts_in(tmp_path) == []


def test_unmounted_while_a_file_is_still_open(tree: Tree, tmp_path: Path) -> None:
    """A busy mount is forced off (the connection is aborted); the open file then fails."""
    with mount_castore(tree.inputs, tree.store, tmp_path / "mnt") as mnt:
        fd = os.open(mnt / SRC / "big.bin", os.O_RDONLY)
        assert os.pread(fd, 5, 0) == tree.big[:5]
        sleeper = subprocess.Popen(["sleep", "60"], cwd=mnt / SRC)
    try:
        assert fuse_mounts_in(tmp_path) == []
        assert oserror(os.pread, fd, 5, 50 << 20) in (errno.ENOTCONN, errno.EIO)
    finally:
        os.close(fd)
        sleeper.kill()
        sleeper.wait()


def test_mounts_in_parallel_threads(tree: Tree, tmp_path: Path) -> None:
    failures: list[BaseException] = []

    def one(i: int) -> None:
        try:
            with mount_castore(tree.inputs, tree.store, tmp_path / f"m{i}") as mnt:
                assert (mnt / SAME / "hello.txt").read_bytes() == HELLO_TEXT
                assert (mnt / SRC / "big.bin").stat().st_size == len(tree.big)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert fuse_mounts_in(tmp_path) == []


def test_mount_errors_are_for_people(tree: Tree, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file").write_text("x")
    with (
        pytest.raises(MountError, match="expected an empty directory") as info,
        mount_castore(tree.inputs, tree.store, busy),
    ):
        pass
    assert isinstance(info.value, SnixError)
    with (
        pytest.raises(MountError, match="expected an existing directory"),
        mount_castore(tree.inputs, tree.store, busy / "file"),
    ):
        pass
    with (
        mount_castore(tree.inputs, tree.store, tmp_path / "mnt") as mnt,
        pytest.raises(MountError, match="already"),
        mount_castore(tree.inputs, tree.store, mnt),
    ):
        pass
    assert fuse_mounts_in(tmp_path) == []
    assert not (tmp_path / "mnt").exists()  # created by mount_castore, removed again


def test_force_unmount_cleans_up_after_a_killed_server(tree: Tree, tmp_path: Path) -> None:
    """A process that dies with its mount up leaves a dead mount; force_unmount removes it."""
    assert tree.store.path is not None
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from pytest_snixbuild.castore.store import Store
        from pytest_snixbuild.castore.nodes import FileNode
        from pytest_snixbuild.castore.digests import B3Digest
        from pytest_snixbuild.engine.mount import mount_castore
        store = Store.open(Path({str(tree.store.path)!r}))
        inputs = {{"x": FileNode(B3Digest.of(b""), 0)}}
        with mount_castore(inputs, store, Path({str(tmp_path / "stale")!r})):
            print("up", flush=True)
            time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"up\n"
        child.kill()
        child.wait()
        assert fuse_mounts_under(tmp_path) == [tmp_path / "stale"]
        assert oserror(os.listdir, tmp_path / "stale") == errno.ENOTCONN
        assert force_unmount(tmp_path) == [tmp_path / "stale"]
        assert fuse_mounts_under(tmp_path) == []
        assert fuse_mounts_in(tmp_path) == []
    finally:
        child.kill()
        child.wait()
        force_unmount(tmp_path)


def test_mountpoint_with_a_space_behind_a_symlink(tree: Tree, tmp_path: Path) -> None:
    """mountinfo escapes the space and shows the resolved path; both are handled."""
    (tmp_path / "a b").mkdir()
    (tmp_path / "link").symlink_to("a b")
    with mount_castore(tree.inputs, tree.store, tmp_path / "link") as mnt:
        assert mnt == tmp_path / "a b"
        assert fuse_mounts_under(tmp_path) == [tmp_path / "a b"]
        assert (tmp_path / "link" / HELLO).read_bytes() == HELLO_TEXT
    assert fuse_mounts_under(tmp_path) == []
    assert fuse_mounts_in(tmp_path) == []
