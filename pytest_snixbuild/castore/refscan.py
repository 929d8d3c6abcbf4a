"""Reference scanning with snix's semantics (``castore/src/refscan.rs``).

A :class:`ReferencePattern` is built once from the needles (in Nix: the 32-character nixbase32
hash parts of the build's outputs and inputs) and shared; each output gets its own
:class:`ReferenceScanner`, which remembers which needles it has seen. ``matches()`` gives the sorted
needle indices, as snix's ``output_needles``.

Semantics (see docs/fuse-and-refscan.md for where Nix differs):

* Matches are **non-overlapping**, as snix's Wu–Manber searcher reports them: the search takes the
  leftmost occurrence, preferring the shortest needle (then the lowest index) when several start at
  the same byte, and resumes after its end. An occurrence that overlaps an earlier reported one is
  not seen there. We get exactly this from Aho–Corasick in *leftmost-first* mode with the needles
  ordered by (length, index).
* **Short haystacks are not scanned**: a haystack (a symlink target, or a whole file) shorter than
  the *longest* needle finds nothing, even a shorter needle it contains.
* Streams are scanned in windows that carry over at most ``longest - 1`` bytes, so occurrences that
  span chunk boundaries are found. The result never depends on how the stream was cut: a window
  only accepts matches whose start is at least ``longest`` bytes before its end (no longer match
  can still begin before them), and the next window resumes exactly where a single pass over the
  whole haystack would. :meth:`ReferenceScanner.scan_file` uses two threads on large files and
  reconciles the seam the same way, so every entry point gives what one ``scan`` of all the bytes
  gives.

The engine is ahocorasick_rs' ``BytesAhoCorasick`` with ``Implementation.DFA``: it releases the GIL
while it searches, so two threads scan at about twice the speed of one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import ahocorasick_rs

from pytest_snixbuild.errors import SnixError

#: Bytes searched per call into the automaton (bounds the size of one match list).
WINDOW = 4 << 20
#: Files at least this large are scanned by two threads.
PARALLEL_MIN = 32 << 20
#: Read size of :meth:`ReferenceScanner.scan_stream`.
STREAM_CHUNK = 1 << 20

Buffer = bytes | bytearray | memoryview
#: ``on_match(needle_index, start, end)`` with absolute offsets.
_OnMatch = Callable[[int, int, int], None]
#: ``read(offset, length) -> memoryview`` of exactly ``length`` bytes.
_Read = Callable[[int, int], memoryview]


class ReferenceScanError(SnixError):
    """A needle list or a scanned file is unusable (empty needle, file changed while scanned)."""


class ReferencePattern:
    """The needles, compiled once into an automaton and shared by any number of scanners.

    ``needles`` are byte strings, or text (encoded as UTF-8). An empty list is valid and matches
    nothing; an empty needle is an error (snix's searcher panics on needles shorter than 2 bytes,
    we accept any non-empty needle).
    """

    __slots__ = ("_automaton", "_needle_of", "longest", "needles")

    def __init__(self, needles: Sequence[str | bytes]) -> None:
        encoded: list[bytes] = []
        for index, needle in enumerate(needles):
            if isinstance(needle, str):
                needle = needle.encode()
            elif not isinstance(needle, bytes):
                raise ReferenceScanError(
                    f"needle {index} is a {type(needle).__name__}: expected bytes or str"
                )
            if not needle:
                raise ReferenceScanError(f"needle {index} is empty: expected at least one byte")
            encoded.append(needle)
        self.needles: tuple[bytes, ...] = tuple(encoded)
        self.longest: int = max((len(n) for n in encoded), default=0)
        # Shortest first, then by index: leftmost-first then reproduces Wu–Manber's choice.
        order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
        self._needle_of: tuple[int, ...] = tuple(order)
        self._automaton: ahocorasick_rs.BytesAhoCorasick | None = None
        if encoded:
            self._automaton = ahocorasick_rs.BytesAhoCorasick(
                [encoded[i] for i in order],
                matchkind=ahocorasick_rs.MatchKind.LeftmostFirst,
                implementation=ahocorasick_rs.Implementation.DFA,
            )

    def __len__(self) -> int:
        return len(self.needles)

    def __repr__(self) -> str:
        return f"ReferencePattern({len(self.needles)} needles, longest {self.longest})"

    def scan_window(self, window: Buffer, final: bool) -> tuple[int, list[tuple[int, int, int]]]:
        """Search one window; return ``(resume, accepted)``.

        ``accepted`` are ``(needle, start, end)`` relative to the window. Unless ``final``, only
        matches starting at least ``longest`` bytes before the end are accepted (a longer needle
        could still begin before the others), and ``resume`` is the offset from which a fresh
        search continues exactly as one pass over the whole haystack would.
        """
        size = len(window)
        if self._automaton is None or size == 0:
            return size, []
        hits = self._automaton.find_matches_as_indexes(window)
        needle_of = self._needle_of
        if final:
            return size, [(needle_of[p], s, e) for p, s, e in hits]
        limit = size - self.longest
        accepted: list[tuple[int, int, int]] = []
        resume = 0
        for p, s, e in hits:
            if s > limit:
                break
            accepted.append((needle_of[p], s, e))
            resume = e
        return max(resume, limit + 1), accepted

    def run(self, read: _Read, start: int, end: int, final: bool, on_match: _OnMatch) -> int:
        """Scan ``[start, end)`` window by window; return where a continuation must resume."""
        window = max(WINDOW, 4 * self.longest)
        pos = start
        while True:
            size = min(window, end - pos)
            last = pos + size == end
            resume, accepted = self.scan_window(read(pos, size), final and last)
            for needle, s, e in accepted:
                on_match(needle, pos + s, pos + e)
            pos += resume
            if last:
                return pos


class ReferenceScanner:
    """The needles seen in one output: feed it file contents and symlink targets.

    Not thread-safe: give each output (and each thread) its own scanner. :meth:`scan_file` uses a
    helper thread internally, which is fine.
    """

    __slots__ = ("_carry", "_found", "_streamed", "pattern")

    def __init__(self, pattern: ReferencePattern) -> None:
        self.pattern = pattern
        self._found: set[int] = set()
        self._carry = b""
        self._streamed = 0

    def _mark(self, needle: int, start: int, end: int) -> None:
        self._found.add(needle)

    def matches(self) -> tuple[int, ...]:
        """Indices of the needles seen so far, sorted."""
        return tuple(sorted(self._found))

    # Whole haystacks --------------------------------------------------------------------------
    def scan(self, data: Buffer) -> None:
        """Scan one whole haystack; one shorter than the longest needle is not scanned at all."""
        view = memoryview(data).cast("B")
        if not self.pattern.needles or len(view) < self.pattern.longest:
            return
        self.pattern.run(lambda p, n: view[p : p + n], 0, len(view), True, self._mark)

    def scan_symlink_target(self, target: bytes) -> None:
        """Scan a symlink target (the whole target is one haystack, as in snix)."""
        self.scan(target)

    # Streams ----------------------------------------------------------------------------------
    def feed(self, chunk: Buffer) -> None:
        """Scan the next chunk of the current stream (one file's contents).

        Chunks may be any size, including 1 byte; the chunk's memory is not kept. Call
        :meth:`finish` at the end of each file: matches never span two files.
        """
        pattern = self.pattern
        if not pattern.needles:
            return
        view = memoryview(chunk).cast("B")
        self._streamed += len(view)
        longest = pattern.longest
        offset = 0
        if self._carry:
            # Resolve the seam on a small copy: the carry plus up to 2·longest new bytes.
            take = min(len(view), 2 * longest)
            head = self._carry + bytes(view[:take])
            head_view = memoryview(head)
            resume = pattern.run(lambda p, n: head_view[p : p + n], 0, len(head), False, self._mark)
            if take == len(view):
                self._carry = head[resume:]
                return
            offset = resume - len(self._carry)  # ≥ 0: head has ≥ longest bytes past the carry
            self._carry = b""
        rest = view[offset:]
        resume = pattern.run(lambda p, n: rest[p : p + n], 0, len(rest), False, self._mark)
        self._carry = bytes(rest[resume:])

    def finish(self) -> None:
        """End the current stream: scan what is left, apply the short-haystack rule, reset."""
        carry, streamed = self._carry, self._streamed
        self._carry, self._streamed = b"", 0
        if carry and streamed >= self.pattern.longest:
            view = memoryview(carry)
            self.pattern.run(lambda p, n: view[p : p + n], 0, len(view), True, self._mark)

    def scan_stream(self, stream: BinaryIO, chunk_size: int = STREAM_CHUNK) -> None:
        """Scan a whole binary stream (read in ``chunk_size`` pieces), as one haystack."""
        buf = bytearray(chunk_size)
        view = memoryview(buf)
        try:
            while True:
                n = stream.readinto(view)  # type: ignore[attr-defined]
                if not n:
                    break
                self.feed(view[:n])
        finally:
            self.finish()

    # Files ------------------------------------------------------------------------------------
    def scan_file(self, path: Path, *, threads: int = 2) -> None:
        """Scan a regular file's contents with bounded memory (two windows of 4 MiB at most).

        Files of at least 32 MiB are split between two threads (``threads=1`` turns that off).
        """
        pattern = self.pattern
        if not pattern.needles:
            return
        with open(path, "rb", buffering=0) as f:
            fd = f.fileno()
            size = os.fstat(fd).st_size
            if size < pattern.longest:
                return
            if threads < 2 or size < PARALLEL_MIN:
                pattern.run(_file_reader(fd, path), 0, size, True, self._mark)
            else:
                self._scan_file_halves(fd, path, size)

    def _scan_file_halves(self, fd: int, path: Path, size: int) -> None:
        pattern = self.pattern
        longest = pattern.longest
        mid = size // 2
        seam_end = mid + max(16 * longest, 4096)
        early: list[tuple[int, int, int]] = []  # second half's matches near the seam
        late: set[int] = set()
        failure: list[BaseException] = []
        cancel = threading.Event()

        def second_half() -> None:
            def keep(needle: int, s: int, e: int) -> None:
                if s < seam_end:
                    early.append((needle, s, e))
                else:
                    late.add(needle)

            try:
                pattern.run(_file_reader(fd, path, cancel), mid, size, True, keep)
            except BaseException as exc:  # re-raised in the calling thread
                failure.append(exc)

        worker = threading.Thread(target=second_half, name="refscan-second-half", daemon=True)
        worker.start()
        try:
            read = _file_reader(fd, path)
            pos = pattern.run(read, 0, mid, False, self._mark)
        except BaseException:
            cancel.set()  # e.g. KeyboardInterrupt: stop the helper at its next window
            raise
        finally:
            worker.join()
        if failure:
            raise failure[0]
        # Continue the first half's pass until it falls into a gap of the second half's matches;
        # from there on both passes agree.
        step = max(4 * longest, 64)
        while True:
            if pos >= mid and not any(s < pos < e for _, s, e in early):
                for needle, s, _ in early:
                    if s >= pos:
                        self._found.add(needle)
                self._found |= late
                return
            if pos >= seam_end:  # pathological chains of overlapping matches: do it serially
                pattern.run(read, pos, size, True, self._mark)
                return
            size_now = min(step, size - pos)
            last = pos + size_now == size
            resume, accepted = pattern.scan_window(read(pos, size_now), last)
            for needle, _, _ in accepted:
                self._found.add(needle)
            pos += resume
            if last:
                return


class _Cancelled(Exception):
    """The scan of the other half failed; this half stops early."""


def _file_reader(fd: int, path: Path, cancel: threading.Event | None = None) -> _Read:
    """A ``read(offset, length)`` over ``fd`` that reuses one buffer (no per-window allocation)."""
    buf = bytearray(max(WINDOW, 1))
    view = memoryview(buf)

    def read(offset: int, length: int) -> memoryview:
        nonlocal buf, view
        if cancel is not None and cancel.is_set():
            raise _Cancelled
        if length > len(buf):
            buf = bytearray(length)
            view = memoryview(buf)
        got = 0
        while got < length:
            n = os.preadv(fd, [view[got:length]], offset + got)
            if n == 0:
                raise ReferenceScanError(
                    f"{path} shrank while it was scanned: expected {length} bytes at offset "
                    f"{offset}, the file ends after {offset + got}"
                )
            got += n
        return view[:length]

    return read


def scan_needles(pattern: ReferencePattern, data: Buffer) -> tuple[int, ...]:
    """Convenience: the sorted needle indices found in one haystack."""
    scanner = ReferenceScanner(pattern)
    scanner.scan(data)
    return scanner.matches()
