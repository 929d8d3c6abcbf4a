"""OciSpecExtension with syrupy, end to end in a pytester sandbox: create, pass, fail, update."""

from __future__ import annotations

import json

import pytest

from pytest_snixbuild.snapshot import OciSpecExtension

TEST_MODULE = """
import pytest
from pytest_snixbuild.oci import make_spec
from pytest_snixbuild.request.model import BuildRequest, EnvVar
from pytest_snixbuild.snapshot import OciSpecExtension

SCRIPT = {script!r}

@pytest.mark.parametrize("rootless", [True, False], ids=["rootless", "rootful"])
def test_spec(snapshot, rootless):
    request = BuildRequest(
        command_args=("/bin/sh", "-c", SCRIPT),
        outputs=("nix/store/00000000000000000000000000000000-out",),
        environment_vars=(EnvVar("out", b"/nix/store/00000000000000000000000000000000-out"),),
    )
    # real id mappings and a fresh cgroups path on every run: normalization keeps it stable
    spec = make_spec(request, rootless=rootless, sandbox_shell="/bin/busybox")
    assert spec == snapshot(extension_class=OciSpecExtension)
"""

SNAPSHOT = "__snapshots__/test_spec/test_spec[rootless].json"


def _write(pytester: pytest.Pytester, script: str) -> None:
    pytester.makepyfile(test_spec=TEST_MODULE.format(script=script))


def test_snapshot_lifecycle(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # under xdist the inner session would think it is a worker and print no snapshot report
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    _write(pytester, "echo hello > $out")

    missing = pytester.runpytest("-p", "no:cacheprovider")
    missing.assert_outcomes(failed=2)
    missing.stdout.fnmatch_lines(["*Snapshot 'test_spec[[]rootless[]]' does not exist!*"])

    created = pytester.runpytest("-p", "no:cacheprovider", "--snapshot-update")
    created.assert_outcomes(passed=2)
    created.stdout.fnmatch_lines(["*2 snapshots generated*"])
    path = pytester.path / SNAPSHOT
    text = path.read_text()
    data = json.loads(text)
    # one value per line, keys sorted at every level, normalized, newline at the end
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert data["linux"]["cgroupsPath"] == "<cgroups-path>"
    assert data["linux"]["uidMappings"][0]["hostID"] == "<host-uid>"
    assert data["process"]["args"] == ["/bin/sh", "-c", "echo hello > $out"]
    assert '      "CAP_AUDIT_WRITE",\n' in text

    again = pytester.runpytest("-p", "no:cacheprovider")
    again.assert_outcomes(passed=2)
    assert path.read_text() == text

    _write(pytester, "echo bye > $out")
    changed = pytester.runpytest("-p", "no:cacheprovider")
    changed.assert_outcomes(failed=2)
    # a readable diff: exactly the changed argument, as one -/+ pair
    changed.stdout.fnmatch_lines(
        ['*-*"echo hello > $out"*', '*+*"echo bye > $out"*'], consecutive=False
    )
    assert path.read_text() == text  # not rewritten without --snapshot-update

    accepted = pytester.runpytest("-p", "no:cacheprovider", "--snapshot-update")
    accepted.assert_outcomes(passed=2)
    accepted.stdout.fnmatch_lines(["*2 snapshots updated*"])
    assert json.loads(path.read_text())["process"]["args"][2] == "echo bye > $out"
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_non_spec_data_is_plain_json() -> None:
    extension = OciSpecExtension()
    data = {"b": 1, "a": {"ociVersion": "kept", "cgroupsPath": "/x"}}
    assert extension.serialize(data) == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert OciSpecExtension.file_extension == "json"
