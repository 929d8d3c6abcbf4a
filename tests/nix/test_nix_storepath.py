"""Store paths (spec §8.2): parsing, validation, ordering and path computation."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nix_testlib import load_json

from pytest_snixbuild.nix.cahash import CAHash
from pytest_snixbuild.nix.pathhash import (
    compress_hash,
    fixed_output_path,
    hash_placeholder,
    input_addressed_output_path,
    make_store_path,
    text_path,
)
from pytest_snixbuild.nix.storepath import (
    StorePath,
    StorePathError,
    sorted_store_paths,
    store_path_key,
)

VECTORS = load_json("derivation_vectors.json")
BAR = "/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"


def test_parse_absolute_and_basename() -> None:
    path = StorePath.from_absolute_path(BAR)
    assert path.name == "bar"
    assert path.hash_str == "mp57d33657rf34lzvlbpfa1gjfv5gmpg"
    assert len(path.digest) == 20
    assert path.basename == "mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"
    assert path.to_absolute() == BAR
    assert str(path) == BAR
    assert StorePath.from_basename(path.basename) == path


def test_other_store_dir() -> None:
    path = StorePath.from_absolute_path(
        "/tmp/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar", "/tmp/store"
    )
    assert path.to_absolute("/tmp/store/") == "/tmp/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "mp57d33657rf34lzvlbpfa1gjfv5gmpg",
            "invalid store path basename 'mp57d33657rf34lzvlbpfa1gjfv5gmpg': expected "
            "<32-character hash>-<name>, got only 32 characters",
        ),
        (
            "mp57d33657rf34lzvlbpfa1gjfv5gmpg_bar",
            "invalid store path basename 'mp57d33657rf34lzvlbpfa1gjfv5gmpg_bar': expected '-' "
            "after the 32-character hash, found '_'",
        ),
        (
            "ep57d33657rf34lzvlbpfa1gjfv5gmpg-bar",
            "invalid store path basename 'ep57d33657rf34lzvlbpfa1gjfv5gmpg-bar': the hash part "
            "'ep57d33657rf34lzvlbpfa1gjfv5gmpg' is not valid nixbase32",
        ),
        (
            "mp57d33657rf34lzvlbpfa1gjfv5gmpg-b@r",
            "invalid store path basename 'mp57d33657rf34lzvlbpfa1gjfv5gmpg-b@r': character '@' "
            "at position 1 is not one of A-Z a-z 0-9 + - _ ? = .",
        ),
        (
            "mp57d33657rf34lzvlbpfa1gjfv5gmpg-" + "a" * 212,
            f"invalid store path basename 'mp57d33657rf34lzvlbpfa1gjfv5gmpg-{'a' * 212}': names "
            "are at most 211 bytes, this one has 212",
        ),
    ],
)
def test_basename_errors(text: str, message: str) -> None:
    with pytest.raises(StorePathError) as exc:
        StorePath.from_basename(text)
    assert str(exc.value) == message


def test_absolute_errors() -> None:
    with pytest.raises(StorePathError) as exc:
        StorePath.from_absolute_path("/nix/var/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar")
    assert str(exc.value) == (
        "invalid store path '/nix/var/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar': expected it to "
        "start with '/nix/store/'"
    )
    with pytest.raises(StorePathError) as exc:
        StorePath.from_absolute_path(BAR + "/bin/sh")
    assert str(exc.value) == (
        f"invalid store path '{BAR}/bin/sh': expected /nix/store/<hash>-<name> with nothing "
        "after it"
    )
    with pytest.raises(StorePathError) as exc:
        StorePath.from_absolute_path("/nix/store/abc-foo")
    assert str(exc.value) == (
        "invalid store path '/nix/store/abc-foo': expected <32-character hash>-<name>, got "
        "only 7 characters"
    )


def test_constructor_checks() -> None:
    with pytest.raises(StorePathError, match="expected 20 bytes"):
        StorePath(b"\0" * 19, "x")
    with pytest.raises(StorePathError, match="names must not be empty"):
        StorePath(b"\0" * 20, "")


def test_order_is_by_hash_only_equality_includes_name() -> None:
    a = StorePath(bytes(19) + b"\x01", "zzz")  # high byte last: sorts after b
    b = StorePath(b"\xff" + bytes(19), "aaa")
    assert a.hash_str > b.hash_str
    assert sorted_store_paths([a, b]) == [b, a]
    same_hash = StorePath(a.digest, "other")
    assert same_hash != a
    assert store_path_key(same_hash) == store_path_key(a)
    # the key is the digest compared byte-reversed
    assert sorted([a, b], key=lambda p: p.digest[::-1]) == [b, a]


@settings(max_examples=50)
@given(
    st.binary(min_size=20, max_size=20), st.from_regex(r"[A-Za-z0-9+\-_?=.]{1,40}", fullmatch=True)
)
def test_basename_round_trip(digest: bytes, name: str) -> None:
    path = StorePath(digest, name)
    assert StorePath.from_basename(path.basename) == path
    assert StorePath.from_absolute_path(path.to_absolute()) == path


def test_to_file_vector() -> None:
    case = VECTORS["toFile"]
    path = text_path(case["name"], case["contents"].encode(), case["references"])
    assert path.to_absolute() == case["store_path"]


@pytest.mark.parametrize(("name", "expected"), sorted(VECTORS["hash_placeholder"].items()))
def test_hash_placeholder(name: str, expected: str) -> None:
    assert hash_placeholder(name) == expected


def test_compress_hash() -> None:
    digest = bytes(range(32))
    folded = compress_hash(digest)
    assert len(folded) == 20
    assert folded[0] == 0 ^ 20 and folded[11] == 11 ^ 31 and folded[12] == 12


def test_make_store_path_fingerprint() -> None:
    inner = hashlib.sha256(b"bar").digest()
    fingerprint = f"text:sha256:{inner.hex()}:/nix/store:foo".encode()
    expected = compress_hash(hashlib.sha256(fingerprint).digest())
    assert make_store_path("text", inner, "foo") == StorePath(expected, "foo")


def test_text_path_references_are_sorted() -> None:
    refs: list[StorePath | str] = [
        "/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar",
        StorePath.from_absolute_path("/nix/store/0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv"),
    ]
    assert text_path("x", b"y", refs) == text_path("x", b"y", list(reversed(refs)))
    assert text_path("x", b"y", refs) != text_path("x", b"y", [])


def test_fixed_output_paths() -> None:
    # recursive sha256 -> "source" path; the vector FOD 0hm2f…-bar.drv
    nar = CAHash.from_aterm(
        "r:sha256", "08813cbee9903c62be4c5027726a418a300da4500b2d369d3af9286f4815ceba"
    )
    assert fixed_output_path("bar", nar).to_absolute() == (
        "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar"
    )
    # recursive sha1 -> "output:out" with the fixed:out:r:sha1:… inner hash; ss2p4…-bar.drv
    sha1 = CAHash.from_aterm("r:sha1", "0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33")
    assert fixed_output_path("bar", sha1).to_absolute() == (
        "/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"
    )


def test_input_addressed_output_name() -> None:
    modulo = bytes(32)
    assert input_addressed_output_path("foo", "out", modulo).name == "foo"
    assert input_addressed_output_path("foo", "lib", modulo).name == "foo-lib"
    assert input_addressed_output_path("foo", "out", modulo) != input_addressed_output_path(
        "foo", "out", b"\1" * 32
    )
