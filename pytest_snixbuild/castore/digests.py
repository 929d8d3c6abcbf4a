"""BLAKE3-256 digests as snix shows and parses them: ``blake3-<padded standard base64>``."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import BinaryIO

import blake3

from pytest_snixbuild.castore.errors import CastoreError

DIGEST_SIZE = 32
PREFIX = "blake3-"


class DigestError(CastoreError):
    """A digest string or byte string is not a valid B3 digest."""


@dataclass(frozen=True, order=True, slots=True)
class B3Digest:
    """A 32-byte BLAKE3 digest.

    ``str()`` gives snix's display form, ``B3Digest.parse`` reads it back.
    """

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes):
            raise DigestError(f"digest must be bytes, got {type(self.raw).__name__}")
        if len(self.raw) != DIGEST_SIZE:
            raise DigestError(f"invalid digest length: {len(self.raw)} (expected {DIGEST_SIZE})")

    @classmethod
    def parse(cls, text: str) -> B3Digest:
        """Parse ``blake3-<base64>``; the error says what was wrong and what was expected."""
        if not text.startswith(PREFIX):
            raise DigestError(f"invalid digest {text!r}: expected the prefix {PREFIX!r}")
        body = text[len(PREFIX) :]
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DigestError(
                f"invalid digest {text!r}: expected padded standard base64 after {PREFIX!r}"
            ) from exc
        if len(raw) != DIGEST_SIZE:
            raise DigestError(
                f"invalid digest {text!r}: decodes to {len(raw)} bytes, expected {DIGEST_SIZE}"
            )
        return cls(raw)

    @classmethod
    def of(cls, data: bytes | bytearray | memoryview) -> B3Digest:
        """The digest of a byte string held in memory."""
        return cls(blake3.blake3(data).digest())

    @classmethod
    def of_stream(cls, stream: BinaryIO, chunk_size: int = 1 << 20) -> B3Digest:
        """The digest of a stream, read in bounded chunks."""
        hasher = blake3.blake3()
        buf = bytearray(chunk_size)
        view = memoryview(buf)
        while True:
            n = stream.readinto(view)  # type: ignore[attr-defined]
            if not n:
                break
            hasher.update(view[:n])
        return cls(hasher.digest())

    @property
    def hex(self) -> str:
        return self.raw.hex()

    def __str__(self) -> str:
        return PREFIX + base64.b64encode(self.raw).decode("ascii")

    def __repr__(self) -> str:
        return f"B3Digest({self})"


#: The digest of the empty blob, which is also the digest of the empty Directory.
EMPTY_DIGEST = B3Digest(
    bytes.fromhex("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
)
