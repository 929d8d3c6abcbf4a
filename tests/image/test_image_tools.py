"""Independent consumers accept the image: umoci (checks diff_ids), skopeo (inspect, copy, the
Docker archive) and oci-image-tool; and they do reject a corrupted one."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from snix_image_helpers import (
    BUSYBOX_PATH,
    HELLO_PATH,
    HelloImage,
    all_files,
    blob,
    manifest_of,
    need_tool,
    run_tool,
)

from pytest_snixbuild.image.api import ImageResult, build_image


@pytest.fixture
def built(hello_image: HelloImage, tmp_path: Path) -> ImageResult:
    return build_image(
        hello_image.inputs,
        hello_image.store,
        tmp_path / "img",
        tag="hello:v1",
        entrypoint=["/bin/hello"],
        cmd=["world"],
        docker_archive=tmp_path / "img.tar",
    )


def test_umoci_unpack(built: ImageResult, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    need_tool(request, "umoci")
    bundle = tmp_path / "bundle"
    run_tool("umoci", "unpack", "--image", f"{built.out_dir}:v1", bundle)
    rootfs = bundle / "rootfs"
    assert (rootfs / BUSYBOX_PATH[1:] / "bin/busybox").read_bytes() == Path(
        "/bin/busybox"
    ).read_bytes()
    assert (rootfs / "bin/hello").readlink() == Path(HELLO_PATH + "/bin/hello")
    assert (rootfs / "usr/bin/env").readlink() == Path(BUSYBOX_PATH + "/bin/env")
    assert stat.S_IMODE((rootfs / "tmp").stat().st_mode) == 0o1777
    assert stat.S_IMODE((rootfs / HELLO_PATH[1:] / "bin/hello").stat().st_mode) == 0o555
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"] == ["/bin/hello", "world"]
    assert "PATH=/bin:/usr/bin" in config["process"]["env"]


def test_umoci_rejects_a_corrupted_layer(
    built: ImageResult, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    need_tool(request, "umoci")
    path = blob(built.out_dir, built.layers[0].digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    proc = run_tool(
        "umoci", "unpack", "--image", f"{built.out_dir}:v1", tmp_path / "bundle", check=False
    )
    assert proc.returncode != 0
    assert "checksum" in proc.stderr or "mismatch" in proc.stderr, proc.stderr


def test_skopeo_inspect(built: ImageResult, request: pytest.FixtureRequest) -> None:
    need_tool(request, "skopeo")
    info = json.loads(run_tool("skopeo", "inspect", f"oci:{built.out_dir}:v1").stdout)
    assert info["Digest"] == built.manifest_digest
    assert info["Layers"] == [layer.digest for layer in built.layers]
    assert (info["Architecture"], info["Os"]) == ("amd64", "linux")
    assert info["Env"] == ["PATH=/bin:/usr/bin"]
    raw = run_tool("skopeo", "inspect", "--raw", f"oci:{built.out_dir}:v1").stdout
    assert raw.encode() == blob(built.out_dir, built.manifest_digest).read_bytes()


def test_skopeo_copy_keeps_every_blob(
    built: ImageResult, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    need_tool(request, "skopeo")
    copy = tmp_path / "copy"
    run_tool("skopeo", "copy", f"oci:{built.out_dir}:v1", f"oci:{copy}:v1")
    ours = {k: v for k, v in all_files(built.out_dir).items() if k.startswith("blobs/")}
    theirs = {k: v for k, v in all_files(copy).items() if k.startswith("blobs/")}
    assert theirs == ours


def test_oci_image_tool_validate(built: ImageResult, request: pytest.FixtureRequest) -> None:
    need_tool(request, "oci-image-tool")
    proc = run_tool(
        "oci-image-tool", "validate", "--type", "image", "--ref", "name=v1", built.out_dir
    )
    assert "Validation succeeded" in proc.stdout + proc.stderr


def test_docker_archive_is_read_by_its_repo_tag(
    built: ImageResult, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """skopeo's docker-archive transport reads manifest.json as ``docker load`` does: the config,
    the layers (gzip, decompressed and checked against the diff_ids) and RepoTags."""
    need_tool(request, "skopeo", "umoci")
    archive = built.docker_archive
    assert archive is not None
    info = json.loads(run_tool("skopeo", "inspect", f"docker-archive:{archive}:hello:v1").stdout)
    assert info["Layers"] == [layer.diff_id for layer in built.layers]
    out = tmp_path / "from-docker"
    run_tool("skopeo", "copy", f"docker-archive:{archive}:hello:v1", f"oci:{out}:v1")
    run_tool("umoci", "unpack", "--image", f"{out}:v1", tmp_path / "bundle")
    assert (tmp_path / "bundle/rootfs/bin/hello").is_symlink()
    # skopeo re-serialises the config on the way, but the layers are the same
    copied = json.loads(blob(out, manifest_of(out)["config"]["digest"]).read_bytes())
    assert copied["rootfs"]["diff_ids"] == [layer.diff_id for layer in built.layers]
    assert copied["config"]["Entrypoint"] == ["/bin/hello"]
