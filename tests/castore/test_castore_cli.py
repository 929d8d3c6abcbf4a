"""``snixbuild ingest``, ``nar-hash`` and ``nar-dump``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.cli.main import main

DATA = Path(__file__).resolve().parent.parent / "data" / "castore"
SNIXBUILD = Path(sys.executable).parent / "snixbuild"


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_ingest_directory(capsys: pytest.CaptureFixture[str], complicated_tree: Path) -> None:
    status, out, _ = run_main(capsys, "ingest", str(complicated_tree))
    assert status == 0
    assert json.loads(out) == {
        "type": "directory",
        "digest": "blake3-Qkp/bOCNgF0VtCgGL6rpYpmhZ11wjDo5Jhr+OM3QT+s=",
        "size": 8,
    }
    assert out.count("\n") == 1


def test_ingest_file(capsys: pytest.CaptureFixture[str], hello_file: Path) -> None:
    hello_file.chmod(0o755)
    status, out, _ = run_main(capsys, "ingest", str(hello_file))
    assert status == 0
    assert json.loads(out) == {
        "type": "file",
        "digest": "blake3-XKeBWty0hOmhNsEe/mnB1TAXbVSbXRjQOOtSgLSzRww=",
        "size": 12,
        "executable": True,
    }


def test_ingest_symlinks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "l").symlink_to("/nix/store/somewhereelse")
    status, out, _ = run_main(capsys, "ingest", str(tmp_path / "l"))
    assert (status, json.loads(out)) == (
        0,
        {"type": "symlink", "target": "/nix/store/somewhereelse"},
    )
    os.symlink(b"\xff\xfe", os.fsencode(tmp_path / "odd"))
    status, out, _ = run_main(capsys, "ingest", str(tmp_path / "odd"))
    assert json.loads(out) == {"type": "symlink", "target": {"base64": "//4="}}


def test_ingest_into_store(
    capsys: pytest.CaptureFixture[str], complicated_tree: Path, tmp_path: Path
) -> None:
    status, out, _ = run_main(
        capsys, "ingest", "--store", str(tmp_path / "s"), str(complicated_tree)
    )
    assert status == 0
    assert json.loads(out)["digest"] == "blake3-Qkp/bOCNgF0VtCgGL6rpYpmhZ11wjDo5Jhr+OM3QT+s="
    store = Store.open(tmp_path / "s")
    assert [str(d) for d in store.directories.iter_digests()] == [
        "blake3-Qkp/bOCNgF0VtCgGL6rpYpmhZ11wjDo5Jhr+OM3QT+s=",
        "blake3-i1tdZCtka7jtUEsIYsOUE+h+V0kUl9570HWVP3uDgQ4=",
    ]


def test_nar_hash(
    capsys: pytest.CaptureFixture[str], complicated_tree: Path, nix_hash: Callable[[Path], str]
) -> None:
    status, out, _ = run_main(capsys, "nar-hash", str(complicated_tree))
    assert status == 0
    assert out == "sha256:" + nix_hash(complicated_tree) + "\n"
    assert out == "sha256:06li2smqgskxxr291x1cgzf61rzm7c8f93bisnglq0nzm1wj5mgb\n"


@pytest.mark.parametrize("command", ["ingest", "nar-hash", "nar-dump"])
def test_missing_path(capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str) -> None:
    status, out, err = run_main(capsys, command, str(tmp_path / "nope"))
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "nope: no such file or directory" in err


def test_special_file_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    status, _, err = run_main(capsys, "ingest", str(tmp_path / "fifo"))
    assert status == 2
    assert err == f"snixbuild: error: unsupported file type at {tmp_path / 'fifo'}: fifo\n"


def test_installed_script(complicated_tree: Path, nix_dump: Callable[[Path], bytes]) -> None:
    """Through the installed console script: nar-dump is binary and equals nix-store --dump."""
    dump = subprocess.run(
        [str(SNIXBUILD), "nar-dump", str(complicated_tree)], capture_output=True, check=True
    ).stdout
    assert dump == (DATA / "complicated.nar").read_bytes() == nix_dump(complicated_tree)
    ingest = subprocess.run(
        [str(SNIXBUILD), "ingest", str(complicated_tree)], capture_output=True, text=True
    )
    assert ingest.returncode == 0
    assert json.loads(ingest.stdout)["size"] == 8
    missing = subprocess.run(
        [str(SNIXBUILD), "nar-hash", str(complicated_tree / "nope")], capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
