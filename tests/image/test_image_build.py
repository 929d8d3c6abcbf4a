"""build_image end to end (no external tools): schema-valid documents, consistent digests,
byte-identical rebuilds, the layer budget, option errors and clean failure."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import blake3
import pytest
from snix_image_helpers import (
    BUSYBOX_PATH,
    HELLO_PATH,
    HelloImage,
    all_files,
    blob,
    config_of,
    gunzip,
    layer_members,
    leftovers,
    manifest_of,
    read_json,
)

from pytest_snixbuild.castore.nodes import Directory, FileNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.image.api import ImageInput, build_image
from pytest_snixbuild.image.errors import ImageInputError, ImageOptionError, LayerWriteError
from pytest_snixbuild.image.ocijson import BLAKE3_ANNOTATION, REF_NAME
from pytest_snixbuild.image.schema import SchemaCheck
from pytest_snixbuild.image.verify import verify_layout


def test_every_document_is_schema_valid(
    hello_image: HelloImage, tmp_path: Path, schema_check: SchemaCheck
) -> None:
    out = tmp_path / "img"
    result = build_image(hello_image.inputs, hello_image.store, out, tag="hello:v1")
    assert schema_check("oci-layout", read_json(out / "oci-layout")) == []
    index = read_json(out / "index.json")
    assert schema_check("index", index) == []
    manifest = read_json(blob(out, result.manifest_digest))
    assert schema_check("manifest", manifest) == []
    assert schema_check("config", read_json(blob(out, result.config_digest))) == []
    # the schemas do reject a broken document (the resolver is not silently passing)
    assert schema_check("manifest", {**manifest, "layers": "nope"}) != []
    assert schema_check("index", {**index, "schemaVersion": 1}) != []


def test_documents_say_what_they_must(hello_image: HelloImage, tmp_path: Path) -> None:
    out = tmp_path / "img"
    result = build_image(
        hello_image.inputs,
        hello_image.store,
        out,
        tag="hello:v1",
        entrypoint=["/bin/hello"],
        cmd=["world"],
        env={"LANG": "C.UTF-8", "PATH": "/bin"},
    )
    assert read_json(out / "oci-layout") == {"imageLayoutVersion": "1.0.0"}
    index = read_json(out / "index.json")
    (entry,) = index["manifests"]
    assert entry["annotations"] == {REF_NAME: "v1"}
    assert entry["platform"] == {"architecture": "amd64", "os": "linux"}
    assert (entry["digest"], entry["size"]) == (result.manifest_digest, result.manifest_size)
    config = config_of(out)
    assert config["config"] == {
        "Entrypoint": ["/bin/hello"],
        "Cmd": ["world"],
        "Env": ["LANG=C.UTF-8", "PATH=/bin"],
    }
    assert config["rootfs"] == {"type": "layers", "diff_ids": [r.diff_id for r in result.layers]}
    assert len(config["history"]) == len(result.layers)
    docker = read_json(out / "manifest.json")
    assert docker == [
        {
            "Config": "blobs/sha256/" + result.config_digest.split(":")[1],
            "RepoTags": ["hello:v1"],
            "Layers": ["blobs/sha256/" + r.digest.split(":")[1] for r in result.layers],
        }
    ]
    # canonical JSON: sorted keys, no spaces
    raw = (out / "index.json").read_bytes()
    assert raw == json.dumps(index, sort_keys=True, separators=(",", ":")).encode()


def test_layer_digests_diff_ids_and_blake3(hello_image: HelloImage, tmp_path: Path) -> None:
    out = tmp_path / "img"
    result = build_image(hello_image.inputs, hello_image.store, out)
    manifest = manifest_of(out)
    for r, desc in zip(result.layers, manifest["layers"], strict=True):
        data = blob(out, r.digest).read_bytes()
        tar = gunzip(blob(out, r.digest))
        assert r.digest == desc["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert r.size == desc["size"] == len(data)
        assert r.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
        assert r.tar_size == len(tar)
        assert r.blake3.raw == blake3.blake3(tar).digest()
        assert desc["annotations"] == {BLAKE3_ANNOTATION: str(r.blake3)}
        assert desc["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert [r.kind for r in result.layers] == ["store", "symlinks"]
    assert result.layers[0].store_paths == (BUSYBOX_PATH, HELLO_PATH)
    verify_layout(out, "latest")


def test_default_name_cmd_and_env(hello_image: HelloImage, tmp_path: Path) -> None:
    result = build_image(hello_image.inputs, hello_image.store, tmp_path / "img")
    assert str(result.reference) == "hello:latest"  # from the top-level path's name
    config = config_of(tmp_path / "img")["config"]
    assert config == {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin:/usr/bin"]}


def test_rebuild_is_byte_identical(
    hello_image: HelloImage, hello_image_memory: HelloImage, tmp_path: Path
) -> None:
    """Same inputs -> the same bytes in every file, whatever the store or the parallelism."""
    a = build_image(
        hello_image.inputs,
        hello_image.store,
        tmp_path / "a",
        tag="hello:v1",
        workers=1,
        docker_archive=tmp_path / "a.tar",
    )
    b = build_image(
        hello_image_memory.inputs,
        hello_image_memory.store,
        tmp_path / "b",
        tag="hello:v1",
        workers=4,
        docker_archive=tmp_path / "b.tar",
    )
    assert all_files(tmp_path / "a") == all_files(tmp_path / "b")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert (a.manifest_digest, a.config_digest, a.layers) == (
        b.manifest_digest,
        b.config_digest,
        b.layers,
    )


def _many_paths(store: Store, n: int) -> list[ImageInput]:
    """n store paths: a shared 'lib' and n-1 top-level programs, each referring to lib."""
    lib_data = b"lib" * 1000
    lib_node = Directory({b"lib.so": FileNode(store.blobs.put(lib_data), len(lib_data))})
    store.directories.put(lib_node)
    lib = ImageInput("/nix/store/" + "l" * 32 + "-lib", lib_node.as_node())
    items = [lib]
    for i in range(1, n):
        data = f"program {i}\n".encode() * (i + 1)
        d = Directory({b"data": FileNode(store.blobs.put(data), len(data))})
        store.directories.put(d)
        path = f"/nix/store/{i:032d}-p{i:02d}"
        items.append(ImageInput(path, d.as_node(), frozenset({lib.store_path})))
    return items


@pytest.mark.parametrize("max_layers", [2, 3, 5, 40])
def test_layer_budget_holds(tmp_path: Path, max_layers: int) -> None:
    store = Store.memory()
    inputs = _many_paths(store, 30)
    result = build_image(inputs, store, tmp_path / "img", max_layers=max_layers)
    assert len(result.layers) == min(max_layers, 30 + 1)  # 30 groups + symlinks
    placed = [p for layer in result.layers for p in layer.store_paths]
    assert sorted(placed) == sorted(i.store_path for i in inputs)
    # lib is referred to by 30 paths: a layer of its own, at the bottom, unless the budget is 1
    if max_layers > 2:
        assert result.layers[0].store_paths == ("/nix/store/" + "l" * 32 + "-lib",)
    verify_layout(tmp_path / "img")


def test_without_symlink_layer(hello_image: HelloImage, tmp_path: Path) -> None:
    result = build_image(
        hello_image.inputs, hello_image.store, tmp_path / "img", symlink_layer=False, max_layers=1
    )
    assert [r.kind for r in result.layers] == ["store"]
    assert config_of(tmp_path / "img")["config"] == {"Env": ["PATH=/bin:/usr/bin"]}
    names = [m.name for m in layer_members(tmp_path / "img", 0)]
    assert names[:2] == ["nix", "nix/store"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tag": "Hello:v1"}, "image name 'Hello' (from 'Hello:v1'): expected lowercase"),
        ({"tag": "hello:-v1"}, "tag '-v1' (from 'hello:-v1'): expected 1 to 128"),
        ({"tag": "a/b"}, "tag 'a/b': expected NAME:TAG or TAG"),
        ({"max_layers": 1}, "max_layers is 1: expected at least 2"),
        ({"max_layers": 0, "symlink_layer": False}, "max_layers is 0: expected at least 1"),
        ({"workers": 0}, "workers is 0: expected at least 1"),
        ({"entrypoint": "/bin/hello"}, "entrypoint '/bin/hello': expected a non-empty list"),
        ({"cmd": []}, "cmd []: expected a non-empty list of strings"),
        ({"env": ["NOVALUE"]}, "env entry 'NOVALUE': expected KEY=VALUE"),
    ],
)
def test_option_errors(
    hello_image: HelloImage, tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ImageOptionError) as info:
        build_image(hello_image.inputs, hello_image.store, tmp_path / "img", **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert not (tmp_path / "img").exists()
    assert leftovers(tmp_path) == []


def test_input_errors(hello_image: HelloImage, tmp_path: Path) -> None:
    store, hello, bb = hello_image.store, hello_image.hello, hello_image.busybox
    cases = [
        ([], "no store paths given: an image needs at least one"),
        ([hello], f"refers to {BUSYBOX_PATH}, which is not among the image's store paths"),
        ([bb, bb], f"store path {BUSYBOX_PATH} is given twice"),
        ([ImageInput("nix/store/x", bb.node)], "expected an absolute path"),
        ([ImageInput("/nix/store/../x", bb.node)], "component '..' is invalid (Parent)"),
        (
            [bb, ImageInput(BUSYBOX_PATH + "/inner", bb.node)],
            f"store path {BUSYBOX_PATH}/inner lies inside store path {BUSYBOX_PATH}",
        ),
    ]
    for inputs, message in cases:
        with pytest.raises(ImageInputError) as info:
            build_image(inputs, store, tmp_path / "img")
        assert message in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["castore", "src"]


def test_destination_must_be_new_or_empty(hello_image: HelloImage, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "file").write_text("x")
    with pytest.raises(ImageOptionError, match="is not empty: expected a new or empty directory"):
        build_image(hello_image.inputs, hello_image.store, taken)
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ImageOptionError, match="exists and is not a directory"):
        build_image(hello_image.inputs, hello_image.store, tmp_path / "plain")
    (tmp_path / "x.tar").write_text("x")
    with pytest.raises(ImageOptionError, match=r"docker archive .* exists"):
        build_image(
            hello_image.inputs,
            hello_image.store,
            tmp_path / "new",
            docker_archive=tmp_path / "x.tar",
        )
    empty = tmp_path / "empty"
    empty.mkdir()
    build_image(hello_image.inputs, hello_image.store, empty)
    verify_layout(empty)


def test_a_failing_layer_leaves_nothing_behind(tmp_path: Path) -> None:
    store = Store.memory()
    good = b"fine"
    d = Directory({b"f": FileNode(store.blobs.put(good), len(good))})
    store.directories.put(d)
    broken = FileNode(store.blobs.put(b"short"), 999)  # wrong size: fails while writing
    inputs = [
        ImageInput("/nix/store/" + "a" * 32 + "-good", d.as_node()),
        ImageInput("/nix/store/" + "b" * 32 + "-broken", broken),
    ]
    with pytest.raises(LayerWriteError, match="end after 5 bytes, expected 999"):
        build_image(inputs, store, tmp_path / "img", max_layers=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ctrl_c_in_a_layer_stops_the_others_and_leaves_nothing(
    hello_image: HelloImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pytest_snixbuild.image.api as api
    from pytest_snixbuild.image.tarlayer import write_entries

    seen_cancel: list[bool] = []
    started = threading.Event()

    def interrupted(*args: object) -> object:
        started.wait(timeout=30)  # the symlink layer is being written
        raise KeyboardInterrupt

    def symlinks_waiting_for_cancel(entries: Any, dest: Path, cancel: Any) -> object:
        started.set()
        seen_cancel.append(cancel.wait(timeout=30))
        return write_entries(entries, dest, cancel)

    monkeypatch.setattr(api, "write_layer", interrupted)
    monkeypatch.setattr(api, "write_entries", symlinks_waiting_for_cancel)
    with pytest.raises(KeyboardInterrupt):
        build_image(hello_image.inputs, hello_image.store, tmp_path / "img", workers=2)
    assert seen_cancel == [True]  # the symlink layer was told to stop
    assert not (tmp_path / "img").exists()
    assert leftovers(tmp_path) == []
