"""NAR hashes as text, normalised to ``sha256:<nixbase32>`` (what ``nix-store -q --hash`` prints).

Accepted: ``sha256:`` followed by 52 nixbase32, 64 hex or 44 base64 characters, and SRI
``sha256-<base64>`` (what ``nix hash path`` prints). Parsing is :class:`NixHash`'s; this module
only fixes the algorithm and the normal form used by case files and reports.
"""

from __future__ import annotations

from pytest_snixbuild.nix.hashes import HashError, NixHash

NAR_HASH_EXPECTED = (
    "a sha256 hash: 'sha256:' and 52 nixbase32 or 64 hex characters, or SRI 'sha256-<base64>'"
)


def format_nar_hash(digest: bytes) -> str:
    """The normal form, ``sha256:<nixbase32>``, of a raw SHA-256 digest."""
    return NixHash("sha256", digest).to_nix32()


def parse_nar_hash(text: str) -> bytes | None:
    """The raw SHA-256 digest ``text`` denotes, or None when it is not a sha256 hash with its
    algorithm prefix."""
    try:
        parsed = NixHash.parse(text)
    except HashError:
        return None
    return parsed.digest if parsed.algo == "sha256" else None
