"""Replace the volatile values of a runtime spec with stable placeholders, for snapshots.

A spec made by :func:`~pytest_snixbuild.oci.spec.make_spec` is the same on every machine except
for a few values; :func:`normalize_spec` replaces exactly those:

* ``linux.uidMappings[].hostID``: ``<host-uid>`` for container uid 0 (the uid running runc),
  ``<host-subuid>`` for the others (the first subordinate uid);
* ``linux.gidMappings[].hostID``: ``<host-gid>`` and ``<host-subgid>`` likewise;
* ``linux.cgroupsPath`` (one per build): ``<cgroups-path>``;
* the ``source`` of the mount at ``/bin/sh``: ``<sandbox-shell>``;
* host paths (``root.path``, ``mounts[].source``) inside a temporary directory (pytest's base
  temp dir, the given ``tmp_dirs``, or the system's temp dir and /tmp): ``<tmp>`` + the rest of
  the path;
* a hyphenated UUID (a per-run id) in a host path or an annotation value: ``<run-id>``.

Bundle-relative sources (``scratch/…``, ``inputs/…``, ``root``) are already stable. Container-side
values (destinations, args, env) are request data and are never touched, so a snapshot still shows
every mount, option, capability, namespace and environment variable.
"""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

HOST_UID = "<host-uid>"
HOST_SUBUID = "<host-subuid>"
HOST_GID = "<host-gid>"
HOST_SUBGID = "<host-subgid>"
CGROUPS_PATH = "<cgroups-path>"
SANDBOX_SHELL = "<sandbox-shell>"
TMP = "<tmp>"
RUN_ID = "<run-id>"

_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
#: pytest's base temporary directory, e.g. ``/tmp/pytest-of-root/pytest-12``
_PYTEST_TMP_RE = re.compile(r"^/.*?/pytest-of-[^/]+/pytest-(?:\d+|current)(?=/|$)")


def looks_like_spec(data: object) -> bool:
    """True for a mapping with ``ociVersion`` and at least one of process, mounts, linux."""
    return (
        isinstance(data, Mapping)
        and "ociVersion" in data
        and any(k in data for k in ("process", "mounts", "linux"))
    )


def _tmp_prefixes(tmp_dirs: Sequence[str] | None) -> list[str]:
    # by default the system's temporary directory ($TMPDIR) and /tmp, which is one whatever
    # $TMPDIR says
    dirs = [tempfile.gettempdir(), "/tmp"] if tmp_dirs is None else list(tmp_dirs)
    # longest first, so /tmp/pytest-of-root/x wins over /tmp when both are given
    return sorted({d.rstrip("/") for d in dirs if d.rstrip("/")}, key=len, reverse=True)


def _host_path(value: Any, prefixes: Sequence[str]) -> Any:
    """A host path with its temporary-directory part replaced, and run ids replaced."""
    if not isinstance(value, str):
        return value
    value = _PYTEST_TMP_RE.sub(TMP, value, count=1)
    for prefix in prefixes:
        if value == prefix or value.startswith(prefix + "/"):
            value = TMP + value[len(prefix) :]
            break
    return _run_ids(value)


def _run_ids(value: Any) -> Any:
    return _UUID_RE.sub(RUN_ID, value) if isinstance(value, str) else value


def _mappings(value: Any, root: str, other: str) -> Any:
    if not isinstance(value, list):
        return value
    out = []
    for m in value:
        if isinstance(m, dict) and "hostID" in m:
            m = {**m, "hostID": root if m.get("containerID") == 0 else other}
        out.append(m)
    return out


def normalize_spec(
    spec: Mapping[str, Any], *, tmp_dirs: Sequence[str] | None = None
) -> dict[str, Any]:
    """A normalized deep copy of ``spec`` (see the module doc for every replacement).

    ``tmp_dirs`` are the temporary directories whose paths become ``<tmp>``; the default is the
    system's (``tempfile.gettempdir()``) and ``/tmp``. The function does not change ``spec`` and
    is idempotent.
    """
    result: dict[str, Any] = copy.deepcopy(dict(spec))
    prefixes = _tmp_prefixes(tmp_dirs)
    root = result.get("root")
    if isinstance(root, dict) and "path" in root:
        root["path"] = _host_path(root["path"], prefixes)
    mounts = result.get("mounts")
    if isinstance(mounts, list):
        for mount in mounts:
            if not isinstance(mount, dict) or "source" not in mount:
                continue
            if mount.get("destination") == "/bin/sh":
                mount["source"] = SANDBOX_SHELL
            else:
                mount["source"] = _host_path(mount["source"], prefixes)
    annotations = result.get("annotations")
    if isinstance(annotations, dict):
        result["annotations"] = {k: _run_ids(v) for k, v in annotations.items()}
    linux = result.get("linux")
    if isinstance(linux, dict):
        if "uidMappings" in linux:
            linux["uidMappings"] = _mappings(linux["uidMappings"], HOST_UID, HOST_SUBUID)
        if "gidMappings" in linux:
            linux["gidMappings"] = _mappings(linux["gidMappings"], HOST_GID, HOST_SUBGID)
        if "cgroupsPath" in linux:
            linux["cgroupsPath"] = CGROUPS_PATH
    return result
