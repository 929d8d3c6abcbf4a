"""``snixbuild spec`` and ``snixbuild bundle``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.cli.main import main
from pytest_snixbuild.oci import make_spec, normalize_spec, scratch_name
from pytest_snixbuild.request.toml_case import load_case

HELLO = """
[request]
command_args = ["/bin/sh", "-c", "echo hello > $out"]
outputs = ["nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-hello"]

[request.environment_vars]
out = "/nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-hello"

[[request.additional_files]]
path = "build/.attrs.sh"
contents = "declare x=1"
"""
OUT = "nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-hello"
SNIXBUILD = Path(sys.executable).with_name("snixbuild")


@pytest.fixture
def case(tmp_path: Path) -> Path:
    path = tmp_path / "hello.toml"
    path.write_text(HELLO)
    return path


def _spec_output(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["spec", *argv]) == 0
    out = capsys.readouterr().out
    data: dict[str, Any] = json.loads(out)
    assert out == json.dumps(data, indent=2, sort_keys=True) + "\n"  # pretty, keys sorted
    return data


def test_spec_normalized(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    got = _spec_output(capsys, str(case), "--normalized")
    request = load_case(case, Store.memory()).request
    assert got == normalize_spec(make_spec(request, rootless=True, sandbox_shell="/bin/busybox"))


def test_spec_modes_and_options(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rootless = _spec_output(capsys, str(case), "--cgroups-path", "/snixbuild-cli")
    rootful = _spec_output(capsys, str(case), "--rootful", "--sandbox-shell", "/opt/sh")
    assert {"type": "user"} in rootless["linux"]["namespaces"]
    assert {"type": "user"} not in rootful["linux"]["namespaces"]
    assert rootless["linux"]["cgroupsPath"] == "/snixbuild-cli"
    assert {
        "destination": "/bin/sh",
        "type": "none",
        "source": "/opt/sh",
        "options": ["rbind", "ro"],
    } in rootful["mounts"]


def test_rootless_and_rootful_exclude_each_other(
    case: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["spec", str(case), "--rootless", "--rootful"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_bundle(case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "bundle"
    assert main(["bundle", str(case), str(target)]) == 0
    summary = json.loads(capsys.readouterr().out)
    store_dir = target / "scratch" / scratch_name("nix/store")
    assert summary["bundle"] == str(target)
    assert summary["outputs"] == {OUT: str(store_dir / OUT.rsplit("/", 1)[1])}
    assert json.loads((target / "config.json").read_text())["process"]["args"][0] == "/bin/sh"
    assert (target / "inputs").is_dir() and not os.listdir(target / "inputs")
    build = target / "scratch" / scratch_name("build")
    assert (build / ".attrs.sh").read_text() == "declare x=1"
    assert (target / "root" / "etc" / "passwd").is_file()


def test_errors_are_one_line(
    case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").touch()
    assert main(["bundle", str(case), str(tmp_path / "full")]) == 2
    err = capsys.readouterr().err
    full = tmp_path / "full"
    assert err == f"snixbuild: error: bundle directory {full} already exists and is not empty\n"

    bad = tmp_path / "bad.toml"
    bad.write_text(HELLO.replace('path = "build/.attrs.sh"', 'path = "src/.attrs.sh"'))
    assert main(["bundle", str(bad), str(tmp_path / "b2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snixbuild: error: Additional files must start with build/")
    assert err.count("\n") == 1
    assert not (tmp_path / "b2").exists()

    assert main(["spec", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read the case file" in capsys.readouterr().err


def test_through_the_installed_script(case: Path) -> None:
    done = subprocess.run(
        [str(SNIXBUILD), "spec", str(case), "--normalized", "--rootful"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    spec = json.loads(done.stdout)
    assert spec["linux"]["cgroupsPath"] == "<cgroups-path>"
    assert spec["process"]["capabilities"]["bounding"] == ["CAP_AUDIT_WRITE", "CAP_KILL"]
