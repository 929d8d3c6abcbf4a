"""Nix's base-32 encoding (alphabet without e, o, u, t; least significant bits last)."""

from __future__ import annotations

from pytest_snixbuild.errors import SnixError

ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


class Nixbase32Error(SnixError):
    """A string is not valid nixbase32 for the expected length."""


def encoded_len(n: int) -> int:
    """Characters needed for ``n`` bytes: ceil(8n/5)."""
    return (n * 8 + 4) // 5


def decoded_len(n: int) -> int:
    return n * 5 // 8


def encode(data: bytes) -> str:
    out = []
    for k in range(encoded_len(len(data)) - 1, -1, -1):
        b = k * 5
        i, j = divmod(b, 8)
        lo = data[i]
        hi = data[i + 1] if i + 1 < len(data) else 0
        out.append(ALPHABET[((lo | hi << 8) >> j) & 31])
    return "".join(out)


def decode(text: str) -> bytes:
    """Decode, rejecting bad characters, impossible lengths and non-zero leftover bits."""
    n = decoded_len(len(text))
    if encoded_len(n) != len(text):
        raise Nixbase32Error(f"invalid nixbase32 length {len(text)} for {text!r}")
    out = bytearray(n)
    for pos, ch in enumerate(reversed(text)):
        digit = _INDEX.get(ch)
        if digit is None:
            raise Nixbase32Error(f"invalid nixbase32 character {ch!r} in {text!r}")
        b = pos * 5
        i, j = divmod(b, 8)
        if i < n:
            out[i] |= (digit << j) & 0xFF
        carry = digit >> (8 - j)
        if i + 1 < n:
            out[i + 1] |= carry
        elif carry:
            raise Nixbase32Error(f"invalid nixbase32 {text!r}: non-zero leftover bits")
    return bytes(out)
