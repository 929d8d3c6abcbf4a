"""The canonical JSON form of a BuildRequest (what ``snixbuild request show/decode`` print).

::

    {
      "inputs": {"<name>": {"type": "directory", "digest": "blake3-…", "size": 42},
                 "<name>": {"type": "file", "digest": "blake3-…", "size": 3, "executable": false},
                 "<name>": {"type": "symlink", "target": "/nix/store/…"}},
      "command_args": ["…"], "working_dir": "build", "scratch_paths": ["build", "nix/store"],
      "inputs_dir": "nix/store", "outputs": ["…"],
      "environment_vars": [["KEY", "value"], …],
      "constraints": {"system": "…", "min_memory": 0, "available_ro_paths": [],
                      "network_access": false, "provide_bin_sh": true} | null,
      "additional_files": [["build/…", "contents"], …],
      "refscan_needles": ["…"]
    }

Byte strings (env values, file contents, symlink targets) are JSON strings when they are UTF-8
and ``{"base64": "…"}`` otherwise. ``constraints: null`` is an absent constraints message.
:func:`request_from_json` also reads the reference vectors' form, where a node's digest is given
as ``"digest_hex"``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pytest_snixbuild.castore.digests import B3Digest, DigestError
from pytest_snixbuild.castore.errors import ValidationError
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.request.model import (
    AdditionalFile,
    BuildConstraints,
    BuildRequest,
    EnvVar,
)
from pytest_snixbuild.request.validation import validate_request

JsonObject = dict[str, Any]


class RequestJsonError(SnixError):
    """A JSON document is not a BuildRequest in the canonical JSON form."""

    def __init__(self, where: str, why: str, expected: str = "") -> None:
        self.field = where
        super().__init__(f"{where}: {why} (expected {expected})" if expected else f"{where}: {why}")


def bytes_to_json(data: bytes) -> str | dict[str, str]:
    """UTF-8 bytes as a string, anything else as ``{"base64": …}``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def node_to_json(node: Node) -> JsonObject:
    if isinstance(node, DirectoryNode):
        return {"type": "directory", "digest": str(node.digest), "size": node.size}
    if isinstance(node, FileNode):
        return {
            "type": "file",
            "digest": str(node.digest),
            "size": node.size,
            "executable": node.executable,
        }
    return {"type": "symlink", "target": bytes_to_json(node.target)}


def request_to_json(req: BuildRequest) -> JsonObject:
    """The canonical JSON form (a dict ready for ``json.dumps``)."""
    c = req.constraints
    return {
        "inputs": {name: node_to_json(node) for name, node in req.inputs.items()},
        "command_args": list(req.command_args),
        "working_dir": req.working_dir,
        "scratch_paths": list(req.scratch_paths),
        "inputs_dir": req.inputs_dir,
        "outputs": list(req.outputs),
        "environment_vars": [[e.key, bytes_to_json(e.value)] for e in req.environment_vars],
        "constraints": None
        if c is None
        else {
            "system": c.system,
            "min_memory": c.min_memory,
            "available_ro_paths": list(c.available_ro_paths),
            "network_access": c.network_access,
            "provide_bin_sh": c.provide_bin_sh,
        },
        "additional_files": [[f.path, bytes_to_json(f.contents)] for f in req.additional_files],
        "refscan_needles": list(req.refscan_needles),
    }


# --------------------------------------------------------------------------------------------
# reading


def _get(obj: JsonObject, key: str, where: str, kind: type, default: Any = ...) -> Any:
    if key not in obj:
        if default is ...:
            raise RequestJsonError(f"{where}{key}", "missing", f"a {_kind_name(kind)}")
        return default
    value = obj[key]
    _expect(value, kind, f"{where}{key}")
    return value


def _kind_name(kind: type) -> str:
    return {str: "string", int: "integer", bool: "boolean", list: "list", dict: "object"}[kind]


def _expect(value: object, kind: type, where: str) -> None:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise RequestJsonError(
            where, f"got {type(value).__name__} {value!r}", f"a {_kind_name(kind)}"
        )


def _strings(obj: JsonObject, key: str, default: list[str] | None = None) -> tuple[str, ...]:
    items = _get(obj, key, "", list, ... if default is None else default)
    for i, item in enumerate(items):
        _expect(item, str, f"{key}[{i}]")
    return tuple(items)


def bytes_from_json(value: object, where: str) -> bytes:
    """The inverse of :func:`bytes_to_json`."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
        try:
            return base64.b64decode(value["base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RequestJsonError(
                where, f"bad base64 {value['base64']!r}", "standard base64"
            ) from exc
    raise RequestJsonError(where, f"got {value!r}", 'a string or {"base64": "…"}')


def node_from_json(obj: object, where: str) -> Node:
    if not isinstance(obj, dict):
        raise RequestJsonError(where, f"got {obj!r}", "a node object")
    kind = _get(obj, "type", f"{where}.", str)
    try:
        if kind == "symlink":
            return SymlinkNode(bytes_from_json(obj.get("target"), f"{where}.target"))
        if kind not in ("directory", "file"):
            raise RequestJsonError(f"{where}.type", f"got {kind!r}", "directory, file or symlink")
        if "digest_hex" in obj:
            digest = B3Digest(bytes.fromhex(_get(obj, "digest_hex", f"{where}.", str)))
        else:
            digest = B3Digest.parse(_get(obj, "digest", f"{where}.", str))
        size = _get(obj, "size", f"{where}.", int)
        if kind == "directory":
            return DirectoryNode(digest, size)
        return FileNode(digest, size, _get(obj, "executable", f"{where}.", bool, False))
    except (DigestError, ValidationError, ValueError) as exc:
        raise RequestJsonError(where, str(exc)) from exc


def _pairs(obj: JsonObject, key: str) -> list[tuple[str, bytes]]:
    out = []
    for i, item in enumerate(_get(obj, key, "", list, [])):
        where = f"{key}[{i}]"
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise RequestJsonError(where, f"got {item!r}", "a [string, value] pair")
        out.append((item[0], bytes_from_json(item[1], f"{where}[1]")))
    return out


def _constraints(obj: JsonObject) -> BuildConstraints | None:
    c = obj.get("constraints")
    if c is None:
        return None
    _expect(c, dict, "constraints")
    where = "constraints."
    ro = _get(c, "available_ro_paths", where, list, [])
    for i, p in enumerate(ro):
        _expect(p, str, f"constraints.available_ro_paths[{i}]")
    return BuildConstraints(
        system=_get(c, "system", where, str),
        min_memory=_get(c, "min_memory", where, int, 0),
        available_ro_paths=tuple(ro),
        network_access=_get(c, "network_access", where, bool, False),
        provide_bin_sh=_get(c, "provide_bin_sh", where, bool, False),
    )


def request_from_json(obj: object, *, validate: bool = True) -> BuildRequest:
    """Read the canonical JSON form (or the vectors' form); validated unless told otherwise."""
    if not isinstance(obj, dict):
        raise RequestJsonError("(document)", f"got {type(obj).__name__}", "a JSON object")
    inputs = _get(obj, "inputs", "", dict, {})
    req = BuildRequest(
        command_args=_strings(obj, "command_args"),
        inputs={name: node_from_json(node, f"inputs.{name}") for name, node in inputs.items()},
        working_dir=_get(obj, "working_dir", "", str),
        scratch_paths=_strings(obj, "scratch_paths"),
        inputs_dir=_get(obj, "inputs_dir", "", str),
        outputs=_strings(obj, "outputs"),
        environment_vars=tuple(EnvVar(k, v) for k, v in _pairs(obj, "environment_vars")),
        constraints=_constraints(obj),
        additional_files=tuple(AdditionalFile(p, c) for p, c in _pairs(obj, "additional_files")),
        refscan_needles=_strings(obj, "refscan_needles", []),
    )
    if validate:
        validate_request(req)
    return req
