"""``snixbuild drv show|paths|request``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nix_testlib import DATA, OK_DIR

from pytest_snixbuild.cli.main import main
from pytest_snixbuild.nix.aterm import parse_derivation
from pytest_snixbuild.nix.derivation_json import dump_show_derivation
from pytest_snixbuild.nix.storepath import StorePath

FOO = OK_DIR / "ch49594n9avinrf8ip0aslidkc4lxkqv-foo.drv"
BAR = OK_DIR / "ss2p4wmxijn652haqyd7dckxwl4c7hxx-bar.drv"
LATIN1 = OK_DIR / "x6p0hg79i3wg0kkv7699935f7rrj9jf3-latin1.drv"
SNIXBUILD = Path(sys.executable).parent / "snixbuild"


def test_show(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["drv", "show", str(FOO), str(LATIN1)]) == 0
    out = capsysbinary.readouterr().out
    expected = dump_show_derivation(
        {StorePath.from_basename(p.name): parse_derivation(p.read_bytes()) for p in (FOO, LATIN1)}
    )
    assert out == expected
    # a single latin1 derivation prints exactly what nix show-derivation printed
    assert main(["drv", "show", str(LATIN1)]) == 0
    assert capsysbinary.readouterr().out == Path(f"{LATIN1}.json").read_bytes()


def test_show_serde(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["drv", "show", "--format", "serde", str(FOO)]) == 0
    assert capsysbinary.readouterr().out == Path(f"{FOO}.json").read_bytes()


def test_paths(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["drv", "paths", str(FOO), "--store", str(OK_DIR)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "drv_path": "/nix/store/ch49594n9avinrf8ip0aslidkc4lxkqv-foo.drv",
        "drv_path_matches_file_name": True,
        "hash_derivation_modulo": report["hash_derivation_modulo"],
        "fod_digest": None,
        "outputs": {
            "out": {"path": "/nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo", "matches": True}
        },
    }
    renamed = tmp_path / "renamed.drv"  # not a store path name: computed, so it matches
    shutil.copy(BAR, renamed)
    assert main(["drv", "paths", str(renamed), "--store", str(OK_DIR)]) == 0
    capsys.readouterr()
    wrong = tmp_path / "0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv"
    shutil.copy(BAR, wrong)
    assert main(["drv", "paths", str(wrong), "--store", str(OK_DIR)]) == 1
    assert json.loads(capsys.readouterr().out)["drv_path_matches_file_name"] is False


def test_request(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(BAR, store / BAR.name)
    bar_out = store / "mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"
    bar_out.write_text("bar\n")
    assert main(["drv", "request", str(FOO), "--store", str(store), "--needles"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert list(obj["inputs"]) == ["mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"]
    assert obj["inputs"]["mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"]["type"] == "file"
    assert obj["outputs"] == ["nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo"]
    assert obj["refscan_needles"] == [
        "fhaj6gmwns62s6ypkcldbaj2ybvkhx3p",
        "mp57d33657rf34lzvlbpfa1gjfv5gmpg",
    ]
    assert obj["needle_store_paths"] == [
        "/nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo",
        "/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar",
    ]
    castore = tmp_path / "castore"
    assert main(["drv", "request", str(FOO), "--store", str(store), "--castore", str(castore)]) == 0
    assert (castore / "blobs").is_dir()


def test_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["drv", "show", str(tmp_path / "nope.drv")]) == 2
    assert capsys.readouterr().err == (
        f"snixbuild: error: {tmp_path}/nope.drv: cannot read: No such file or directory "
        "(expected a derivation .drv file)\n"
    )
    duplicate = DATA / "derivation_tests" / "duplicate.drv"
    assert main(["drv", "show", str(duplicate)]) == 2
    assert capsys.readouterr().err == (
        f"snixbuild: error: {duplicate}: at byte 244: duplicate env key 'name' (each key may "
        "appear only once)\n"
    )
    assert main(["drv", "request", str(FOO), "--store", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"snixbuild: error: cannot read input derivation {tmp_path}/"
        "ss2p4wmxijn652haqyd7dckxwl4c7hxx-bar.drv: No such file or directory\n"
    )
    assert main(["drv"]) == 2


def test_installed_entry_point() -> None:
    proc = subprocess.run(
        [str(SNIXBUILD), "drv", "show", "--format", "serde", str(FOO)],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == Path(f"{FOO}.json").read_bytes()
    failed = subprocess.run(
        [str(SNIXBUILD), "drv", "show", str(DATA / "derivation_tests" / "duplicate.drv")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 2
    assert failed.stderr.endswith("duplicate env key 'name' (each key may appear only once)\n")
    assert "Traceback" not in failed.stderr
