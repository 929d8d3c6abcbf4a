"""What the plugin reports: a header line, the stdout and stderr of a failing build as sections
of the test's report, and a summary of the builds at the end (merged from the xdist workers)."""

from __future__ import annotations

import pytest
from snix_plugin_helpers import case_toml, hello_case, run

#: prints on both streams, then fails
NOISY_FAILURE = case_toml("echo 'step 1 of 2' ; echo 'cc: error: no input files' >&2; exit 1")
#: succeeds but writes the wrong thing, after printing something
WRONG_OUTPUT = case_toml(
    "echo 'writing the greeting'; echo 'warning: low on coffee' >&2; echo hullo > $out",
    contents="hello\n",
)

PY_TESTS = """
def test_python_build_fails(snix_request, snix_build):
    snix_build(snix_request("noisy.toml"))
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", hello=hello_case(), noisy=NOISY_FAILURE, wrong=WRONG_OUTPUT)
    pytester.makepyfile(test_python=PY_TESTS)
    run(pytester, "--snapshot-update", ".")
    return pytester


@pytest.mark.snix_runc
def test_header_line(project: pytest.Pytester, plugin_args: list[str]) -> None:
    result = run(project, "--snix-runc", *plugin_args, "hello.toml")
    result.stdout.fnmatch_lines(
        [
            "snixbuild: runtime runc (runc version *), rootless (user namespace), "
            "FUSE available, store */snix-store"
        ]
    )


def test_header_line_without_builds(project: pytest.Pytester) -> None:
    result = run(project, "hello.toml")
    result.stdout.fnmatch_lines(["snixbuild: real builds off (use --snix-runc to run them)"])


@pytest.mark.snix_runc
def test_failing_build_logs_are_report_sections(
    project: pytest.Pytester, plugin_args: list[str]
) -> None:
    result = run(project, "--snix-runc", *plugin_args, "noisy.toml", "test_python.py")
    result.assert_outcomes(failed=2)
    for test in ("snix case noisy", "test_python_build_fails"):
        result.stdout.fnmatch_lines(
            [
                f"*_ {test} _*",
                "*- Captured build stdout call -*",
                "step 1 of 2",
                "*- Captured build stderr call -*",
                "cc: error: no input files",
            ]
        )


@pytest.mark.snix_runc
def test_logs_of_a_build_that_made_the_wrong_output(project: pytest.Pytester) -> None:
    result = run(project, "--snix-runc", "wrong.toml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured build stdout call -*",
            "writing the greeting",
            "*- Captured build stderr call -*",
            "warning: low on coffee",
        ]
    )


@pytest.mark.snix_runc
def test_build_summary(project: pytest.Pytester, plugin_args: list[str]) -> None:
    result = run(project, "--snix-runc", *plugin_args, ".")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*- snixbuild summary -*",
            "builds run: 4, failed: 2, total build time: *s",
            "slowest builds:",
        ]
    )
    lines = result.stdout.lines
    start = lines.index("slowest builds:")
    slowest = sorted(line.split("s  ", 1)[1] for line in lines[start + 1 : start + 5])
    assert slowest == [
        "hello",
        "noisy  (failed)",
        "test_python.py::test_python_build_fails  (failed)",
        "wrong",
    ]


def test_no_summary_without_builds(project: pytest.Pytester) -> None:
    result = run(project, ".")
    assert "snixbuild summary" not in result.stdout.str()


@pytest.mark.snix_runc
def test_build_summary_tells_expected_failures_apart(
    pytester: pytest.Pytester, plugin_args: list[str]
) -> None:
    """A case with ``success = false`` whose build fails passes, and the summary counts its
    build as failed as expected, not as failed."""
    pytester.makefile(
        ".toml",
        hello=hello_case(),
        must_fail=case_toml("exit 3", success=False),
        noisy=NOISY_FAILURE,
    )
    run(pytester, "--snapshot-update", ".")
    result = run(pytester, "--snix-runc", *plugin_args, ".")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- snixbuild summary -*",
            "builds run: 3, failed: 1, failed as expected: 1, total build time: *s",
            "slowest builds:",
        ]
    )
    assert any(line.endswith("must_fail  (failed as expected)") for line in result.stdout.lines)
