"""Measurements that need a fresh process: ``python -m bench.child MODE PATH STORE [NEEDLES…]``.

Prints one JSON object: the seconds the work took and the growth of the peak RSS (``VmHWM``,
reset through ``/proc/self/clear_refs`` just before the work) over the RSS before it. Modes:

* ``ingest``: the engine's ingestion of a build output (:func:`ingest_and_scan`, no needles):
  hashed and hard-linked into the on-disk store;
* ``ingest-scan``: the same, scanning for the needles given;
* ``copy``: :func:`ingest_path`, which copies into the store.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.service import ingest_and_scan

MODES = ("ingest", "ingest-scan", "copy")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(mode: str, path: Path, store_dir: Path, needles: list[str]) -> dict[str, float]:
    store = Store.open(store_dir)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    rss_before = _status_kib("VmRSS") * 1024
    started = time.perf_counter()
    if mode == "copy":
        ingest_path(path, store)
    else:
        ingest_and_scan(path, store, tuple(needles) if mode == "ingest-scan" else ())
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rss_growth": _status_kib("VmHWM") * 1024 - rss_before}


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in MODES:
        print(f"usage: python -m bench.child {{{','.join(MODES)}}} PATH STORE [NEEDLE…]")
        return 2
    print(json.dumps(measure(argv[0], Path(argv[1]), Path(argv[2]), argv[3:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
