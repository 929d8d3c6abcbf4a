"""Reference-scanning benchmark: 256 MiB, 200 store-hash needles, against ``rg -F -f needles``.

Run as ``.venv/bin/python bench/bench_refscan.py [--quick] [--runs N]``. Two haystacks, each with
1,000 ``/nix/store/<needle>-foo`` planted:

* ``binary``: random bytes (the common case: binaries, archives);
* ``base32``: random nix-base32 text in 80-column lines (adversarial: every byte can start a
  needle).

For each, MB/s (medians) of ``ReferenceScanner.scan`` on the bytes in memory, ``scan_stream`` in
1 MiB chunks, ``scan_file`` with one and two threads (file in the page cache), and ripgrep
(``rg -F -a -c -f needles``, which also reads the file). The needles found are compared with
``rg -o``'s. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_snixbuild.castore.refscan import ReferencePattern, ReferenceScanner

MIB = 1 << 20
NIXBASE32 = b"0123456789abcdfghijklmnpqrsvwxyz"


def make_needles(rng: random.Random, count: int = 200) -> list[bytes]:
    return [bytes(rng.choice(NIXBASE32) for _ in range(32)) for _ in range(count)]


def make_haystack(kind: str, size: int, needles: list[bytes], rng: random.Random) -> bytes:
    data = bytearray()
    while len(data) < size:
        data += rng.randbytes(min(16 * MIB, size - len(data)))
    if kind == "base32":
        data = bytearray(data.translate(bytes(NIXBASE32[i % 32] for i in range(256))))
        data[79::80] = b"\n" * len(range(79, size, 80))
    for i in range(1000):
        plant = b"/nix/store/" + needles[i % len(needles)] + b"-foo"
        offset = rng.randrange(size - len(plant))
        data[offset : offset + len(plant)] = plant
    return bytes(data)


def rate(size: int, fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return size / statistics.median(times) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB, 3 runs")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    size = 64 * MIB if args.quick else 256 * MIB
    runs = 3 if args.quick else args.runs
    rng = random.Random(42)
    needles = make_needles(rng)
    build_start = time.perf_counter()
    pattern = ReferencePattern(needles)
    built_ms = (time.perf_counter() - build_start) * 1e3
    print(f"pattern of {len(needles)} needles built in {built_ms:.1f} ms")
    rg = shutil.which("rg")
    with tempfile.TemporaryDirectory(prefix="bench-refscan-") as tmp_name:
        tmp = Path(tmp_name)
        needles_file = tmp / "needles"
        needles_file.write_bytes(b"\n".join(needles) + b"\n")
        print(f"{size // MIB} MiB haystacks, medians of {runs} runs, MB/s")
        heads = ("scan", "stream", "file/1", "file/2", "rg -c")
        print(f"{'haystack':8} " + " ".join(f"{h:>7}" for h in heads) + "  found")
        for kind in ("binary", "base32"):
            data = make_haystack(kind, size, needles, rng)
            path = tmp / kind
            path.write_bytes(data)
            scanner = ReferenceScanner(pattern)

            def scan(data: bytes = data) -> None:
                ReferenceScanner(pattern).scan(data)

            def stream(data: bytes = data) -> None:
                ReferenceScanner(pattern).scan_stream(io.BytesIO(data), chunk_size=MIB)

            def file1(path: Path = path) -> None:
                ReferenceScanner(pattern).scan_file(path, threads=1)

            def file2(path: Path = path, scanner: ReferenceScanner = scanner) -> None:
                scanner.scan_file(path, threads=2)

            results = [rate(size, fn, runs) for fn in (scan, stream, file1, file2)]
            rg_rate = float("nan")
            agree = "rg missing"
            if rg is not None:
                cmd = [rg, "-F", "-a", "-c", "-f", str(needles_file), str(path)]

                def ripgrep(cmd: list[str] = cmd) -> None:
                    subprocess.run(cmd, capture_output=True, check=False)

                rg_rate = rate(size, ripgrep, runs)
                listed = subprocess.run(
                    [rg, "-F", "-a", "-o", "-N", "-f", str(needles_file), str(path)],
                    capture_output=True,
                    check=False,
                ).stdout.split()
                by_rg = sorted({needles.index(n) for n in listed if n in needles})
                agree = "= rg" if by_rg == list(scanner.matches()) else f"!= rg ({len(by_rg)})"
            cells = " ".join(f"{r:7.0f}" for r in [*results, rg_rate])
            print(f"{kind:8} {cells}  {len(scanner.matches())} needles {agree}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
