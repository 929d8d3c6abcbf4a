"""FUSE benchmark: the castore mount (issue 5 target: a 1 GiB sequential read ≥ 1.5 GB/s).

Run as ``.venv/bin/python bench/bench_fuse.py [--quick] [--configs NAME,...]`` (root, FUSE; runc
and /bin/busybox for the in-container read). For each configuration, on a fresh mount each run:

* ``cold``: ``dd bs=1M`` of a 1 GiB input file, the first read through this mount (the blob file
  itself is in the host page cache, so this measures FUSE, not the disk);
* ``warm``: the same file again on the same mount (kernel_cache: served by the page cache);
* ``runc``: busybox ``dd`` of the same file inside a runc container, through a ``rbind,ro,nosuid,
  nodev`` bind mount of the FUSE mount, on a fresh mount (its own rate as busybox reports it);
* ``find``/``cat``: ``find`` and ``find | xargs cat`` over 10,000 small files in 100 directories
  (fresh mount; times in seconds).

Medians over the runs; this is a benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import FileNode, Node
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.mount import Backend, mount_castore

MIB = 1 << 20
BUSYBOX = "/bin/busybox"

#: name -> mount_castore keyword arguments
CONFIGS: dict[str, dict[str, object]] = {
    "mfusepy3-readbuf-ra1M": {"backend": "mfusepy", "zero_copy": True, "read_ahead_kb": 1024},
    "mfusepy3-readbuf": {"backend": "mfusepy", "zero_copy": True, "read_ahead_kb": None},
    "mfusepy3-pread-ra1M": {"backend": "mfusepy", "zero_copy": False, "read_ahead_kb": 1024},
    "mfusepy3-pread": {"backend": "mfusepy", "zero_copy": False, "read_ahead_kb": None},
    "fusepy2-pread": {"backend": "fusepy", "zero_copy": False, "read_ahead_kb": None},
}


def make_inputs(tmp: Path, size: int, small: int) -> tuple[Store, dict[str, Node]]:
    store = Store.open(tmp / "store")
    big = tmp / "big.bin"
    block = os.urandom(64 * MIB)
    with big.open("wb") as f:
        for _ in range(size // len(block)):
            f.write(block[:-1] + bytes([f.tell() // len(block) % 256]))  # distinct blocks
    digest, length = store.blobs.put_file(big)
    big.unlink()
    tree = tmp / "small"
    for d in range(100):
        (tree / f"d{d:03d}").mkdir(parents=True)
        for i in range(small // 100):
            (tree / f"d{d:03d}" / f"f{i:03d}").write_text(f"small file {d}/{i}\n" * 3)
    small_node = ingest_path(tree, store)
    shutil.rmtree(tree)
    return store, {"big": FileNode(digest, length), "small": small_node}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def dd(path: Path) -> None:
    subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=1M"], check=True, capture_output=True)


def write_bundle(bundle: Path, mnt: Path, args: list[str]) -> None:
    (bundle / "root").mkdir(parents=True, exist_ok=True)
    spec = {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin"],
            "cwd": "/",
        },
        "root": {"path": "root", "readonly": True},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "mode=755"],
            },
            {
                "destination": "/bin/sh",
                "type": "none",
                "source": BUSYBOX,
                "options": ["rbind", "ro"],
            },
            {
                "destination": "/inputs",
                "type": "none",
                "source": str(mnt),
                "options": ["rbind", "ro", "nosuid", "nodev"],
            },
        ],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")]},
    }
    (bundle / "config.json").write_text(json.dumps(spec))


def runc_dd(tmp: Path, mnt: Path, size: int) -> float:
    """busybox dd inside runc, timed inside with /proc/uptime (10 ms resolution); GB/s."""
    bundle = tmp / "bundle"
    script = (
        "read s x < /proc/uptime; dd if=/inputs/big of=/dev/null bs=1048576 2>/dev/null; "
        'read e x < /proc/uptime; echo "T $s $e"'
    )
    write_bundle(bundle, mnt, ["/bin/sh", "-c", script])
    cid = f"bench-fuse-{os.getpid()}"
    done = subprocess.run(
        ["runc", "--root", str(tmp / "runc-state"), "run", "--bundle", str(bundle), cid],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    subprocess.run(
        ["runc", "--root", str(tmp / "runc-state"), "delete", "--force", cid],
        capture_output=True,
        check=False,
    )
    match = re.search(r"T ([0-9.]+) ([0-9.]+)", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"runc dd failed: {done.stderr.strip()}")
    return size / max(float(match.group(2)) - float(match.group(1)), 0.01) / 1e9


def bench_config(
    name: str,
    kwargs: dict[str, object],
    store: Store,
    inputs: dict[str, Node],
    tmp: Path,
    runs: int,
    size: int,
) -> dict[str, float]:
    results: dict[str, list[float]] = {"cold": [], "warm": [], "runc": [], "find": [], "cat": []}
    mnt = tmp / "mnt"
    backend: Backend = kwargs["backend"]  # type: ignore[assignment]
    extra = {k: v for k, v in kwargs.items() if k != "backend"}
    for _ in range(runs):
        with mount_castore(inputs, store, mnt, backend=backend, **extra) as m:  # type: ignore[arg-type]
            results["cold"].append(size / timed(lambda: dd(m / "big")) / 1e9)
            results["warm"].append(size / timed(lambda: dd(m / "big")) / 1e9)
        if shutil.which("runc") and Path(BUSYBOX).exists():
            with mount_castore(inputs, store, mnt, backend=backend, **extra) as m:  # type: ignore[arg-type]
                results["runc"].append(runc_dd(tmp, m, size))
        with mount_castore(inputs, store, mnt, backend=backend, **extra) as m:  # type: ignore[arg-type]
            results["find"].append(
                timed(
                    lambda: subprocess.run(
                        ["find", str(m / "small")], check=True, capture_output=True
                    )
                )
            )
        with mount_castore(inputs, store, mnt, backend=backend, **extra) as m:  # type: ignore[arg-type]
            results["cat"].append(
                timed(
                    lambda: subprocess.run(
                        f"find {m}/small -type f -print0 | xargs -0 cat > /dev/null",
                        shell=True,
                        check=True,
                    )
                )
            )
    if os.environ.get("BENCH_VERBOSE"):
        print(name, {k: [round(x, 3) for x in v] for k, v in results.items()})
    return {k: statistics.median(v) for k, v in results.items() if v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB, 2 runs")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args(argv)
    size = 256 * MIB if args.quick else 1024 * MIB
    runs = 2 if args.quick else args.runs
    with tempfile.TemporaryDirectory(prefix="bench-fuse-") as tmp_name:
        tmp = Path(tmp_name)
        store, inputs = make_inputs(tmp, size, 10_000)
        print(f"{size // MIB} MiB file, 10,000 small files; medians of {runs} runs", flush=True)
        print(
            f"{'config':24} {'cold GB/s':>9} {'warm GB/s':>9} {'runc GB/s':>9} "
            f"{'find s':>7} {'cat10k s':>8}"
        )
        for name in args.configs.split(","):
            r = bench_config(name, CONFIGS[name], store, inputs, tmp, runs, size)
            print(
                f"{name:24} {r['cold']:9.2f} {r['warm']:9.2f} {r.get('runc', float('nan')):9.2f} "
                f"{r['find']:7.3f} {r['cat']:8.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
