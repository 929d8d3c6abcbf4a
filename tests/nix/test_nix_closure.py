"""Input closures from a plain directory of store paths (references found by scanning)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.nix.aterm import write_derivation
from pytest_snixbuild.nix.closure import InputClosureError, direct_inputs, input_closure
from pytest_snixbuild.nix.derivation import Derivation, Output
from pytest_snixbuild.nix.hashing import resolver_from_store_dir
from pytest_snixbuild.nix.storepath import StorePath


def _sp(n: int, name: str) -> StorePath:
    return StorePath(bytes([n]) * 20, name)


A, B, C, D, E, F = (_sp(i + 1, n) for i, n in enumerate("abcdef"))
OUT = _sp(9, "result")


def _store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    (store / A.basename / "bin").mkdir(parents=True)
    (store / A.basename / "bin" / "x").write_text(f"#!{B.to_absolute()}/bin/sh\n")
    (store / B.basename).write_text("no references\n")
    os.symlink(f"{D.to_absolute()}/share", store / C.basename)
    (store / D.basename).mkdir()
    (store / E.basename).write_text(f"unrelated, refers to {A.to_absolute()}\n")
    (store / F.basename).write_text("output of an input derivation\n")
    (store / "not-a-store-path").write_text("ignored")
    return store


def _drv(**kwargs: object) -> Derivation:
    fields: dict[str, object] = {
        "outputs": {"out": Output(OUT)},
        "system": "x86_64-linux",
        "builder": "/bin/sh",
        "environment": {"name": b"result"},
    }
    fields.update(kwargs)
    return Derivation(**fields)  # type: ignore[arg-type]


def test_scanned_closure(tmp_path: Path) -> None:
    store_dir = _store(tmp_path)
    drv = _drv(input_sources=(A, C))
    castore = Store.memory()
    closure = input_closure(drv, store_dir, castore, references="scan")
    assert list(closure) == [A, B, C, D]  # store-path order
    assert closure[A] == ingest_path(store_dir / A.basename, Store.memory())
    assert castore.directories.get(closure[A].digest) is not None  # type: ignore[union-attr]
    assert set(input_closure(drv, store_dir, Store.memory(), references="none")) == {A, C}
    # auto scans a directory that is not /nix/store
    assert set(input_closure(drv, store_dir, Store.memory())) == {A, B, C, D}


def test_input_derivation_outputs(tmp_path: Path) -> None:
    store_dir = _store(tmp_path)
    dep = _drv(outputs={"out": Output(F), "dev": Output(E)}, environment={"name": b"dep"})
    dep_path = StorePath(bytes([7]) * 20, "dep.drv")
    (store_dir / dep_path.basename).write_bytes(write_derivation(dep))
    drv = _drv(input_derivations={dep_path: ("out",)}, input_sources=(B,))
    resolve = resolver_from_store_dir(store_dir)
    assert direct_inputs(drv, resolve) == [B, F]
    assert set(input_closure(drv, store_dir, Store.memory())) == {B, F}
    # selecting dev brings E, whose contents refer to A, which refers to B
    drv = _drv(input_derivations={dep_path: ("dev",)})
    assert set(input_closure(drv, store_dir, Store.memory())) == {A, B, E}
    drv = _drv(input_derivations={dep_path: ("lib",)})
    with pytest.raises(InputClosureError) as exc:
        input_closure(drv, store_dir, Store.memory())
    assert str(exc.value) == (
        f"input derivation {dep_path.to_absolute()} has no output 'lib' (it has dev, out)"
    )


def test_missing_input(tmp_path: Path) -> None:
    store_dir = _store(tmp_path)
    missing = _sp(42, "missing")
    with pytest.raises(InputClosureError) as exc:
        input_closure(_drv(input_sources=(missing,)), store_dir, Store.memory())
    assert str(exc.value) == (
        f"input {missing.to_absolute()} is not in {store_dir} (expected "
        f"{store_dir / missing.basename} to exist: build or fetch it first)"
    )
