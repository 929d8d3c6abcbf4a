"""Errors of the OCI layer (spec, bundle, id mappings): one family under :class:`OciError`."""

from __future__ import annotations

from pathlib import Path

from pytest_snixbuild.errors import SnixError


class OciError(SnixError):
    """Base of every error raised while turning a BuildRequest into an OCI bundle."""


class SubordinateIdError(OciError):
    """The uid/gid mappings for the build user cannot be determined."""


class SubordinateFileError(SubordinateIdError):
    """``/etc/subuid`` or ``/etc/subgid`` cannot be read (snix: ``IoError``)."""

    def __init__(self, path: Path, error: OSError) -> None:
        self.path = path
        super().__init__(f"cannot read {path}: {error.strerror or error}")


class SubordinateParseError(SubordinateIdError):
    """A line for the running user has a start or count that is not an unsigned 32-bit integer."""

    def __init__(self, path: Path, lineno: int, line: str, field: str, value: str) -> None:
        self.path = path
        self.lineno = lineno
        self.line = line
        super().__init__(
            f"{path}:{lineno}: invalid {field} {value!r} in line {line!r}: "
            "expected 'NAME:START:COUNT' with START and COUNT unsigned 32-bit integers"
        )


class MissingSubordinateEntryError(SubordinateIdError):
    """No line with a non-empty range names the user (snix: ``MissingEntry``)."""

    def __init__(self, path: Path, name: str, uid: int) -> None:
        self.path = path
        super().__init__(
            f"{path} has no entry for user {name!r} (uid {uid}) with a non-empty range: "
            f"expected a line '{name}:START:COUNT' or '{uid}:START:COUNT' with COUNT > 0"
        )


class NoPasswdEntryError(SubordinateIdError):
    """The effective uid has no passwd entry (snix: ``NoPasswdEntry``)."""

    def __init__(self, uid: int) -> None:
        super().__init__(f"user entry for uid {uid} does not exist in the passwd database")


class NoGroupEntryError(SubordinateIdError):
    """The effective gid has no group entry (snix: ``NoGroupEntry``)."""

    def __init__(self, gid: int) -> None:
        super().__init__(f"group entry for gid {gid} does not exist in the group database")


class SpecError(OciError):
    """A BuildRequest cannot be expressed as an OCI runtime spec."""


class BundleError(OciError):
    """A bundle cannot be written (bad additional file, existing bundle, unusable spec)."""


class OutputPathError(OciError):
    """An output of the request lies under none of its scratch paths."""
