"""The layout verifier: a good image passes; each defect of the negative matrix is caught."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from snix_image_helpers import HelloImage, blob, manifest_of, read_json, rewrite_json_blob

from pytest_snixbuild.image.api import build_image
from pytest_snixbuild.image.errors import LayoutVerifyError
from pytest_snixbuild.image.schema import SchemaCheck
from pytest_snixbuild.image.verify import verify_layout


@pytest.fixture
def image(hello_image: HelloImage, tmp_path: Path) -> Path:
    out = tmp_path / "img"
    build_image(hello_image.inputs, hello_image.store, out, tag="hello:v1")
    return out


def test_good_image_passes(image: Path, schema_check: SchemaCheck) -> None:
    verified = verify_layout(image, "v1", schema_check=schema_check)
    assert len(verified.layers) == 2
    assert verified.layers[0].entries == 15  # nix, nix/store, 10 busybox, 3 hello
    assert verify_layout(image).manifest_digest == verified.manifest_digest


def _set_manifest(layout: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the manifest, store it as a new blob and point index.json at it."""
    index = read_json(layout / "index.json")
    manifest = manifest_of(layout)
    change(manifest)
    digest = rewrite_json_blob(layout, index["manifests"][0]["digest"], manifest)
    index["manifests"][0]["digest"] = digest
    index["manifests"][0]["size"] = blob(layout, digest).stat().st_size
    (layout / "index.json").write_text(json.dumps(index))


def _set_config(layout: Path, change: Callable[[dict[str, Any]], None]) -> None:
    manifest = manifest_of(layout)
    config = read_json(blob(layout, manifest["config"]["digest"]))
    change(config)
    digest = rewrite_json_blob(layout, manifest["config"]["digest"], config)
    size = blob(layout, digest).stat().st_size

    def point(m: dict[str, Any]) -> None:
        m["config"]["digest"], m["config"]["size"] = digest, size

    _set_manifest(layout, point)


def _flip_layer_byte(layout: Path) -> None:
    path = blob(layout, manifest_of(layout)["layers"][0]["digest"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def _zero_diff_ids(layout: Path) -> None:
    _set_config(layout, lambda c: c["rootfs"].update(diff_ids=["sha256:" + "0" * 64] * 2))


def _compressed_digest_as_diff_id(layout: Path) -> None:
    digests = [d["digest"] for d in manifest_of(layout)["layers"]]
    _set_config(layout, lambda c: c["rootfs"].update(diff_ids=digests))


def _layer_size_plus_one(layout: Path) -> None:
    _set_manifest(layout, lambda m: m["layers"][0].update(size=m["layers"][0]["size"] + 1))


def _config_size_zero(layout: Path) -> None:
    _set_manifest(layout, lambda m: m["config"].update(size=0))


def _gzip_labelled_tar(layout: Path) -> None:
    _set_manifest(
        layout,
        lambda m: m["layers"][1].update(mediaType="application/vnd.oci.image.layer.v1.tar"),
    )


def _no_ref_name(layout: Path) -> None:
    index = read_json(layout / "index.json")
    del index["manifests"][0]["annotations"]
    (layout / "index.json").write_text(json.dumps(index))


def _uppercase_digest(layout: Path) -> None:
    index = read_json(layout / "index.json")
    index["manifests"][0]["digest"] = index["manifests"][0]["digest"].upper()
    (layout / "index.json").write_text(json.dumps(index))


def _missing_layer(layout: Path) -> None:
    blob(layout, manifest_of(layout)["layers"][1]["digest"]).unlink()


def _docker_manifest_stale(layout: Path) -> None:
    docker = read_json(layout / "manifest.json")
    docker[0]["Layers"].reverse()
    (layout / "manifest.json").write_text(json.dumps(docker))


def _duplicate_member(layout: Path) -> None:
    """Replace the symlink layer by a (consistent) tar with one member twice."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for _ in range(2):
            tar.addfile(tarfile.TarInfo("tmp"))
    tar_bytes = raw.getvalue()
    gz = gzip.compress(tar_bytes, mtime=0)
    digest = "sha256:" + hashlib.sha256(gz).hexdigest()
    blob(layout, digest).write_bytes(gz)
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()

    def fix_config(c: dict[str, Any]) -> None:
        c["rootfs"]["diff_ids"][1] = diff_id

    _set_config(layout, fix_config)
    _set_manifest(layout, lambda m: m["layers"][1].update(digest=digest, size=len(gz)))


DEFECTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "layer byte flipped": (_flip_layer_byte, "is not a valid application/vnd.oci"),
    "diff_ids zeroed": (_zero_diff_ids, "diff_id mismatch"),
    "compressed digest as diff_id": (_compressed_digest_as_diff_id, "diff_id mismatch"),
    "layer size +1": (_layer_size_plus_one, "the descriptor says"),
    "config size 0": (_config_size_zero, "the descriptor says 0"),
    "gzip labelled tar": (_gzip_labelled_tar, "is not a valid application/vnd.oci.image.layer"),
    "no ref.name": (_no_ref_name, "0 manifests have org.opencontainers.image.ref.name = 'v1'"),
    "uppercase digest": (_uppercase_digest, "is not sha256:<64 lowercase hex>"),
    "missing layer blob": (_missing_layer, "is missing (blobs/sha256/"),
    "docker manifest.json stale": (_docker_manifest_stale, "manifest.json: Layers"),
    "duplicate tar member": (_duplicate_member, "tar member 'tmp' appears twice"),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_is_caught(image: Path, defect: str) -> None:
    mutate, expected = DEFECTS[defect]
    mutate(image)
    with pytest.raises(LayoutVerifyError) as info:
        verify_layout(image, "v1")
    assert expected in str(info.value), str(info.value)
    assert str(info.value).startswith(f"{image}: invalid OCI image layout: ")


def test_missing_files_are_listed_together(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayoutVerifyError) as info:
        verify_layout(tmp_path / "empty")
    assert info.value.problems == [
        "oci-layout is missing",
        "blobs/ is missing",
        "index.json is missing",
    ]


def test_schema_errors_are_reported(image: Path, schema_check: SchemaCheck) -> None:
    index = read_json(image / "index.json")
    index["manifests"][0]["size"] = "765"
    (image / "index.json").write_text(json.dumps(index))
    with pytest.raises(LayoutVerifyError) as info:
        verify_layout(image, "v1", schema_check=schema_check)
    assert "index.json: schema: /manifests/0/size: '765' is not of type 'integer'" in str(
        info.value
    )
