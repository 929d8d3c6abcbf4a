"""Strict, typed reading of a parsed TOML case file, with errors that point at a line.

Every error is a :class:`CaseError` reading ``FILE:LINE: key.path: what was wrong (what was
expected)``. A :class:`Table` wraps one TOML table: its getters check the type of each value
(naming the expected TOML type), :meth:`Table.check_keys` rejects unknown keys with a
"did you mean" suggestion, and :meth:`Table.error` builds an error for any key below it.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.request.toml_locate import Key, line_of, locate_keys

T = TypeVar("T")

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_TOMLLIB_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_MISSING: Any = object()


class CaseError(SnixError):
    """A TOML case file is not a valid case: ``FILE:LINE: key.path: reason (expected)``."""

    def __init__(self, file: Path, line: int | None, key: str, reason: str, expected: str) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.reason = reason
        self.expected = expected
        where = f"{file}: " if line is None else f"{file}:{line}: "
        what = f"{key}: {reason}" if key else reason
        super().__init__(f"{where}{what} (expected {expected})" if expected else where + what)


def key_text(key: Key) -> str:
    """``("request", "inputs", "a-b.c", "path")`` -> ``request.inputs."a-b.c".path``."""
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        shown = part if _BARE.fullmatch(part) else _quote(part)
        out += f".{shown}" if out else shown
    return out


def _quote(s: str) -> str:
    escaped = s.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def toml_type(value: object) -> str:
    """The TOML name of a parsed value's type."""
    names = {bool: "boolean", int: "integer", float: "float", str: "string"}
    for kind, name in names.items():
        if type(value) is kind:
            return name
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return "date/time"


def show(value: object, limit: int = 60) -> str:
    """A short readable rendering of a value for an error message."""
    text = repr(value) if not isinstance(value, bool) else str(value).lower()
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class CaseSource:
    """One case file: its path, its text and where each key is."""

    path: Path
    text: str
    lines: Mapping[Key, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, path: Path, text: str) -> tuple[CaseSource, dict[str, Any]]:
        """Parse ``text``; a syntax error keeps tomllib's message, line and column."""
        try:
            data = tomllib.loads(text)
            lines = locate_keys(text)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            m = _TOMLLIB_POSITION.search(message)
            line = int(m.group(1)) if m else len(text.splitlines()) or 1
            raise CaseError(path, line, "", f"invalid TOML: {message}", "") from None
        except RecursionError:  # tomllib parses nested arrays and inline tables recursively
            raise CaseError(
                path,
                None,
                "",
                "invalid TOML: arrays or inline tables are nested too deeply",
                "at most a few hundred levels of nesting",
            ) from None
        return cls(path, text, lines), data

    def error(self, key: Key, reason: str, expected: str) -> CaseError:
        return CaseError(self.path, line_of(self.lines, key), key_text(key), reason, expected)

    def root(self, data: dict[str, Any]) -> Table:
        return Table(self, (), data)


def decode_base64(source: CaseSource, key: Key, text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise source.error(
            key, f"invalid base64 {show(text)}", "standard base64 with padding, e.g. 'aGk='"
        ) from None


@dataclass
class Table:
    """One TOML table of a case file, at ``key`` (``()`` for the document)."""

    source: CaseSource
    key: Key
    data: dict[str, Any]

    def error(self, name: str | int | Key, reason: str, expected: str) -> CaseError:
        sub: Key = name if isinstance(name, tuple) else (name,)
        return self.source.error((*self.key, *sub), reason, expected)

    def check_keys(self, allowed: Iterable[str]) -> None:
        """Reject any key not in ``allowed``, suggesting the closest allowed one."""
        allowed = list(allowed)
        for name in self.data:
            if name in allowed:
                continue
            close = difflib.get_close_matches(name, allowed, n=1)
            reason = f"unknown key, did you mean {close[0]!r}?" if close else "unknown key"
            raise self.error(name, reason, f"one of {', '.join(allowed)}")

    def has(self, name: str) -> bool:
        return name in self.data

    def _typed(self, name: str, value: object, kind: type[T], expected: str) -> T:
        if type(value) is not kind and not (kind is dict and isinstance(value, dict)):
            raise self.error(name, f"wrong type: {toml_type(value)} {show(value)}", expected)
        return value  # type: ignore[return-value]

    def _get(self, name: str, default: Any, expected: str) -> Any:
        if name not in self.data:
            if default is _MISSING:
                raise self.error(name, "missing", expected)
            return default
        return self.data[name]

    def string(self, name: str, default: str = _MISSING) -> str:
        value = self._get(name, default, "a string")
        return self._typed(name, value, str, "a string")

    def boolean(self, name: str, default: bool = _MISSING) -> bool:
        value = self._get(name, default, "true or false")
        return self._typed(name, value, bool, "true or false")

    def integer(self, name: str, default: int = _MISSING, *, minimum: int = 0) -> int:
        expected = f"an integer >= {minimum}"
        value = self._typed(name, self._get(name, default, expected), int, expected)
        if value < minimum:
            raise self.error(name, f"{value} is too small", expected)
        return value

    def strings(self, name: str, default: Iterable[str] = _MISSING) -> tuple[str, ...]:
        expected = "an array of strings"
        value = self._get(name, default, expected)
        if isinstance(value, tuple):
            return value
        items = self._typed(name, value, list, expected)
        for i, item in enumerate(items):
            if type(item) is not str:
                raise self.error(
                    (name, i), f"wrong type: {toml_type(item)} {show(item)}", "a string"
                )
        return tuple(items)

    def table(self, name: str, expected: str = "a table") -> Table | None:
        """The sub-table ``name``, or None when it is absent."""
        if name not in self.data:
            return None
        value = self._typed(name, self.data[name], dict, expected)
        return Table(self.source, (*self.key, name), value)

    def tables(self, name: str, expected: str = "an array of tables") -> list[Table]:
        """``[[name]]`` (or an array of inline tables); empty when absent."""
        items = self._typed(name, self.data.get(name, []), list, expected)
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.error(
                    (name, i), f"wrong type: {toml_type(item)} {show(item)}", "a table"
                )
            out.append(Table(self.source, (*self.key, name, i), item))
        return out

    def bytes_value(self, name: str | int, value: object) -> bytes:
        """A string (UTF-8) or ``{ base64 = "…" }``."""
        expected = 'a string or { base64 = "…" }'
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict):
            sub = Table(self.source, (*self.key, name), value)
            sub.check_keys(["base64"])
            return decode_base64(self.source, (*sub.key, "base64"), sub.string("base64"))
        raise self.error(name, f"wrong type: {toml_type(value)} {show(value)}", expected)

    def get_bytes(self, name: str, default: bytes = _MISSING) -> bytes:
        value = self._get(name, default, 'a string or { base64 = "…" }')
        return value if isinstance(value, bytes) else self.bytes_value(name, value)
