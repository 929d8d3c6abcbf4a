"""The image runs: unpacked by umoci (from the OCI layout, or from the Docker archive via skopeo)
and run by runc, with the entrypoint, the /bin links, /usr/bin/env and /tmp working.

Run with ``pytest --snix-runc``. Each run has its own runc state directory, removed afterwards with
every container in it (``Runc.private``); the test checks that none is left.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from snix_image_helpers import HelloImage, need_tool, run_tool

from pytest_snixbuild.engine.runtime import Runc, RunResult
from pytest_snixbuild.image.api import ImageResult, build_image

pytestmark = pytest.mark.snix_runc

RunImage = Callable[..., RunResult]


@pytest.fixture
def built(hello_image: HelloImage, tmp_path: Path, request: pytest.FixtureRequest) -> ImageResult:
    need_tool(request, "runc", "umoci", "skopeo")
    return build_image(
        hello_image.inputs,
        hello_image.store,
        tmp_path / "img",
        tag="hello:v1",
        entrypoint=["/bin/hello"],
        cmd=["world"],
        docker_archive=tmp_path / "img.tar",
    )


def unpack(layout_ref: str, bundle: Path, args: Sequence[str] | None = None) -> dict[str, Any]:
    """umoci unpack, then make the bundle runnable without a terminal."""
    run_tool("umoci", "unpack", "--image", layout_ref, bundle)
    config: dict[str, Any] = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    if args is not None:
        config["process"]["args"] = list(args)
    (bundle / "config.json").write_text(json.dumps(config))
    return config


@pytest.fixture
def run_image(tmp_path: Path) -> RunImage:
    counter = iter(range(100))

    def run(layout_ref: str, args: Sequence[str] | None = None) -> RunResult:
        bundle = tmp_path / f"bundle-{next(counter)}"
        unpack(layout_ref, bundle, args)
        with Runc.private(parent=tmp_path) as runtime:
            result = runtime.run(bundle, timeout=60)
            assert runtime.list_containers() == []
        return result

    return run


def test_entrypoint_runs(built: ImageResult, run_image: RunImage) -> None:
    result = run_image(f"{built.out_dir}:v1")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        b"hello from the image: world\n",
        b"",
    )


def test_docker_archive_runs(built: ImageResult, tmp_path: Path, run_image: RunImage) -> None:
    copy = tmp_path / "from-docker"
    run_tool("skopeo", "copy", f"docker-archive:{built.docker_archive}:hello:v1", f"oci:{copy}:v1")
    result = run_image(f"{copy}:v1")
    assert (result.exit_code, result.stdout) == (0, b"hello from the image: world\n")


def test_links_env_and_tmp_work(built: ImageResult, run_image: RunImage) -> None:
    script = (
        "echo PATH=$PATH; "
        "readlink /bin/sh; "
        "echo data > /tmp/file && cat /tmp/file; "
        "stat -c %a /tmp; "
        "hello via env"
    )
    result = run_image(f"{built.out_dir}:v1", ["/usr/bin/env", "sh", "-c", script])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "PATH=/bin:/usr/bin",
        "/nix/store/0c2kkq4mzpc5b6fkxw5m2nm0d1hsd2s5-busybox/bin/sh",
        "data",
        "1777",
        "hello from the image: via env",
    ]


def test_exit_status_comes_through(built: ImageResult, run_image: RunImage) -> None:
    result = run_image(f"{built.out_dir}:v1", ["/bin/sh", "-c", "echo failing >&2; exit 3"])
    assert (result.exit_code, result.stderr) == (3, b"failing\n")
