"""``snixbuild request show|encode|decode|check``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import DirectoryNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.cli.main import main
from pytest_snixbuild.request.proto import decode_build_request

DATA = Path(__file__).parent.parent / "data" / "request"
CASES = DATA / "cases"
VECTORS = json.loads((DATA / "build_request_vectors.json").read_text())["cases"]
SNIXBUILD = Path(sys.executable).parent / "snixbuild"


def test_show_prints_canonical_json_with_input_digests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["request", "show", str(CASES / "full.toml")]) == 0
    shown = json.loads(capsys.readouterr().out)
    tree = ingest_path(CASES / "inputs" / "tree", Store.memory())
    assert isinstance(tree, DirectoryNode)
    assert shown["inputs"]["mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"] == {
        "type": "directory",
        "digest": str(tree.digest),
        "size": tree.size,
    }
    assert shown["environment_vars"][0] == ["BYTES", {"base64": "w4TDlv8="}]
    assert shown["constraints"]["system"] == "aarch64-linux"


def test_show_with_an_on_disk_store_keeps_the_inputs(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    assert main(["request", "show", str(CASES / "full.toml"), "--store", str(store_dir)]) == 0
    tree = ingest_path(CASES / "inputs" / "tree", Store.memory())
    assert isinstance(tree, DirectoryNode)
    assert Store.open(store_dir).directories.has(tree.digest)


def test_encode_then_decode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "req.pb"
    assert main(["request", "encode", str(CASES / "full.toml"), "-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["req.pb"]
    request = decode_build_request(out.read_bytes())
    assert request.working_dir == "build/src"
    capsys.readouterr()
    assert main(["request", "show", str(CASES / "full.toml")]) == 0
    shown = capsys.readouterr().out
    assert main(["request", "decode", str(out)]) == 0
    assert capsys.readouterr().out == shown


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_decode_vectors(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pb = tmp_path / "v.pb"
    pb.write_bytes(bytes.fromhex(VECTORS[name]["protobuf_hex"]))
    assert main(["request", "decode", str(pb)]) == 0
    shown = json.loads(capsys.readouterr().out)
    expected = VECTORS[name]["build_request"]
    assert shown["command_args"] == expected["command_args"]
    assert shown["environment_vars"] == expected["environment_vars"]
    assert shown["refscan_needles"] == expected["refscan_needles"]


def test_decode_invalid_bytes_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pb = tmp_path / "bad.pb"
    pb.write_bytes(b"\x1a\x02/w")  # working_dir "/w"
    assert main(["request", "decode", str(pb)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"snixbuild: error: {pb}: working_dir: '/w' is absolute (expected a clean relative "
        "path: '/'-separated names, no leading or trailing '/', no '//', '.' or '..')\n"
    )


def test_decode_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["request", "decode", str(tmp_path / "nope.pb")]) == 2
    assert capsys.readouterr().err == (
        f"snixbuild: error: {tmp_path}/nope.pb: cannot read: No such file or directory "
        "(expected a BuildRequest .pb file)\n"
    )


def test_check_all_valid(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(CASES / "full.toml"), str(CASES / "minimal.toml")]
    assert main(["request", "check", *files]) == 0
    captured = capsys.readouterr()
    assert captured.out == "2 of 2 case files valid\n"
    assert captured.err == ""


def test_check_reports_one_line_per_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad1 = tmp_path / "bad1.toml"
    bad1.write_text('[request]\ncommand_args = ["x"]\nworking_dir = 3\n')
    bad2 = tmp_path / "bad2.toml"
    bad2.write_text("[request\n")
    files = [str(bad1), str(CASES / "minimal.toml"), str(bad2)]
    assert main(["request", "check", *files]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"{bad1}:3: request.working_dir: wrong type: integer 3 (expected a string)",
        f"{bad2}:1: invalid TOML: Expected ']' at the end of a table declaration "
        "(at line 1, column 9)",
    ]
    assert captured.out == "1 of 3 case files valid\n"


def test_show_bad_case_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[request]\ncommand_args = ["x"]\n[expect]\nsucess = true\n')
    assert main(["request", "show", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"snixbuild: error: {bad}:4: expect.sucess: unknown key, did you mean 'success'? "
        "(expected one of success, outputs)\n"
    )


def test_request_without_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["request"]) == 2
    assert "show" in capsys.readouterr().err


def test_installed_entry_point(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[request]\ncommand_args = ["x"]\noutputs = ["a/../b"]\n')
    ok = subprocess.run(
        [str(SNIXBUILD), "request", "check", str(CASES / "minimal.toml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (ok.returncode, ok.stdout) == (0, "1 of 1 case files valid\n")
    res = subprocess.run(
        [str(SNIXBUILD), "request", "check", str(bad)], capture_output=True, text=True, check=False
    )
    assert res.returncode == 2
    assert res.stderr == (
        f"{bad}:3: request.outputs[0]: 'a/../b' contains a '..' component (expected a clean "
        "relative path: '/'-separated names, no leading or trailing '/', no '//', '.' or '..')\n"
    )
    encoded = subprocess.run(
        [str(SNIXBUILD), "request", "encode", str(CASES / "minimal.toml"), "-o", "-"],
        capture_output=True,
        check=True,
    )
    assert decode_build_request(encoded.stdout).command_args == ("/bin/sh", "-c", "true")
