"""NixHash: parsing and showing hashes in Nix's forms, checked against nix-hash itself."""

from __future__ import annotations

import base64
import hashlib
import subprocess

import pytest

from pytest_snixbuild.nix.hashes import ALGOS, HashError, NixHash

HEX = "b3a24de97a8fdbc835b9833169501030b8977031bcb54b3b3ac13740f846ab30"
NIX32 = "0c5b8vw40dy178xlpddw65q9gf1h2186jcc3p4swinwggbllv8mk"


def test_spec_vector() -> None:
    h = NixHash.parse(f"sha256:{HEX}")
    assert h.to_nix32() == f"sha256:{NIX32}"
    assert NixHash.parse(f"sha256:{NIX32}") == h
    assert NixHash.parse(h.sri) == h
    assert NixHash.parse(f"sha256:{h.base64}") == h
    assert NixHash.parse(f"sha256:{HEX.upper()}") == h
    assert h.hex == HEX
    assert str(h) == f"sha256:{NIX32}"
    assert NixHash.parse(NIX32, algo="sha256") == h


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_against_nix_hash(algo: str, nix_env: dict[str, str]) -> None:
    """nix-hash --to-base32 / --to-base16 and nix hash to-sri agree with us."""
    h = NixHash.of(algo, b"Hello World!")
    assert h.digest == hashlib.new(algo, b"Hello World!").digest()

    def run(*args: str) -> str:
        return subprocess.run(
            args, env=nix_env, check=True, capture_output=True, text=True
        ).stdout.strip()

    assert run("nix-hash", "--type", algo, "--to-base32", h.hex) == h.nix32
    assert run("nix-hash", "--type", algo, "--to-base16", h.nix32) == h.hex
    assert run("nix", "hash", "to-sri", "--type", algo, h.hex) == h.sri
    for text in (h.to_nix32(), h.to_hex(), h.sri, f"{algo}:{h.base64}"):
        assert NixHash.parse(text) == h


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("blake3:" + "0" * 64, "unknown algorithm 'blake3'"),
        ("sha256:abc", "got 3"),
        ("sha256:" + "g" * 64, "bad hexadecimal"),
        ("sha256:" + "e" * 52, "invalid nixbase32 character 'e'"),
        ("sha256-AAAA", "is 3 bytes, expected 32"),
        ("sha256-!!!!", "bad base64"),
        (HEX, "expected '<algo>:<digest>'"),
    ],
)
def test_parse_errors_name_text_and_expectation(text: str, fragment: str) -> None:
    with pytest.raises(HashError) as info:
        NixHash.parse(text)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)


def test_constructor_checks() -> None:
    with pytest.raises(HashError, match="unknown hash algorithm 'crc32'"):
        NixHash("crc32", b"")
    with pytest.raises(HashError, match="a sha1 digest is 20 bytes, got 3 bytes"):
        NixHash("sha1", b"abc")
    with pytest.raises(HashError, match="expected a sha1 hash, got sha256"):
        NixHash.parse(f"sha256:{HEX}", algo="sha1")


def test_sri_is_standard_padded_base64() -> None:
    h = NixHash.of("md5", b"Hello World!")
    assert h.sri == "md5-" + base64.b64encode(h.digest).decode()
    assert h.hex == "ed076287532e86365e841e92bfc50d8c"
