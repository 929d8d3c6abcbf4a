"""Row 4: sequential read of a large input inside a build against the page cache on the host.

A 1 GiB blob (in the host page cache, having just been written) is an input of a build that
runs busybox ``dd bs=1M`` over it, timed inside the container: every byte goes through the
castore FUSE mount (a fresh mount per build, so never from FUSE's own page cache). The baseline
is the same busybox ``dd`` of the blob's file on the host, timed the same way.
"""

from __future__ import annotations

import os
import subprocess

from bench.containers import parse_timer, timed_script
from bench.context import Context
from bench.data import big_file, scratch_dir, warm_page_cache
from bench.measure import MIB, interleaved, load1, rate
from bench.report import Goal, Result
from pytest_snixbuild.castore.nodes import FileNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.request.model import BuildRequest, EnvVar

GOAL = Goal("min", 0.15, "≥ 0.15× (≥ 2 GB/s)")
INPUT = "0c8dkg1hsbwdfq4f0z5a3bm3vr1jfz2c-big"
OUT = "nix/store/y4n7cw4dmi5ijwxg3clnb9jcqiwc4gz1-read"
DD = "dd if={path} of=/dev/null bs=1048576 2>/dev/null"


def read_request(node: FileNode) -> BuildRequest:
    script = timed_script(DD.format(path=f"/nix/store/{INPUT}")) + "; : > $out"
    return BuildRequest(
        command_args=("/bin/sh", "-c", script),
        outputs=(OUT,),
        environment_vars=(EnvVar("out", f"/{OUT}".encode()),),
        inputs={INPUT: node},
    )


def run(ctx: Context) -> Result:
    size = ctx.sizes.big
    runs = ctx.runs(5, 3)
    load_before = load1()
    with scratch_dir("read") as tmp:
        store = Store.open(tmp / "store")
        src = tmp / "big.bin"
        big_file(src, size)
        digest, length = store.blobs.put_file(src)
        src.unlink()
        backing = store.blobs.backing_path(digest)
        assert backing is not None
        warm_page_cache(backing)
        service = OCIBuildService.from_store(tmp / "bundles", store)
        pinned = OCIBuildService.from_store(
            tmp / "bundles", store, cpus={max(os.sched_getaffinity(0))}
        )
        request = read_request(FileNode(digest, length))
        host_script = timed_script(DD.format(path=backing))

        def host() -> float:
            done = subprocess.run(
                [service.sandbox_shell, "sh", "-c", host_script], capture_output=True, check=True
            )
            return parse_timer(done.stdout)

        samples = interleaved(
            {
                "host": host,
                "build": lambda: parse_timer(service.build(request).stdout),
                "one CPU": lambda: parse_timer(pinned.build(request).stdout),
            },
            runs,
            warmup=1,
        )
    gbs = {name: rate(size, s.median) for name, s in samples.items()}
    for name, s in samples.items():
        ctx.log(f"{name} GB/s [{', '.join(f'{rate(size, v):.2f}' for v in s.values)}]")
    ratio = gbs["build"] / gbs["host"]
    return Result(
        key="read",
        what=f"sequential read of a {size // MIB} MiB input inside a build",
        figure=f"{gbs['build']:.2f} GB/s",
        baseline=f"busybox `dd` of the blob on the host (page cache): {gbs['host']:.2f} GB/s",
        ratio=ratio,
        goal=GOAL,
        compared=ratio,
        notes=[
            f"medians of {runs} interleaved runs, timed inside the container and on the host "
            "with `adjtimex` (µs); a fresh FUSE mount per build",
            f"absolute goal ≥ 2 GB/s: {'met' if gbs['build'] >= 2 else 'not met'}",
            f"the same build on one CPU (`OCIBuildService(cpus=...)`): {gbs['one CPU']:.2f} GB/s",
        ],
        load=(load_before, load1()),
    )
