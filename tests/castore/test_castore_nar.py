"""NAR writing against snix's fixtures and Nix itself; the strict NAR reader."""

from __future__ import annotations

import hashlib
import io
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.castore.digests import EMPTY_DIGEST
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nar import (
    NarError,
    ingest_nar,
    iter_nar,
    iter_nar_path,
    nar_hash,
    nar_hash_path,
    token,
    write_nar,
)
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.nix.hashes import NixHash

DATA = Path(__file__).resolve().parent.parent / "data" / "castore"


@pytest.fixture(params=["complicated.nar", "helloworld.nar", "symlink.nar"])
def fixture_case(
    request: pytest.FixtureRequest, tmp_path: Path, complicated_tree: Path
) -> tuple[str, Path]:
    name: str = request.param
    if name == "complicated.nar":
        return name, complicated_tree
    path = tmp_path / "root"
    if name == "helloworld.nar":
        path.write_bytes(b"Hello World!")
    else:
        path.symlink_to("/nix/store/somewhereelse")
    return name, path


def test_nar_of_node_matches_fixture(
    store: Store, fixture_case: tuple[str, Path], nar_vectors: dict[str, Any]
) -> None:
    name, path = fixture_case
    expected = (DATA / name).read_bytes()
    node = ingest_path(path, store)
    assert b"".join(iter_nar(node, store)) == expected
    out = io.BytesIO()
    assert write_nar(node, store, out) == len(expected)
    assert out.getvalue() == expected
    digest, size = nar_hash(node, store)
    info = nar_vectors["files"][name]
    assert (digest.hex(), size) == (info["sha256"], info["size"])
    assert hashlib.sha1(expected).hexdigest() == info["sha1"]
    assert hashlib.sha512(expected).hexdigest() == info["sha512"]


def test_nar_of_host_path_matches_fixture(fixture_case: tuple[str, Path]) -> None:
    name, path = fixture_case
    expected = (DATA / name).read_bytes()
    assert b"".join(iter_nar_path(path)) == expected
    assert nar_hash_path(path) == (hashlib.sha256(expected).digest(), len(expected))


def test_nar_matches_nix(
    fixture_case: tuple[str, Path],
    nix_dump: Callable[[Path], bytes],
    nix_hash: Callable[[Path], str],
) -> None:
    _, path = fixture_case
    assert b"".join(iter_nar_path(path)) == nix_dump(path)
    assert NixHash("sha256", nar_hash_path(path)[0]).nix32 == nix_hash(path)


def test_read_fixture(store: Store, fixture_case: tuple[str, Path]) -> None:
    name, path = fixture_case
    data = (DATA / name).read_bytes()
    node = ingest_nar(io.BytesIO(data), store)
    assert node == ingest_path(path, Store.memory())
    assert b"".join(iter_nar(node, store)) == data


def test_md5_of_helloworld(nar_vectors: dict[str, Any]) -> None:
    expected = nar_vectors["files"]["helloworld.nar"]["flat_md5_of_contents"]
    assert hashlib.md5(b"Hello World!").hexdigest() == expected


def test_complicated_nar_reads_as_directory_complicated(store: Store) -> None:
    node = ingest_nar(io.BytesIO((DATA / "complicated.nar").read_bytes()), store)
    assert node == DirectoryNode(
        bytes_digest("424a7f6ce08d805d15b428062faae96299a1675d708c3a39261afe38cdd04feb"), 8
    )


def bytes_digest(hexd: str) -> Any:
    from pytest_snixbuild.castore.digests import B3Digest

    return B3Digest(bytes.fromhex(hexd))


# the strict reader -----------------------------------------------------------------------------

T = token
OPEN, CLOSE = T(b"("), T(b")")


def nar(*parts: bytes) -> bytes:
    return T(b"nix-archive-1") + b"".join(parts)


def regular(data: bytes, executable: bool = False) -> bytes:
    exe = T(b"executable") + T(b"") if executable else b""
    return OPEN + T(b"type") + T(b"regular") + exe + T(b"contents") + T(data) + CLOSE


def symlink(target: bytes) -> bytes:
    return OPEN + T(b"type") + T(b"symlink") + T(b"target") + T(target) + CLOSE


def directory(*entries: tuple[bytes, bytes]) -> bytes:
    body = b"".join(
        T(b"entry") + OPEN + T(b"name") + T(n) + T(b"node") + node + CLOSE for n, node in entries
    )
    return OPEN + T(b"type") + T(b"directory") + body + CLOSE


def read(data: bytes, store: Store | None = None) -> Node:
    return ingest_nar(io.BytesIO(data), store or Store.memory())


def test_reader_roundtrip_exec_and_nested(store: Store) -> None:
    data = nar(
        directory(
            (b"a", regular(b"xyz", executable=True)),
            (b"b", directory((b"c", directory()), (b"d", symlink(b"../a")))),
            (b"e", regular(b"")),
        )
    )
    node = read(data, store)
    assert isinstance(node, DirectoryNode)
    assert b"".join(iter_nar(node, store)) == data
    root = store.directories.get(node.digest)
    assert isinstance(root[b"a"], FileNode) and root[b"a"].executable
    assert root[b"e"] == FileNode(EMPTY_DIGEST, 0, False)


@pytest.mark.parametrize(
    ("data", "message", "offset"),
    [
        pytest.param(T(b"nix-archive-2") + regular(b""), "expected the magic", 0, id="magic"),
        pytest.param(
            nar(OPEN + T(b"type") + T(b"fifo") + CLOSE),
            "expected 'regular' or 'symlink'",
            56,
            id="unknown-type",
        ),
        pytest.param(
            nar(directory((b"b", regular(b"")), (b"a", regular(b"")))),
            "unsorted entry name",
            None,
            id="unsorted",
        ),
        pytest.param(
            nar(directory((b"a", regular(b"")), (b"a", regular(b"")))),
            "duplicate entry name",
            None,
            id="duplicate",
        ),
        pytest.param(
            nar(directory((b"..", regular(b"")))),
            "invalid entry name b'..': Parent",
            None,
            id="dotdot",
        ),
        pytest.param(nar(directory((b"a/b", regular(b"")))), "Slashes", None, id="slash"),
        pytest.param(nar(directory((b"", regular(b"")))), "Empty", None, id="empty-name"),
        pytest.param(
            nar(directory((b"x" * 256, regular(b"")))), "at most 255", None, id="long-name"
        ),
        pytest.param(nar(symlink(b"")), "invalid symlink target", None, id="empty-target"),
        pytest.param(nar(symlink(b"a\0b")), "invalid symlink target", None, id="nul-target"),
        pytest.param(nar(regular(b"abc"))[:-12], "unexpected end of input", None, id="truncated"),
        pytest.param(nar(regular(b"abc")) + b"\0", "trailing data", None, id="trailing"),
        pytest.param(
            nar(OPEN + T(b"type") + T(b"regular") + T(b"executable") + T(b"x")),
            "empty string",
            None,
            id="exec-marker",
        ),
        pytest.param(
            nar(OPEN + T(b"type") + T(b"regular") + T(b"contents") + T(b"x")),
            "expected ')'",
            None,
            id="extra-contents",
        ),
        pytest.param(b"", "unexpected end of input", 0, id="empty-input"),
    ],
)
def test_reader_rejects(data: bytes, message: str, offset: int | None) -> None:
    with pytest.raises(NarError, match=re.escape(message)) as info:
        read(data)
    assert info.value.offset is not None
    assert f"at byte {info.value.offset}" in str(info.value)
    if offset is not None:
        assert info.value.offset == offset


def test_reader_nonzero_padding_offset() -> None:
    good = nar(regular(b"abc"))
    pad_at = len(good) - len(CLOSE) - 5  # the five padding bytes after "abc"
    bad = good[:pad_at] + b"\x01" + good[pad_at + 1 :]
    with pytest.raises(NarError, match="non-zero padding") as info:
        read(bad)
    assert info.value.offset == pad_at


def test_reader_huge_keyword_length_is_refused_without_allocating() -> None:
    data = T(b"nix-archive-1") + struct.pack("<Q", 1 << 60)
    with pytest.raises(NarError, match=re.escape("expected '('")) as info:
        read(data)
    assert info.value.offset == 24


def test_reader_allow_trailing() -> None:
    data = nar(symlink(b"x")) + b"rest"
    stream = io.BytesIO(data)
    assert ingest_nar(stream, Store.memory(), allow_trailing=True) == SymlinkNode(b"x")
    assert stream.read() == b"rest"


def test_host_nar_rejects_fifo(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "p")
    with pytest.raises(NarError, match=r"unsupported file type at .*p: fifo"):
        nar_hash_path(tmp_path)
