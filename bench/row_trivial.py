"""Row 1: a trivial build end to end with a warm engine against bare ``runc run``.

The engine's build (validate, spec, bundle, runc, ingest the output, remove the bundle) against
``runc run`` of the same config.json written once by hand. Also shown (a note): the same build
with one input, i.e. with a FUSE mount.
"""

from __future__ import annotations

from bench.containers import BareRunc, hand_made_bundle
from bench.context import Context
from bench.data import scratch_dir
from bench.measure import interleaved, load1
from bench.report import Goal, Result
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import Node
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.request.model import BuildRequest, EnvVar

OUT = "nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-trivial"
INPUT = "v137y81wxx44zx8nln1b4xhj75bs7dbn-input"
GOAL = Goal("max", 1.3, "≤ 1.3×")


def trivial_request(inputs: dict[str, Node] | None = None) -> BuildRequest:
    return BuildRequest(
        command_args=("/bin/sh", "-c", "echo hi > $out"),
        outputs=(OUT,),
        environment_vars=(EnvVar("out", f"/{OUT}".encode()),),
        inputs=inputs or {},
    )


def run(ctx: Context) -> Result:
    runs = ctx.runs(20, 5)
    load_before = load1()
    with scratch_dir("trivial") as tmp, BareRunc.private(tmp) as bare:
        store = Store.open(tmp / "store")
        service = OCIBuildService.from_store(tmp / "bundles", store)
        plain = trivial_request()
        src = tmp / "input.txt"
        src.write_text("an input\n")
        with_input = trivial_request({INPUT: ingest_path(src, store)})
        bundle = hand_made_bundle(plain, tmp / "bare-bundle", service.sandbox_shell)

        samples = interleaved(
            {
                "bare": lambda: bare.run(bundle),
                "engine": lambda: service.build(plain),
                "engine+input": lambda: service.build(with_input),
            },
            runs,
            warmup=2,
        )
    ms = {name: s.median * 1000 for name, s in samples.items()}
    for name, s in samples.items():
        ctx.log(f"{name} ms {s.show(1000, 1)}")
    return Result(
        key="trivial",
        what="trivial build, end to end, warm engine",
        figure=f"{ms['engine']:.1f} ms",
        baseline=f"bare `runc run` of the same config.json: {ms['bare']:.1f} ms",
        ratio=ms["engine"] / ms["bare"],
        goal=GOAL,
        compared=ms["engine"] / ms["bare"],
        notes=[
            f"medians of {runs} interleaved runs; the same build with one input (a FUSE mount): "
            f"{ms['engine+input']:.1f} ms ({ms['engine+input'] / ms['bare']:.2f}×)"
        ],
        load=(load_before, load1()),
    )
