"""A process that builds one request and waits to be killed (run by the fault tests).

Usage: ``python snix_fault_victim.py BUNDLE_ROOT STORE_DIR rootless|rootful SCRIPT [TIMEOUT]``.
The build gets one input file (``/nix/store/<LIB>``, 64 KiB) over FUSE and one output ``$out``.
It prints ``built <digest>`` or ``error: <message>`` (exit status 100).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.errors import BuildError
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.request.model import BuildRequest, EnvVar

OUT = "nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-victim"
LIB = "v137y81wxx44zx8nln1b4xhj75bs7dbn-lib"
INPUT_BYTES = b"victim input\n" * 5000


def main(argv: list[str]) -> int:
    bundle_root, store_dir, mode, script = argv[:4]
    timeout = float(argv[4]) if len(argv) > 4 else None
    store = Store.open(Path(store_dir))
    source = Path(store_dir).parent / f"victim-input-{mode}.txt"
    source.write_bytes(INPUT_BYTES)
    node = ingest_path(source, store)
    service = OCIBuildService.from_store(
        Path(bundle_root), store, rootless=mode == "rootless", timeout=timeout
    )
    request = BuildRequest(
        command_args=("/bin/sh", "-c", script),
        inputs={LIB: node},
        outputs=(OUT,),
        environment_vars=(
            EnvVar("lib", f"/nix/store/{LIB}".encode()),
            EnvVar("out", f"/{OUT}".encode()),
        ),
    )
    try:
        result = service.build(request)
    except BuildError as exc:
        print(f"error: {exc}", flush=True)
        return 100
    print(f"built {result.outputs[0].node}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
