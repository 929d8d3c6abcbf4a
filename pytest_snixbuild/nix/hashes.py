"""Nix's hashes (md5, sha1, sha256, sha512) and their text forms.

Accepted by :meth:`NixHash.parse`: ``<algo>:<digest>`` with the digest in nixbase32, lower- or
upper-case hex, or standard base64 (told apart by length, as Nix does), and SRI ``<algo>-<base64>``.
Shown as ``<algo>:<nixbase32>`` (:meth:`NixHash.to_nix32`, what ``nix-store -q --hash`` prints),
``hex`` and ``sri``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.nix import nixbase32

#: digest size in bytes of each algorithm Nix knows
ALGOS: dict[str, int] = {"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}


class HashError(SnixError):
    """A hash string or value is malformed."""


def _b64_len(n: int) -> int:
    return (n + 2) // 3 * 4


@dataclass(frozen=True, slots=True)
class NixHash:
    """A digest together with its algorithm."""

    algo: str
    digest: bytes

    def __post_init__(self) -> None:
        expected = ALGOS.get(self.algo)
        if expected is None:
            raise HashError(
                f"unknown hash algorithm {self.algo!r}: expected one of {', '.join(ALGOS)}"
            )
        if len(self.digest) != expected:
            raise HashError(
                f"a {self.algo} digest is {expected} bytes, got {len(self.digest)} bytes"
            )

    @classmethod
    def of(cls, algo: str, data: bytes) -> NixHash:
        """Hash ``data`` with ``algo``."""
        if algo not in ALGOS:
            raise HashError(f"unknown hash algorithm {algo!r}: expected one of {', '.join(ALGOS)}")
        return cls(algo, hashlib.new(algo, data).digest())

    @classmethod
    def parse(cls, text: str, *, algo: str | None = None) -> NixHash:
        """Parse ``algo:digest`` or SRI ``algo-base64``; with ``algo`` given, a bare digest too."""
        found, sep, body = _split(text)
        if found is None:
            if algo is None:
                raise HashError(
                    f"invalid hash {text!r}: expected '<algo>:<digest>' or SRI '<algo>-<base64>'"
                )
            found, sep, body = algo, ":", text
        elif algo is not None and found != algo:
            raise HashError(f"invalid hash {text!r}: expected a {algo} hash, got {found}")
        size = ALGOS[found]
        if sep == "-":
            return cls(found, _decode_b64(text, body, size))
        if len(body) == 2 * size:
            try:
                return cls(found, bytes.fromhex(body))
            except ValueError:
                raise HashError(f"invalid hash {text!r}: bad hexadecimal digest") from None
        if len(body) == nixbase32.encoded_len(size):
            try:
                return cls(found, nixbase32.decode(body))
            except SnixError as exc:
                raise HashError(f"invalid hash {text!r}: {exc}") from exc
        if len(body) == _b64_len(size):
            return cls(found, _decode_b64(text, body, size))
        raise HashError(
            f"invalid hash {text!r}: a {found} digest is {2 * size} hex, "
            f"{nixbase32.encoded_len(size)} nixbase32 or {_b64_len(size)} base64 characters, "
            f"got {len(body)}"
        )

    @property
    def hex(self) -> str:
        return self.digest.hex()

    @property
    def nix32(self) -> str:
        return nixbase32.encode(self.digest)

    @property
    def base64(self) -> str:
        return base64.b64encode(self.digest).decode("ascii")

    @property
    def sri(self) -> str:
        return f"{self.algo}-{self.base64}"

    def to_nix32(self) -> str:
        """``<algo>:<nixbase32>``, the form ``nix-store -q --hash`` prints."""
        return f"{self.algo}:{self.nix32}"

    def to_hex(self) -> str:
        return f"{self.algo}:{self.hex}"

    def __str__(self) -> str:
        return self.to_nix32()


def _split(text: str) -> tuple[str | None, str, str]:
    for sep in (":", "-"):
        head, found, body = text.partition(sep)
        if found and head in ALGOS:
            return head, sep, body
    head = text.partition(":")[0]
    if ":" in text:
        raise HashError(
            f"invalid hash {text!r}: unknown algorithm {head!r}, expected one of {', '.join(ALGOS)}"
        )
    return None, "", text


def _decode_b64(text: str, body: str, size: int) -> bytes:
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise HashError(f"invalid hash {text!r}: bad base64 digest") from None
    if len(raw) != size:
        raise HashError(
            f"invalid hash {text!r}: the base64 digest is {len(raw)} bytes, expected {size}"
        )
    return raw
