"""``--snix-cases GLOB`` / ini ``snix_cases``, and where cases are collected from: the
directories of the ini option ``snix_case_dirs`` (also on a plain ``pytest`` run that uses
``testpaths``), and paths given on the command line. Other TOML files are left alone."""

from __future__ import annotations

import pytest
from snix_plugin_helpers import hello_case, make_ini, run


def collected(result: pytest.RunResult) -> list[str]:
    """The node ids ``--collect-only -q`` printed."""
    return sorted(line for line in result.stdout.lines if "::" in line)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    cases = pytester.mkdir("cases")
    for name in ("smoke-a", "smoke-b", "full-c"):
        (cases / f"{name}.toml").write_text(hello_case())
    data = pytester.mkdir("data")
    (data / "settings.toml").write_text('title = "not a case"\n')
    tests = pytester.mkdir("tests")
    (tests / "test_plain.py").write_text("def test_plain():\n    pass\n")
    return pytester


def test_default_glob_collects_every_toml(project: pytest.Pytester) -> None:
    result = run(project, "--co", "-q", "cases")
    assert collected(result) == [
        "cases/full-c.toml::full-c",
        "cases/smoke-a.toml::smoke-a",
        "cases/smoke-b.toml::smoke-b",
    ]


def test_glob_selects_cases(project: pytest.Pytester) -> None:
    result = run(project, "--co", "-q", "--snix-cases", "smoke-*.toml", "cases")
    assert collected(result) == ["cases/smoke-a.toml::smoke-a", "cases/smoke-b.toml::smoke-b"]


def test_ini_glob(project: pytest.Pytester) -> None:
    make_ini(project, snix_cases="full-*.toml")
    result = run(project, "--co", "-q", "cases")
    assert collected(result) == ["cases/full-c.toml::full-c"]


def test_command_line_wins_over_ini(project: pytest.Pytester) -> None:
    make_ini(project, snix_cases="full-*.toml")
    result = run(project, "--co", "-q", "--snix-cases", "*-a.toml", "cases")
    assert collected(result) == ["cases/smoke-a.toml::smoke-a"]


def test_plain_pytest_collects_case_dirs_with_testpaths(project: pytest.Pytester) -> None:
    make_ini(project, testpaths=["tests"], snix_case_dirs=["cases"])
    result = run(project, "--co", "-q")
    assert collected(result) == [
        "cases/full-c.toml::full-c",
        "cases/smoke-a.toml::smoke-a",
        "cases/smoke-b.toml::smoke-b",
        "tests/test_plain.py::test_plain",
    ]


def test_plain_pytest_collects_case_dirs_without_testpaths(project: pytest.Pytester) -> None:
    """From the rootdir: the case dirs' TOML files are cases; data/ and pyproject.toml are not."""
    make_ini(project, snix_case_dirs=["cases"])
    result = run(project, "--co", "-q")
    assert collected(result) == [
        "cases/full-c.toml::full-c",
        "cases/smoke-a.toml::smoke-a",
        "cases/smoke-b.toml::smoke-b",
        "tests/test_plain.py::test_plain",
    ]


def test_explicit_paths(project: pytest.Pytester) -> None:
    make_ini(project, testpaths=["tests"], snix_case_dirs=["cases"])
    # a test directory given: the case dirs are not added
    result = run(project, "--co", "-q", "tests")
    assert collected(result) == ["tests/test_plain.py::test_plain"]
    # one case file given
    result = run(project, "--co", "-q", "cases/full-c.toml")
    assert collected(result) == ["cases/full-c.toml::full-c"]
    # a directory given explicitly: its TOML files are taken as cases
    result = run(project, "--co", "-q", "data")
    assert collected(result) == ["data/settings.toml::settings"]


def test_tool_config_files_are_never_cases(project: pytest.Pytester) -> None:
    make_ini(project)
    (project.path / "ruff.toml").write_text("line-length = 100\n")
    (project.path / ".hidden.toml").write_text("x = 1\n")
    result = run(project, "--co", "-q", ".", "--ignore", "data")
    assert "pyproject" not in result.stdout.str()
    assert "ruff" not in result.stdout.str()
    assert "hidden" not in result.stdout.str()
    assert len(collected(result)) == 4


def test_cases_from_case_dirs_run(project: pytest.Pytester, plugin_args: list[str]) -> None:
    """A plain run (no --snix-runc): each case checks its snapshots and skips its build."""
    make_ini(project, testpaths=["tests"], snix_case_dirs=["cases"])
    result = run(project, "--snapshot-update", *plugin_args)
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(["*6 snapshots generated*"])
    result = run(project, *plugin_args)
    result.assert_outcomes(passed=1, skipped=3)
    assert result.ret == pytest.ExitCode.OK
