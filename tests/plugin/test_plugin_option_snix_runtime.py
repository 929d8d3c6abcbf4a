"""``--snix-runtime PATH`` / ini ``snix_runtime``: the OCI runtime binary builds run with. The
tests use a wrapper script that logs its calls and then runs runc, so it is visible which binary
was used."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from snix_plugin_helpers import hello_case, make_ini, run


def make_wrapper(directory: Path) -> Path:
    """An executable ``logging-runc`` that appends its arguments to ``runtime.log``."""
    runc = shutil.which("runc")
    assert runc is not None
    wrapper = directory / "logging-runc"
    log = directory / "runtime.log"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {runc} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", hello=hello_case())
    run(pytester, "--snapshot-update", "hello.toml")
    return pytester


@pytest.mark.snix_runc
def test_builds_run_with_the_given_runtime(
    project: pytest.Pytester, plugin_args: list[str]
) -> None:
    wrapper = make_wrapper(project.path)
    result = run(project, "--snix-runc", "--snix-runtime", str(wrapper), *plugin_args, "hello.toml")
    result.assert_outcomes(passed=1)
    # the header names the runtime and its version (the wrapper passes --version on to runc)
    result.stdout.fnmatch_lines([f"snixbuild: runtime {wrapper} (runc version *), *"])
    calls = (project.path / "runtime.log").read_text().splitlines()
    assert any(" run " in f" {call} " for call in calls), calls


@pytest.mark.snix_runc
def test_ini_runtime(project: pytest.Pytester) -> None:
    wrapper = make_wrapper(project.path)
    make_ini(project, snix_runtime=str(wrapper))
    result = run(project, "--snix-runc", "hello.toml")
    result.assert_outcomes(passed=1)
    assert (project.path / "runtime.log").exists()


@pytest.mark.snix_runc
def test_command_line_wins_over_ini(project: pytest.Pytester) -> None:
    wrapper = make_wrapper(project.path)
    make_ini(project, snix_runtime=str(wrapper))
    result = run(project, "--snix-runc", "--snix-runtime", "runc", "hello.toml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["snixbuild: runtime runc (runc version *), *"])
    assert not (project.path / "runtime.log").exists()


def test_missing_runtime_skips_with_its_name(project: pytest.Pytester) -> None:
    result = run(project, "--snix-runc", "--snix-runtime", "no-such-runtime", "-rs", "hello.toml")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*cannot run builds here: the OCI runtime 'no-such-runtime' is not installed*"]
    )
    result.stdout.fnmatch_lines(["snixbuild: runtime no-such-runtime (not found), *"])
