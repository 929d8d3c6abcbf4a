"""Row 10: peak RSS growth while ingesting a 1 GiB build output (no baseline: ≤ +64 MiB).

The same runs as row 6 (:mod:`bench.row_ingest`): a fresh process, ``VmHWM`` reset just before
the ingestion, its growth over the RSS before. The largest of the runs is reported.
"""

from __future__ import annotations

from bench.context import Context
from bench.data import scratch_dir
from bench.measure import MIB, load1
from bench.report import Goal, Result
from bench.row_ingest import output_file, run_child

GOAL = Goal("max", 64.0, "≤ +64 MiB")


def run(ctx: Context) -> Result:
    size = ctx.sizes.big
    runs = ctx.runs(3, 2)
    load_before = load1()
    with scratch_dir("rss") as tmp:
        path = output_file(tmp, size)
        growth = [run_child("ingest", path, tmp / "store", [])["rss_growth"] for _ in range(runs)]
        copy = run_child("copy", path, tmp / "store", [])["rss_growth"]
    peak = max(growth) / MIB
    ctx.log(f"growth MiB {[round(g / MIB, 1) for g in growth]}")
    return Result(
        key="rss",
        what=f"peak RSS growth while ingesting a {size // MIB} MiB output",
        figure=f"+{peak:.1f} MiB",
        baseline="—",
        ratio=None,
        goal=GOAL,
        compared=peak,
        notes=[
            f"the largest of {runs} runs (VmHWM in a fresh process); copying the same file "
            f"into the store (`ingest_path`, as for inputs): +{copy / MIB:.1f} MiB"
        ],
        load=(load_before, load1()),
    )
