"""``snixbuild drv build``: real builds in runc of the derivations in tests/data/nix/cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from nix_testlib import DATA

from pytest_snixbuild.cli.main import main

pytestmark = pytest.mark.snix_runc

STORE_DIR = DATA / "cases" / "store"
HELLO = STORE_DIR / "y9v6p79df1h4m07g08xamw6p36dv33bm-hello.drv"
RANDOM = STORE_DIR / "p7flk14darz0vqs0ma0xylv7gk9sby0z-random.drv"
FOD_WRONG = STORE_DIR / "k2x43blrny6j6gahnqr8k481z8njgb5f-fod-wrong.drv"
SNIXBUILD = Path(sys.executable).parent / "snixbuild"
HELLO_OUT = "/nix/store/65an4d6vg99z526gsv1bnnc10b00s1q1-hello"
HELLO_JSON = [
    {
        "name": "dev",
        "path": "/nix/store/jza6b911i9riakm4rji1zyk1b17903xs-hello-dev",
        "nar_hash": "sha256:18y2qp4arlcmjxf187lxjfsdysqf08hfrmpkwh811r1d0i0lbyrr",
        "nar_size": 168,
        "references": [HELLO_OUT],
    },
    {
        "name": "out",
        "path": HELLO_OUT,
        "nar_hash": "sha256:0l08gbhpl1mx8ha4s1p7d8kz9lv6vgr72kvp991kfkfpl203fir8",
        "nar_size": 648,
        "references": [
            HELLO_OUT,
            "/nix/store/715a8fi6jcf25958bmkm3yxfrc53gbpx-note",
            "/nix/store/fwr53h1ziqnp023qpgjyd2sf3ix9x81p-dep",
        ],
    },
]


def _mounts_below(path: Path) -> list[str]:
    with open("/proc/mounts") as mounts:
        return [line for line in mounts if str(path) in line]


def test_build_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bundles = tmp_path / "bundles"
    castore = tmp_path / "castore"
    argv = ["drv", "build", str(HELLO), "--store", str(STORE_DIR), "--json"]
    assert main([*argv, "--castore", str(castore), "--bundle-root", str(bundles)]) == 0
    assert json.loads(capsys.readouterr().out) == HELLO_JSON
    assert any((castore / "blobs").iterdir())  # the outputs went into the on-disk castore
    assert [p.name for p in bundles.iterdir()] == [".runc"]  # no bundle left behind
    assert _mounts_below(tmp_path) == []


def test_build_text_rootful(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drv", "build", str(HELLO), "--store", str(STORE_DIR), "--rootful"]) == 0
    assert capsys.readouterr().out == (
        "/nix/store/jza6b911i9riakm4rji1zyk1b17903xs-hello-dev (dev)\n"
        "  nar_hash    sha256:18y2qp4arlcmjxf187lxjfsdysqf08hfrmpkwh811r1d0i0lbyrr\n"
        "  nar_size    168\n"
        f"  references  {HELLO_OUT}\n"
        f"{HELLO_OUT} (out)\n"
        "  nar_hash    sha256:0l08gbhpl1mx8ha4s1p7d8kz9lv6vgr72kvp991kfkfpl203fir8\n"
        "  nar_size    648\n"
        f"  references  {HELLO_OUT}\n"
        "              /nix/store/715a8fi6jcf25958bmkm3yxfrc53gbpx-note\n"
        "              /nix/store/fwr53h1ziqnp023qpgjyd2sf3ix9x81p-dep\n"
    )


def test_check_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drv", "build", str(HELLO), "--store", str(STORE_DIR), "--check"]) == 0
    captured = capsys.readouterr()
    assert f"{HELLO_OUT} (out)" in captured.out
    assert captured.err == (
        f"snixbuild: checked: two builds of /nix/store/{HELLO.name} gave the same outputs\n"
    )


def test_check_not_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drv", "build", str(RANDOM), "--store", str(STORE_DIR), "--check"]) == 104
    captured = capsys.readouterr()
    assert captured.out == ""
    first, second = captured.err.splitlines()
    assert first == (
        f"snixbuild: error: derivation '/nix/store/{RANDOM.name}' may not be deterministic: "
        "output '/nix/store/a905irl99fg6zsb2ifw5rvymmimwfyyh-random' differs:"
    )
    # only the random file is named; "stable" is the same in both builds
    assert second.startswith(
        "  random: contents differ (37 bytes, then 37 bytes; first difference on line 1: '"
    )


def test_fixed_output_hash_mismatch(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drv", "build", str(FOD_WRONG), "--store", str(STORE_DIR)]) == 102
    assert capsys.readouterr().err == (
        "snixbuild: error: hash mismatch in fixed-output derivation "
        f"'/nix/store/{FOD_WRONG.name}':\n"
        "  specified: sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\n"
        "     got:    sha256-guNaY866N+lkZDTF3UEupXcUfx5KQczeFhQlMYfj2/k=\n"
    )


def test_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.drv"
    assert main(["drv", "build", str(missing), "--store", str(STORE_DIR)]) == 2
    assert capsys.readouterr().err == (
        f"snixbuild: error: {missing}: cannot read: No such file or directory (expected a "
        "derivation .drv file)\n"
    )
    empty = tmp_path / "empty-store"
    empty.mkdir()
    assert main(["drv", "build", str(HELLO), "--store", str(empty)]) == 2
    assert capsys.readouterr().err == (
        f"snixbuild: error: cannot read input derivation {empty}/"
        "8d4f5lxgacnwlqqv100x46w77dnky63f-dep.drv: No such file or directory\n"
    )


def test_installed_script(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(SNIXBUILD), "drv", "build", str(HELLO), "--store", str(STORE_DIR), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == HELLO_JSON
