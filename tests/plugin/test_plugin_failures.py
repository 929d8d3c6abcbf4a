"""Failure messages a person can act on: which output is wrong, which needle is missing or
unexpected, a unified diff of contents, the tail of the build's stderr, and the exact place of a
mistake in a case file. No plugin internals in the report."""

from __future__ import annotations

import pytest
from snix_plugin_helpers import HASH, OTHER_HASH, case_toml, out_path, run

OUT = out_path()

TWO_OUTPUTS = f"""
[request]
command_args = [
  "/bin/sh", "-c", "echo one > $one; printf 'line 1\\\\nline 2\\\\nline 3\\\\n' > $two",
]
outputs = ["{out_path("one")}", "{out_path("two", OTHER_HASH)}"]

[request.environment_vars]
one = "/{out_path("one")}"
two = "/{out_path("two", OTHER_HASH)}"

[expect.outputs."{out_path("one")}"]
contents = "one\\n"

[expect.outputs."{out_path("two", OTHER_HASH)}"]
contents = "line 1\\nline two\\nline 3\\n"
"""

BAD_KEY = """
[request]
comand_args = ["/bin/sh", "-c", "true"]
"""

CASES = {
    "two-outputs": TWO_OUTPUTS,
    "needles": case_toml(
        f"echo /nix/store/{OTHER_HASH}-dep > $out",
        refscan_needles=[HASH, OTHER_HASH],
        needles=[HASH],
    ),
    "should-fail": case_toml("echo fine > $out", success=False),
    "should-succeed": case_toml(
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; "
        'do echo "log line $i" >&2; done; exit 2'
    ),
    "no-output": case_toml("echo 'forgot to write $out'"),
    "bad-key": BAD_KEY,
    "no-expect": case_toml("echo 'giving up' >&2; exit 4", success=None),
}


@pytest.fixture
def failures(pytester: pytest.Pytester) -> pytest.RunResult:
    """The report of one run of every case above (their snapshots accepted first)."""
    for name, text in CASES.items():
        (pytester.path / f"{name}.toml").write_text(text)
    run(pytester, "--snapshot-update", ".")
    return run(pytester, "--snix-runc", ".")


def check_every_case_fails(failures: pytest.RunResult) -> None:
    failures.assert_outcomes(failed=len(CASES))
    assert "Traceback" not in failures.stdout.str()
    assert "run_case" not in failures.stdout.str()


def check_which_output_and_a_diff_of_its_contents(failures: pytest.RunResult) -> None:
    failures.stdout.fnmatch_lines(
        [
            "*_ snix case two-outputs _*",
            "two-outputs.toml: 1 expectation(s) not met",
            f"  - output {out_path('two', OTHER_HASH)}: contents differ:",
            "    --- expected",
            "    +++ actual",
            "    @@ -1,3 +1,3 @@",
            "     line 1",
            "    -line two",
            "    +line 2",
            "     line 3",
        ],
        consecutive=True,
    )
    assert f"output {out_path('one')}" not in failures.stdout.str()


def check_missing_and_unexpected_needles(failures: pytest.RunResult) -> None:
    failures.stdout.fnmatch_lines(
        [
            f"  - output {OUT}: needles differ: missing {HASH}; unexpected {OTHER_HASH} "
            f"(found: {OTHER_HASH})"
        ]
    )


def check_expected_failure_that_succeeded(failures: pytest.RunResult) -> None:
    failures.stdout.fnmatch_lines(
        [f"  - expected the build to fail (expect.success = false), but it succeeded ({OUT})"]
    )


def check_failed_build_shows_the_tail_of_stderr(failures: pytest.RunResult) -> None:
    failures.stdout.fnmatch_lines(
        [
            "*_ snix case should-succeed _*",
            "should-succeed.toml: 1 expectation(s) not met",
            "  - expected the build to succeed, but it failed: "
            "build failed: the builder exited with status 2",
            "    --- last lines of the build's output ---",
            "    log line 6",
        ],
        consecutive=True,
    )
    failures.stdout.fnmatch_lines(["    log line 25", "*- Captured build stderr call -*"])


def check_missing_output(failures: pytest.RunResult) -> None:
    failures.stdout.fnmatch_lines(
        [
            "  - expected the build to succeed, but it failed: "
            f"build did not produce output '{OUT}' (the builder exited 0 *"
        ]
    )


def check_case_without_expect_must_build(failures: pytest.RunResult) -> None:
    failures.stdout.fnmatch_lines(
        [
            "no-expect.toml: 1 expectation(s) not met",
            "  - the build failed: build failed: the builder exited with status 4",
            "    --- last lines of the build's output ---",
            "    giving up",
        ],
        consecutive=True,
    )


def check_mistake_in_the_case_file(failures: pytest.RunResult) -> None:
    assert "During handling" not in failures.stdout.str()
    failures.stdout.fnmatch_lines(
        [
            "*_ snix case bad-key _*",
            "*/bad-key.toml:3: request.comand_args: unknown key, did you mean 'command_args'? *",
        ]
    )


@pytest.mark.snix_runc
def test_failure_messages(failures: pytest.RunResult) -> None:
    """One run of all the cases (they build once); each check reads its part of the report."""
    check_every_case_fails(failures)
    check_which_output_and_a_diff_of_its_contents(failures)
    check_missing_and_unexpected_needles(failures)
    check_expected_failure_that_succeeded(failures)
    check_failed_build_shows_the_tail_of_stderr(failures)
    check_missing_output(failures)
    check_case_without_expect_must_build(failures)
    check_mistake_in_the_case_file(failures)
