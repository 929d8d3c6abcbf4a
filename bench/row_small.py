"""Row 5: ``find`` and ``cat`` of 10k small input files inside a build against a bind mount.

The tree (10,000 files of ~60 bytes in 100 directories) is an input of a build that runs busybox
``find`` over it, then ``find -type f | xargs cat``; both are timed inside the container. The
baseline runs the same script in a hand-made bundle (the engine's config.json) in which the same
host tree is bind-mounted at the same path, the way the engine mounts inputs, with no FUSE.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from bench.containers import BareRunc, hand_made_bundle, parse_steps, timed_steps
from bench.context import Context
from bench.data import scratch_dir, small_tree
from bench.measure import Samples, interleaved, load1
from bench.report import Goal, Result
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import Node
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.request.model import BuildRequest, EnvVar

GOAL = Goal("max", 2.0, "≤ 2×")
INPUT = "8f5sxj2d1m8q9kgv8k0p3wmbl4d2hn8c-small"
OUT = "nix/store/5r9dhpi3kf4b1yqzjpd6w1gk0ys2f8mm-small-read"
TREE = f"/nix/store/{INPUT}"
STEPS = (f"find {TREE} > /dev/null", f"find {TREE} -type f | xargs cat > /dev/null")


def small_request(inputs: dict[str, Node]) -> BuildRequest:
    return BuildRequest(
        command_args=("/bin/sh", "-c", timed_steps(*STEPS) + "; : > $out"),
        outputs=(OUT,),
        environment_vars=(EnvVar("out", f"/{OUT}".encode()),),
        inputs=inputs,
    )


def run(ctx: Context) -> Result:
    count = ctx.sizes.files
    runs = ctx.runs(5, 3)
    load_before = load1()
    steps: dict[str, tuple[Samples, Samples]] = {
        name: (Samples(), Samples()) for name in ("bind", "fuse", "fuse, one CPU")
    }

    def recorded(name: str, stdout: Callable[[], bytes]) -> Callable[[], float]:
        def action() -> float:
            find, cat = parse_steps(stdout(), 2)
            steps[name][0].values.append(find)
            steps[name][1].values.append(cat)
            return find + cat

        return action

    with scratch_dir("small") as tmp, BareRunc.private(tmp) as bare:
        tree = tmp / "tree"
        small_tree(tree, count)
        store = Store.open(tmp / "store")
        request = small_request({INPUT: ingest_path(tree, store)})
        service = OCIBuildService.from_store(tmp / "bundles", store)
        pinned = OCIBuildService.from_store(
            tmp / "bundles", store, cpus={max(os.sched_getaffinity(0))}
        )
        bundle = hand_made_bundle(
            small_request({}), tmp / "bind-bundle", service.sandbox_shell, {TREE: tree}
        )
        samples = interleaved(
            {
                "bind": recorded("bind", lambda: bare.run(bundle)),
                "fuse": recorded("fuse", lambda: service.build(request).stdout),
                "fuse, one CPU": recorded("fuse, one CPU", lambda: pinned.build(request).stdout),
            },
            runs,
            warmup=1,
        )
    total = {name: s.median for name, s in samples.items()}
    for name, (find, cat) in steps.items():
        ctx.log(f"{name} find {find.show()} cat {cat.show()}")
    ratio = total["fuse"] / total["bind"]
    detail = {
        name: f"find {find.median:.3f} s + cat {cat.median:.3f} s"
        for name, (find, cat) in steps.items()
    }
    return Result(
        key="small",
        what=f"`find` + `cat` of {count:,} small input files inside a build",
        figure=f"{total['fuse']:.3f} s",
        baseline=f"the same files over a plain bind mount (runc): {total['bind']:.3f} s",
        ratio=ratio,
        goal=GOAL,
        compared=ratio,
        notes=[
            f"medians of {runs} interleaved runs, timed inside the container; FUSE: "
            f"{detail['fuse']}; bind mount: {detail['bind']}",
            f"the same build with `OCIBuildService(cpus={{one CPU}})` (runc, the build and the "
            f"FUSE server on one CPU): {total['fuse, one CPU']:.3f} s "
            f"({total['fuse, one CPU'] / total['bind']:.2f}×; {detail['fuse, one CPU']})",
        ],
        load=(load_before, load1()),
    )
