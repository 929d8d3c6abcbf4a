"""The root of every error this package raises on purpose.

Each part of the package defines its own exception types below :class:`SnixError`, so that a
caller can catch one family (``except CastoreError``) or everything we raise (``except SnixError``)
and never has to catch a bare ``Exception``.
"""

from __future__ import annotations


class SnixError(Exception):
    """Base class of all errors raised by pytest_snixbuild on purpose."""
