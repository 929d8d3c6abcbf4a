"""Our ATerm, JSON and path code against Nix 2.8 itself (nix-instantiate, nix show-derivation).

The derivations are in tests/data/nix/parity/derivations.nix; their builder is a static busybox
added to the store. Instantiating needs no build and no network.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from nix_testlib import DATA, NixTools

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.nix.aterm import parse_derivation, write_derivation
from pytest_snixbuild.nix.closure import InputClosureError, direct_inputs, input_closure
from pytest_snixbuild.nix.derivation import Derivation
from pytest_snixbuild.nix.derivation_json import dump_show_derivation
from pytest_snixbuild.nix.hashing import (
    check_output_paths,
    compute_output_paths,
    derivation_path,
    resolver_from_store_dir,
)
from pytest_snixbuild.nix.pathhash import text_path
from pytest_snixbuild.nix.storepath import STORE_DIR, StorePath
from pytest_snixbuild.nix.to_request import derivation_to_build_request, needle_store_paths

EXPR = DATA / "parity" / "derivations.nix"
ATTRS = [
    "single",
    "multi",
    "dep",
    "user",
    "fodFlat",
    "fodRecursive",
    "fodSha1",
    "usesFod",
    "passAsFile",
]
resolve = resolver_from_store_dir(Path(STORE_DIR))


@cache
def _instantiate(nix: NixTools, attr: str) -> Path:
    out = nix.run(
        "nix-instantiate", str(EXPR), "--arg", "busybox", str(nix.work / "busybox"), "-A", attr
    )
    return Path(out.strip())


def _drv(nix: NixTools, attr: str) -> tuple[Path, Derivation]:
    path = _instantiate(nix, attr)
    return path, parse_derivation(path.read_bytes(), str(path))


@pytest.mark.parametrize("attr", ATTRS)
def test_aterm_round_trip_and_paths(nix: NixTools, attr: str) -> None:
    path, drv = _drv(nix, attr)
    assert write_derivation(drv) == path.read_bytes()
    assert derivation_path(drv).to_absolute() == str(path)
    check_output_paths(drv, resolve)
    assert compute_output_paths(drv, resolve) == drv.output_paths()


@pytest.mark.parametrize("attr", ATTRS)
def test_show_derivation_is_byte_identical(nix: NixTools, attr: str) -> None:
    path, drv = _drv(nix, attr)
    ours = dump_show_derivation({StorePath.from_absolute_path(str(path)): drv})
    theirs = nix.run("nix", "show-derivation", str(path)).encode()
    assert ours == theirs


def test_fixed_output_kinds(nix: NixTools) -> None:
    kinds = {}
    for attr in ("fodFlat", "fodRecursive", "fodSha1"):
        out = _drv(nix, attr)[1].fixed_output
        assert out is not None and out.ca is not None
        kinds[attr] = out.ca.aterm_algo
    assert kinds == {"fodFlat": "sha256", "fodRecursive": "r:sha256", "fodSha1": "r:sha1"}


def test_to_file_path(nix: NixTools) -> None:
    shown = nix.run(
        "nix-instantiate",
        "--eval",
        "--strict",
        str(EXPR),
        "--arg",
        "busybox",
        str(nix.work / "busybox"),
        "-A",
        "toFile",
    )
    assert json.loads(shown) == text_path("foo", b"bar").to_absolute()


def test_request_from_real_derivation(nix: NixTools) -> None:
    _path, drv = _drv(nix, "passAsFile")
    req = derivation_to_build_request(drv, {})
    files = {f.path: f.contents for f in req.additional_files}
    out = drv.outputs["out"].path
    assert out is not None
    assert set(files.values()) == {b"line 1\nline 2", out.to_absolute().encode()}
    env = {e.key for e in req.environment_vars}
    assert {"bigPath", "otherPath"} <= env and not {"big", "other"} & env


def test_input_closure_with_nix_database(nix: NixTools) -> None:
    """dep's output refers to busybox: the closure of `user` holds busybox, dep, multi.lib and
    the toFile source, whichever way references are found."""
    busybox = str(nix.work / "busybox")
    for attr in ("dep", "multi"):
        nix.run("nix-build", "--no-out-link", str(EXPR), "--arg", "busybox", busybox, "-A", attr)
    _path, drv = _drv(nix, "user")
    direct = direct_inputs(drv, resolve)
    names = sorted(p.name for p in direct)
    assert names == ["busybox", "dep", "multi-lib", "note"]
    requisites = nix.run("nix-store", "--query", "--requisites", *(p.to_absolute() for p in direct))
    expected = {StorePath.from_absolute_path(line) for line in requisites.split()}
    for mode in ("nix", "scan", "auto"):
        store = Store.memory()
        closure = input_closure(drv, Path(STORE_DIR), store, references=mode)
        assert set(closure) == expected, mode
    node = closure[
        StorePath.from_absolute_path(next(p.to_absolute() for p in direct if p.name == "busybox"))
    ]
    assert node == ingest_path(
        Path(next(p.to_absolute() for p in direct if p.name == "busybox")), Store.memory()
    )
    req = derivation_to_build_request(drv, closure)
    assert len(needle_store_paths(drv, closure)) == len(req.refscan_needles) == 1 + len(expected)


def test_input_closure_reports_unbuilt_inputs(nix: NixTools, tmp_path: Path) -> None:
    _path, drv = _drv(nix, "usesFod")
    # the FOD was never built: its output is not in the (empty) store directory
    for drv_path in drv.input_derivations:
        (tmp_path / drv_path.basename).write_bytes(Path(drv_path.to_absolute()).read_bytes())
    with pytest.raises(InputClosureError) as exc:
        input_closure(drv, tmp_path, Store.memory())
    fod_out = resolve(next(iter(drv.input_derivations))).outputs["out"].path
    assert fod_out is not None
    assert str(exc.value).startswith(f"input {fod_out.to_absolute()} is not in {tmp_path}")
