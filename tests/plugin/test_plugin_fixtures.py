"""The fixtures: ``snix_store``, ``snix_engine``, ``snix_request``, ``snix_case``, ``snix_spec``,
``snix_build`` and ``snix_snapshot``, each used the way a user's test would."""

from __future__ import annotations

import pytest
from snix_plugin_helpers import case_toml, hello_case, out_path, run

FIXTURE_TESTS = f'''
import pytest

from pytest_snixbuild import BuildFailedError, OCIBuildService, Store
from pytest_snixbuild.request.model import EnvVar
from pytest_snixbuild.request.validation import RequestValidationError

OUT = "{out_path("greeting")}"
seen = {{}}


def test_store_is_one_per_session(snix_store):
    assert isinstance(snix_store, Store)
    assert snix_store.path.name == "snix-store"
    seen["store"] = snix_store


def test_store_again(snix_store):
    assert snix_store is seen["store"]


def test_engine(snix_engine, snix_store):
    assert isinstance(snix_engine, OCIBuildService)
    assert snix_engine.rootless
    assert snix_engine.store is snix_store
    assert snix_engine.bundle_root.name == "snix-bundles-main"


def test_request_from_a_case_file(snix_request):
    request = snix_request("hello.toml")
    assert request.command_args == ("/bin/sh", "-c", "echo hello > $out")


def test_request_in_python(snix_request):
    request = snix_request(
        command_args=["/bin/sh", "-c", "echo hi > $out"],
        outputs=[OUT],
        environment_vars={{"out": "/" + OUT, "LANG": "C"}},
    )
    assert request.environment_vars == (EnvVar("LANG", b"C"), EnvVar("out", b"/" + OUT.encode()))


def test_request_is_validated(snix_request):
    with pytest.raises(RequestValidationError, match="outputs"):
        snix_request(command_args=["/bin/sh"], outputs=["/absolute/path"])


def test_case(snix_case):
    case = snix_case("hello.toml")
    assert case.name == "hello"
    assert case.expect.outputs[case.request.outputs[0]].contents == b"hello\\n"


def test_spec(snix_request, snix_spec):
    spec = snix_spec(snix_request("hello.toml"))
    assert spec["process"]["args"] == ["/bin/sh", "-c", "echo hello > $out"]
    assert spec["linux"]["cgroupsPath"] == "<cgroups-path>"
    assert spec["root"] == {{"path": "root", "readonly": True}}


def test_spec_snapshot(snix_request, snix_spec, snix_snapshot):
    assert snix_spec(snix_request("hello.toml")) == snix_snapshot


def test_build(snix_request, snix_build, snix_store):
    result = snix_build(snix_request("hello.toml"))
    [output] = result.outputs
    assert output.path == "{out_path()}"
    with snix_store.blobs.open_read(output.node.digest) as blob:
        assert blob.read() == b"hello\\n"


def test_failing_build_raises(snix_request, snix_build):
    with pytest.raises(BuildFailedError, match="exited with status 3") as failure:
        snix_build(snix_request("broken.toml"))
    assert failure.value.stderr == b"broken on purpose\\n"


def test_build_with_a_timeout(snix_request, snix_build):
    result = snix_build(snix_request("hello.toml"), timeout=60)
    assert result.exit_code == 0
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".toml", hello=hello_case())
    pytester.makefile(".toml", broken=case_toml("echo 'broken on purpose' >&2; exit 3"))
    pytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    return pytester


@pytest.mark.snix_runc
def test_fixtures(project: pytest.Pytester) -> None:
    result = run(project, "--snix-runc", "--snapshot-update", "test_fixtures.py")
    result.assert_outcomes(passed=12)
    snapshot = project.path / "__snapshots__" / "test_fixtures" / "test_spec_snapshot.json"
    text = snapshot.read_text()
    # one key per line, keys sorted, host specifics normalized
    assert '"cgroupsPath": "<cgroups-path>"' in text
    assert text.index('"annotations"') < text.index('"hostname"') < text.index('"linux"')
    # the snapshot holds: a second run passes without --snapshot-update
    result = run(project, "--snix-runc", "test_fixtures.py")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["*1 snapshot passed*"])


def test_fixtures_without_runc(project: pytest.Pytester) -> None:
    """Only the fixtures that build need --snix-runc; the others work anywhere."""
    result = run(project, "--snapshot-update", "test_fixtures.py")
    result.assert_outcomes(passed=8, skipped=4)


def test_request_takes_a_path_or_fields_not_both(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", hello=hello_case())
    pytester.makepyfile(
        """
        import pytest

        def test_both(snix_request):
            with pytest.raises(TypeError, match="a case path or request fields, not both"):
                snix_request("hello.toml", command_args=["/bin/sh"])
        """
    )
    run(pytester).assert_outcomes(passed=1)
