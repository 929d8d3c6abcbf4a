"""uid/gid mappings for the build user, with snix's ``/etc/subuid`` and ``/etc/subgid`` logic.

snix maps two ids in each direction, each with size 1:

* container uid 0 → the effective uid of the process that runs ``runc``, and container gid 0 → its
  effective gid (runc 1.1 refuses a user namespace in which container root is not mapped);
* container uid 1000 (the build user) → the first subordinate uid of the running user, and
  container gid 100 → the first subordinate gid of the running user.

The subordinate ids come from ``/etc/subuid`` and ``/etc/subgid``; in *both* files the running
user is looked up by name or by decimal uid (snix does the same for subgid). The parse rules are
in :func:`first_subordinate_id`.

Difference from snix, on purpose: snix fails when the user has no entry. Here, when the process
runs as root (which can write any uid_map without ``newuidmap``), or when the spec is rootful (no
user namespace, so the mappings are ignored by runc), a missing file or entry falls back to
:data:`FALLBACK_SUBORDINATE_ID` for the build user. Parse errors are always errors.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pytest_snixbuild.oci.errors import (
    MissingSubordinateEntryError,
    NoGroupEntryError,
    NoPasswdEntryError,
    SubordinateFileError,
    SubordinateParseError,
)

SUBUID_PATH = Path("/etc/subuid")
SUBGID_PATH = Path("/etc/subgid")

#: uid and gid of the build user inside the container (Nix's ``nixbld``)
BUILD_UID = 1000
BUILD_GID = 100

#: host uid/gid the build user maps to when root has no subordinate ids: far above the ranges
#: ``useradd`` hands out (100000 + 65536·n for the first few thousand users) and below 2³¹
FALLBACK_SUBORDINATE_ID = 1_000_000_000

_U32_MAX = (1 << 32) - 1
_U32_RE = re.compile(r"\+?[0-9]+")


@dataclass(frozen=True, slots=True)
class IdMap:
    """One line of a uid_map or gid_map: ``size`` ids from ``container_id`` to ``host_id``."""

    container_id: int
    host_id: int
    size: int = 1

    def to_oci(self) -> dict[str, int]:
        """The runtime-spec ``LinuxIDMapping`` (keys in oci-spec-rs order, as snix writes it)."""
        return {"hostID": self.host_id, "containerID": self.container_id, "size": self.size}


@dataclass(frozen=True, slots=True)
class IdMappings:
    """The uid and gid mappings of a container, in the order they are written to the spec."""

    uid_map: tuple[IdMap, ...]
    gid_map: tuple[IdMap, ...]

    @classmethod
    def snix(cls, *, uid: int, gid: int, subuid: int, subgid: int) -> IdMappings:
        """snix's shape: container 0 → ``uid``/``gid``, the build user → ``subuid``/``subgid``."""
        return cls(
            uid_map=(IdMap(0, uid), IdMap(BUILD_UID, subuid)),
            gid_map=(IdMap(0, gid), IdMap(BUILD_GID, subgid)),
        )

    def host_uid(self, container_uid: int) -> int | None:
        """The host uid that ``container_uid`` maps to, or None when it is not mapped."""
        return _lookup(self.uid_map, container_uid)

    def host_gid(self, container_gid: int) -> int | None:
        """The host gid that ``container_gid`` maps to, or None when it is not mapped."""
        return _lookup(self.gid_map, container_gid)


def _lookup(maps: Iterable[IdMap], container_id: int) -> int | None:
    for m in maps:
        if m.container_id <= container_id < m.container_id + m.size:
            return m.host_id + (container_id - m.container_id)
    return None


def _parse_u32(text: str) -> int | None:
    """Rust's ``u32::from_str``: optional ``+``, ASCII digits, at most 2³²-1."""
    if not _U32_RE.fullmatch(text):
        return None
    value = int(text)
    return value if value <= _U32_MAX else None


def first_subordinate_id(lines: Iterable[str], *, path: Path, name: str, uid: int) -> int:
    """The first subordinate id of user ``name``/``uid`` in the lines of a subuid/subgid file.

    Each line is stripped and split on ``:``; a line without exactly three fields is skipped. A
    line belongs to the user when its first field is ``name`` or ``str(uid)``. For such a line the
    start and count must be unsigned 32-bit integers (else :class:`SubordinateParseError`); bad
    numbers in other users' lines are ignored. The first of the user's lines whose count is > 0
    wins, and its start is returned. No such line: :class:`MissingSubordinateEntryError`.
    """
    uid_text = str(uid)
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        fields = line.split(":")
        if len(fields) != 3 or fields[0] not in (name, uid_text):
            continue
        start = _parse_u32(fields[1])
        if start is None:
            raise SubordinateParseError(path, lineno, line, "start", fields[1])
        count = _parse_u32(fields[2])
        if count is None:
            raise SubordinateParseError(path, lineno, line, "count", fields[2])
        if count > 0:
            return start
    raise MissingSubordinateEntryError(path, name, uid)


def read_first_subordinate_id(path: Path, *, name: str, uid: int) -> int:
    """:func:`first_subordinate_id` of the file at ``path``; an unreadable file is an error."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise SubordinateFileError(path, exc) from exc
    return first_subordinate_id(text.splitlines(), path=path, name=name, uid=uid)


def _subordinate_or_fallback(path: Path, *, name: str, uid: int, fallback: bool) -> int:
    try:
        return read_first_subordinate_id(path, name=name, uid=uid)
    except MissingSubordinateEntryError:
        if fallback:
            return FALLBACK_SUBORDINATE_ID
        raise
    except SubordinateFileError as exc:
        if fallback and isinstance(exc.__cause__, FileNotFoundError):
            return FALLBACK_SUBORDINATE_ID
        raise


def host_id_mappings(
    *,
    rootless: bool,
    subuid_path: Path = SUBUID_PATH,
    subgid_path: Path = SUBGID_PATH,
) -> IdMappings:
    """The mappings for a build run by this process (reads passwd, group, subuid and subgid).

    Container 0 maps to the effective uid/gid, the build user (1000/100) to the first subordinate
    uid/gid of the effective user. When running as root, or when ``rootless`` is false, a missing
    file or entry falls back to :data:`FALLBACK_SUBORDINATE_ID` instead of failing.
    """
    euid, egid = os.geteuid(), os.getegid()
    try:
        name = pwd.getpwuid(euid).pw_name
    except KeyError:
        raise NoPasswdEntryError(euid) from None
    try:
        grp.getgrgid(egid)
    except KeyError:
        raise NoGroupEntryError(egid) from None
    fallback = euid == 0 or not rootless
    subuid = _subordinate_or_fallback(subuid_path, name=name, uid=euid, fallback=fallback)
    subgid = _subordinate_or_fallback(subgid_path, name=name, uid=euid, fallback=fallback)
    return IdMappings.snix(uid=euid, gid=egid, subuid=subuid, subgid=subgid)
