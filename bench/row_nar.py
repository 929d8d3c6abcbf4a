"""Row 9: the NAR hash (SHA-256) of a 1 GiB tree against ``nix-hash --type sha256``.

The tree holds 16 large files (1/16 of the size each, one of them executable), 1,000 small files
in 10 directories and a symlink, all in the page cache. Ours is
:func:`~pytest_snixbuild.castore.nar.nar_hash_path` in this process; the baseline is Nix's
``nix-hash --type sha256`` of the same path. Both hashes must agree.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.context import Context
from bench.data import big_file, scratch_dir, small_tree, warm_page_cache
from bench.measure import MIB, interleaved, load1, rate
from bench.nixpeer import NixPeer
from bench.report import Goal, Result
from pytest_snixbuild.castore.nar import nar_hash_path

GOAL = Goal("max", 1.0, "≤ 1.0×")
LARGE_FILES = 16


def make_tree(root: Path, size: int) -> None:
    root.mkdir()
    for i in range(LARGE_FILES):
        path = root / f"large-{i:02d}"
        big_file(path, size // LARGE_FILES, block=size // LARGE_FILES)
        warm_page_cache(path)
    os.chmod(root / "large-00", 0o755)
    small_tree(root / "small", 1000, dirs=10)
    os.symlink("large-01", root / "link")


def run(ctx: Context) -> Result:
    size = ctx.sizes.big
    runs = ctx.runs(3, 3)
    load_before = load1()
    with scratch_dir("nar") as tmp, NixPeer.private(tmp) as nix:
        tree = tmp / "tree"
        make_tree(tree, size)
        theirs = nix.run("nix-hash", "--type", "sha256", str(tree)).strip()
        started = time.perf_counter()
        digest, nar_size = nar_hash_path(tree)
        first = time.perf_counter() - started
        agree = digest.hex() == theirs
        samples = interleaved(
            {
                "nix-hash": lambda: nix.run("nix-hash", "--type", "sha256", str(tree)),
                "ours": lambda: nar_hash_path(tree),
            },
            runs,
            warmup=0,
        )
    s = {name: v.median for name, v in samples.items()}
    for name, v in samples.items():
        ctx.log(f"{name} s {v.show()} (first: {first:.3f})")
    ratio = s["ours"] / s["nix-hash"]
    return Result(
        key="nar",
        what=f"NAR hash (SHA-256) of a {size // MIB} MiB tree",
        figure=f"{s['ours']:.3f} s ({rate(nar_size, s['ours']):.2f} GB/s)",
        baseline=f"`nix-hash --type sha256`: {s['nix-hash']:.3f} s",
        ratio=ratio,
        goal=GOAL,
        compared=ratio,
        notes=[
            f"medians of {runs} interleaved runs; NAR of {nar_size / MIB:.0f} MiB; the hashes "
            f"{'agree' if agree else 'DIFFER'}"
        ],
        load=(load_before, load1()),
    )
