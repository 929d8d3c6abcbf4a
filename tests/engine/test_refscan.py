"""Reference scanning: snix's vector, its short-haystack rule, streaming and file scanning."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_snixbuild.castore import refscan
from pytest_snixbuild.castore.refscan import (
    ReferencePattern,
    ReferenceScanError,
    ReferenceScanner,
    scan_needles,
)
from pytest_snixbuild.errors import SnixError

DATA = Path(__file__).parent.parent / "data" / "engine"
HELLO_NEEDLES = [
    "33l4p0pn0mybmqzaxfkpppyh7vx1c74p",
    "pf80kikyxr63wrw56k00i1kw6ba76qik",
    "cp65c8nk29qq5cl1wyy5qyw103cwmax7",
    "fn7zvafq26f0c8b17brs7s95s10ibfzs",
]


def reference_scan(needles: Sequence[bytes], hay: bytes) -> tuple[int, ...]:
    """Wu–Manber's non-overlapping semantics, written the slow and obvious way."""
    if not needles or len(hay) < max(map(len, needles)):
        return ()
    found: set[int] = set()
    pos = 0
    while pos < len(hay):
        for start in range(pos, len(hay)):
            hits = [(len(n), i) for i, n in enumerate(needles) if hay.startswith(n, start)]
            if hits:
                length, index = min(hits)
                found.add(index)
                pos = start + length
                break
        else:
            break
    return tuple(sorted(found))


def feed_in_chunks(pattern: ReferencePattern, data: bytes, sizes: Sequence[int]) -> tuple[int, ...]:
    scanner = ReferenceScanner(pattern)
    pos = 0
    i = 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        scanner.feed(data[pos : pos + size])
        pos += size
        i += 1
    scanner.finish()
    return scanner.matches()


# The snix vector -------------------------------------------------------------------------------
def test_hello_drv_vector() -> None:
    text = (DATA / "hello-refscan.drv").read_bytes()
    pattern = ReferencePattern(HELLO_NEEDLES)
    assert scan_needles(pattern, text) == (0, 1, 2)


def test_hello_drv_vector_streamed_and_from_file(tmp_path: Path) -> None:
    text = (DATA / "hello-refscan.drv").read_bytes()
    pattern = ReferencePattern([n.encode() for n in HELLO_NEEDLES])
    for size in (1, 7, 31, 32, 33, 8096):
        assert feed_in_chunks(pattern, text, [size]) == (0, 1, 2), size
    scanner = ReferenceScanner(pattern)
    scanner.scan_stream(io.BytesIO(text), chunk_size=5)
    assert scanner.matches() == (0, 1, 2)
    path = tmp_path / "hello.drv"
    path.write_bytes(text)
    scanner = ReferenceScanner(pattern)
    scanner.scan_file(path)
    assert scanner.matches() == (0, 1, 2)


# Chunk boundaries --------------------------------------------------------------------------------
def test_needle_spanning_every_boundary_offset() -> None:
    needle = HELLO_NEEDLES[1]
    pattern = ReferencePattern(HELLO_NEEDLES)
    filler = b"\x00/nix/store/" * 4
    for lead in range(0, 40):
        data = filler[:lead] + needle.encode() + filler
        for size in (1, 2, 3, 5, 16, 31, 32, 33, 64):
            assert feed_in_chunks(pattern, data, [size]) == (1,), (lead, size)


def test_chunked_equals_whole_for_every_split() -> None:
    needles = [b"abcab", b"bca", b"cabc", b"ab"]
    data = b"xxabcabcabcaxbcab" * 3
    pattern = ReferencePattern(needles)
    whole = scan_needles(pattern, data)
    assert whole == reference_scan(needles, data)
    for cut in range(len(data) + 1):
        assert feed_in_chunks(pattern, data, [cut or 1, len(data)]) == whole, cut
    for size in range(1, 12):
        assert feed_in_chunks(pattern, data, [size]) == whole, size


@settings(max_examples=80, deadline=None)
@given(
    needles=st.lists(
        st.binary(min_size=1, max_size=6).map(lambda b: bytes(x % 3 + 97 for x in b)),
        min_size=1,
        max_size=5,
    ),
    data=st.binary(max_size=120).map(lambda b: bytes(x % 4 + 97 for x in b)),
    sizes=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=4),
)
def test_matches_the_reference_semantics(
    needles: list[bytes], data: bytes, sizes: list[int]
) -> None:
    """Overlapping needles, tiny alphabet: every entry point equals one whole-haystack pass."""
    pattern = ReferencePattern(needles)
    expected = reference_scan(needles, data)
    assert scan_needles(pattern, data) == expected
    assert feed_in_chunks(pattern, data, sizes) == expected


@settings(max_examples=40, deadline=None)
@given(
    needles=st.lists(
        st.binary(min_size=1, max_size=5).map(lambda b: bytes(x % 3 + 97 for x in b)),
        min_size=1,
        max_size=4,
    ),
    data=st.binary(min_size=0, max_size=400).map(lambda b: bytes(x % 3 + 97 for x in b)),
    window=st.integers(min_value=1, max_value=40),
)
def test_windows_and_two_threads_equal_one_pass(
    needles: list[bytes], data: bytes, window: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tiny windows and a tiny parallel threshold exercise the seams of scan() and scan_file()."""
    pattern = ReferencePattern(needles)
    expected = reference_scan(needles, data)
    path = tmp_path_factory.mktemp("scan") / "f"
    path.write_bytes(data)
    saved = refscan.WINDOW, refscan.PARALLEL_MIN
    refscan.WINDOW, refscan.PARALLEL_MIN = window, 0
    try:
        assert scan_needles(pattern, data) == expected
        for threads in (1, 2):
            scanner = ReferenceScanner(pattern)
            scanner.scan_file(path, threads=threads)
            assert scanner.matches() == expected, threads
    finally:
        refscan.WINDOW, refscan.PARALLEL_MIN = saved


def test_non_overlapping_consequence() -> None:
    """An occurrence overlapping an earlier reported one is not seen (snix; Nix would see it)."""
    pattern = ReferencePattern([b"abcd", b"cdef"])
    assert scan_needles(pattern, b"abcdef") == (0,)
    assert scan_needles(pattern, b"abcd cdef") == (0, 1)
    # At the same start the shortest needle wins, then the lowest index (duplicates).
    assert scan_needles(ReferencePattern([b"abcdef", b"abc"]), b"abcdef") == (1,)
    assert scan_needles(ReferencePattern([b"abc", b"abc"]), b"xabcx") == (0,)


# The short-haystack rule -----------------------------------------------------------------------
def test_short_haystack_is_not_scanned() -> None:
    pattern = ReferencePattern([b"foo", b"a-much-longer-needle"])
    assert scan_needles(pattern, b"foo") == ()
    assert scan_needles(pattern, b"foo" + b"-" * 16) == ()  # 19 < 20 bytes
    assert scan_needles(pattern, b"foo" + b"-" * 17) == (0,)
    assert feed_in_chunks(pattern, b"foo" + b"-" * 16, [1]) == ()
    assert feed_in_chunks(pattern, b"foo" + b"-" * 17, [1]) == (0,)
    assert scan_needles(ReferencePattern([b"foo"]), b"foo") == (0,)


def test_short_file_is_not_scanned(tmp_path: Path) -> None:
    pattern = ReferencePattern([b"foo", b"a-much-longer-needle"])
    path = tmp_path / "short"
    path.write_bytes(b"foo")
    scanner = ReferenceScanner(pattern)
    scanner.scan_file(path)
    scanner.scan_stream(io.BytesIO(b"foo"))
    assert scanner.matches() == ()


# Symlink targets, empty pattern, independence ----------------------------------------------------
def test_symlink_targets() -> None:
    pattern = ReferencePattern(HELLO_NEEDLES)
    scanner = ReferenceScanner(pattern)
    scanner.scan_symlink_target(b"/nix/store/" + HELLO_NEEDLES[3].encode() + b"-x/bin/sh")
    scanner.scan_symlink_target(HELLO_NEEDLES[0][:31].encode())  # too short: not scanned
    scanner.scan_symlink_target(b"../" + HELLO_NEEDLES[2].encode())
    assert scanner.matches() == (2, 3)


def test_empty_pattern_matches_nothing(tmp_path: Path) -> None:
    pattern = ReferencePattern([])
    assert pattern.longest == 0
    scanner = ReferenceScanner(pattern)
    scanner.scan(b"anything")
    scanner.feed(b"anything")
    scanner.finish()
    scanner.scan_symlink_target(b"x")
    path = tmp_path / "f"
    path.write_bytes(b"anything")
    scanner.scan_file(path)
    assert scanner.matches() == ()


def test_invalid_needles_are_errors_for_people() -> None:
    with pytest.raises(ReferenceScanError, match="needle 1 is empty") as info:
        ReferencePattern([b"ok", b""])
    assert isinstance(info.value, SnixError)
    with pytest.raises(ReferenceScanError, match="needle 0 is a int"):
        ReferencePattern([5])  # type: ignore[list-item]


def test_scanners_are_independent() -> None:
    pattern = ReferencePattern(HELLO_NEEDLES)
    first, second = ReferenceScanner(pattern), ReferenceScanner(pattern)
    first.feed(b"/nix/store/" + HELLO_NEEDLES[0].encode()[:10])
    second.feed(HELLO_NEEDLES[0].encode()[10:])  # the other half goes to another scanner
    first.finish()
    second.finish()
    assert first.matches() == ()
    assert second.matches() == ()
    first.scan(HELLO_NEEDLES[1].encode())
    assert (first.matches(), second.matches()) == ((1,), ())


def test_streams_do_not_join_across_finish() -> None:
    """Two files of one output: a needle split across them is not a match."""
    pattern = ReferencePattern([b"abcdef"])
    scanner = ReferenceScanner(pattern)
    scanner.feed(b"xxxabc")
    scanner.finish()
    scanner.feed(b"defxxx")
    scanner.finish()
    assert scanner.matches() == ()


def test_large_file_with_two_threads(tmp_path: Path) -> None:
    """A 40 MiB file (above the two-thread threshold) with needles at the seam and the ends."""
    rng = random.Random(5)
    needles = [
        bytes(rng.choice(b"0123456789abcdfghijklmnpqrsvwxyz") for _ in range(32)) for _ in range(50)
    ]
    size = 40 << 20
    data = bytearray(os.urandom(size))
    mid = size // 2
    plants = [(0, 3), (mid - 31, 8), (mid - 16, 7), (mid + 17, 9), (size - 32, 11), (12345678, 20)]
    for offset, index in plants:
        data[offset : offset + 32] = needles[index]
    path = tmp_path / "big"
    path.write_bytes(data)
    pattern = ReferencePattern(needles)
    expected = (3, 7, 9, 11, 20)  # plant 7 overwrote the end of plant 8
    scanner = ReferenceScanner(pattern)
    scanner.scan_file(path)
    assert scanner.matches() == expected
    single = ReferenceScanner(pattern)
    single.scan_file(path, threads=1)
    assert single.matches() == expected
    streamed = ReferenceScanner(pattern)
    with path.open("rb") as f:
        streamed.scan_stream(f, chunk_size=(1 << 20) + 7)
    assert streamed.matches() == expected
