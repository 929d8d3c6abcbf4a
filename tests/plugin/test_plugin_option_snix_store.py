"""``--snix-store DIR`` / ini ``snix_store``: the castore builds use. The default is one store
per session under pytest's basetemp, which the xdist workers of a run share (their basetemps'
parent); a given directory is shared by the workers too."""

from __future__ import annotations

from pathlib import Path

import pytest
from snix_plugin_helpers import hello_case, make_ini, run

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.store import Store

#: each test records the store its worker uses
PY_TESTS = """
import os

import pytest


@pytest.mark.parametrize("n", range(4))
def test_where(snix_store, n):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(f"store-{worker}-{n}.txt", "w") as f:
        f.write(str(snix_store.path))
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", one=hello_case("one"), two=hello_case("two"))
    pytester.makepyfile(test_where=PY_TESTS)
    run(pytester, "--snapshot-update", "one.toml", "two.toml")
    return pytester


def recorded_stores(directory: Path) -> set[Path]:
    return {Path(p.read_text()) for p in directory.glob("store-*.txt")}


def holds_outputs(store_dir: Path, *words: str) -> bool:
    store = Store.open(store_dir)
    return all(store.blobs.has(B3Digest.of(f"{word}\n".encode())) for word in words)


@pytest.mark.snix_runc
def test_given_store_is_used_and_shared(project: pytest.Pytester, plugin_args: list[str]) -> None:
    result = run(project, "--snix-runc", "--snix-store", "my-store", *plugin_args, ".")
    result.assert_outcomes(passed=6)
    store_dir = project.path / "my-store"
    result.stdout.fnmatch_lines([f"snixbuild: runtime *, store {store_dir}"])
    assert recorded_stores(project.path) == {store_dir}
    assert holds_outputs(store_dir, "one", "two")


@pytest.mark.snix_runc
def test_default_store_is_shared_by_the_workers(
    project: pytest.Pytester, plugin_args: list[str]
) -> None:
    result = run(project, "--snix-runc", *plugin_args, ".")
    result.assert_outcomes(passed=6)
    [store_dir] = recorded_stores(project.path)
    assert store_dir.name == "snix-store"
    assert not store_dir.parent.name.startswith("popen-gw")
    result.stdout.fnmatch_lines([f"snixbuild: runtime *, store {store_dir}"])
    assert holds_outputs(store_dir, "one", "two")


def test_ini_store_is_relative_to_the_rootdir(project: pytest.Pytester) -> None:
    make_ini(project, snix_store="ini-store")
    result = run(project, "test_where.py")
    result.assert_outcomes(passed=4)
    assert recorded_stores(project.path) == {project.path / "ini-store"}


def test_command_line_wins_over_ini(project: pytest.Pytester) -> None:
    make_ini(project, snix_store="ini-store")
    result = run(project, "--snix-store", "cli-store", "test_where.py")
    result.assert_outcomes(passed=4)
    assert recorded_stores(project.path) == {project.path / "cli-store"}
