"""The ATerm form of derivations (``.drv`` files): a strict parser and a byte-exact writer.

Layout (no whitespace anywhere)::

    Derive([("out","/nix/store/…","r:sha256","<hex>"),…],   outputs, sorted by name
           [("/nix/store/….drv",["out","lib"]),…],            input derivations
           ["/nix/store/…",…],                                input sources
           "x86_64-linux","/nix/store/…/bin/sh",["-c","…"],   system, builder, arguments
           [("key","value"),…])                               environment, sorted by key

Strings are double-quoted with exactly five escapes (``\\\\``, ``\\"``, ``\\n``, ``\\r``,
``\\t``); every other byte is written raw. Environment values may hold any bytes; all other
strings must be UTF-8. Every parse error is a
:class:`~pytest_snixbuild.nix.derivation.DerivationError` naming the source, the byte offset
and what was expected there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from pytest_snixbuild.nix.cahash import CAHash, CAHashError
from pytest_snixbuild.nix.derivation import Derivation, DerivationError, Output
from pytest_snixbuild.nix.storepath import StorePath, StorePathError

PREFIX = b"Derive"
_SPECIAL = re.compile(rb'["\\]')
_UNESCAPE = {ord("\\"): b"\\", ord('"'): b'"', ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t"}
_T = TypeVar("_T")


# Writing -----------------------------------------------------------------------------------


def escape(value: bytes) -> bytes:
    """``value`` as an ATerm string literal, quotes included."""
    escaped = (
        value.replace(b"\\", b"\\\\")
        .replace(b'"', b'\\"')
        .replace(b"\n", b"\\n")
        .replace(b"\r", b"\\r")
        .replace(b"\t", b"\\t")
    )
    return b'"' + escaped + b'"'


def _text(value: str) -> bytes:
    return escape(value.encode("utf-8", "surrogateescape"))


def _list(items: Iterable[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


def write_derivation(
    drv: Derivation, input_derivations: Mapping[str, Iterable[str]] | None = None
) -> bytes:
    """The ATerm bytes of ``drv``.

    ``input_derivations`` replaces the input derivations by arbitrary keys (sorted as strings),
    as hashDerivationModulo does with the hex hashes of the inputs.
    """
    if input_derivations is None:
        inputs = [(p.to_absolute(), names) for p, names in drv.input_derivations.items()]
    else:
        inputs = [(key, tuple(sorted(set(names)))) for key, names in input_derivations.items()]
        inputs.sort()
    outputs = _list(
        b"("
        + b",".join(
            [
                _text(name),
                _text(out.path.to_absolute() if out.path else ""),
                _text(out.ca.aterm_algo if out.ca else ""),
                _text(out.ca.hex if out.ca else ""),
            ]
        )
        + b")"
        for name, out in drv.outputs.items()
    )
    input_drvs = _list(
        b"(" + _text(key) + b"," + _list(_text(n) for n in names) + b")" for key, names in inputs
    )
    return b"".join(
        [
            PREFIX,
            b"(",
            outputs,
            b",",
            input_drvs,
            b",",
            _list(_text(p.to_absolute()) for p in drv.input_sources),
            b",",
            _text(drv.system),
            b",",
            _text(drv.builder),
            b",",
            _list(_text(arg) for arg in drv.arguments),
            b",",
            _list(b"(" + _text(k) + b"," + escape(v) + b")" for k, v in drv.environment.items()),
            b")",
        ]
    )


# Parsing -----------------------------------------------------------------------------------


def _describe(data: bytes, pos: int) -> str:
    if pos >= len(data):
        return "end of input (the derivation is truncated)"
    byte = data[pos]
    if 0x21 <= byte < 0x7F:
        return repr(chr(byte))
    return f"byte 0x{byte:02x}"


class _Parser:
    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> DerivationError:
        at = self.pos if pos is None else pos
        return DerivationError(f"{self.source}: at byte {at}: {message}")

    def expect(self, literal: bytes, what: str | None = None) -> None:
        end = self.pos + len(literal)
        if self.data[self.pos : end] != literal:
            # report the first byte that differs
            pos = self.pos
            while pos < end and pos < len(self.data) and self.data[pos] == literal[pos - self.pos]:
                pos += 1
            wanted = what or repr(literal.decode())
            raise self.error(f"expected {wanted}, found {_describe(self.data, pos)}", pos)
        self.pos = end

    def peek(self, literal: bytes) -> bool:
        return self.data.startswith(literal, self.pos)

    def raw_string(self, what: str) -> bytes:
        """A quoted string with escapes resolved."""
        if not self.peek(b'"'):
            raise self.error(
                f"expected {what} (a '\"' string), found {_describe(self.data, self.pos)}"
            )
        data = self.data
        pos = self.pos + 1
        parts: list[bytes] = []
        while True:
            match = _SPECIAL.search(data, pos)
            if match is None:
                raise self.error(
                    f"expected the closing '\"' of {what}, found end of input "
                    "(the derivation is truncated)",
                    len(data),
                )
            special = match.start()
            parts.append(data[pos:special])
            if data[special] == ord('"'):
                self.pos = special + 1
                return b"".join(parts)
            if special + 1 >= len(data):
                raise self.error(
                    f"expected an escaped character in {what}, found end of input "
                    "(the derivation is truncated)",
                    len(data),
                )
            escaped = _UNESCAPE.get(data[special + 1])
            if escaped is None:
                shown = data[special : special + 2].decode("utf-8", "backslashreplace")
                raise self.error(
                    f"invalid escape sequence {shown} in {what}: expected one of "
                    '\\\\ \\" \\n \\r \\t',
                    special,
                )
            parts.append(escaped)
            pos = special + 2

    def text(self, what: str) -> tuple[str, int]:
        """A quoted UTF-8 string and the offset where it starts."""
        start = self.pos
        raw = self.raw_string(what)
        try:
            return raw.decode("utf-8"), start
        except UnicodeDecodeError as exc:
            raise self.error(
                f"{what} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start} "
                f"of the string {raw[:60]!r}); only env values may hold arbitrary bytes",
                start,
            ) from exc

    def store_path(self, what: str) -> tuple[StorePath, int]:
        text, start = self.text(what)
        try:
            return StorePath.from_absolute_path(text), start
        except StorePathError as exc:
            raise self.error(f"{what}: {exc}", start) from exc

    def sequence(self, item: Callable[[], _T], what: str, allow_empty: bool = True) -> list[_T]:
        """``[item,item,…]``."""
        self.expect(b"[", f"'[' starting {what}")
        items: list[_T] = []
        if self.peek(b"]"):
            if not allow_empty:
                raise self.error(f"expected at least one entry in {what}, found ']'")
            self.pos += 1
            return items
        while True:
            items.append(item())
            if self.peek(b"]"):
                self.pos += 1
                return items
            self.expect(b",", f"',' or ']' in {what}")

    # The derivation's parts ---------------------------------------------------------------
    def output(self) -> tuple[str, Output, int]:
        self.expect(b"(", "'(' starting an output")
        name, start = self.text("the output name")
        self.expect(b",", "',' after the output name")
        path_text, path_start = self.text(f"the path of output {name!r}")
        path = None
        if path_text:
            try:
                path = StorePath.from_absolute_path(path_text)
            except StorePathError as exc:
                raise self.error(f"the path of output {name!r}: {exc}", path_start) from exc
        self.expect(b",", f"',' after the path of output {name!r}")
        algo, algo_start = self.text(f"the hash algorithm of output {name!r}")
        self.expect(b",", f"',' after the hash algorithm of output {name!r}")
        digest, _ = self.text(f"the hash of output {name!r}")
        ca = None
        if algo or digest:
            try:
                ca = CAHash.from_aterm(algo, digest)
            except CAHashError as exc:
                raise self.error(f"output {name!r}: {exc}", algo_start) from exc
        self.expect(b")", f"')' closing output {name!r}")
        return name, Output(path, ca), start

    def input_derivation(self) -> tuple[StorePath, list[str], int]:
        self.expect(b"(", "'(' starting an input derivation")
        path, start = self.store_path("the input derivation path")
        self.expect(b",", "',' after the input derivation path")
        shown = path.to_absolute()
        names_at: list[tuple[str, int]] = self.sequence(
            lambda: self.text(f"an output name of input derivation {shown!r}"),
            f"the output names of input derivation {shown!r}",
        )
        seen: set[str] = set()
        for out_name, at in names_at:
            if out_name in seen:
                raise self.error(
                    f"duplicate output name {out_name!r} for input derivation {shown!r}", at
                )
            seen.add(out_name)
        self.expect(b")", f"')' closing input derivation {shown!r}")
        return path, [n for n, _ in names_at], start

    def env_entry(self) -> tuple[str, bytes, int]:
        self.expect(b"(", "'(' starting an env entry")
        key, start = self.text("an env key")
        self.expect(b",", f"',' after env key {key!r}")
        value = self.raw_string(f"the value of env key {key!r}")
        self.expect(b")", f"')' closing env entry {key!r}")
        return key, value, start

    def derivation(self) -> Derivation:
        self.expect(PREFIX, "'Derive' at the start of the derivation")
        self.expect(b"(", "'(' after 'Derive'")

        outputs: dict[str, Output] = {}
        for name, out, at in self.sequence(self.output, "the outputs", allow_empty=False):
            if name in outputs:
                raise self.error(
                    f"duplicate output name {name!r} (each output may appear only once)", at
                )
            outputs[name] = out
        self.expect(b",", "',' after the outputs")

        input_drvs: dict[StorePath, tuple[str, ...]] = {}
        for path, names, at in self.sequence(self.input_derivation, "the input derivations"):
            if path in input_drvs:
                raise self.error(f"duplicate input derivation {path.to_absolute()!r}", at)
            input_drvs[path] = tuple(names)
        self.expect(b",", "',' after the input derivations")

        input_srcs: dict[StorePath, None] = {}
        for path, at in self.sequence(
            lambda: self.store_path("an input source"), "the input sources"
        ):
            if path in input_srcs:
                raise self.error(f"duplicate input source {path.to_absolute()!r}", at)
            input_srcs[path] = None
        self.expect(b",", "',' after the input sources")

        system, _ = self.text("the system")
        self.expect(b",", "',' after the system")
        builder, _ = self.text("the builder")
        self.expect(b",", "',' after the builder")
        args = [a for a, _ in self.sequence(lambda: self.text("an argument"), "the arguments")]
        self.expect(b",", "',' after the arguments")

        env: dict[str, bytes] = {}
        for key, value, at in self.sequence(self.env_entry, "the env"):
            if key in env:
                raise self.error(f"duplicate env key {key!r} (each key may appear only once)", at)
            env[key] = value
        self.expect(b")", "')' closing the derivation")

        if self.pos != len(self.data):
            extra = len(self.data) - self.pos
            raise self.error(
                f"expected end of input after the closing ')', found {extra} more "
                f"byte{'s' if extra != 1 else ''} starting with {_describe(self.data, self.pos)}"
            )
        return Derivation(
            outputs=outputs,
            input_derivations=input_drvs,
            input_sources=tuple(input_srcs),
            system=system,
            builder=builder,
            arguments=tuple(args),
            environment=env,
        )


def parse_derivation(data: bytes, source: str = "derivation", validate: bool = True) -> Derivation:
    """Parse a ``.drv`` file's bytes, then (by default) check :meth:`Derivation.validate`.

    ``source`` (a file name, usually) starts every error message.
    """
    drv = _Parser(bytes(data), source).derivation()
    if validate:
        problems = list(drv.problems(check_output_paths=True))
        if problems:
            raise DerivationError(f"{source}: invalid derivation: {problems[0]}")
    return drv
