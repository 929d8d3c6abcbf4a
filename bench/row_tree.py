"""Row 7: ingesting a tree of 10k small files against ``nix-store --add`` of the same tree.

Both copy the tree into a store: ours is :func:`ingest_path` into a fresh on-disk castore (in
this process, timed around the call); Nix's is ``nix-store --add`` (a fresh process: NAR
serialisation, SHA-256, copying into /nix/store, registering in its database), timed from the
outside. Each run adds a new store path (the tree differs by one tiny file) into a fresh store;
all are deleted at the end. A note gives the engine's ingestion of the same tree
as a build output (hard links instead of copies).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from bench.context import Context
from bench.data import scratch_dir, small_tree
from bench.measure import interleaved, load1
from bench.nixpeer import NixPeer
from bench.report import Goal, Result
from bench.row_ingest import run_child
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.store import Store

GOAL = Goal("max", 1.0, "≤ 1.0×")
RUN_MARKER = "bench-run"


def run(ctx: Context) -> Result:
    count = ctx.sizes.files
    runs = ctx.runs(5, 3)
    load_before = load1()
    with scratch_dir("tree") as tmp, NixPeer.private(tmp) as nix:
        tree = tmp / "tree"
        small_tree(tree, count)
        added: list[str] = []
        stores: list[Path] = []

        def ours() -> float:
            stores.append(tmp / f"store-{len(stores)}")
            store = Store.open(stores[-1])
            started = time.perf_counter()
            ingest_path(tree, store)
            return time.perf_counter() - started

        def nix_add() -> float:
            # a new store path each time (Nix skips copying a path it has): the run's number
            (tree / RUN_MARKER).write_text(f"{len(added)}\n")
            started = time.perf_counter()
            path = nix.run("nix-store", "--add", str(tree)).strip()
            elapsed = time.perf_counter() - started
            added.append(path)
            return elapsed

        # everything is deleted at the end: deleting 10,000 files makes this ext4 (mounted with
        # `discard`) slow to create files for a while, which would hit whichever ran next
        try:
            samples = interleaved({"nix": nix_add, "ours": ours}, runs, warmup=1)
        finally:
            nix.delete(*added)
            for store_dir in stores:
                shutil.rmtree(store_dir, ignore_errors=True)
        output = [run_child("ingest", tree, tmp / "store", [])["seconds"] for _ in range(3)]
    s = {name: v.median for name, v in samples.items()}
    for name, v in samples.items():
        ctx.log(f"{name} s {v.show()}")
    ratio = s["ours"] / s["nix"]
    return Result(
        key="tree",
        what=f"ingesting a tree of {count:,} small files",
        figure=f"{s['ours']:.3f} s",
        baseline=f"`nix-store --add` of the same tree: {s['nix']:.3f} s",
        ratio=ratio,
        goal=GOAL,
        compared=ratio,
        notes=[
            f"medians of {runs} interleaved runs, fresh stores; the engine's ingestion of the "
            f"same tree as a build output (hard links): {sorted(output)[1]:.3f} s"
        ],
        load=(load_before, load1()),
    )
