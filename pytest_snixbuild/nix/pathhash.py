"""How Nix computes store paths: fingerprints, XOR-folding, and the kinds of paths built on them.

Every store path is ``nixbase32(fold20(sha256(fingerprint)))`` with the fingerprint
``"<type>:sha256:<lower-hex inner digest>:<store dir>:<name>"``. What differs between text files
(``.drv`` files and ``builtins.toFile``), fixed-output and input-addressed outputs is the type
and the inner digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pytest_snixbuild.nix import nixbase32
from pytest_snixbuild.nix.cahash import CAHash
from pytest_snixbuild.nix.storepath import DIGEST_SIZE, STORE_DIR, StorePath, validate_name


def compress_hash(digest: bytes, size: int = DIGEST_SIZE) -> bytes:
    """XOR-fold ``digest`` to ``size`` bytes (``out[i % size] ^= digest[i]``)."""
    out = bytearray(size)
    for i, byte in enumerate(digest):
        out[i % size] ^= byte
    return bytes(out)


def make_store_path(path_type: str, inner_sha256: bytes, name: str) -> StorePath:
    """The store path for a fingerprint of ``path_type``, a SHA-256 inner digest and a name."""
    validate_name(name)
    fingerprint = f"{path_type}:sha256:{inner_sha256.hex()}:{STORE_DIR}:{name}"
    return StorePath(compress_hash(hashlib.sha256(fingerprint.encode()).digest()), name)


def text_path(name: str, contents: bytes, references: Iterable[StorePath | str] = ()) -> StorePath:
    """A text file added to the store (``builtins.toFile``, ``.drv`` files).

    ``references`` are store paths (or absolute path strings); they are sorted as strings.
    """
    refs = sorted(r if isinstance(r, str) else r.to_absolute() for r in references)
    path_type = "".join(["text", *(f":{ref}" for ref in refs)])
    return make_store_path(path_type, hashlib.sha256(contents).digest(), name)


def fixed_output_path(name: str, ca: CAHash) -> StorePath:
    """The path of a fixed-output derivation's output (no references)."""
    if ca.method == "nar" and ca.algo == "sha256":
        return make_store_path("source", ca.digest, name)
    if ca.method == "text":
        return make_store_path("text", ca.digest, name)
    inner = hashlib.sha256(f"fixed:out:{ca.mode_prefix}{ca.algo}:{ca.hex}:".encode()).digest()
    return make_store_path("output:out", inner, name)


def output_path_name(drv_name: str, output_name: str) -> str:
    """``drvname`` for the ``out`` output, ``drvname-<output>`` for every other one."""
    return drv_name if output_name == "out" else f"{drv_name}-{output_name}"


def input_addressed_output_path(drv_name: str, output_name: str, hash_modulo: bytes) -> StorePath:
    """The path of an input-addressed output, from the (output-blanked) hashDerivationModulo."""
    return make_store_path(
        f"output:{output_name}", hash_modulo, output_path_name(drv_name, output_name)
    )


def hash_placeholder(output_name: str) -> str:
    """``/`` + nixbase32(sha256("nix-output:<name>")), which a build sees as that output's path."""
    return "/" + nixbase32.encode(hashlib.sha256(f"nix-output:{output_name}".encode()).digest())
