"""Find the line of a key, table or array element in TOML source text.

``tomllib`` returns plain values without positions, so error messages get their line numbers from
this small scanner instead. It walks a document that ``tomllib`` already accepted and records,
for every key path that appears literally, the line of its first appearance:

* ``[a.b]`` records ``("a", "b")``; ``[[a.b]]`` records ``("a", "b")`` and ``("a", "b", n)`` for
  the n-th table of the array (counting from 0);
* ``x.y = …`` inside ``[a]`` records ``("a", "x")`` and ``("a", "x", "y")``;
* inline tables and arrays record their keys and element indices, so
  ``inputs = [ {path = "p"} ]`` records ``("inputs", 0)`` and ``("inputs", 0, "path")``.

:func:`line_of` falls back to the closest recorded parent, then to line 1. The scanner never
raises: on anything it does not understand it keeps what it found so far (best effort).
"""

from __future__ import annotations

import bisect
import contextlib
import re
from collections.abc import Mapping

Key = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", re.S)
_SIMPLE_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _unescape(body: str) -> str:
    def sub(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc[0] in "uU" and len(esc) > 1:
            return chr(int(esc[1:], 16))
        return _SIMPLE_ESCAPES.get(esc, esc)

    return _ESCAPE.sub(sub, body)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.newlines = [i for i, c in enumerate(text) if c == "\n"]
        self.found: dict[Key, int] = {}
        self.aot_counts: dict[Key, int] = {}

    # helpers --------------------------------------------------------------------------------
    def line(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def record(self, key: Key, pos: int) -> None:
        self.found.setdefault(key, self.line(pos))

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def skip_ws(self, newlines: bool = False) -> None:
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c in " \t" or (newlines and c in "\r\n"):
                self.pos += 1
            elif c == "#" and newlines:
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                return

    def skip_comment(self) -> None:
        if self.peek() == "#":
            end = self.text.find("\n", self.pos)
            self.pos = len(self.text) if end < 0 else end

    # keys -----------------------------------------------------------------------------------
    def simple_key(self) -> str:
        c = self.peek()
        if c == '"':
            start = self.pos + 1
            self.skip_basic_string()
            return _unescape(self.text[start : self.pos - 1])
        if c == "'":
            end = self.text.index("'", self.pos + 1)
            key = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return key
        m = _BARE.match(self.text, self.pos)
        if not m:
            raise ValueError("not a key")
        self.pos = m.end()
        return m.group(0)

    def dotted_key(self) -> list[str]:
        parts = [self.simple_key()]
        while True:
            self.skip_ws()
            if self.peek() != ".":
                return parts
            self.pos += 1
            self.skip_ws()
            parts.append(self.simple_key())

    # strings and values ---------------------------------------------------------------------
    def skip_basic_string(self) -> None:
        text, pos = self.text, self.pos + 1
        while text[pos] != '"':
            pos += 2 if text[pos] == "\\" else 1
        self.pos = pos + 1

    def skip_multiline(self, delim: str) -> None:
        text, pos = self.text, self.pos + 3
        while not text.startswith(delim, pos):
            pos += 2 if (delim == '"""' and text[pos] == "\\") else 1
        pos += 3
        extra = 0
        while extra < 2 and pos < len(text) and text[pos] == delim[0]:
            pos += 1
            extra += 1
        self.pos = pos

    def value(self, key: Key) -> None:
        c = self.peek()
        if self.peek(3) in ('"""', "'''"):
            self.skip_multiline(self.peek(3))
        elif c == '"':
            self.skip_basic_string()
        elif c == "'":
            self.pos = self.text.index("'", self.pos + 1) + 1
        elif c == "[":
            self.array(key)
        elif c == "{":
            self.inline_table(key)
        else:
            m = re.compile(r"[^,\]}\r\n#]*").match(self.text, self.pos)
            assert m is not None
            self.pos = m.end()

    def array(self, key: Key) -> None:
        self.pos += 1
        index = 0
        while True:
            self.skip_ws(newlines=True)
            if self.peek() == "]":
                self.pos += 1
                return
            self.record((*key, index), self.pos)
            self.value((*key, index))
            self.skip_ws(newlines=True)
            if self.peek() == ",":
                self.pos += 1
                index += 1

    def inline_table(self, key: Key) -> None:
        self.pos += 1
        while True:
            self.skip_ws(newlines=True)
            if self.peek() == "}":
                self.pos += 1
                return
            self.keyval(key)
            self.skip_ws(newlines=True)
            if self.peek() == ",":
                self.pos += 1

    def keyval(self, table: Key) -> None:
        start = self.pos
        parts = self.dotted_key()
        full: Key = table
        for part in parts:
            full = (*full, part)
            self.record(full, start)
        self.skip_ws()
        if self.peek() != "=":
            raise ValueError("expected '='")
        self.pos += 1
        self.skip_ws()
        self.value(full)

    # headers --------------------------------------------------------------------------------
    def resolve(self, parts: list[str]) -> Key:
        """A header's path with the current index of every array of tables inserted."""
        key: Key = ()
        for part in parts:
            key = (*key, part)
            if key in self.aot_counts:
                key = (*key, self.aot_counts[key] - 1)
        return key

    def header(self) -> Key:
        start = self.pos
        is_array = self.peek(2) == "[["
        self.pos += 2 if is_array else 1
        self.skip_ws()
        parts = self.dotted_key()
        self.skip_ws()
        self.pos += 2 if is_array else 1
        if not is_array:
            key = self.resolve(parts)
            prefix: Key = ()
            for part in key:
                prefix = (*prefix, part)
                self.record(prefix, start)
            return key
        table = (*self.resolve(parts[:-1]), parts[-1])
        count = self.aot_counts.get(table, 0)
        self.aot_counts[table] = count + 1
        self.record(table, start)
        self.record((*table, count), start)
        return (*table, count)

    def document(self) -> None:
        table: Key = ()
        while True:
            self.skip_ws(newlines=True)
            if self.pos >= len(self.text):
                return
            if self.peek() == "[":
                table = self.header()
            else:
                self.keyval(table)
            self.skip_ws()
            self.skip_comment()


def locate_keys(text: str) -> dict[Key, int]:
    """Every key path that appears literally in ``text``, with the 1-based line it first
    appears on (best effort: stops quietly at anything it does not understand)."""
    scanner = _Scanner(text)
    with contextlib.suppress(ValueError, IndexError):
        scanner.document()
    return scanner.found


def line_of(found: Mapping[Key, int], key: Key) -> int:
    """The line of ``key``, else of its closest recorded parent, else 1."""
    for end in range(len(key), 0, -1):
        line = found.get(key[:end])
        if line is not None:
            return line
    return 1
