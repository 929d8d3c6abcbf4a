"""Choosing cases: ``-k`` (by case name), node ids, and ``-m``. Snapshots of cases that were not
selected are neither reported as unused nor deleted."""

from __future__ import annotations

import pytest
from snix_plugin_helpers import hello_case, run


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    cases = pytester.mkdir("cases")
    for name in ("hello", "hello-again", "net-slow", "goodbye"):
        (cases / f"{name}.toml").write_text(hello_case())
    run(pytester, "--snapshot-update", "cases")
    return pytester


def ran(result: pytest.RunResult) -> list[str]:
    """The cases ``-v`` reported as run (with xdist, each is also announced once)."""
    return sorted(
        {line.split("::")[1].split()[0] for line in result.stdout.lines if ".toml::" in line}
    )


@pytest.mark.snix_runc
def test_k_selects_by_case_name(project: pytest.Pytester, plugin_args: list[str]) -> None:
    result = run(project, "--snix-runc", "-v", "-k", "hello and not again", *plugin_args, "cases")
    # (xdist's controller does not count deselected tests)
    assert result.parseoutcomes()["passed"] == 1
    assert ran(result) == ["hello"]
    # the other cases' snapshots are neither unused nor deleted
    assert result.ret == pytest.ExitCode.OK
    assert "unused" not in result.stdout.str()


def test_k_expression(project: pytest.Pytester) -> None:
    result = run(project, "-v", "-k", "not slow", "cases")
    result.assert_outcomes(skipped=3, deselected=1)
    assert ran(result) == ["goodbye", "hello", "hello-again"]


def test_node_ids(project: pytest.Pytester) -> None:
    result = run(project, "-v", "cases/goodbye.toml::goodbye", "cases/hello.toml")
    assert ran(result) == ["goodbye", "hello"]


def test_snapshot_update_with_k_keeps_the_other_snapshots(project: pytest.Pytester) -> None:
    result = run(project, "--snapshot-update", "-k", "goodbye", "cases")
    assert result.ret == pytest.ExitCode.OK
    for name in ("hello", "hello-again", "net-slow", "goodbye"):
        assert (project.path / "cases" / "__snapshots__" / name / f"{name}.json").exists()
