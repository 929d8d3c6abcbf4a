"""Parity with Nix: each derivation of tests/data/nix/parity/build-parity.nix is built twice
from the same .drv, by Nix 2.8 in its sandbox (sandbox = true) and by the harness in runc, and
the outputs must have the same NAR hash, NAR size and references.

Nix builds first (``nix-store --realise``, then ``--realise --check`` so that Nix really
rebuilds it in this run and shows that it is deterministic in its own sandbox); the harness
then builds the same .drv with its inputs (busybox, the outputs Nix built for the input
derivations) read from /nix/store.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from nix_testlib import DATA, NixTools

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.nix.build import (
    HashMismatchError,
    NonDeterministicError,
    build_derivation,
)

pytestmark = pytest.mark.snix_runc

EXPR = DATA / "parity" / "build-parity.nix"
NIX_STORE = Path("/nix/store")

#: attribute -> {output name: names of the store paths it must refer to}: what each case covers
MATRIX: dict[str, dict[str, list[str]]] = {
    # a directory with a file, an executable, a symlink and an empty directory
    "single": {"out": []},
    # multi-output with cross references
    "multi": {"dev": ["multi", "multi-lib"], "lib": [], "out": ["multi-lib"]},
    # self-references (a file and a symlink target)
    "selfRef": {"out": ["self-ref"]},
    # input references: busybox (input source), dep and multi-lib (input derivations)
    "inputRef": {"out": ["busybox", "dep", "multi-lib"]},
    "fodFlat": {"out": []},
    "fodRecursive": {"out": []},
    # passAsFile: one file holds the output's own path (a placeholder) and dep's
    "passAsFile": {"out": ["dep", "pass-as-file"]},
    # structuredAttrs: .attrs.json/.attrs.sh name both outputs and dep
    "structuredAttrs": {
        "dev": [],
        "out": [
            "busybox",
            "dep",
            "structured-attrs-build",
            "structured-attrs-build-dev",
        ],
    },
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OCIBuildService]:
    root = tmp_path_factory.mktemp("parity-build")
    yield OCIBuildService.from_store(root / "bundles", Store.open(root / "castore"))


@cache
def _instantiate(nix: NixTools, attr: str) -> Path:
    busybox = str(nix.work / "busybox")
    out = nix.run("nix-instantiate", str(EXPR), "--arg", "busybox", busybox, "-A", attr)
    return Path(out.strip())


def _nix(nix: NixTools, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), env=nix.env, capture_output=True, text=True, check=False, cwd=nix.work
    )


def _nix_build(nix: NixTools, attr: str) -> Path:
    drv = _instantiate(nix, attr)
    nix.run("nix-store", "--realise", str(drv))
    nix.run("nix-store", "--realise", "--check", str(drv))
    return drv


@pytest.mark.parametrize("attr", list(MATRIX))
def test_same_outputs_as_nix(nix: NixTools, engine: OCIBuildService, attr: str) -> None:
    drv = _nix_build(nix, attr)
    built = build_derivation(drv, NIX_STORE, engine, engine.store)
    assert [o.name for o in built.outputs] == sorted(MATRIX[attr])
    paths = [o.path.to_absolute() for o in built.outputs]
    infos = {
        info["path"]: info for info in json.loads(nix.run("nix", "path-info", "--json", *paths))
    }
    for output in built.outputs:
        path = output.path.to_absolute()
        theirs = infos[path]
        ours_refs = [r.to_absolute() for r in output.references]
        assert output.nar_hash.sri == theirs["narHash"], output.name
        assert output.nar_size == theirs["narSize"], output.name
        assert ours_refs == sorted(theirs["references"]), output.name
        # the text forms too: what nix-store --query prints
        assert nix.run("nix-store", "-q", "--hash", path).strip() == output.nar_hash.to_nix32()
        assert sorted(nix.run("nix-store", "-q", "--references", path).split()) == ours_refs
        # and the case covers what it claims to cover
        assert sorted(r.name for r in output.references) == MATRIX[attr][output.name]


def _unindent_nix_error(stderr: str) -> str:
    """Nix prints ``error: <message>`` with continuation lines indented by 7 spaces."""
    lines = stderr.rstrip("\n").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("error: "))
    message = [lines[start].removeprefix("error: ")]
    message += [line.removeprefix(" " * len("error: ")) for line in lines[start + 1 :]]
    return "\n".join(message)


def test_fixed_output_hash_mismatch_reads_like_nix(nix: NixTools, engine: OCIBuildService) -> None:
    drv = _instantiate(nix, "fodWrong")
    proc = _nix(nix, "nix-store", "--realise", str(drv))
    assert proc.returncode == 102, proc.stderr
    with pytest.raises(HashMismatchError) as exc:
        build_derivation(drv, NIX_STORE, engine, engine.store)
    assert str(exc.value) == _unindent_nix_error(proc.stderr)
    assert exc.value.exit_status == proc.returncode


def test_check_reports_non_determinism_like_nix(nix: NixTools, engine: OCIBuildService) -> None:
    drv = _instantiate(nix, "random")
    nix.run("nix-store", "--realise", str(drv))
    proc = _nix(nix, "nix-store", "--realise", "--check", str(drv))
    assert proc.returncode == 104, proc.stderr
    with pytest.raises(NonDeterministicError) as exc:
        build_derivation(drv, NIX_STORE, engine, engine.store, check=True)
    theirs = _unindent_nix_error(proc.stderr)
    first, *files = str(exc.value).splitlines()
    # Nix's sentence, then the files that differ (Nix does not say which)
    assert first == theirs + ":"
    assert len(files) == 1
    assert files[0].startswith("  random: contents differ (37 bytes, then 37 bytes; ")
    assert exc.value.exit_status == proc.returncode
