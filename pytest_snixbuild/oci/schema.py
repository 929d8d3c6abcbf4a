"""Checking a runtime spec: against the OCI JSON schema, and for what the schema cannot see.

:func:`schema_validator` loads the runtime-spec JSON schema from a directory (the project keeps
v1.3.0 in ``tests/data/oci/runtime-spec-schema``) and resolves its relative ``$ref``\\ s by file
name, offline. It needs ``jsonschema`` ≥ 4.18 and ``referencing`` (test dependencies).

:func:`semantic_problems` is pure and has no dependencies: it checks the rules the schema does not
express but runc enforces or runtime-tools reports (absolute paths, ``KEY=VALUE`` environment,
known capabilities, ambient ⊆ permitted ∩ inheritable, unique namespaces, a uts namespace for the
hostname, the process user mapped in a user namespace, ``terminal`` false).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_snixbuild.oci.errors import OciError

CONFIG_SCHEMA = "config-schema.json"

#: every capability in capabilities(7) as of Linux 6.x
KNOWN_CAPABILITIES = frozenset(
    "CAP_" + name
    for name in [
        "AUDIT_CONTROL",
        "AUDIT_READ",
        "AUDIT_WRITE",
        "BLOCK_SUSPEND",
        "BPF",
        "CHECKPOINT_RESTORE",
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "IPC_LOCK",
        "IPC_OWNER",
        "KILL",
        "LEASE",
        "LINUX_IMMUTABLE",
        "MAC_ADMIN",
        "MAC_OVERRIDE",
        "MKNOD",
        "NET_ADMIN",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_RAW",
        "PERFMON",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_CHROOT",
        "SYS_MODULE",
        "SYS_NICE",
        "SYS_PACCT",
        "SYS_PTRACE",
        "SYS_RAWIO",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "SYSLOG",
        "WAKE_ALARM",
    ]
)


class SpecSchemaError(OciError):
    """A spec does not satisfy the OCI runtime-spec schema or its semantic rules."""


def schema_validator(schema_dir: Path) -> Callable[[Mapping[str, Any]], list[str]]:
    """A function that returns the schema errors of a config (``[]`` when it is valid).

    Each error reads ``/json/pointer: message``. ``$ref``\\ s such as ``defs.json#/…`` are looked
    up as files in ``schema_dir``; nothing is fetched from the network.
    """
    import jsonschema
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT4

    def retrieve(uri: str) -> Resource:
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        path = schema_dir / name
        if not path.is_file():
            raise NoSuchResource(ref=uri)  # type: ignore[call-arg]
        return Resource.from_contents(
            json.loads(path.read_text(encoding="utf-8")), default_specification=DRAFT4
        )

    root = json.loads((schema_dir / CONFIG_SCHEMA).read_text(encoding="utf-8"))
    registry = Registry(retrieve=retrieve)  # type: ignore[call-arg]
    validator = jsonschema.Draft4Validator(root, registry=registry)

    def errors(config: Mapping[str, Any]) -> list[str]:
        found = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
        return ["/" + "/".join(str(p) for p in e.absolute_path) + f": {e.message}" for e in found]

    return errors


def _absolute(problems: list[str], where: str, paths: Iterable[Any]) -> None:
    for i, p in enumerate(paths):
        if not isinstance(p, str) or not p.startswith("/"):
            problems.append(f"{where}[{i}] {p!r} is not an absolute path")


def _mapped(mappings: Any, container_id: int) -> bool:
    return any(
        m["containerID"] <= container_id < m["containerID"] + m["size"] for m in mappings or []
    )


def semantic_problems(spec: Mapping[str, Any]) -> list[str]:
    """The rules the JSON schema does not check; each problem names its field. ``[]`` = fine."""
    problems: list[str] = []
    process = spec.get("process", {})
    linux = spec.get("linux", {})
    args = process.get("args", [])
    if not args:
        problems.append("process.args must not be empty")
    if process.get("terminal", False):
        problems.append("process.terminal is true: runc then needs a controlling terminal")
    cwd = process.get("cwd", "")
    if not str(cwd).startswith("/"):
        problems.append(f"process.cwd {cwd!r} is not an absolute path")
    for i, entry in enumerate(process.get("env", [])):
        if "=" not in entry or entry.startswith("="):
            problems.append(f"process.env[{i}] {entry!r} is not KEY=VALUE")
    caps = process.get("capabilities", {})
    for set_name, names in caps.items():
        for name in names:
            if name not in KNOWN_CAPABILITIES:
                problems.append(f"process.capabilities.{set_name}: unknown capability {name!r}")
    ambient = set(caps.get("ambient", []))
    missing = ambient - (set(caps.get("permitted", [])) & set(caps.get("inheritable", [])))
    if missing:
        problems.append(
            "process.capabilities.ambient must be within permitted and inheritable; "
            f"not there: {sorted(missing)}"
        )
    _absolute(
        problems, "mounts.destination", (m.get("destination") for m in spec.get("mounts", []))
    )
    _absolute(problems, "linux.maskedPaths", linux.get("maskedPaths", []))
    _absolute(problems, "linux.readonlyPaths", linux.get("readonlyPaths", []))
    types = [ns.get("type") for ns in linux.get("namespaces", [])]
    for t in sorted({t for t in types if types.count(t) > 1}):
        problems.append(f"linux.namespaces: duplicated namespace {t!r}")
    if spec.get("hostname") and "uts" not in types:
        problems.append("hostname is set but linux.namespaces has no 'uts' namespace")
    if "user" in types:
        user = process.get("user", {})
        if not _mapped(linux.get("uidMappings"), user.get("uid", 0)):
            problems.append(f"process.user.uid {user.get('uid', 0)} is not in linux.uidMappings")
        if not _mapped(linux.get("gidMappings"), user.get("gid", 0)):
            problems.append(f"process.user.gid {user.get('gid', 0)} is not in linux.gidMappings")
        if not _mapped(linux.get("uidMappings"), 0):
            problems.append("linux.uidMappings do not map container uid 0 (runc 1.1 needs it)")
    return problems


def check_spec(spec: Mapping[str, Any], schema_dir: Path | None = None) -> None:
    """Raise :class:`SpecSchemaError` listing every problem (schema ones only with a dir)."""
    problems = semantic_problems(spec)
    if schema_dir is not None:
        problems = schema_validator(schema_dir)(spec) + problems
    if problems:
        raise SpecSchemaError("invalid OCI runtime spec: " + "; ".join(problems))
