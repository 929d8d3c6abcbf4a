"""One pass over a layer: hash the tar, gzip it, hash the gzip, write it.

:class:`LayerSink` receives the uncompressed tar stream. Every chunk is fed, once, to SHA-256
(the OCI ``diff_id``), BLAKE3 (the castore digest of the tar) and CRC-32, and to the deflate
compressor; the compressed bytes go to SHA-256 (the layer ``digest``) and to the output file. So the
data is never read twice and memory stays bounded (one buffer of :data:`BUFFER_SIZE` plus zlib's
state). hashlib, blake3 and zlib release the GIL on large chunks, so layers built on several threads
run in parallel.

The gzip member has no timestamp (MTIME 0), no file name, XFL 0 and OS 255 ("unknown"), so the
output depends only on the tar bytes and the compression level.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from typing import Protocol

import blake3

from pytest_snixbuild.castore.digests import B3Digest

#: chunks smaller than this are collected before hashing and compressing
BUFFER_SIZE = 1 << 20
#: zlib's default level: a good size/speed balance on large binaries
GZIP_LEVEL = 6
#: magic, CM=deflate, FLG=0, MTIME=0, XFL=0, OS=255
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


class _Out(Protocol):
    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class LayerDigests:
    """The digests of one layer: ``diff_id`` and ``blake3`` of the tar, ``digest`` of the gzip."""

    diff_id: str
    digest: str
    #: bytes of the gzip blob
    size: int
    #: bytes of the uncompressed tar
    tar_size: int
    blake3: B3Digest

    @property
    def hex(self) -> str:
        """The hex part of ``digest`` (the blob's file name)."""
        return self.digest.split(":", 1)[1]


class LayerSink:
    """A write-only stream: tar in, gzip out to ``out``; :meth:`close` returns the digests."""

    def __init__(self, out: _Out, *, level: int = GZIP_LEVEL) -> None:
        self._out = out
        self._tar_sha = hashlib.sha256()
        self._tar_b3 = blake3.blake3()
        self._gz_sha = hashlib.sha256()
        self._crc = 0
        self._tar_size = 0
        self._gz_size = 0
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._buf = bytearray()
        self._result: LayerDigests | None = None
        self._emit(GZIP_HEADER)

    def _emit(self, data: bytes) -> None:
        if data:
            self._gz_sha.update(data)
            self._gz_size += len(data)
            self._out.write(data)

    def _process(self, chunk: bytes | bytearray | memoryview) -> None:
        self._tar_sha.update(chunk)
        self._tar_b3.update(chunk)
        self._crc = zlib.crc32(chunk, self._crc)
        self._tar_size += len(chunk)
        self._emit(self._deflate.compress(chunk))

    def _flush(self) -> None:
        if self._buf:
            self._process(self._buf)
            self._buf = bytearray()

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        if self._result is not None:
            raise ValueError("write to a closed LayerSink")
        n = len(data)
        if n >= BUFFER_SIZE:
            self._flush()
            self._process(data)
        else:
            self._buf += data
            if len(self._buf) >= BUFFER_SIZE:
                self._flush()
        return n

    def close(self) -> LayerDigests:
        """Finish the gzip member (idempotent) and return the digests."""
        if self._result is None:
            self._flush()
            self._emit(self._deflate.flush(zlib.Z_FINISH))
            self._emit(struct.pack("<II", self._crc & 0xFFFFFFFF, self._tar_size & 0xFFFFFFFF))
            self._result = LayerDigests(
                diff_id="sha256:" + self._tar_sha.hexdigest(),
                digest="sha256:" + self._gz_sha.hexdigest(),
                size=self._gz_size,
                tar_size=self._tar_size,
                blake3=B3Digest(self._tar_b3.digest()),
            )
        return self._result
