"""Row 8: reference scanning of 256 MiB for 200 needles against ripgrep.

The haystack is random bytes with 1,000 ``/nix/store/<needle>-foo`` planted, in a file in the
page cache. Ours is :meth:`ReferenceScanner.scan_file` (two threads on large files); the
baseline is ``rg -F -a -c -f needles`` (all its threads), both timed from the outside of the
scan (ours in this process). The needles found are checked against ``rg -o``'s.
``python -m bench.refscan_variants`` compares more entry points and an adversarial haystack.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from pathlib import Path

from bench.context import Context
from bench.data import haystack, needles, scratch_dir
from bench.measure import MIB, interleaved, load1
from bench.report import Goal, Result
from pytest_snixbuild.castore.refscan import ReferencePattern, ReferenceScanner

GOAL = Goal("min", 1.0, "≥ 1.0×")


def rg_needles(rg: str, needle_file: Path, path: Path, needle_list: list[str]) -> tuple[int, ...]:
    """The indices of the needles ``rg -o`` finds."""
    listed = subprocess.run(
        [rg, "-F", "-a", "-o", "-N", "-f", str(needle_file), str(path)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return tuple(sorted({needle_list.index(n) for n in listed if n in needle_list}))


def run(ctx: Context) -> Result:
    size = ctx.sizes.haystack
    runs = ctx.runs(5, 3)
    load_before = load1()
    rng = random.Random(42)
    needle_list = needles(rng, 200)
    rg = shutil.which("rg") or "rg"
    with scratch_dir("refscan") as tmp:
        path = tmp / "haystack"
        path.write_bytes(haystack(size, needle_list, rng, plants=1000))
        needle_file = tmp / "needles"
        needle_file.write_text("\n".join(needle_list) + "\n")
        started = time.perf_counter()
        pattern = ReferencePattern(needle_list)
        built_ms = (time.perf_counter() - started) * 1000
        scanner = ReferenceScanner(pattern)
        scanner.scan_file(path)
        agree = scanner.matches() == rg_needles(rg, needle_file, path, needle_list)
        samples = interleaved(
            {
                "rg": lambda: subprocess.run(
                    [rg, "-F", "-a", "-c", "-f", str(needle_file), str(path)],
                    capture_output=True,
                    check=False,
                ),
                "ours": lambda: ReferenceScanner(pattern).scan_file(path),
            },
            runs,
            warmup=1,
        )
    mbs = {name: size / s.median / 1e6 for name, s in samples.items()}
    for name, s in samples.items():
        ctx.log(f"{name} MB/s [{', '.join(f'{size / v / 1e6:.0f}' for v in s.values)}]")
    ratio = mbs["ours"] / mbs["rg"]
    return Result(
        key="refscan",
        what=f"reference scan of {size // MIB} MiB for 200 needles",
        figure=f"{mbs['ours']:.0f} MB/s",
        baseline=f"`rg -F -a -c -f needles`: {mbs['rg']:.0f} MB/s",
        ratio=ratio,
        goal=GOAL,
        compared=ratio,
        notes=[
            f"medians of {runs} interleaved runs; the automaton is built once ({built_ms:.1f} ms);"
            f" needles found {'equal' if agree else 'DIFFER FROM'} ripgrep's "
            f"({len(scanner.matches())} of 200)"
        ],
        load=(load_before, load1()),
    )
