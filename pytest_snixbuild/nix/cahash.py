"""Content-address hashes of fixed-output derivation outputs (snix's ``CAHash``).

In a derivation an output's hash is written as two strings: the algorithm with its mode
(``sha256`` for a flat file hash, ``r:sha256`` for the hash of the NAR serialisation,
``text:sha256`` for text) and the digest in lower-case hex. The algorithm and digest are a
:class:`~pytest_snixbuild.nix.hashes.NixHash`; this adds the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.nix.hashes import ALGOS, HashError, NixHash

HashMethod = Literal["flat", "nar", "text"]

_PREFIXES: dict[HashMethod, str] = {"flat": "", "nar": "r:", "text": "text:"}
_HEX_DIGITS = frozenset("0123456789abcdef")


class CAHashError(SnixError):
    """An output hash algorithm or digest is not valid."""


@dataclass(frozen=True, slots=True)
class CAHash:
    """How an output is content-addressed: a method and a hash."""

    method: HashMethod
    hash: NixHash

    @classmethod
    def of(cls, method: HashMethod, algo: str, digest: bytes) -> CAHash:
        try:
            return cls(method, NixHash(algo, digest))
        except HashError as exc:
            raise CAHashError(str(exc)) from exc

    @classmethod
    def from_aterm(cls, algo_and_mode: str, hex_digest: str) -> CAHash:
        """Parse the ``hashAlgo``/``hash`` pair of a derivation output (e.g. ``r:sha256``)."""
        method: HashMethod = "flat"
        algo = algo_and_mode
        for candidate, prefix in _PREFIXES.items():
            if prefix and algo_and_mode.startswith(prefix):
                method, algo = candidate, algo_and_mode[len(prefix) :]
        if algo not in ALGOS:
            raise CAHashError(
                f"invalid output hash algorithm {algo_and_mode!r}: expected one of "
                f"{', '.join(ALGOS)}, optionally prefixed by 'r:' (recursive) or 'text:'"
            )
        expected = 2 * ALGOS[algo]
        if len(hex_digest) != expected or not set(hex_digest) <= _HEX_DIGITS:
            raise CAHashError(
                f"invalid output hash {hex_digest!r} for {algo_and_mode!r}: expected "
                f"{expected} lower-case hex digits"
            )
        return cls(method, NixHash(algo, bytes.fromhex(hex_digest)))

    @property
    def algo(self) -> str:
        return self.hash.algo

    @property
    def digest(self) -> bytes:
        return self.hash.digest

    @property
    def hex(self) -> str:
        return self.hash.hex

    @property
    def aterm_algo(self) -> str:
        """``sha256``, ``r:sha256`` or ``text:sha256``: the derivation's ``hashAlgo``."""
        return _PREFIXES[self.method] + self.algo

    @property
    def mode_prefix(self) -> str:
        """The ``r:``/``text:`` prefix, empty for flat hashes (as in ``fixed:out:r:sha256:…``)."""
        return _PREFIXES[self.method]
