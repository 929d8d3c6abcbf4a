"""Row 6: ingesting a 1 GiB build output against ``b3sum`` of the same file.

The output is a file on the store's file system, in the page cache (just written, like a
build's output). Each run ingests it in a fresh process (:mod:`bench.child`) into a fresh store,
as the engine does after a build: hashed with BLAKE3 and adopted into the store by hard link.
The baseline is ``b3sum`` (mmap, every core) of the same file, timed from the outside.
Row 10 (:mod:`bench.row_rss`) reads the peak RSS of the same kind of run.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

from bench.context import Context
from bench.data import big_file, needles, scratch_dir, warm_page_cache
from bench.measure import MIB, Samples, interleaved, load1, rate
from bench.report import Goal, Result

GOAL = Goal("min", 0.6, "≥ 0.6×")


def run_child(mode: str, path: Path, store_dir: Path, needle_list: list[str]) -> dict[str, float]:
    """One measurement in a fresh process; the store is removed afterwards (which also undoes
    the hard link, so the same output can be adopted again)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.child", mode, str(path), str(store_dir), *needle_list],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench.child {mode} failed: {done.stderr[-2000:]}")
        result: dict[str, float] = json.loads(done.stdout)
        return result
    finally:
        shutil.rmtree(store_dir, ignore_errors=True)


def output_file(tmp: Path, size: int) -> Path:
    path = tmp / "output.bin"
    big_file(path, size)
    warm_page_cache(path)
    return path


def run(ctx: Context) -> Result:
    size = ctx.sizes.big
    runs = ctx.runs(5, 3)
    load_before = load1()
    rss = Samples()
    with scratch_dir("ingest") as tmp:
        path = output_file(tmp, size)
        b3sum = shutil.which("b3sum") or "b3sum"

        def ingest() -> float:
            measured = run_child("ingest", path, tmp / "store", [])
            rss.values.append(measured["rss_growth"])
            return measured["seconds"]

        samples = interleaved(
            {
                "b3sum": lambda: subprocess.run(
                    [b3sum, str(path)], capture_output=True, check=True
                ),
                "ingest": ingest,
            },
            runs,
            warmup=1,
        )
        scan_needles = needles(random.Random(5), 16)
        scanned = run_child("ingest-scan", path, tmp / "store", scan_needles)
    gbs = {name: rate(size, s.median) for name, s in samples.items()}
    for name, s in samples.items():
        ctx.log(f"{name} GB/s [{', '.join(f'{rate(size, v):.2f}' for v in s.values)}]")
    ratio = gbs["ingest"] / gbs["b3sum"]
    return Result(
        key="ingest",
        what=f"ingesting a {size // MIB} MiB build output",
        figure=f"{gbs['ingest']:.2f} GB/s",
        baseline=f"`b3sum` of the same file: {gbs['b3sum']:.2f} GB/s",
        ratio=ratio,
        goal=GOAL,
        compared=ratio,
        notes=[
            f"medians of {runs} interleaved runs, each ingest in a fresh process and store; "
            f"peak RSS growth {rss.median / MIB:.1f} MiB",
            f"ingest + reference scan (16 needles, as after a build): "
            f"{rate(size, scanned['seconds']):.2f} GB/s (one run)",
        ],
        load=(load_before, load1()),
    )
