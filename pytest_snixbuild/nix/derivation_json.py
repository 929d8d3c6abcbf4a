"""The two JSON forms of a derivation.

* The *serde* form (snix's ``.drv.json`` test files): one object with the keys ``args``,
  ``builder``, ``env``, ``inputDrvs``, ``inputSrcs``, ``outputs`` and ``system``, written with
  sorted keys. Outputs are ``{"path", "hashAlgo", "hash"}`` (the last two only for fixed
  outputs, ``hashAlgo`` with its ``r:`` prefix, ``hash`` in lower-case hex).
* The ``nix show-derivation`` form (Nix 2.8): an object keyed by the ``.drv`` path whose value
  has the keys in Nix's order (``outputs``, ``inputSrcs``, ``inputDrvs``, ``system``,
  ``builder``, ``args``, ``env``).

Both are written byte for byte as Nix writes JSON: two-space indentation, ``"``, ``\\``, LF,
CR and TAB escaped as ``\\"``, ``\\\\``, ``\\n``, ``\\r``, ``\\t``, other control characters as
``\\u00xx``, every other byte raw. Env values that are not UTF-8 are therefore written raw, as
Nix does (the result is then not strictly UTF-8 JSON); :func:`loads` reads such files back
exactly, by decoding with ``surrogateescape``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pytest_snixbuild.nix.cahash import CAHash, CAHashError
from pytest_snixbuild.nix.derivation import Derivation, DerivationError, Output
from pytest_snixbuild.nix.storepath import StorePath, StorePathError

SERDE_KEYS = ("args", "builder", "env", "inputDrvs", "inputSrcs", "outputs", "system")
SHOW_KEYS = ("outputs", "inputSrcs", "inputDrvs", "system", "builder", "args", "env")


# Writing -----------------------------------------------------------------------------------


def _escape(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray(b'"')
    for byte in raw:
        if byte == 0x22:
            out += b'\\"'
        elif byte == 0x5C:
            out += b"\\\\"
        elif byte == 0x0A:
            out += b"\\n"
        elif byte == 0x0D:
            out += b"\\r"
        elif byte == 0x09:
            out += b"\\t"
        elif byte < 0x20:
            out += b"\\u%04x" % byte
        else:
            out.append(byte)
    out += b'"'
    return bytes(out)


def dump_json(value: Any, level: int = 0) -> bytes:
    """``value`` (dicts in their own order, lists, strings) as Nix pretty-prints JSON."""
    pad = b"  " * (level + 1)
    end = b"  " * level
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, Mapping):
        if not value:
            return b"{}"
        items = [pad + _escape(k) + b": " + dump_json(v, level + 1) for k, v in value.items()]
        return b"{\n" + b",\n".join(items) + b"\n" + end + b"}"
    if isinstance(value, list | tuple):
        if not value:
            return b"[]"
        return (
            b"[\n" + b",\n".join(pad + dump_json(v, level + 1) for v in value) + b"\n" + end + b"]"
        )
    raise TypeError(f"cannot write {type(value).__name__} as derivation JSON")


def _env_text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _output_json(out: Output, order: tuple[str, ...]) -> dict[str, str]:
    fields: dict[str, str] = {}
    if out.path is not None:
        fields["path"] = out.path.to_absolute()
    if out.ca is not None:
        fields["hashAlgo"] = out.ca.aterm_algo
        fields["hash"] = out.ca.hex
    return {k: fields[k] for k in order if k in fields}


def _fields(drv: Derivation, output_order: tuple[str, ...]) -> dict[str, Any]:
    return {
        "outputs": {n: _output_json(o, output_order) for n, o in drv.outputs.items()},
        "inputSrcs": [p.to_absolute() for p in drv.input_sources],
        "inputDrvs": {p.to_absolute(): list(names) for p, names in drv.input_derivations.items()},
        "system": drv.system,
        "builder": drv.builder,
        "args": list(drv.arguments),
        "env": {k: _env_text(v) for k, v in drv.environment.items()},
    }


def to_serde(drv: Derivation) -> dict[str, Any]:
    """The serde form as a dict (keys sorted; env values decoded with surrogateescape)."""
    fields = _fields(drv, ("hash", "hashAlgo", "path"))
    return {key: fields[key] for key in SERDE_KEYS}


def dump_serde(drv: Derivation) -> bytes:
    """The serde form as the bytes of a ``.drv.json`` file (trailing newline included)."""
    return dump_json(to_serde(drv)) + b"\n"


def to_show_derivation(drvs: Mapping[StorePath, Derivation]) -> dict[str, Any]:
    """The ``nix show-derivation`` form of several derivations, keyed by absolute drv path."""
    result: dict[str, Any] = {}
    for drv_path, drv in drvs.items():
        fields = _fields(drv, ("path", "hashAlgo", "hash"))
        result[drv_path.to_absolute()] = {key: fields[key] for key in SHOW_KEYS}
    return result


def dump_show_derivation(drvs: Mapping[StorePath, Derivation]) -> bytes:
    """What ``nix show-derivation`` (Nix 2.8) prints for these derivations."""
    return dump_json(to_show_derivation(drvs)) + b"\n"


# Reading -----------------------------------------------------------------------------------


def loads(data: bytes) -> Any:
    """Parse JSON bytes; bytes that are not UTF-8 survive as surrogate escapes."""
    try:
        return json.loads(data.decode("utf-8", "surrogateescape"))
    except json.JSONDecodeError as exc:
        raise DerivationError(f"invalid JSON: {exc}") from exc
    except RecursionError:
        raise DerivationError(
            "invalid JSON: nested too deeply (expected at most a few hundred levels)"
        ) from None


def _need(obj: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DerivationError(f"{where}: missing key {key!r}")
    value = obj[key]
    if not isinstance(value, kind):
        raise DerivationError(
            f"{where}: {key!r} must be a JSON {_kind_name(kind)}, got {type(value).__name__}"
        )
    return value


def _kind_name(kind: type) -> str:
    names: dict[type, str] = {dict: "object", list: "array", str: "string"}
    return names.get(kind, kind.__name__)


def _strings(values: Any, where: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise DerivationError(f"{where}: expected a JSON array of strings")
    return values


def _store_path(text: str, where: str) -> StorePath:
    try:
        return StorePath.from_absolute_path(text)
    except StorePathError as exc:
        raise DerivationError(f"{where}: {exc}") from exc


def from_json_fields(obj: Any, where: str = "derivation JSON", validate: bool = True) -> Derivation:
    """A derivation from an object with the seven keys (either JSON form's inner object)."""
    if not isinstance(obj, dict):
        raise DerivationError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(SERDE_KEYS))
    if unknown:
        raise DerivationError(
            f"{where}: unknown key {unknown[0]!r}: expected only {', '.join(SERDE_KEYS)}"
        )
    outputs: dict[str, Output] = {}
    for name, out in _need(obj, "outputs", dict, where).items():
        at = f"{where}: outputs.{name}"
        if not isinstance(out, dict):
            raise DerivationError(f"{at}: expected a JSON object")
        extra = sorted(set(out) - {"path", "hash", "hashAlgo"})
        if extra:
            raise DerivationError(f"{at}: unknown key {extra[0]!r}: expected path, hashAlgo, hash")
        path = _store_path(out["path"], f"{at}.path") if out.get("path") else None
        ca = None
        if out.get("hash") or out.get("hashAlgo"):
            try:
                ca = CAHash.from_aterm(str(out.get("hashAlgo", "")), str(out.get("hash", "")))
            except CAHashError as exc:
                raise DerivationError(f"{at}: {exc}") from exc
        outputs[name] = Output(path, ca)
    input_drvs = {
        _store_path(p, f"{where}: inputDrvs"): tuple(_strings(names, f"{where}: inputDrvs.{p}"))
        for p, names in _need(obj, "inputDrvs", dict, where).items()
    }
    input_srcs = [
        _store_path(p, f"{where}: inputSrcs")
        for p in _strings(_need(obj, "inputSrcs", list, where), f"{where}: inputSrcs")
    ]
    env: dict[str, bytes] = {}
    for key, value in _need(obj, "env", dict, where).items():
        if not isinstance(value, str):
            raise DerivationError(f"{where}: env.{key} must be a JSON string")
        env[key] = value.encode("utf-8", "surrogateescape")
    drv = Derivation(
        outputs=outputs,
        input_derivations=input_drvs,
        input_sources=tuple(input_srcs),
        system=_need(obj, "system", str, where),
        builder=_need(obj, "builder", str, where),
        arguments=tuple(_strings(_need(obj, "args", list, where), f"{where}: args")),
        environment=env,
    )
    if validate:
        problems = list(drv.problems())
        if problems:
            raise DerivationError(f"{where}: invalid derivation: {problems[0]}")
    return drv


def from_serde(obj: Any, where: str = "derivation JSON") -> Derivation:
    """A derivation from its serde form (a parsed ``.drv.json``)."""
    return from_json_fields(obj, where)


def from_show_derivation(
    obj: Any, where: str = "show-derivation JSON"
) -> dict[StorePath, Derivation]:
    """Derivations from the ``nix show-derivation`` form, keyed by their drv path."""
    if not isinstance(obj, dict):
        raise DerivationError(f"{where}: expected a JSON object keyed by .drv paths")
    return {
        _store_path(path, where): from_json_fields(fields, f"{where}: {path}")
        for path, fields in obj.items()
    }
