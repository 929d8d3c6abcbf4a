"""``--snix-timeout S`` / ini ``snix_timeout``: a build running longer is killed, and its case
fails saying so. 0 means no timeout; a value that is not a number is a usage error."""

from __future__ import annotations

import pytest
from snix_plugin_helpers import case_toml, make_ini, run

SLOW = case_toml("sleep 60; echo done > $out")
#: slow enough to exceed a 1 s timeout, quick enough to finish within a generous one
SLOWISH = case_toml("sleep 2; echo done > $out", contents="done\n")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", slow=SLOW, slowish=SLOWISH)
    run(pytester, "--snapshot-update", ".")
    return pytester


@pytest.mark.snix_runc
def test_slow_build_is_killed(project: pytest.Pytester, plugin_args: list[str]) -> None:
    result = run(project, "--snix-runc", "--snix-timeout", "1", *plugin_args, "slow.toml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "slow.toml: 1 expectation(s) not met",
            "  - expected the build to succeed, but it failed: build timed out after 1 s: "
            "the container was killed (SIGKILL) and deleted",
        ]
    )
    result.stdout.fnmatch_lines(["*  slow  (failed)"])


@pytest.mark.snix_runc
def test_ini_timeout(project: pytest.Pytester) -> None:
    make_ini(project, snix_timeout="1")
    result = run(project, "--snix-runc", "slow.toml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*build timed out after 1 s*"])


@pytest.mark.snix_runc
def test_command_line_wins_over_ini(project: pytest.Pytester) -> None:
    make_ini(project, snix_timeout="1")
    result = run(project, "--snix-runc", "--snix-timeout", "120", "slowish.toml")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("soon", "'soon' is not a number of seconds"), ("-5", "'-5' must be >= 0")],
)
def test_bad_value_is_a_usage_error(project: pytest.Pytester, value: str, problem: str) -> None:
    result = run(project, "--snix-timeout", value, "slow.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --snix-timeout / snix_timeout: {problem}"])


def test_bad_ini_value_is_a_usage_error(project: pytest.Pytester) -> None:
    make_ini(project, snix_timeout="an hour")
    result = run(project, "slow.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*snix_timeout: 'an hour' is not a number of seconds*"])
