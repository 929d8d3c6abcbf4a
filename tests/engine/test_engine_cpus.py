"""``OCIBuildService(cpus=...)``: builds (runc, the container, the FUSE server) pinned to CPUs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.errors import EngineConfigError
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.request.model import BuildRequest, EnvVar

OUT = "nix/store/0k4p6qdsf9gc1pw1n0amxhmb7ls2hvlr-cpus"
INPUT = "1b2l6f0cs8m7kd6hhpbz54ayi8zbg79j-note"


def _request(store: Store, tmp_path: Path) -> BuildRequest:
    note = tmp_path / "note"
    note.write_text("an input\n")
    script = f"grep Cpus_allowed_list /proc/self/status > $out; cat /nix/store/{INPUT} >> $out"
    return BuildRequest(
        command_args=("/bin/sh", "-c", script),
        outputs=(OUT,),
        environment_vars=(EnvVar("out", f"/{OUT}".encode()),),
        inputs={INPUT: ingest_path(note, store)},
    )


@pytest.mark.snix_runc
@pytest.mark.parametrize("which", ["first", "last"])
def test_build_runs_on_the_given_cpu_and_the_caller_gets_its_cpus_back(
    tmp_path: Path, which: str
) -> None:
    allowed = os.sched_getaffinity(0)
    cpu = min(allowed) if which == "first" else max(allowed)
    store = Store.open(tmp_path / "store")
    service = OCIBuildService.from_store(tmp_path / "bundles", store, cpus={cpu})
    result = service.build(_request(store, tmp_path))
    with store.blobs.open_read(result.outputs[0].node.digest) as f:  # type: ignore[union-attr]
        assert f.read().decode() == f"Cpus_allowed_list:\t{cpu}\nan input\n"
    assert os.sched_getaffinity(0) == allowed


def test_invalid_cpus_are_refused(tmp_path: Path) -> None:
    impossible = max(os.sched_getaffinity(0)) + 1000
    for cpus in ([], [impossible], [True], ["0"]):
        with pytest.raises(EngineConfigError) as exc:
            OCIBuildService.from_store(tmp_path / "b", Store.memory(), cpus=cpus)
        assert str(exc.value).startswith(f"cpus is {sorted(cpus, key=str)!r}: expected")
