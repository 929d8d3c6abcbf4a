"""``snixbuild build --memory-limit / --disk-limit``: the limits reach the build and stop it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from test_build_cli import assert_bundle_root_clean, case

from pytest_snixbuild.cli.common import byte_size
from pytest_snixbuild.cli.main import main


@pytest.mark.parametrize(
    ("text", "size"),
    [("123", 123), ("2k", 2048), ("64M", 64 << 20), ("64MiB", 64 << 20), ("1.5G", 3 << 29)],
)
def test_sizes(text: str, size: int) -> None:
    assert byte_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1M", "0", "12Q"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        byte_size(text)


def test_bad_size_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["build", str(case(tmp_path, "true")), "--memory-limit", "lots"])
    assert exc.value.code == 2
    assert "'lots' is not a size" in capsys.readouterr().err


@pytest.mark.snix_runc
def test_memory_limit_stops_a_memory_hog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # dd allocates (and touches) its 256 MiB block: more than the 32 MiB the build may use
    hog = case(tmp_path, "dd if=/dev/zero of=/dev/null bs=256M count=1 && echo > $out")
    bundles = tmp_path / "bundles"
    status = main(["build", str(hog), "--memory-limit", "32M", "--bundle-root", str(bundles)])
    err = capsys.readouterr().err
    assert status == 100, err
    assert "exit status 137" in err or "killed" in err.lower(), err
    assert_bundle_root_clean(bundles)
    # the same build fits without the limit
    assert main(["build", str(hog), "--bundle-root", str(bundles)]) == 0
    assert_bundle_root_clean(bundles)


@pytest.mark.snix_runc
def test_disk_limit_stops_a_runaway_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = case(tmp_path, "dd if=/dev/zero of=$out bs=1M count=64")
    bundles = tmp_path / "bundles"
    status = main(["build", str(writer), "--disk-limit", "8M", "--bundle-root", str(bundles)])
    err = capsys.readouterr().err
    assert status == 100, err
    assert "No space left on device" in err, err
    assert_bundle_root_clean(bundles)
