"""Shared pieces of the fuzz tests: seeds, mutation strategies, settings and the hang guard.

Every fuzz test feeds malformed input to one parser and accepts exactly two outcomes: a parsed
value, or the parser's documented error type. Any other exception fails the test (hypothesis then
shrinks the input); so does an example that runs longer than :data:`HANG_SECONDS` (a SIGALRM
interrupts it, so a real infinite loop cannot hang the suite either).
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from pytest_snixbuild.nix.aterm import parse_derivation
from pytest_snixbuild.nix.derivation import Derivation, DerivationError
from pytest_snixbuild.nix.structured_attrs import parse_structured_attrs

DATA = Path(__file__).parents[1] / "data" / "fuzz"
SEEDS = DATA / "seeds"
#: seconds any single example may run before it counts as a hang
HANG_SECONDS = 10.0
#: examples per fuzz test (the suite runs on 2 shared cores); SNIX_FUZZ_EXAMPLES=5000 digs deeper
EXAMPLES = int(os.environ.get("SNIX_FUZZ_EXAMPLES", "100"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=HANG_SECONDS / 2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

T = TypeVar("T")


class HangError(Exception):
    """An example ran past :data:`HANG_SECONDS`: the parser hangs on it."""


@contextlib.contextmanager
def hang_guard(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Raise :class:`HangError` inside the block after ``seconds`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise HangError(f"no result after {seconds} s: the parser hangs on this input")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(parse: Callable[[], T], documented: tuple[type[BaseException], ...]) -> T | None:
    """``parse()``'s result, or None when it raised one of the ``documented`` errors. Anything
    else propagates and fails the test."""
    with hang_guard():
        try:
            return parse()
        except documented as exc:
            assert str(exc), f"{type(exc).__name__} without a message"
            return None


def seeds(suffix: str) -> list[bytes]:
    """The seed files with this suffix (valid inputs that mutations start from)."""
    found = [p.read_bytes() for p in sorted(SEEDS.glob(f"*{suffix}"))]
    assert found, f"no *{suffix} seeds in {SEEDS}"
    return found


def found_inputs(target: str) -> list[Path]:
    """Inputs that fuzzing found to break ``target`` once (replayed as regression tests)."""
    return sorted(p for p in (DATA / target).glob("*") if p.is_file() and p.name != "README.md")


#: integers that make length and count fields interesting
INTERESTING = (
    0,
    1,
    7,
    8,
    9,
    255,
    256,
    4095,
    4096,
    65535,
    (1 << 31) - 1,
    1 << 32,
    (1 << 63),
    (1 << 64) - 1,
)


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes], aligned: bool = False) -> bytes:
    """A valid input with a few byte-level mutations: flips, insertions, deletions,
    duplicated or removed runs, truncation, and (``aligned``) 8-byte little-endian words
    replaced by interesting integers, which is what a NAR's lengths look like."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        ops = ["flip", "insert", "delete", "duplicate", "truncate", "byte"]
        if aligned:
            ops += ["word", "word"]
        op = draw(st.sampled_from(ops))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif op == "duplicate":
            end = pos + draw(st.integers(1, 64))
            data[pos:pos] = data[pos:end]
        elif op == "truncate":
            del data[pos:]
        elif op == "word" and len(data) >= 8:
            at = draw(st.integers(0, len(data) // 8 - 1)) * 8
            value = draw(st.sampled_from(INTERESTING) | st.integers(0, (1 << 64) - 1))
            delta = draw(st.sampled_from((0, 0, 1, -1)))
            data[at : at + 8] = struct.pack("<Q", (value + delta) % (1 << 64))
    return bytes(data)


@st.composite
def mutated_text(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """A valid text with a few character- and line-level mutations."""
    text = draw(base)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["char", "insert", "delete", "line-dup", "line-drop", "swap"]))
        lines = text.split("\n")
        pos = draw(st.integers(0, len(text)))
        if op == "char" and pos < len(text):
            text = text[:pos] + draw(st.characters()) + text[pos + 1 :]
        elif op == "insert":
            snippet = draw(
                st.sampled_from(['"', "'", "[", "]", "{", "}", "=", ",", "\n", "\\", "#", ".", "0"])
                | st.text(max_size=8)
            )
            text = text[:pos] + snippet + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 12)) :]
        elif op in ("line-dup", "line-drop", "swap") and lines:
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "line-dup":
                lines.insert(j, lines[i])
            elif op == "line-drop":
                del lines[i]
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


def read_derivation(data: bytes, source: str = "fuzz.drv") -> Derivation:
    """Parse, then read what is parsed lazily: the name and the structured attrs (JSON)."""
    drv = parse_derivation(data, source)
    for lazy in (lambda: drv.name, lambda: parse_structured_attrs(drv.structured_attrs or b"{}")):
        outcome(lazy, (DerivationError,))
    return drv
