"""Content-address hashes of fixed-output derivation outputs (snix's ``CAHash``).

In a derivation an output's hash is written as two strings: the algorithm with its mode
(``sha256`` for a flat file hash, ``r:sha256`` for the hash of the NAR serialisation,
``text:sha256`` for text) and the digest in lower-case hex.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pytest_snixbuild.errors import SnixError

HashMethod = Literal["flat", "nar", "text"]

#: algorithm -> digest size in bytes
ALGO_SIZES = {"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}
_PREFIXES: dict[HashMethod, str] = {"flat": "", "nar": "r:", "text": "text:"}
_HEX_DIGITS = frozenset("0123456789abcdef")


class CAHashError(SnixError):
    """An output hash algorithm or digest is not valid."""


@dataclass(frozen=True, slots=True)
class CAHash:
    """How an output is content-addressed: method, algorithm and digest."""

    method: HashMethod
    algo: str
    digest: bytes

    def __post_init__(self) -> None:
        if self.algo not in ALGO_SIZES:
            raise CAHashError(
                f"unknown hash algorithm {self.algo!r}: expected one of {', '.join(ALGO_SIZES)}"
            )
        if len(self.digest) != ALGO_SIZES[self.algo]:
            raise CAHashError(
                f"invalid {self.algo} digest: {len(self.digest)} bytes, "
                f"expected {ALGO_SIZES[self.algo]}"
            )

    @classmethod
    def from_aterm(cls, algo_and_mode: str, hex_digest: str) -> CAHash:
        """Parse the ``hashAlgo``/``hash`` pair of a derivation output (e.g. ``r:sha256``)."""
        method: HashMethod = "flat"
        algo = algo_and_mode
        for candidate, prefix in _PREFIXES.items():
            if prefix and algo_and_mode.startswith(prefix):
                method, algo = candidate, algo_and_mode[len(prefix) :]
        if algo not in ALGO_SIZES:
            raise CAHashError(
                f"invalid output hash algorithm {algo_and_mode!r}: expected an algorithm among "
                f"{', '.join(ALGO_SIZES)}, optionally prefixed by 'r:' (recursive) or 'text:'"
            )
        expected = 2 * ALGO_SIZES[algo]
        if len(hex_digest) != expected or not set(hex_digest) <= _HEX_DIGITS:
            raise CAHashError(
                f"invalid output hash {hex_digest!r} for {algo_and_mode!r}: expected "
                f"{expected} lower-case hex digits"
            )
        return cls(method, algo, bytes.fromhex(hex_digest))

    @property
    def aterm_algo(self) -> str:
        """``sha256``, ``r:sha256`` or ``text:sha256``: the derivation's ``hashAlgo``."""
        return _PREFIXES[self.method] + self.algo

    @property
    def hex(self) -> str:
        return self.digest.hex()

    @property
    def mode_prefix(self) -> str:
        """``r:`` for NAR hashes, empty for flat ones (as in ``fixed:out:<prefix><algo>:…``)."""
        return _PREFIXES[self.method]
