"""A user project made from scratch: TOML cases, a conftest with a hook, a Python test using the
fixtures, and config.json snapshots. It passes, fails when a spec changes (with a readable diff),
passes again after ``--snapshot-update``, and reports (then deletes) the snapshot of a deleted
case. Every step runs without xdist, with ``-n 0`` and with ``-n 2``."""

from __future__ import annotations

from pathlib import Path

import pytest
from snix_plugin_helpers import case_toml, hello_case, out_path, run

PYPROJECT = """
[tool.pytest.ini_options]
testpaths = ["tests"]
snix_case_dirs = ["cases"]
"""

#: every case gets PROJECT=demo in its environment (and so in its snapshot)
CONFTEST = """
import dataclasses

from pytest_snixbuild.request.model import EnvVar


def pytest_snixbuild_modify_request(request, case):
    env = (*request.environment_vars, EnvVar("PROJECT", b"demo"))
    return dataclasses.replace(request, environment_vars=tuple(sorted(env, key=lambda e: e.key)))
"""

API_TEST = f"""
OUT = "{out_path("api")}"


def test_api_spec(snix_request, snix_spec, snix_snapshot):
    request = snix_request(
        command_args=["/bin/sh", "-c", "echo api > $out"],
        outputs=[OUT],
        environment_vars={{"out": "/" + OUT}},
    )
    assert snix_spec(request) == snix_snapshot


def test_api_build(snix_request, snix_build, snix_store):
    result = snix_build(snix_request("../cases/greeting.toml"))
    [output] = result.outputs
    with snix_store.blobs.open_read(output.node.digest) as blob:
        assert blob.read() == b"demo says hi\\n"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    pytester.makepyprojecttoml(PYPROJECT)
    pytester.makeconftest(CONFTEST)
    cases = pytester.mkdir("cases")
    (cases / "hello.toml").write_text(hello_case())
    (cases / "greeting.toml").write_text(
        case_toml('echo "$PROJECT says hi" > $out', contents="demo says hi\n")
    )
    tests = pytester.mkdir("tests")
    (tests / "test_api.py").write_text(API_TEST)
    return pytester.path


@pytest.mark.snix_runc
def test_user_project_lifecycle(
    pytester: pytest.Pytester, project: Path, plugin_args: list[str]
) -> None:
    args = ["--snix-runc", *plugin_args]

    # a new project has no snapshots: every snapshot assertion fails and says so
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*hello.toml: the rootless config.json has no snapshot yet*hello.json does not exist*"]
    )

    # accept them: the case snapshots sit next to the cases, the API one next to its test
    result = run(pytester, *args, "--snapshot-update")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=4)
    snapshots = project / "cases" / "__snapshots__"
    assert sorted(p.name for p in (snapshots / "hello").iterdir()) == [
        "hello.json",
        "hello[rootful].json",
    ]
    assert '"PROJECT=demo"' in (snapshots / "greeting" / "greeting.json").read_text()
    assert (project / "tests" / "__snapshots__" / "test_api" / "test_api_spec.json").is_file()

    # the project passes
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*5 snapshots passed*"])

    # change what a case runs: its config.json changes, and the failure shows how
    (project / "cases" / "hello.toml").write_text(hello_case("bonjour"))
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*hello.toml: the rootless config.json differs from its snapshot:",
            "--- cases/__snapshots__/hello/hello.json (snapshot)",
            "+++ cases/hello.toml (rootless config.json now)",
            '-      "echo hello > $out"',
            '+      "echo bonjour > $out"',
            "*hello[[]rootful[]].json (rootful) differs in the same way",
            "*to accept it, run: pytest --snapshot-update",
        ]
    )

    # accept the change; the project passes again
    result = run(pytester, *args, "--snapshot-update")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["*2 snapshots updated*"])
    assert "echo bonjour" in (snapshots / "hello" / "hello.json").read_text()
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()

    # delete a case: its snapshot is an orphan, reported once, and the run fails
    (project / "cases" / "hello.toml").unlink()
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*snixbuild orphaned snapshots*",
            "orphaned snapshot cases/__snapshots__/hello: "
            "its case cases/hello.toml no longer exists",
            "1 orphaned case snapshot(s): re-run with --snapshot-update to delete them",
        ]
    )
    assert result.stdout.str().count("orphaned snapshot cases/") == 1

    # --snapshot-update deletes it
    result = run(pytester, *args, "--snapshot-update")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["Deleted orphaned case snapshot cases/__snapshots__/hello"])
    assert not (snapshots / "hello").exists()
    assert (snapshots / "greeting" / "greeting.json").is_file()
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert "orphaned" not in result.stdout.str()
