"""Reading closures from Nix's SQLite database against ``nix-store --query --requisites``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nix_testlib import DATA, NixTools

from pytest_snixbuild.nix.closure import database_requisites, nix_database, nix_requisites
from pytest_snixbuild.nix.storepath import StorePath

EXPR = DATA / "parity" / "derivations.nix"


def _build(nix: NixTools, attr: str) -> list[StorePath]:
    busybox = str(nix.work / "busybox")
    out = nix.run("nix-build", "--no-out-link", str(EXPR), "--arg", "busybox", busybox, "-A", attr)
    return [StorePath.from_absolute_path(line) for line in out.split()]


def _nix_store_requisites(nix: NixTools, roots: list[StorePath]) -> set[StorePath]:
    out = nix.run("nix-store", "--query", "--requisites", *(p.to_absolute() for p in roots))
    return {StorePath.from_absolute_path(line) for line in out.split()}


def test_database_closure_equals_nix_store(nix: NixTools) -> None:
    """dep's output refers to busybox; multi has three outputs, lib refers to nothing."""
    dep = _build(nix, "dep")
    multi = _build(nix, "multi")
    for roots in (dep, multi, dep + multi, multi[:1]):
        expected = _nix_store_requisites(nix, roots)
        assert database_requisites(roots) == expected
        assert nix_requisites(roots) == expected
    assert any(p.name == "busybox" for p in database_requisites(dep) or ())


def test_database_cannot_answer(nix: NixTools, tmp_path: Path) -> None:
    """An invalid root, a missing or foreign database: None, so nix-store is asked instead."""
    dep = _build(nix, "dep")
    unknown = StorePath.from_absolute_path("/nix/store/" + "0" * 32 + "-never-built")
    assert database_requisites([*dep, unknown]) is None
    assert database_requisites(dep, tmp_path / "absent.sqlite") is None
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    assert database_requisites(dep, other) is None
    assert database_requisites([]) is None
    assert nix_database().name == "db.sqlite"
