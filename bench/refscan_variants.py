"""Reference scanning in more detail: ``python -m bench.refscan_variants [--quick] [--runs N]``.

Two haystacks of 256 MiB (64 MiB with ``--quick``), each with 1,000 ``/nix/store/<needle>-foo``
planted among 200 needles: ``binary`` (random bytes, the common case) and ``base32`` (random
nix-base32 text in 80-column lines: adversarial, every byte can start a needle). For each, MB/s
(medians) of :meth:`ReferenceScanner.scan` on bytes in memory, ``scan_stream`` in 1 MiB chunks,
``scan_file`` with one and two threads, and ``rg -F -a -c -f needles``; the needles found are
checked against ``rg -o``'s. (Row 8 of ``python -m bench`` is the binary ``file/2`` column.)
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.data import haystack, needles, scratch_dir
from bench.measure import MIB, Samples, run_once
from bench.row_refscan import rg_needles
from pytest_snixbuild.castore.refscan import ReferencePattern, ReferenceScanner


def mbs(size: int, fn: Callable[[], object], runs: int) -> float:
    samples = Samples([run_once(fn) for _ in range(runs)])
    return size / samples.median / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, 3 runs")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args(argv)
    size = 64 * MIB if args.quick else 256 * MIB
    runs = args.runs or (3 if args.quick else 5)
    rng = random.Random(42)
    needle_list = needles(rng, 200)
    pattern = ReferencePattern(needle_list)
    rg = shutil.which("rg") or "rg"
    heads = ("scan", "stream", "file/1", "file/2", "rg -c")
    print(f"{size // MIB} MiB haystacks, 200 needles, medians of {runs} runs, MB/s")
    print(f"{'haystack':8} " + " ".join(f"{h:>7}" for h in heads) + "  found")
    with scratch_dir("refscan-variants") as tmp:
        needle_file = tmp / "needles"
        needle_file.write_text("\n".join(needle_list) + "\n")
        for kind in ("binary", "base32"):
            data = haystack(size, needle_list, rng, plants=1000, text=kind == "base32")
            path = tmp / kind
            path.write_bytes(data)
            scanner = ReferenceScanner(pattern)
            scanner.scan_file(path)

            def file_scan(threads: int, path: Path = path) -> None:
                ReferenceScanner(pattern).scan_file(path, threads=threads)

            def in_memory(data: bytes = data) -> None:
                ReferenceScanner(pattern).scan(data)

            def stream(data: bytes = data) -> None:
                ReferenceScanner(pattern).scan_stream(io.BytesIO(data), chunk_size=MIB)

            def ripgrep(path: Path = path) -> None:
                subprocess.run(
                    [rg, "-F", "-a", "-c", "-f", str(needle_file), str(path)],
                    capture_output=True,
                    check=False,
                )

            variants: list[Callable[[], object]] = [
                in_memory,
                stream,
                lambda: file_scan(1),
                lambda: file_scan(2),
                ripgrep,
            ]
            cells = " ".join(f"{mbs(size, fn, runs):7.0f}" for fn in variants)
            agree = scanner.matches() == rg_needles(rg, needle_file, path, needle_list)
            found = f"{len(scanner.matches())} needles {'= rg' if agree else '!= rg'}"
            print(f"{kind:8} {cells}  {found}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
