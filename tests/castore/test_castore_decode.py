"""decode_directory reports the error snix reports first (spec §1.7)."""

from __future__ import annotations

import pytest

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.encoding import (
    DuplicateNameError,
    InvalidNodeError,
    WrongSortingError,
    decode_directory,
    encode_directory_entry,
    encode_file_entry,
    encode_symlink_entry,
)
from pytest_snixbuild.castore.errors import ValidationError
from pytest_snixbuild.castore.nodes import (
    Directory,
    DirectoryNode,
    FileNode,
    InvalidNameError,
    SymlinkNode,
)
from pytest_snixbuild.castore.protowire import DecodeError, len_field, uint_field

D = B3Digest(bytes(32))


def dir_e(name: bytes, digest: bytes = bytes(32), size: int = 0) -> bytes:
    body = len_field(1, name) + len_field(2, digest) + uint_field(3, size)
    return len_field(1, body, always=True)


def file_e(name: bytes, digest: bytes = bytes(32)) -> bytes:
    return len_field(2, len_field(1, name) + len_field(2, digest), always=True)


def link_e(name: bytes, target: bytes = b"t") -> bytes:
    return len_field(3, len_field(1, name) + len_field(2, target), always=True)


def test_wrong_sorting() -> None:
    with pytest.raises(WrongSortingError) as info:
        decode_directory(file_e(b"b") + file_e(b"a"))
    assert info.value.name == b"a"


def test_duplicate_name_in_one_list() -> None:
    with pytest.raises(DuplicateNameError) as info:
        decode_directory(dir_e(b"a") + dir_e(b"a"))
    assert info.value.name == b"a"


def test_duplicate_name_across_lists() -> None:
    with pytest.raises(DuplicateNameError):
        decode_directory(dir_e(b"a") + file_e(b"a"))


def test_invalid_digest_len() -> None:
    with pytest.raises(InvalidNodeError, match=r"InvalidDigestLen\(2\)"):
        decode_directory(file_e(b"a", b"\x00\x01"))


def test_empty_name_first_in_list_is_invalid_name_empty() -> None:
    with pytest.raises(InvalidNameError) as info:
        decode_directory(file_e(b""))
    assert info.value.problem == "Empty"


def test_sorting_is_checked_before_node_validity() -> None:
    # a bad digest in an entry that is also out of order: WrongSorting wins
    with pytest.raises(WrongSortingError):
        decode_directory(file_e(b"b") + file_e(b"a", b"\x01"))


def test_node_is_checked_before_name() -> None:
    with pytest.raises(InvalidNodeError):
        decode_directory(file_e(b"a/b", b"\x01"))
    with pytest.raises(InvalidNameError) as info:
        decode_directory(file_e(b"a/b"))
    assert info.value.problem == "Slashes"


def test_directories_are_checked_before_files() -> None:
    with pytest.raises(InvalidNodeError) as info:
        decode_directory(dir_e(b"z", b"\x01") + file_e(b"a", b"\x01"))
    assert info.value.name == b"z"


def test_within_list_duplicate_beats_cross_list_checks() -> None:
    with pytest.raises(DuplicateNameError) as info:
        decode_directory(dir_e(b"x") + file_e(b"y") + file_e(b"y"))
    assert info.value.name == b"y"


def test_invalid_symlink_target() -> None:
    with pytest.raises(InvalidNodeError, match="InvalidSymlinkTarget"):
        decode_directory(link_e(b"l", b""))
    with pytest.raises(InvalidNodeError, match="InvalidSymlinkTarget"):
        decode_directory(link_e(b"l", b"a\0b"))


@pytest.mark.parametrize(
    ("name", "problem"),
    [(b"..", "Parent"), (b".", "CurDir"), (b"x" * 256, "TooLong"), (b"a\0", "Null")],
)
def test_name_problems(name: bytes, problem: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        decode_directory(file_e(name))
    assert info.value.problem == problem


def test_child_sizes_are_not_checked_on_decode() -> None:
    decoded = decode_directory(dir_e(b"a", size=12345))
    assert decoded[b"a"] == DirectoryNode(D, 12345)


def test_malformed_wire() -> None:
    with pytest.raises(DecodeError):
        decode_directory(b"\x0a\x05ab")
    with pytest.raises(ValidationError):
        decode_directory(b"\x0a")


def test_roundtrip_mixed() -> None:
    directory = Directory(
        {
            b"d": DirectoryNode(D, 7),
            b"f": FileNode(D, 1, True),
            b"\xff": SymlinkNode(b"\xfe\xfd"),
        }
    )
    data = directory.encode()
    assert decode_directory(data) == directory
    assert data.startswith(
        len_field(1, encode_directory_entry(b"d", DirectoryNode(D, 7)), always=True)
    )
    assert encode_file_entry(b"f", FileNode(D, 1, True)) in data
    assert encode_symlink_entry(b"\xff", SymlinkNode(b"\xfe\xfd")) in data
