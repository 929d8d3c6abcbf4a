"""A large file streams through ingest, read-back, export and NAR in bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SIZE = 256 << 20  # 256 MiB
LIMIT = 48 << 20  # allowed peak RSS growth

SCRIPT = textwrap.dedent(
    """
    import json, os, resource, sys
    from pathlib import Path

    from pytest_snixbuild.castore.ingest import export_node, ingest_path
    from pytest_snixbuild.castore.nar import nar_hash, nar_hash_path
    from pytest_snixbuild.castore.store import Store

    tmp = Path(sys.argv[1])
    size = int(sys.argv[2])
    big = tmp / "big"
    with open(big, "wb") as f:  # generated, not sparse: a pattern that changes every MiB
        block = bytes(range(256)) * 4096
        for i in range(size // len(block)):
            f.write(block[i % 256 :] + block[: i % 256])
    store = Store.open(tmp / "store")
    store.blobs.put(b"warm-up")  # imports and first allocations happen before we measure

    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    before = peak()
    node = ingest_path(tmp, store)
    file_node = ingest_path(big, store)
    with store.blobs.open_read(file_node.digest) as f:
        while f.read(1 << 20):
            pass
    export_node(node, store, tmp / "out")
    digest, nar_size = nar_hash(file_node, store)
    assert (digest, nar_size) == nar_hash_path(tmp / "out" / "big")
    print(json.dumps({
        "growth": peak() - before,
        "size": file_node.size,
        "exported": (tmp / "out" / "big").stat().st_size,
        "nar_size": nar_size,
    }))
    """
)


def test_large_file_in_bounded_memory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(work), str(SIZE)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["size"] == SIZE
    assert report["exported"] == SIZE
    assert report["nar_size"] == SIZE + 128 - 16  # helloworld.nar framing, 8-aligned contents
    assert report["growth"] < LIMIT, f"peak RSS grew by {report['growth']} bytes"
