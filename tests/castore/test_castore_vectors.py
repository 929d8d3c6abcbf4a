"""Every castore vector of snix (castore/src/fixtures.rs) under both size semantics."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_snixbuild.castore.digests import EMPTY_DIGEST, B3Digest, DigestError
from pytest_snixbuild.castore.encoding import decode_directory
from pytest_snixbuild.castore.nodes import (
    Directory,
    DirectoryNode,
    FileNode,
    Node,
    SymlinkNode,
)

DUMMY = B3Digest(bytes(32))


def blob_contents(name: str, spec: dict[str, Any]) -> bytes:
    if name == "BLOB_B":
        return bytes(range(255)) * 4096
    return bytes.fromhex(spec["contents_hex"])


def fixture_directories(sized: str) -> dict[str, Directory]:
    """snix's six fixture Directories; ``sized`` picks the size semantics ('head' or 'spec')."""

    def ref(d: Directory) -> DirectoryNode:
        return DirectoryNode(d.digest, d.size if sized == "head" else d.spec_size)

    with_keep = Directory({b".keep": FileNode(EMPTY_DIGEST, 0, False)})
    complicated = Directory(
        {
            b"keep": ref(with_keep),
            b".keep": FileNode(EMPTY_DIGEST, 0, False),
            b"aa": SymlinkNode(b"/nix/store/somewhereelse"),
        }
    )
    a = Directory()
    b = Directory({b"a": ref(a)})
    c = Directory({b"a": ref(a), b"a'": ref(a)})
    d = Directory({b"a": ref(a), b"b": ref(b)})
    return {
        "DIRECTORY_WITH_KEEP": with_keep,
        "DIRECTORY_COMPLICATED": complicated,
        "DIRECTORY_A": a,
        "DIRECTORY_B": b,
        "DIRECTORY_C": c,
        "DIRECTORY_D": d,
    }


BLOBS = ["EMPTY_BLOB_CONTENTS", "HELLOWORLD_BLOB_CONTENTS", "BLOB_A", "BLOB_B"]
DIRS = [
    "DIRECTORY_WITH_KEEP",
    "DIRECTORY_COMPLICATED",
    "DIRECTORY_A",
    "DIRECTORY_B",
    "DIRECTORY_C",
    "DIRECTORY_D",
]


@pytest.mark.parametrize("name", BLOBS)
def test_blob_digest_and_display(vectors: dict[str, Any], name: str) -> None:
    spec = vectors["blobs"][name]
    data = blob_contents(name, spec)
    assert len(data) == spec["size"]
    digest = B3Digest.of(data)
    assert digest.hex == spec["digest_hex"]
    assert str(digest) == spec["display"]
    assert B3Digest.parse(spec["display"]) == digest


def test_all_vectors_are_covered(vectors: dict[str, Any]) -> None:
    assert sorted(vectors["blobs"]) == sorted(BLOBS)
    assert sorted(vectors["directories"]["snix_head"]) == sorted(DIRS)
    assert sorted(vectors["directories"]["spec"]) == sorted(DIRS)


@pytest.mark.parametrize("name", DIRS)
def test_directory_head_semantics(vectors: dict[str, Any], name: str) -> None:
    """What snix HEAD produces: the doubled size, hashed into parents. This is what we use."""
    expected = vectors["directories"]["snix_head"][name]
    directory = fixture_directories("head")[name]
    assert directory.encode().hex() == expected["encoding_hex"]
    assert directory.digest.hex == expected["digest_hex"]
    assert str(directory.digest) == expected["display"]
    assert directory.size == expected["size"]
    assert directory.as_node() == DirectoryNode(directory.digest, expected["size"])
    assert decode_directory(bytes.fromhex(expected["encoding_hex"])) == directory


@pytest.mark.parametrize("name", DIRS)
def test_directory_spec_semantics(vectors: dict[str, Any], name: str) -> None:
    """The proto comment's size (entries + child sizes): documented, not used for new data."""
    expected = vectors["directories"]["spec"][name]
    directory = fixture_directories("spec")[name]
    assert directory.encode().hex() == expected["encoding_hex"]
    assert directory.digest.hex == expected["digest_hex"]
    assert str(directory.digest) == expected["display"]
    assert directory.spec_size == expected["size"]


def test_semantics_differ_exactly_where_snix_says() -> None:
    head, spec = fixture_directories("head"), fixture_directories("spec")
    differ = sorted(n for n in DIRS if head[n].digest != spec[n].digest)
    assert differ == ["DIRECTORY_COMPLICATED", "DIRECTORY_D"]


def test_empty_directory_digest_is_empty_blob_digest() -> None:
    assert Directory().digest == EMPTY_DIGEST == B3Digest.of(b"")
    assert Directory().encode() == b""


def _entry_node(spec: list[Any]) -> Node:
    kind = spec[0]
    if kind == "d":
        return DirectoryNode(B3Digest(bytes.fromhex(spec[1])), spec[2])
    if kind == "f":
        return FileNode(B3Digest(bytes.fromhex(spec[1])), spec[2], spec[3])
    return SymlinkNode(bytes.fromhex(spec[1]))


@pytest.mark.parametrize("name", ["file_exec_size300", "mixed_dummy"])
def test_encoding_examples(vectors: dict[str, Any], name: str) -> None:
    example = vectors["encoding_examples"][name]
    directory = Directory({k.encode(): _entry_node(v) for k, v in example["entries"].items()})
    assert directory.encode().hex() == example["encoding_hex"]
    assert directory.digest.hex == example["digest_hex"]
    assert str(directory.digest) == example["display"]
    assert decode_directory(directory.encode()) == directory


def test_worked_example_bytes() -> None:
    directory = Directory({b"x": FileNode(DUMMY, 300, True)})
    assert directory.encode() == (
        bytes.fromhex("122a") + b"\x0a\x01x" + b"\x12\x20" + bytes(32) + bytes.fromhex("18ac022001")
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sha256-rxNJufX5oaagQE3qNtzJSZvLJcmtwRK3zJqTyuQfMmI=", "prefix"),
        ("blake3-rxNJufX5oaagQE3qNtzJSZvLJcmtwRK3zJqTyuQfMm", "base64"),
        ("blake3-AAAA", "decodes to 3 bytes"),
    ],
)
def test_digest_parse_errors(text: str, fragment: str) -> None:
    with pytest.raises(DigestError, match=fragment):
        B3Digest.parse(text)
