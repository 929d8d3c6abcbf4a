"""``--snix-runc`` / ini ``snix_runc``: real builds run only when asked for; otherwise the tests
that need them are skipped with a reason that says how to enable them."""

from __future__ import annotations

import pytest
from snix_plugin_helpers import hello_case, make_ini, run

PY_TESTS = """
import pytest


def test_fixture_build(snix_request, snix_build):
    result = snix_build(snix_request("hello.toml"))
    assert result.outputs[0].path.endswith("-out")


@pytest.mark.snix_runc
def test_marked():
    pass


def test_plain():
    pass
"""

REASON = "needs real runc builds: run pytest with --snix-runc to enable"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", hello=hello_case())
    pytester.makepyfile(test_builds=PY_TESTS)
    return pytester


def test_without_snix_runc_builds_are_skipped_with_how_to_enable(project: pytest.Pytester) -> None:
    # the case still writes and checks its config.json snapshots; only its build is skipped
    result = run(project, "-rs", "--snapshot-update", "hello.toml", "test_builds.py")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(
        [
            f"SKIPPED [[]1[]] hello.toml:1: {REASON}",
            f"SKIPPED [[]1[]] test_builds.py*: {REASON}",
            f"SKIPPED [[]1[]] test_builds.py*: {REASON}",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(["*2 snapshots generated*"])
    result.stdout.fnmatch_lines(["snixbuild: real builds off (use --snix-runc to run them)"])
    assert "snixbuild summary" not in result.stdout.str()


@pytest.mark.snix_runc
def test_with_snix_runc_builds_run(project: pytest.Pytester, plugin_args: list[str]) -> None:
    run(project, "--snapshot-update", "hello.toml")
    result = run(project, "--snix-runc", *plugin_args, "hello.toml", "test_builds.py")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["builds run: 2, failed: 0, total build time: *s"])


@pytest.mark.snix_runc
def test_ini_enables_builds(project: pytest.Pytester) -> None:
    make_ini(project, snix_runc=True)
    result = run(project, "--snapshot-update", "hello.toml", "test_builds.py")
    result.assert_outcomes(passed=4)


@pytest.mark.snix_runc
def test_command_line_wins_over_ini(project: pytest.Pytester) -> None:
    make_ini(project, snix_runc=False)
    result = run(project, "--snix-runc", "--snapshot-update", "test_builds.py")
    result.assert_outcomes(passed=3)
    # and `-o` overrides the ini file from the command line, in both directions
    make_ini(project, snix_runc=True)
    result = run(project, "-o", "snix_runc=false", "-rs", "test_builds.py")
    result.assert_outcomes(passed=1, skipped=2)
