"""The ``snix_runc`` marker: registered with help text, added by the plugin to every case and to
every test that uses ``snix_build`` or ``snix_engine``, and selectable with ``-m``."""

from __future__ import annotations

import pytest
from snix_plugin_helpers import hello_case, run

PY_TESTS = """
import pytest


@pytest.mark.snix_runc
def test_marked():
    pass


def test_uses_build(snix_build):
    pass


def test_uses_engine(snix_engine):
    pass


def test_uses_spec(snix_spec):
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", hello=hello_case())
    pytester.makepyfile(test_marks=PY_TESTS)
    return pytester


def test_marker_is_registered_with_help(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.snix_runc: the test needs a real OCI runtime (runc) and FUSE; "
            "skipped unless pytest runs with --snix-runc"
        ]
    )


def test_marker_passes_strict_markers(project: pytest.Pytester) -> None:
    result = run(project, "--strict-markers", "test_marks.py")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=3)


def test_cases_and_build_fixtures_are_marked(project: pytest.Pytester) -> None:
    result = run(project, "--co", "-q", "-m", "snix_runc", ".")
    result.stdout.fnmatch_lines(
        [
            "hello.toml::hello",
            "test_marks.py::test_marked",
            "test_marks.py::test_uses_build",
            "test_marks.py::test_uses_engine",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(["4/5 tests collected (1 deselected)*"])


def test_deselect_everything_that_needs_runc(project: pytest.Pytester) -> None:
    result = run(project, "-m", "not snix_runc", ".")
    result.assert_outcomes(passed=1, deselected=4)


@pytest.mark.snix_runc
def test_marked_tests_run_with_snix_runc(project: pytest.Pytester) -> None:
    result = run(project, "--snix-runc", "test_marks.py")
    result.assert_outcomes(passed=4)
