"""Errors of the castore: one family, each naming what was wrong and what was expected."""

from __future__ import annotations

from pytest_snixbuild.errors import SnixError


class CastoreError(SnixError):
    """Base of every castore error."""


class ValidationError(CastoreError):
    """A name, symlink target, node or Directory breaks one of snix's rules."""


class NotFoundError(CastoreError):
    """A blob or directory is not in the store."""


class CorruptionError(CastoreError):
    """Stored content does not match the digest it is stored under."""


class IngestError(CastoreError):
    """A host path cannot be ingested (special file, invalid name or target, I/O error)."""
