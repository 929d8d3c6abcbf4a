"""``snixbuild image`` and ``snixbuild image-verify``: from a case file (outputs only, and with an
input served over FUSE), from a Nix derivation, errors, and the installed script. The images built
by real builds are run under runc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from snix_image_helpers import (
    BUSYBOX_PATH,
    CASES,
    H_BUSYBOX,
    H_HELLO,
    HelloImage,
    config_of,
    make_busybox_tree,
    need_tool,
    read_json,
    run_tool,
)

from pytest_snixbuild.cli.main import main
from pytest_snixbuild.engine.runtime import Runc
from pytest_snixbuild.image.api import build_image
from pytest_snixbuild.image.verify import verify_layout

SNIXBUILD = Path(sys.executable).with_name("snixbuild")
H_TOOL = "6jlc5h3xgsi9nwbb7kx3fdvjvmwj8w6k"


def run_in_runc(layout_ref: str, bundle: Path) -> tuple[int, bytes]:
    run_tool("umoci", "unpack", "--image", layout_ref, bundle)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(config))
    with Runc.private(parent=bundle.parent) as runtime:
        result = runtime.run(bundle, timeout=60)
        assert runtime.list_containers() == []
    return result.exit_code, result.stdout


# -- no build needed ---------------------------------------------------------------------------


def test_verify_ok(
    hello_image: HelloImage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = build_image(hello_image.inputs, hello_image.store, tmp_path / "img", tag="v1")
    schemas = str(Path(__file__).parent.parent / "data/image/image-spec-schema")
    assert main(["image-verify", str(tmp_path / "img"), "--tag", "v1", "--schemas", schemas]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"{tmp_path / 'img'}: ok: manifest {result.manifest_digest}, 2 layer(s), diff_ids and "
        "digests match\n"
    )


def test_verify_reports_problems_on_one_line(
    hello_image: HelloImage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_image(hello_image.inputs, hello_image.store, tmp_path / "img", tag="v1")
    assert main(["image-verify", str(tmp_path / "img"), "--tag", "v2"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"snixbuild: error: {tmp_path / 'img'}: invalid OCI image layout: index.json: 0 "
        "manifests have org.opencontainers.image.ref.name = 'v2', expected exactly one\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "{tmp}/case.txt"], "expected a case file (.toml) or a Nix derivation (.drv)"),
        (["--from", "{tmp}/missing.toml"], "no such file (expected CASE.toml or FILE.drv)"),
        (["--from", "{case}", "--entrypoint", "[1]"], "expected a JSON list of strings"),
        (["--from", "{case}", "--tag", "Bad:tag"], "image name 'Bad' (from 'Bad:tag')"),
        (["--from", "{case}", "--max-layers", "1"], "--max-layers 1: expected at least 2"),
    ],
)
def test_image_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "case.txt").write_text("")
    case = str(CASES / "hello-busybox.toml")
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{case}", case) for a in argv]
    assert main(["image", str(tmp_path / "img"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snixbuild: error: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "img").exists()


# -- real builds -------------------------------------------------------------------------------


@pytest.mark.snix_runc
def test_image_from_case(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need_tool(request, "runc", "umoci")
    scratch = tmp_path / "scratch"  # where the command's temporary bundle root goes
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = tmp_path / "img"
    status = main(
        [
            "image",
            str(out),
            "--from",
            str(CASES / "hello-busybox.toml"),
            "--tag",
            "hello:v1",
            "--entrypoint",
            "/bin/hello",
            "--cmd",
            '["from", "a case"]',
            "--docker-archive",
            str(tmp_path / "img.tar"),
            "--popular-threshold",
            "1",
        ]
    )
    text = capsys.readouterr().out
    assert status == 0
    assert text.startswith(f"wrote image hello:v1 to {out}\n")
    layers = [line.split("B  ", 1)[1] for line in text.splitlines() if "  layer " in line]
    # busybox is referred to once: with --popular-threshold 1 that is enough for its own layer
    assert layers == [f"{H_BUSYBOX}-busybox", f"{H_HELLO}-hello", "symlink layer"]
    assert f"docker archive: {tmp_path / 'img.tar'}" in text
    verify_layout(out, "v1")
    assert config_of(out)["config"]["Entrypoint"] == ["/bin/hello"]
    assert run_in_runc(f"{out}:v1", tmp_path / "bundle") == (
        0,
        b"hello from the image: from a case\n",
    )
    assert list(scratch.iterdir()) == []  # the bundle root is gone


@pytest.mark.snix_runc
def test_image_with_an_input_over_fuse_through_the_installed_script(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The input (busybox, from the host) is served to the build over FUSE; the output refers to
    it, so the image holds it, and the image runs."""
    need_tool(request, "runc", "umoci")
    make_busybox_tree(tmp_path / "busybox")
    case = tmp_path / "tool.toml"
    case.write_text(
        f"""
[request]
command_args = ["/bin/sh", "-c", '''
mkdir -p $out/bin
printf '#!%s/bin/sh\\necho "tool sees: $(ls %s/bin | wc -l) applets"\\n' $bb $bb > $out/bin/tool
chmod 555 $out/bin/tool
''']
outputs = ["nix/store/{H_TOOL}-tool"]
refscan_needles = ["{H_TOOL}", "{H_BUSYBOX}"]

[request.environment_vars]
out = "/nix/store/{H_TOOL}-tool"
bb = "{BUSYBOX_PATH}"

[request.inputs]
"{H_BUSYBOX}-busybox" = {{ path = "busybox" }}
"""
    )
    out = tmp_path / "img"
    proc = subprocess.run(
        [
            str(SNIXBUILD),
            "image",
            str(out),
            "--from",
            str(case),
            "--tag",
            "tool:1",
            "--json",
            "--entrypoint",
            "/bin/tool",
            "--store",
            str(tmp_path / "castore"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["reference"] == "tool:1"
    store_paths = [p for layer in report["layers"] for p in layer["store_paths"]]
    assert sorted(store_paths) == [BUSYBOX_PATH, f"/nix/store/{H_TOOL}-tool"]
    verify_layout(out, "1")
    assert run_in_runc(f"{out}:1", tmp_path / "bundle") == (0, b"tool sees: 8 applets\n")
    mounts = Path("/proc/mounts").read_text()
    assert "snixbuild-image-bundles" not in mounts and str(tmp_path) not in mounts


@pytest.mark.snix_runc
def test_image_from_a_derivation(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """A real .drv (nix-instantiate) whose builder is a busybox store path: its input closure
    comes from /nix/store, the build runs in runc, and the image holds the output and busybox."""
    need_tool(request, "runc", "umoci", "nix-instantiate")
    conf = tmp_path / "nixconf"
    conf.mkdir()
    (conf / "nix.conf").write_text("build-users-group =\nsubstituters =\n")
    make_busybox_tree(tmp_path / "src" / "busybox")
    (tmp_path / "src" / "default.nix").write_text(
        """
let busybox = builtins.path { path = ./busybox; name = "busybox"; }; in
derivation {
  name = "hello-drv";
  system = "x86_64-linux";
  builder = "${busybox}/bin/busybox";
  args = [ "sh" "-c" ''
    mkdir -p $out/bin
    printf '#!${busybox}/bin/sh\\necho hello from a derivation\\n' > $out/bin/hello
    chmod 555 $out/bin/hello
  '' ];
}
"""
    )
    env = {**os.environ, "NIX_CONF_DIR": str(conf)}
    drv = subprocess.run(
        ["nix-instantiate", "--no-gc-warning", str(tmp_path / "src" / "default.nix")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    ).stdout.strip()
    out = tmp_path / "img"
    assert main(["image", str(out), "--from", drv, "--entrypoint", "/bin/hello"]) == 0
    index = read_json(out / "index.json")
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    docker = read_json(out / "manifest.json")
    assert docker[0]["RepoTags"] == ["hello-drv:latest"]
    verify_layout(out, "latest")
    assert run_in_runc(f"{out}:latest", tmp_path / "bundle") == (
        0,
        b"hello from a derivation\n",
    )


def test_installed_script_help() -> None:
    if not SNIXBUILD.exists():
        pytest.skip(f"{SNIXBUILD} is not installed")
    proc = subprocess.run(
        [str(SNIXBUILD), "image", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "--from CASE.toml|FILE.drv" in proc.stdout
    assert shutil.which("true") is not None
