"""``--snix-strict`` / ini ``snix_strict``: with builds asked for (``--snix-runc``), a missing
runtime, FUSE or busybox fails the tests that need them instead of skipping them (for CI)."""

from __future__ import annotations

import pytest
from snix_plugin_helpers import hello_case, make_ini, run

PY_TESTS = """
import pytest


@pytest.mark.snix_runc
def test_marked():
    pass


def test_fixture_build(snix_request, snix_build):
    snix_build(snix_request("hello.toml"))
"""

MISSING = "the OCI runtime '/nonexistent/runc' is not installed"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", hello=hello_case())
    pytester.makepyfile(test_strict=PY_TESTS)
    run(pytester, "--snapshot-update", "hello.toml")
    return pytester


def test_missing_runtime_is_an_error_with_strict(
    project: pytest.Pytester, plugin_args: list[str]
) -> None:
    args = ["--snix-runc", "--snix-runtime", "/nonexistent/runc", *plugin_args]
    result = run(project, *args, "--snix-strict", "hello.toml", "test_strict.py")
    # the case fails when it gets to its build; the other two at set-up
    result.assert_outcomes(failed=1, errors=2)
    result.stdout.fnmatch_lines([f"*--snix-strict: cannot run builds: {MISSING}*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_missing_runtime_is_a_skip_without_strict(project: pytest.Pytester) -> None:
    args = ["--snix-runc", "--snix-runtime", "/nonexistent/runc", "-rs"]
    result = run(project, *args, "hello.toml", "test_strict.py")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines([f"SKIPPED * cannot run builds here: {MISSING}*"])
    assert result.ret == pytest.ExitCode.OK


def test_strict_does_not_turn_on_builds(project: pytest.Pytester) -> None:
    """Without --snix-runc the builds are off on purpose: still a skip, naming the flag."""
    result = run(project, "--snix-strict", "-rs", "hello.toml", "test_strict.py")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*run pytest with --snix-runc to enable*"])


def test_ini_strict(project: pytest.Pytester) -> None:
    make_ini(project, snix_strict=True, snix_runtime="/nonexistent/runc")
    result = run(project, "--snix-runc", "hello.toml", "test_strict.py")
    result.assert_outcomes(failed=1, errors=2)
    result.stdout.fnmatch_lines(["*--snix-strict: cannot run builds*"])


def test_command_line_wins_over_ini(project: pytest.Pytester) -> None:
    make_ini(project, snix_strict=False, snix_runtime="/nonexistent/runc")
    result = run(project, "--snix-runc", "--snix-strict", "hello.toml", "test_strict.py")
    result.assert_outcomes(failed=1, errors=2)
    make_ini(project, snix_strict=True, snix_runtime="/nonexistent/runc")
    result = run(project, "--snix-runc", "-o", "snix_strict=false", "test_strict.py")
    result.assert_outcomes(skipped=2)


@pytest.mark.snix_runc
def test_strict_passes_when_everything_is_there(project: pytest.Pytester) -> None:
    result = run(project, "--snix-runc", "--snix-strict", "hello.toml", "test_strict.py")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["snixbuild: runtime runc (*), *, FUSE available, store *, strict"])
