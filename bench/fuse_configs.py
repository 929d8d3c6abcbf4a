"""FUSE backends and options compared: ``python -m bench.fuse_configs [--quick] [--configs …]``.

For each configuration of :func:`~pytest_snixbuild.engine.mount.mount_castore`, on a fresh mount
each time (the blob files themselves are in the host page cache, so this measures FUSE):

* ``cold``: ``dd bs=1M`` of a 1 GiB input file on the host, the first read through the mount;
* ``warm``: the same again on the same mount (``kernel_cache``: served by the page cache);
* ``runc``: busybox ``dd`` of the file inside a runc container, through a bind mount of the
  FUSE mount (timed inside);
* ``find``/``cat``: ``find`` and ``find | xargs cat`` over 10,000 small files (host, seconds).

Medians over the runs. Rows 4 and 5 of ``python -m bench`` measure the default configuration
through the engine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.containers import BareRunc, hand_made_bundle, parse_timer, timed_script
from bench.data import big_file, remove_tree, scratch_dir, small_tree
from bench.measure import MIB, Samples, rate, run_once
from bench.row_read import DD
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import FileNode, Node
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.mount import mount_castore
from pytest_snixbuild.engine.service import find_sandbox_shell
from pytest_snixbuild.request.model import BuildRequest

#: name -> mount_castore keyword arguments
CONFIGS: dict[str, dict[str, Any]] = {
    "mfusepy3-readbuf-ra1M": {"backend": "mfusepy", "zero_copy": True, "read_ahead_kb": 1024},
    "mfusepy3-readbuf": {"backend": "mfusepy", "zero_copy": True, "read_ahead_kb": None},
    "mfusepy3-pread-ra1M": {"backend": "mfusepy", "zero_copy": False, "read_ahead_kb": 1024},
    "mfusepy3-pread": {"backend": "mfusepy", "zero_copy": False, "read_ahead_kb": None},
    "fusepy2-pread": {"backend": "fusepy", "zero_copy": False, "read_ahead_kb": None},
}


def make_inputs(tmp: Path, size: int, small: int) -> tuple[Store, dict[str, Node]]:
    store = Store.open(tmp / "store")
    big = tmp / "big.bin"
    big_file(big, size)
    digest, length = store.blobs.put_file(big)
    big.unlink()
    small_tree(tmp / "small", small)
    return store, {"big": FileNode(digest, length), "small": ingest_path(tmp / "small", store)}


def host(argv: list[str] | str) -> float:
    """Seconds a host command takes (a string runs in the shell)."""
    return run_once(
        lambda: subprocess.run(argv, shell=isinstance(argv, str), check=True, capture_output=True)
    )


def bench_config(
    kwargs: dict[str, Any],
    store: Store,
    inputs: dict[str, Node],
    tmp: Path,
    runs: int,
    size: int,
    bare: BareRunc,
) -> dict[str, float]:
    results = {name: Samples() for name in ("cold", "warm", "runc", "find", "cat")}
    mnt = tmp / "mnt"
    request = BuildRequest(
        command_args=("/bin/sh", "-c", timed_script(DD.format(path="/inputs/big")))
    )
    for _ in range(runs):
        with mount_castore(inputs, store, mnt, **kwargs) as m:
            dd = ["dd", f"if={m / 'big'}", "of=/dev/null", "bs=1M"]
            results["cold"].values.append(rate(size, host(dd)))
            results["warm"].values.append(rate(size, host(dd)))
        with mount_castore(inputs, store, mnt, **kwargs) as m:
            bundle = hand_made_bundle(request, tmp / "bundle", find_sandbox_shell(), {"/inputs": m})
            results["runc"].values.append(rate(size, parse_timer(bare.run(bundle))))
            remove_tree(bundle)
        with mount_castore(inputs, store, mnt, **kwargs) as m:
            results["find"].values.append(host(["find", str(m / "small")]))
        with mount_castore(inputs, store, mnt, **kwargs) as m:
            cat = f"find {m}/small -type f -print0 | xargs -0 cat > /dev/null"
            results["cat"].values.append(host(cat))
    return {name: s.median for name, s in results.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB, 2 runs")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args(argv)
    size = 256 * MIB if args.quick else 1024 * MIB
    runs = args.runs or (2 if args.quick else 5)
    with scratch_dir("fuse-configs") as tmp, BareRunc.private(tmp) as bare:
        store, inputs = make_inputs(tmp, size, 10_000)
        print(f"{size // MIB} MiB file, 10,000 small files; medians of {runs} runs", flush=True)
        heads = ("cold GB/s", "warm GB/s", "runc GB/s", "find s", "cat10k s")
        print(f"{'config':24} " + " ".join(f"{h:>9}" for h in heads))
        for name in args.configs.split(","):
            r = bench_config(CONFIGS[name], store, inputs, tmp, runs, size, bare)
            cells = [r["cold"], r["warm"], r["runc"], r["find"], r["cat"]]
            print(f"{name:24} " + " ".join(f"{c:9.3f}" for c in cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
