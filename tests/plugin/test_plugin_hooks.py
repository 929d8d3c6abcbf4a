"""The hooks a conftest.py can implement: ``pytest_snixbuild_modify_request``,
``pytest_snixbuild_modify_spec`` and ``pytest_snixbuild_build_finished``."""

from __future__ import annotations

import json

import pytest
from snix_plugin_helpers import case_toml, hello_case, run

CONFTEST = """
import dataclasses
import json

from pytest_snixbuild.request.model import EnvVar


def pytest_snixbuild_modify_request(request, case):
    if case.name != "greeting":
        return None  # leave the other cases alone
    env = sorted((*request.environment_vars, EnvVar("WHO", b"hook")), key=lambda e: e.key)
    return dataclasses.replace(request, environment_vars=tuple(env))


def pytest_snixbuild_modify_spec(spec, request):
    spec["annotations"]["org.example.team"] = "qa"
    spec["process"]["env"].append("FROM_SPEC_HOOK=yes")


def pytest_snixbuild_build_finished(request, result, case, error):
    with open("builds.jsonl", "a") as log:
        record = {
            "case": case.name if case else None,
            "ok": error is None,
            "outputs": [o.path for o in result.outputs] if result else [],
            "error": type(error).__name__ if error else None,
        }
        log.write(json.dumps(record) + "\\n")
"""

PY_TESTS = """
def test_python_build(snix_request, snix_build, snix_store):
    result = snix_build(snix_request("spec-hook.toml"))
    with snix_store.blobs.open_read(result.outputs[0].node.digest) as blob:
        assert blob.read() == b"yes\\n"
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(
        ".toml",
        greeting=case_toml('echo "hi from $WHO" > $out', contents="hi from hook\n"),
        untouched=case_toml('echo "hi from ${WHO:-nobody}" > $out', contents="hi from nobody\n"),
        **{"spec-hook": case_toml("echo $FROM_SPEC_HOOK > $out", contents="yes\n")},
        broken=case_toml("exit 1", success=False),
    )
    pytester.makepyfile(test_python=PY_TESTS)
    return pytester


@pytest.mark.snix_runc
def test_hooks(project: pytest.Pytester, plugin_args: list[str]) -> None:
    result = run(project, "--snix-runc", "--snapshot-update", *plugin_args, ".")
    result.assert_outcomes(passed=5)

    # modify_request: the snapshot and the build both see the changed request
    greeting = (project.path / "__snapshots__" / "greeting" / "greeting.json").read_text()
    assert '"WHO=hook"' in greeting
    untouched = (project.path / "__snapshots__" / "untouched" / "untouched.json").read_text()
    assert "WHO=" not in untouched

    # modify_spec: in every snapshot (both modes) and in every build
    for snapshot in (project.path / "__snapshots__").glob("*/*.json"):
        assert '"org.example.team": "qa"' in snapshot.read_text(), snapshot

    # build_finished: once per build, cases and fixture builds, successful or not
    records = [
        json.loads(line) for line in (project.path / "builds.jsonl").read_text().splitlines()
    ]
    by_case = {r["case"]: r for r in records}
    assert len(records) == 5
    assert by_case["greeting"]["ok"] is True
    assert by_case["greeting"]["outputs"] == ["nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-out"]
    assert by_case["broken"] == {
        "case": "broken",
        "ok": False,
        "outputs": [],
        "error": "BuildFailedError",
    }
    assert by_case[None]["ok"] is True  # the snix_build fixture's build has no case


def test_modify_spec_applies_to_snix_spec(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".toml", hello=hello_case())
    pytester.makepyfile(
        """
        def test_spec(snix_request, snix_spec):
            spec = snix_spec(snix_request("hello.toml"))
            assert spec["annotations"] == {"org.example.team": "qa"}
            assert "FROM_SPEC_HOOK=yes" in spec["process"]["env"]
        """
    )
    run(pytester, "test_modify_spec_applies_to_snix_spec.py").assert_outcomes(passed=1)


def test_unknown_snixbuild_hook_is_an_error(pytester: pytest.Pytester) -> None:
    """The hook names are validated: a typo does not pass silently."""
    pytester.makeconftest("def pytest_snixbuild_modify_requests(request, case):\n    pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["*unknown hook 'pytest_snixbuild_modify_requests'*"])
