"""``snixbuild build CASE.toml``: in-process through cli.main, and through the installed script."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from snix_engine_helpers import fuse_mounts_below, processes_with_arg

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.cli.main import main
from pytest_snixbuild.engine.runtime import Runc

pytestmark = pytest.mark.snix_runc

SNIXBUILD = Path(sys.executable).parent / "snixbuild"
OUT = "nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-hello"
LIB = "v137y81wxx44zx8nln1b4xhj75bs7dbn"


def case(tmp_path: Path, script: str, expect: str = "", *, name: str = "case") -> Path:
    text = f"""
[request]
command_args = ["/bin/sh", "-c", '''{script}''']
outputs = ["{OUT}"]
refscan_needles = ["{LIB}"]

[request.environment_vars]
out = "/{OUT}"

[request.inputs]
"{LIB}-lib" = {{ contents = "a library\\n" }}
{expect}
"""
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def assert_bundle_root_clean(root: Path) -> None:
    assert fuse_mounts_below(root) == []
    state = root / ".runc"
    if state.exists():
        assert Runc(state).list_containers() == []
        assert list(state.iterdir()) == []
    assert [p.name for p in root.iterdir() if p.name != ".runc"] == []


TREE_SCRIPT = f"""set -e
mkdir -p $out/bin
cat /nix/store/{LIB}-lib > $out/lib-copy
printf '#!/bin/sh\\necho hi\\n' > $out/bin/hi
chmod 555 $out/bin/hi
ln -s /nix/store/{LIB}-lib $out/lib"""


@pytest.mark.parametrize("mode", ["--rootless", "--rootful"])
def test_json_output_matches_nix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    """--json prints the outputs; the NAR hash is what Nix itself computes for the same tree."""
    bundles = tmp_path / "bundles"
    path = case(tmp_path, TREE_SCRIPT)
    status = main(["build", str(path), mode, "--json", "--bundle-root", str(bundles)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    data = json.loads(captured.out)
    (output,) = data["outputs"]
    assert output["path"] == OUT
    assert output["node"]["type"] == "directory"
    assert output["needles"] == [0]

    same = tmp_path / "same"
    (same / "bin").mkdir(parents=True)
    (same / "lib-copy").write_text("a library\n")
    (same / "bin" / "hi").write_text("#!/bin/sh\necho hi\n")
    (same / "bin" / "hi").chmod(0o555)
    (same / "lib").symlink_to(f"/nix/store/{LIB}-lib")
    nix_hash = shutil.which("nix-hash")
    if nix_hash is None:
        pytest.skip("nix-hash (nix-bin) is not installed")
    nix = subprocess.run(
        [nix_hash, "--type", "sha256", "--base32", str(same)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert output["nar_hash"] == f"sha256:{nix}"
    assert_bundle_root_clean(bundles)


def test_expectations_met(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expect = f"""
[expect.outputs."{OUT}"]
type = "file"
contents = "a library\\nbuilt\\n"
needles = []
"""
    path = case(tmp_path, f"cat /nix/store/{LIB}-lib > $out; echo built >> $out", expect)
    assert main(["build", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"/{OUT}" in out
    assert "expectations: ok" in out


def test_expectation_mismatch_exits_1_with_a_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expect = f"""
[expect.outputs."{OUT}"]
type = "file"
contents = "line 1\\nline 2\\n"
needles = ["{LIB}"]
"""
    path = case(tmp_path, "printf 'line 1\\nline two\\n' > $out", expect)
    assert main(["build", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: 2 expectation(s) not met" in err
    assert "-line 2\n" in err and "+line two\n" in err
    assert f"needles differ: missing {LIB}" in err


def test_failed_build_exits_nonzero_with_reason_and_tail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundles = tmp_path / "bundles"
    path = case(tmp_path, "echo step 1; echo 'error: it broke' >&2; exit 4")
    assert main(["build", str(path), "--bundle-root", str(bundles)]) == 100
    err = capsys.readouterr().err
    first, *rest = err.splitlines()
    assert first == "snixbuild: build failed: the builder exited with status 4"
    assert rest == ["--- last lines of the build's stderr ---", "error: it broke"]
    assert_bundle_root_clean(bundles)


def test_expected_failure_is_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = case(tmp_path, "exit 3", "\n[expect]\nsuccess = false\n")
    assert main(["build", str(path)]) == 0
    assert "failed as expected" in capsys.readouterr().out


def test_timeout_exits_101(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundles = tmp_path / "bundles"
    path = case(tmp_path, "sleep 60")
    assert main(["build", str(path), "--timeout", "1", "--bundle-root", str(bundles)]) == 101
    assert "timed out after 1 s" in capsys.readouterr().err
    assert_bundle_root_clean(bundles)


def test_missing_output_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = case(tmp_path, "true")
    assert main(["build", str(path)]) == 100
    assert f"build did not produce output '{OUT}'" in capsys.readouterr().err


def test_keep_failed_prints_the_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundles = tmp_path / "bundles"
    path = case(tmp_path, "exit 1")
    assert main(["build", str(path), "--keep-failed", "--bundle-root", str(bundles)]) == 100
    err = capsys.readouterr().err
    kept = [p for p in bundles.iterdir() if p.name != ".runc"]
    assert len(kept) == 1
    assert f"bundle kept for inspection at {kept[0]}" in err
    assert (kept[0] / "config.json").is_file()
    assert fuse_mounts_below(bundles) == []
    shutil.rmtree(kept[0])
    assert_bundle_root_clean(bundles)


def test_bad_case_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[request]\ncommand_args = "not a list"\n')
    assert main(["build", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snixbuild: error: ")
    assert len(err.strip().splitlines()) == 1


def test_bad_timeout_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["build", str(tmp_path / "x.toml"), "--timeout", "-3"])
    assert caught.value.code == 2
    assert "expected a positive number of seconds" in capsys.readouterr().err


# -- through the installed script ----------------------------------------------------------------
def _wait_for_running(state: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if state.is_dir() and any(c.status == "running" for c in Runc(state).list_containers()):
            return
        time.sleep(0.05)
    raise AssertionError("the build never started")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("mode", ["--rootless", "--rootful"])
def test_interrupting_the_cli_cleans_up(tmp_path: Path, sig: signal.Signals, mode: str) -> None:
    tag = f"snixtest-{uuid.uuid4().hex}"
    bundles = tmp_path / "bundles"
    path = case(tmp_path, f"sleep 60; : {tag}")
    proc = subprocess.Popen(
        [str(SNIXBUILD), "build", str(path), mode, "--bundle-root", str(bundles)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_running(bundles / ".runc", proc)
        assert len(fuse_mounts_below(bundles)) == 1
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert b"snixbuild: interrupted" in err
    assert_bundle_root_clean(bundles)
    assert processes_with_arg(tag) == []


def test_processes_share_one_store(tmp_path: Path) -> None:
    """Three snixbuild processes at once, one on-disk castore and one bundle root."""
    store, bundles = tmp_path / "store", tmp_path / "bundles"
    path = case(tmp_path, TREE_SCRIPT)
    argv = [str(SNIXBUILD), "build", str(path), "--json", "--store", str(store)]
    procs = [
        subprocess.Popen(
            [*argv, "--bundle-root", str(bundles)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out))
    assert outputs[0] == outputs[1] == outputs[2]
    assert_bundle_root_clean(bundles)
    digest = B3Digest.parse(outputs[0]["outputs"][0]["node"]["digest"])
    assert Store.open(store).directories.has(digest)
