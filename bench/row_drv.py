"""Row 2: a trivial derivation built by the harness from its .drv against Nix's own rebuild.

The .drv (busybox from the store as builder, ``echo hi > $out``) is instantiated once and built
once by Nix, so that ``nix-store --realise --check`` can rebuild it in Nix's sandbox. Ours is
:func:`~pytest_snixbuild.nix.build.build_derivation` with a warm engine and castore: parse the
.drv, find and ingest the input closure from /nix/store, build in runc, ingest the output and
compute its NAR hash and references.
"""

from __future__ import annotations

from bench.containers import BareRunc, hand_made_bundle
from bench.context import Context
from bench.data import scratch_dir
from bench.measure import interleaved, load1
from bench.nixpeer import NixPeer
from bench.report import Goal, Result
from bench.row_trivial import trivial_request
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.nix.build import build_derivation

GOAL = Goal("max", 1.0, "≤ 1.0×")
NAME = "snixbuild-bench-trivial"


def run(ctx: Context) -> Result:
    runs = ctx.runs(10, 3)
    load_before = load1()
    with scratch_dir("drv") as tmp, NixPeer.private(tmp) as nix, BareRunc.private(tmp) as bare:
        drv = nix.trivial_drv(NAME)
        out = nix.run("nix-store", "--realise", "--no-gc-warning", str(drv)).strip()
        try:
            store = Store.open(tmp / "store")
            service = OCIBuildService.from_store(tmp / "bundles", store)
            ours = build_derivation(drv, "/nix/store", service, store)
            assert ours.outputs[0].path.to_absolute() == out, (ours.outputs, out)
            bundle = hand_made_bundle(trivial_request(), tmp / "bare", service.sandbox_shell)
            samples = interleaved(
                {
                    "nix": lambda: nix.run("nix-store", "--realise", "--check", str(drv)),
                    "ours": lambda: build_derivation(drv, "/nix/store", service, store),
                    "bare runc": lambda: bare.run(bundle),
                },
                runs,
                warmup=1,
            )
        finally:
            nix.delete(out, str(drv))
    ms = {name: s.median * 1000 for name, s in samples.items()}
    for name, s in samples.items():
        ctx.log(f"{name} ms {s.show(1000, 1)}")
    ratio = ms["ours"] / ms["nix"]
    return Result(
        key="drv",
        what="trivial derivation build from its .drv (harness)",
        figure=f"{ms['ours']:.1f} ms",
        baseline=f"`nix-store --realise --check` in Nix's sandbox: {ms['nix']:.1f} ms",
        ratio=ratio,
        goal=GOAL,
        compared=ratio,
        notes=[
            f"medians of {runs} interleaved runs; a bare `runc run` of a trivial hand-made "
            f"bundle (row 1's) took {ms['bare runc']:.1f} ms: runc alone costs "
            f"{ms['bare runc'] / ms['nix']:.2f}× Nix's whole sandboxed rebuild"
        ],
        load=(load_before, load1()),
    )
