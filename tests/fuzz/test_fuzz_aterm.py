"""Fuzzing the ATerm ``.drv`` parser: malformed derivations are a ``DerivationError`` (naming
the byte), never another exception or a hang; what parses is written back to an equal value."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from snix_fuzz_helpers import FUZZ, mutated, outcome, read_derivation, seeds

from pytest_snixbuild.nix.aterm import parse_derivation, write_derivation
from pytest_snixbuild.nix.derivation import DerivationError

DRV_SEEDS = seeds(".drv")

#: pieces of the ATerm grammar, for token-level soups
PIECES = [
    b"Derive(",
    b"[",
    b"]",
    b"(",
    b")",
    b",",
    b'"',
    b'"out"',
    b'"/nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo"',
    b'"/nix/store/ss2p4wmxijn652haqyd7dckxwl4c7hxx-bar.drv"',
    b'""',
    b'"sha256"',
    b'"r:sha256"',
    b'"\\\\"',
    b'"\\n"',
    b'"\\x"',
    b"\\",
    b'"x86_64-linux"',
    b'":"',
]


def check(data: bytes) -> None:
    drv = outcome(lambda: read_derivation(data), (DerivationError,))
    if drv is not None:
        # raw control characters in strings are accepted (as Nix does), so the bytes written
        # back may differ; what they mean may not
        assert parse_derivation(write_derivation(drv), "again.drv") == drv
    unchecked = outcome(
        lambda: parse_derivation(data, "fuzz.drv", validate=False), (DerivationError,)
    )
    if drv is not None:
        assert unchecked == drv


@FUZZ
@given(mutated(st.sampled_from(DRV_SEEDS)))
def test_mutated_derivations(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.lists(st.sampled_from(PIECES) | st.binary(max_size=4), max_size=40))
def test_token_soup(pieces: list[bytes]) -> None:
    check(b"".join(pieces))


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    check(b"Derive(" + data)
