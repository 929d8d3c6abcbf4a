"""NAR hashes as text, in the forms Nix prints, normalised to ``sha256:<nixbase32>``.

Accepted: ``sha256:<52 nixbase32 chars>`` (what ``nix-store --query --hash`` prints),
``sha256:<64 hex chars>`` and SRI ``sha256-<base64>`` (what ``nix hash path`` prints).
"""

from __future__ import annotations

import base64
import binascii

from pytest_snixbuild.nix import nixbase32

SHA256_SIZE = 32
NAR_HASH_EXPECTED = (
    "'sha256:' followed by 52 nixbase32 or 64 hex characters, or SRI 'sha256-' followed by base64"
)


def format_nar_hash(digest: bytes) -> str:
    """The normal form, ``sha256:<nixbase32>``, of a raw SHA-256 digest."""
    return "sha256:" + nixbase32.encode(digest)


def parse_nar_hash(text: str) -> bytes | None:
    """The raw SHA-256 digest ``text`` denotes, or None when it is not a valid NAR hash."""
    raw: bytes | None = None
    if text.startswith("sha256:"):
        body = text[len("sha256:") :]
        if len(body) == 2 * SHA256_SIZE:
            try:
                raw = bytes.fromhex(body)
            except ValueError:
                raw = None
        elif len(body) == nixbase32.encoded_len(SHA256_SIZE):
            try:
                raw = nixbase32.decode(body)
            except nixbase32.Nixbase32Error:
                raw = None
    elif text.startswith("sha256-"):
        try:
            raw = base64.b64decode(text[len("sha256-") :], validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != SHA256_SIZE:
        return None
    return raw
