"""nixbase32 against the vectors of spec §8.1 (derivation_vectors.json)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nix_testlib import load_json

from pytest_snixbuild.nix import nixbase32
from pytest_snixbuild.nix.nixbase32 import Nixbase32Error

VECTORS = load_json("derivation_vectors.json")["nixbase32"]


def test_alphabet() -> None:
    assert VECTORS["alphabet"] == nixbase32.ALPHABET


@pytest.mark.parametrize(("hex_data", "encoded"), VECTORS["cases"])
def test_encode_decode(hex_data: str, encoded: str) -> None:
    assert nixbase32.encode(bytes.fromhex(hex_data)) == encoded
    assert nixbase32.decode(encoded) == bytes.fromhex(hex_data)


@pytest.mark.parametrize("text", VECTORS["invalid_decode"])
def test_invalid_decode(text: str) -> None:
    with pytest.raises(Nixbase32Error):
        nixbase32.decode(text)


def test_invalid_messages() -> None:
    with pytest.raises(Nixbase32Error) as exc:
        nixbase32.decode("zz")
    assert str(exc.value) == "invalid nixbase32 'zz': non-zero leftover bits"
    with pytest.raises(Nixbase32Error) as exc:
        nixbase32.decode("0")
    assert str(exc.value) == "invalid nixbase32 length 1 for '0'"
    with pytest.raises(Nixbase32Error) as exc:
        nixbase32.decode("0e")
    assert str(exc.value) == "invalid nixbase32 character 'e' in '0e'"


@settings(max_examples=50)
@given(st.binary(max_size=64))
def test_round_trip(data: bytes) -> None:
    text = nixbase32.encode(data)
    assert len(text) == nixbase32.encoded_len(len(data))
    assert nixbase32.decode(text) == data
