"""structuredAttrs: the ``.attrs.json`` and ``.attrs.sh`` files Nix gives a builder.

A derivation with ``__structuredAttrs = true`` carries its attributes as one JSON object in the
env entry ``__json``. Nix (``writeStructuredAttrs`` in 2.8's ``local-derivation-goal.cc``):

* parses ``__json`` with nlohmann::json, replaces ``outputs`` by an object mapping each output
  name to its path, and writes ``json.dump()`` (compact, keys in byte order) as ``.attrs.json``;
* writes ``.attrs.sh``: one ``declare`` per attribute whose name is a shell variable name and
  whose value bash can hold (strings, numbers that are integral as a C ``float``, null,
  Booleans; arrays of those as ``declare -a``; objects of those as ``declare -A``);
* replaces every output placeholder in both texts by the output's path.

This module reproduces both texts byte for byte, including nlohmann's number formatting and
Nix's quirks (integers are cast to a 32-bit ``int`` in ``.attrs.sh``). ``exportReferencesGraph``
(which needs path-info of the inputs) is not supported and raises an error.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pytest_snixbuild.nix.derivation import DerivationError

ATTRS_JSON = ".attrs.json"
ATTRS_SH = ".attrs.sh"
_SH_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT_MIN = -(2**31)


class StructuredAttrsError(DerivationError):
    """The ``__json`` env entry cannot be turned into the files Nix would write."""


# Parsing as nlohmann::json does -------------------------------------------------------------


def _parse_int(text: str) -> int | float:
    value = int(text)
    # nlohmann keeps integers that fit int64 or uint64; larger ones become doubles
    if -(2**63) <= value < 2**64:
        return value
    return float(text)


def _reject_constant(text: str) -> Any:
    raise StructuredAttrsError(f"__json: {text} is not valid JSON")


def parse_structured_attrs(raw: bytes) -> dict[str, Any]:
    """The ``__json`` env value as a JSON object (integers and floats kept apart)."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_int=_parse_int, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise StructuredAttrsError(f"env '__json' is not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise StructuredAttrsError(f"env '__json' is not valid JSON: {exc}") from exc
    except RecursionError:
        raise StructuredAttrsError(
            "env '__json' is nested too deeply (expected JSON with at most a few hundred levels)"
        ) from None
    if not isinstance(value, dict):
        raise StructuredAttrsError(
            f"env '__json' must hold a JSON object, got {type(value).__name__}"
        )
    return value


# json.dump() as nlohmann::json writes it ------------------------------------------------------


def _byte_key(item: tuple[str, Any]) -> bytes:
    return item[0].encode("utf-8", "surrogatepass")


def _dump_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20:
            short = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}.get(code)
            out.append(short or f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _dump_float(value: float) -> str:
    """A double as nlohmann::json prints it (shortest digits, its own notation rules)."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    parts = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in parts.digits)
    k = len(digits)
    exponent = int(parts.exponent)
    n = k + exponent  # value = 0.<digits> * 10^n
    if k <= n <= 15:
        return f"{sign}{digits}{'0' * (n - k)}.0"
    if 0 < n <= 15:
        return f"{sign}{digits[:n]}.{digits[n:]}"
    if -4 < n <= 0:
        return f"{sign}0.{'0' * -n}{digits}"
    mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
    e = n - 1
    return f"{sign}{mantissa}e{'-' if e < 0 else '+'}{abs(e):02d}"


def dump_json(value: Any) -> str:
    """``value`` as nlohmann's compact ``dump()``: no spaces, object keys in byte order."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _dump_float(value)
    if isinstance(value, str):
        return _dump_string(value)
    if isinstance(value, list):
        return "[" + ",".join(dump_json(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=_byte_key)
        return "{" + ",".join(f"{_dump_string(k)}:{dump_json(v)}" for k, v in items) + "}"
    raise TypeError(f"cannot dump {type(value).__name__}")


# .attrs.sh ----------------------------------------------------------------------------------


def shell_escape(text: str) -> str:
    """Nix's ``shellEscape``: single quotes, each ``'`` written as ``'\\''``."""
    return "'" + text.replace("'", "'\\''") + "'"


def _as_c_int(value: int) -> int:
    return (value - _INT_MIN) % 2**32 + _INT_MIN


def _simple(value: Any) -> str | None:
    """nlohmann value -> shell word, or None when bash cannot hold it (``handleSimpleType``)."""
    if isinstance(value, str):
        return shell_escape(value)
    if value is None:
        return "''"
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, int):
        return str(_as_c_int(value))
    if isinstance(value, float):
        try:
            as_float32 = struct.unpack("f", struct.pack("f", value))[0]
        except OverflowError:
            as_float32 = math.inf
        if math.isinf(as_float32) or math.ceil(as_float32) == as_float32:
            truncated = math.trunc(value)
            return str(truncated if -(2**31) <= truncated < 2**31 else _INT_MIN)
    return None


def render_attrs_sh(attrs: Mapping[str, Any]) -> str:
    """The ``.attrs.sh`` text for ``attrs`` (placeholders not yet replaced)."""
    lines: list[str] = []
    for key, value in sorted(attrs.items(), key=_byte_key):
        if not _SH_VAR.fullmatch(key) or not key.isascii():
            continue
        simple = _simple(value)
        if simple is not None:
            lines.append(f"declare {key}={simple}\n")
        elif isinstance(value, list):
            words = [_simple(v) for v in value]
            if all(w is not None for w in words):
                lines.append(f"declare -a {key}=({''.join(f'{w} ' for w in words)})\n")
        elif isinstance(value, dict):
            items = sorted(value.items(), key=_byte_key)
            words = [_simple(v) for _, v in items]
            if all(w is not None for w in words):
                body = "".join(
                    f"[{shell_escape(k)}]={w} " for (k, _), w in zip(items, words, strict=True)
                )
                lines.append(f"declare -A {key}=({body})\n")
    return "".join(lines)


# Both files ---------------------------------------------------------------------------------


def attrs_with_outputs(attrs: Mapping[str, Any], output_paths: Mapping[str, str]) -> dict[str, Any]:
    """The attrs as the builder sees them: ``outputs`` maps each output name to its path."""
    if isinstance(attrs.get("exportReferencesGraph"), dict):
        raise StructuredAttrsError(
            "structured attrs use 'exportReferencesGraph', which is not supported (it needs "
            "the path-info of the build's inputs)"
        )
    result = dict(attrs)
    result["outputs"] = dict(output_paths)
    return result


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise StructuredAttrsError(
            f"{what}: the structured attrs hold a lone surrogate ({exc.object[exc.start]!r}), "
            "which Nix rejects"
        ) from exc


def structured_attrs_files(
    raw_json: bytes, output_paths: Mapping[str, str], placeholders: Mapping[str, str]
) -> tuple[bytes, bytes]:
    """``(.attrs.json, .attrs.sh)`` contents for the ``__json`` value ``raw_json``.

    ``output_paths`` maps output names to absolute paths; ``placeholders`` maps each
    placeholder string to the path that replaces it in both files.
    """
    attrs = attrs_with_outputs(parse_structured_attrs(raw_json), output_paths)
    json_text = dump_json(attrs)
    sh_text = render_attrs_sh(attrs)
    for placeholder, path in placeholders.items():
        json_text = json_text.replace(placeholder, path)
        sh_text = sh_text.replace(placeholder, path)
    return _utf8(json_text, ATTRS_JSON), _utf8(sh_text, ATTRS_SH)
