"""A content-addressed store compatible with snix's castore (BLAKE3 digests, canonical encoding)."""

from pytest_snixbuild.castore.digests import EMPTY_DIGEST, B3Digest, DigestError
from pytest_snixbuild.castore.encoding import decode_directory, decode_entry, encode_entry
from pytest_snixbuild.castore.errors import (
    CastoreError,
    CorruptionError,
    IngestError,
    NotFoundError,
    ValidationError,
)
from pytest_snixbuild.castore.nodes import (
    Directory,
    DirectoryNode,
    FileNode,
    Node,
    SymlinkNode,
    validate_name,
    validate_symlink_target,
)

__all__ = [
    "EMPTY_DIGEST",
    "B3Digest",
    "CastoreError",
    "CorruptionError",
    "DigestError",
    "Directory",
    "DirectoryNode",
    "FileNode",
    "IngestError",
    "Node",
    "NotFoundError",
    "SymlinkNode",
    "ValidationError",
    "decode_directory",
    "decode_entry",
    "encode_entry",
    "validate_name",
    "validate_symlink_target",
]
