"""Engine benchmarks (issue 5 targets), run as ``python bench/bench_engine.py [--quick]``.

1. A trivial build end to end with a warm :class:`OCIBuildService` against a bare ``runc run``
   of an equivalent hand-made bundle (the same config.json, written once): medians over N runs,
   interleaved so that drift on a noisy machine hits both alike. Target: engine ≤ 1.5 × bare.
   Also shown: the same build with one input, i.e. with a FUSE mount.
2. Ingesting and scanning a 1 GiB output into an on-disk castore (what step 6–7 of a build do):
   GB/s and peak RSS growth. Targets: ≥ 1 GB/s, < 64 MiB. Ingest alone and scan alone are
   shown for comparison.

Needs root, runc, FUSE and a static busybox (as the real-runc tests do).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.refscan import ReferencePattern, ReferenceScanner
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.runtime import Runc, new_container_id
from pytest_snixbuild.engine.service import OCIBuildService, ingest_and_scan
from pytest_snixbuild.oci.bundle import make_bundle
from pytest_snixbuild.oci.spec import make_spec
from pytest_snixbuild.request.model import BuildRequest, EnvVar

OUT = "nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-trivial"
NEEDLES = tuple(f"{i:02d}bhg1c6wywawwaaivx0k0x8xhbyx4v" for i in range(16))
MIB = 1 << 20


def trivial_request(inputs: bool, store: Store, tmp: Path) -> BuildRequest:
    nodes = {}
    if inputs:
        src = tmp / "input.txt"
        src.write_text("an input\n")
        nodes["v137y81wxx44zx8nln1b4xhj75bs7dbn-input"] = ingest_path(src, store)
    return BuildRequest(
        command_args=("/bin/sh", "-c", "echo hi > $out"),
        outputs=(OUT,),
        environment_vars=(EnvVar("out", f"/{OUT}".encode()),),
        inputs=nodes,
    )


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench_trivial(runs: int, tmp: Path) -> dict[str, float]:
    store = Store.open(tmp / "store")
    service = OCIBuildService.from_store(tmp / "bundles", store)
    plain = trivial_request(False, store, tmp)
    with_input = trivial_request(True, store, tmp)

    # the hand-made bundle: the same spec the engine writes, run again and again by bare runc
    spec = make_spec(plain, rootless=True, sandbox_shell=service.sandbox_shell)
    bundle = make_bundle(plain, spec, tmp / "bare-bundle").path
    bare_root = tmp / "bare-state"
    runc = shutil.which("runc") or "runc"

    def bare() -> None:
        done = subprocess.run(
            [runc, "--root", str(bare_root), "run", "--bundle", str(bundle), new_container_id()],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    timings: dict[str, list[float]] = {"bare runc run": [], "engine": [], "engine + 1 input": []}
    actions: dict[str, Callable[[], object]] = {
        "bare runc run": bare,
        "engine": lambda: service.build(plain),
        "engine + 1 input": lambda: service.build(with_input),
    }
    for action in actions.values():  # warm up
        for _ in range(2):
            action()
    for _ in range(runs):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            timings[name].append(time.perf_counter() - started)
    Runc(bare_root).delete_all()
    return {name: median_ms(samples) for name, samples in timings.items()}


def make_big_file(path: Path, size: int) -> None:
    """``size`` bytes of pseudo-random data with a few needles planted, written in 1 MiB steps."""
    block = bytearray(os.urandom(MIB))
    with open(path, "wb") as f:
        for i in range(size // MIB):
            if i % 97 == 0:
                needle = NEEDLES[i % 3].encode()
                block[-10 : -10 + len(needle)] = needle[:10]  # a partial needle: no match
                block[100 : 100 + len(needle)] = needle
            f.write(block)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; returns that RSS in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") * 1024


def peak_rss() -> int:
    """The peak RSS (VmHWM) since the last reset, in bytes."""
    return _status_kib("VmHWM") * 1024


def measure_child(mode: str, path: Path, store_dir: Path) -> None:
    """Run one measurement in this (fresh) process; print seconds and peak RSS growth."""
    pattern = ReferencePattern(NEEDLES)
    rss_before = reset_peak_rss()
    started = time.perf_counter()
    if mode == "scan":
        ReferenceScanner(pattern).scan_file(path)
    elif mode == "ingest":
        ingest_path(path, Store.open(store_dir))
    else:
        ingest_and_scan(path, Store.open(store_dir), pattern)
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "rss_growth": peak_rss() - rss_before}))


def bench_ingest(size: int, tmp: Path) -> dict[str, float]:
    big = tmp / "output.bin"
    make_big_file(big, size)
    with open(big, "rb") as f:  # into the page cache, like a just-built output
        while f.read(16 * MIB):
            pass
    results: dict[str, float] = {}
    for mode, name in (
        ("scan", "scan only"),
        ("ingest", "castore ingest_path (copies)"),
        ("both", "engine ingest + scan"),
    ):
        store_dir = tmp / f"store-{mode}"
        done = subprocess.run(
            [sys.executable, __file__, "--child", mode, str(big), str(store_dir)],
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(done.stdout)
        results[f"{name} GB/s"] = size / data["seconds"] / 1e9
        results[f"{name} peak RSS growth MiB"] = data["rss_growth"] / MIB
        shutil.rmtree(store_dir, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 runs and 256 MiB")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--size-mib", type=int, default=None)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "PATH", "STORE"), help="internal")
    args = parser.parse_args(argv)
    if args.child:
        mode, path, store_dir = args.child
        measure_child(mode, Path(path), Path(store_dir))
        return 0
    runs = args.runs or (5 if args.quick else 20)
    size = (args.size_mib or (256 if args.quick else 1024)) * MIB
    if os.geteuid() != 0:
        print("bench_engine: needs root (runc, FUSE)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="snixbuild-bench-", dir="/var/tmp") as tmp:
        trivial = bench_trivial(runs, Path(tmp))
    print(f"trivial build, median of {runs} runs (ms):")
    for name, value in trivial.items():
        print(f"  {name:<20} {value:8.1f}")
    ratio = trivial["engine"] / trivial["bare runc run"]
    print(f"  engine / bare = {ratio:.2f} (target <= 1.5)")
    with tempfile.TemporaryDirectory(prefix="snixbuild-bench-", dir="/var/tmp") as tmp:
        ingest = bench_ingest(size, Path(tmp))
    print(f"output of {size // MIB} MiB, 16 needles:")
    for name, value in ingest.items():
        print(f"  {name:<48} {value:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
