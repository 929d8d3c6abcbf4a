"""``verify_store`` and ``snixbuild store verify``: every kind of damage an on-disk castore can
have is found, named, and reported with the right exit status; stale temp files are swept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pytest_snixbuild.castore.blobs import MemoryBlobService, shard_path
from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import Directory, DirectoryNode, FileNode, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.castore.verify import StoreNotFoundError, verify_store
from pytest_snixbuild.cli.main import main

SNIXBUILD = Path(sys.executable).with_name("snixbuild")


def make_tree(base: Path) -> Path:
    base.mkdir()
    (base / "README").write_text("top-level file\n")
    (base / "empty").write_bytes(b"")
    deep = base / "sub" / "deeper"
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_text("deep leaf\n")
    tool = base / "sub" / "tool.sh"
    tool.write_text("#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    (base / "link").symlink_to("sub/deeper/leaf.txt")
    return base


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "store")


@pytest.fixture
def root(store: Store, tmp_path: Path) -> DirectoryNode:
    node = ingest_path(make_tree(tmp_path / "tree"), store)
    assert isinstance(node, DirectoryNode)
    return node


def blob_file(store: Store, data: bytes) -> Path:
    assert store.path is not None
    return shard_path(store.path / "blobs", B3Digest.of(data))


def dir_file(store: Store, digest: B3Digest) -> Path:
    assert store.path is not None
    return shard_path(store.path / "directories", digest)


def overwrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)
    path.chmod(0o444)


def kinds(store: Store | Path) -> list[tuple[str, str | None]]:
    return [
        (p.kind, None if p.digest is None else str(p.digest)) for p in verify_store(store).problems
    ]


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# -- a sound store -------------------------------------------------------------------------------
def test_clean_store_is_consistent(store: Store, root: DirectoryNode) -> None:
    report = verify_store(store)
    assert report.ok
    assert report.problems == []
    # README, empty, leaf.txt, tool.sh: four blobs; root, sub, deeper: three directories
    assert (report.blobs, report.directories) == (4, 3)
    assert report.blob_bytes == len("top-level file\n") + len("deep leaf\n") + len(
        "#!/bin/sh\necho hi\n"
    )
    assert report.lines()[-1].endswith("consistent")


def test_path_and_store_give_the_same_report(store: Store, root: DirectoryNode) -> None:
    assert store.path is not None
    assert verify_store(store.path).to_json() == verify_store(store).to_json()


def test_verify_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        verify_store(tmp_path / "absent")
    assert not (tmp_path / "absent").exists()
    (tmp_path / "half" / "blobs").mkdir(parents=True)
    with pytest.raises(StoreNotFoundError, match=r"missing: directories"):
        verify_store(tmp_path / "half")
    assert not (tmp_path / "half" / "directories").exists()


# -- damage --------------------------------------------------------------------------------------
def test_corrupt_blob_is_reported_even_after_a_verified_read(
    store: Store, root: DirectoryNode
) -> None:
    data = b"deep leaf\n"
    digest = B3Digest.of(data)
    with store.blobs.open_read(digest) as f:  # this process now remembers the file as good
        assert f.read() == data
    path = blob_file(store, data)
    st = path.stat()
    overwrite(path, b"DEEP LEAF\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: cache bypassed?
    report = verify_store(store)
    assert [(p.kind, p.digest) for p in report.problems] == [("corrupt-blob", digest)]
    assert str(path) in report.problems[0].message
    assert f"hashes to {B3Digest.of(b'DEEP LEAF' + bytes([10]))}" in report.problems[0].message


def test_storing_the_content_again_repairs_a_corrupt_blob(
    store: Store, root: DirectoryNode
) -> None:
    data = b"deep leaf\n"
    overwrite(blob_file(store, data), b"deep leaf?")
    assert [p.kind for p in verify_store(store).problems] == ["corrupt-blob"]
    assert store.blobs.put(data) == B3Digest.of(data)
    assert verify_store(store).ok


def test_truncated_blob(store: Store, root: DirectoryNode) -> None:
    path = blob_file(store, b"top-level file\n")
    overwrite(path, b"top-level")
    assert kinds(store) == [("corrupt-blob", str(B3Digest.of(b"top-level file\n")))]


def test_corrupt_directory(store: Store, root: DirectoryNode) -> None:
    path = dir_file(store, root.digest)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    overwrite(path, bytes(data))
    report = verify_store(store)
    assert [(p.kind, p.digest) for p in report.problems] == [("corrupt-directory", root.digest)]


def test_undecodable_directory(store: Store) -> None:
    garbage = b"\x12\x05hello"  # a file entry whose body is not a valid entry
    digest = B3Digest.of(garbage)
    path = dir_file(store, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(garbage)
    report = verify_store(store)
    assert [(p.kind, p.digest) for p in report.problems] == [("undecodable-directory", digest)]
    assert "does not decode" in report.problems[0].message


def test_missing_blob_is_a_dangling_reference(store: Store, root: DirectoryNode) -> None:
    blob_file(store, b"deep leaf\n").unlink()
    report = verify_store(store)
    assert [p.kind for p in report.problems] == ["missing-blob"]
    assert "entry b'leaf.txt'" in report.problems[0].message
    assert report.problems[0].digest == B3Digest.of(b"deep leaf\n")


def test_missing_directory_is_a_dangling_reference(store: Store, root: DirectoryNode) -> None:
    sub = store.directories.get(root.digest)[b"sub"]
    assert isinstance(sub, DirectoryNode)
    dir_file(store, sub.digest).unlink()
    report = verify_store(store)
    assert [(p.kind, p.digest) for p in report.problems] == [("missing-directory", sub.digest)]
    assert "entry b'sub'" in report.problems[0].message


def test_wrong_sizes(store: Store) -> None:
    digest = store.blobs.put(b"four")
    child = Directory({b"x": SymlinkNode(b"/target")})
    store.directories.put(child)
    bad = Directory(
        {
            b"f": FileNode(digest, 5, executable=False),
            b"d": DirectoryNode(child.digest, child.size + 7),
        }
    )
    store.directories.put(bad)  # put() does not check children: only closures do
    report = verify_store(store)
    assert sorted(p.kind for p in report.problems) == ["wrong-size", "wrong-size"]
    messages = " ".join(p.message for p in report.problems)
    assert "records size 5 for blob" in messages and "which has 4 bytes" in messages
    assert f"records size {child.size + 7} for directory" in messages


def test_stray_and_special_files(store: Store, root: DirectoryNode) -> None:
    assert store.path is not None
    (store.path / "blobs" / "zz").mkdir()
    (store.path / "blobs" / "zz" / "not-a-blob").write_text("x")
    (store.path / "directories" / "readme.txt").write_text("x")
    victim = blob_file(store, b"top-level file\n")
    victim.unlink()
    victim.symlink_to("/etc/passwd")
    report = verify_store(store)
    found = sorted(p.kind for p in report.problems)
    assert found == ["corrupt-blob", "stray-file", "stray-file"]
    assert any("is not a regular file" in p.message for p in report.problems)


def test_memory_store(tmp_path: Path) -> None:
    mem = Store.memory()
    node = ingest_path(make_tree(tmp_path / "tree"), mem)
    assert verify_store(mem).ok
    blobs = mem.blobs
    assert isinstance(blobs, MemoryBlobService)
    digest = B3Digest.of(b"deep leaf\n")
    blobs._blobs[digest] = b"tampered"
    assert [p.kind for p in verify_store(mem).problems] == ["corrupt-blob"]
    assert isinstance(node, DirectoryNode)


# -- temporary files -----------------------------------------------------------------------------
def test_stale_temp_files_are_listed_and_swept(store: Store, root: DirectoryNode) -> None:
    assert store.path is not None
    tmp = store.path / "blobs" / "tmp"
    tmp.mkdir(exist_ok=True)
    old = time.time() - 3 * 3600
    dead = tmp / f"{dead_pid()}-{uuid.uuid4().hex}"
    dead.write_bytes(b"x" * 100)
    os.utime(dead, (old, old))
    mine = tmp / f"{os.getpid()}-{uuid.uuid4().hex}"  # a live writer: never stale
    mine.write_bytes(b"y")
    os.utime(mine, (old, old))
    young = store.path / "directories" / "tmp" / f"{dead_pid()}-{uuid.uuid4().hex}"
    young.parent.mkdir(exist_ok=True)
    young.write_bytes(b"z")
    report = verify_store(store)
    assert report.ok  # temp files are not corruption
    assert [t.path for t in report.stale_temp_files] == [dead]
    assert "1 stale temporary file(s) (100 bytes)" in "\n".join(report.lines())
    assert {t.path: t.stale for t in report.temp_files} == {dead: True, mine: False, young: False}

    swept = verify_store(store, sweep=True)
    assert swept.swept == [dead]
    assert not dead.exists() and mine.exists() and young.exists()
    # with no minimum age, the young file of a dead writer is stale too; ours still is not
    zero = verify_store(store, sweep=True, sweep_age=0)
    assert zero.swept == [young]
    assert mine.exists()


# -- the command line ----------------------------------------------------------------------------
def test_cli_clean(store: Store, root: DirectoryNode, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "verify", "--store", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("4 blob(s) (43 bytes), 3 directory(ies) checked: consistent")


def test_cli_corrupt_exit_1_and_json(
    store: Store, root: DirectoryNode, capsys: pytest.CaptureFixture[str]
) -> None:
    path = blob_file(store, b"deep leaf\n")
    overwrite(path, b"deep leaf!")
    assert main(["store", "verify", "--store", str(store.path)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"corrupt-blob: blob {B3Digest.of(b'deep leaf' + bytes([10]))}")
    assert "1 problem(s)" in captured.out
    assert main(["store", "verify", "--store", str(store.path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert [p["kind"] for p in data["problems"]] == ["corrupt-blob"]
    assert data["problems"][0]["path"] == str(path)


def test_cli_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "verify", "--store", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["store", "verify", "--older-than", "soon"])
    assert exited.value.code == 2
    assert main(["store"]) == 2


def test_installed_script_sweeps(store: Store, root: DirectoryNode) -> None:
    assert store.path is not None
    tmp = store.path / "blobs" / "tmp"
    tmp.mkdir(exist_ok=True)
    leftover = tmp / f"{dead_pid()}-{uuid.uuid4().hex}"
    leftover.write_bytes(b"partial")
    done = subprocess.run(
        [
            str(SNIXBUILD),
            "store",
            "verify",
            "--store",
            str(store.path),
            "--fix",
            "--older-than",
            "0",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"removed stale temporary file {leftover}" in done.stdout
    assert not leftover.exists()
