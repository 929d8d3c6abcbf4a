"""Image inputs from a build: needles -> store paths, inputs scanned for their references, the
runtime closure of the outputs (no runc here: the BuildResult is written by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.image.errors import ImageInputError
from pytest_snixbuild.image.from_build import hash_part, image_inputs_from_build
from pytest_snixbuild.request.model import BuildOutput, BuildRequest, BuildResult

H_OUT = "0c2kkq4mzpc5b6fkxw5m2nm0d1hsd2s5"
H_DEV = "1b9p07z77phvv2hf6gjxnah8b4xxkvy8"
H_LIB = "2fq4rs31kjhl7fm5qna5xbcbkbim50qh"
H_LIBDEP = "3c0wb0bc87mrjlxp75dzgkb5svsw6rdv"
H_COMPILER = "4smn808b402sagf7sys0yfd1hsxch3r6"


def file(store: Store, text: str, executable: bool = False) -> FileNode:
    data = text.encode()
    return FileNode(store.blobs.put(data), len(data), executable)


def setup(tmp_path: Path) -> tuple[Store, BuildRequest, BuildResult]:
    store = Store.memory()
    lib_dir = tmp_path / "lib"
    (lib_dir / "lib").mkdir(parents=True)
    (lib_dir / "lib/libx.so").write_text(f"needs /nix/store/{H_LIBDEP}-libdep/lib/y.so\n")
    inputs: dict[str, Node] = {
        f"{H_LIB}-lib": ingest_path(lib_dir, store),
        f"{H_LIBDEP}-libdep": file(store, "leaf library"),
        f"{H_COMPILER}-compiler": file(store, f"builds things, knows /nix/store/{H_LIB}-lib"),
        "not-a-store-path": SymlinkNode(b"/nowhere"),
    }
    request = BuildRequest(
        command_args=("/bin/sh", "-c", ":"),
        inputs=inputs,
        outputs=(f"nix/store/{H_OUT}-app", f"nix/store/{H_DEV}-app-dev"),
        refscan_needles=(H_OUT, H_DEV, H_LIB, H_LIBDEP, H_COMPILER),
    )
    result = BuildResult(
        outputs=(
            BuildOutput(f"nix/store/{H_OUT}-app", file(store, "app"), needles=(0, 2)),
            BuildOutput(f"nix/store/{H_DEV}-app-dev", file(store, "dev"), needles=(0,)),
        )
    )
    return store, request, result


def test_outputs_and_their_runtime_closure(tmp_path: Path) -> None:
    store, request, result = setup(tmp_path)
    got = image_inputs_from_build(request, result, store)
    table = {i.store_path: sorted(i.references) for i in got}
    assert [i.store_path for i in got] == [
        f"/nix/store/{H_OUT}-app",
        f"/nix/store/{H_DEV}-app-dev",
        f"/nix/store/{H_LIB}-lib",
        f"/nix/store/{H_LIBDEP}-libdep",
    ]  # outputs first (request order), then the inputs they need; not the compiler
    assert table == {
        f"/nix/store/{H_OUT}-app": [f"/nix/store/{H_OUT}-app", f"/nix/store/{H_LIB}-lib"],
        f"/nix/store/{H_DEV}-app-dev": [f"/nix/store/{H_OUT}-app"],
        f"/nix/store/{H_LIB}-lib": [f"/nix/store/{H_LIBDEP}-libdep"],  # found by scanning
        f"/nix/store/{H_LIBDEP}-libdep": [],
    }
    assert got[2].node == request.inputs[f"{H_LIB}-lib"]


def test_all_inputs(tmp_path: Path) -> None:
    store, request, result = setup(tmp_path)
    got = image_inputs_from_build(request, result, store, all_inputs=True)
    paths = [i.store_path for i in got]
    assert f"/nix/store/{H_COMPILER}-compiler" in paths
    assert "/nix/store/not-a-store-path" in paths
    compiler = next(i for i in got if i.store_path.endswith("-compiler"))
    assert compiler.references == frozenset({f"/nix/store/{H_LIB}-lib"})


def test_unknown_needle_is_an_error(tmp_path: Path) -> None:
    store, request, result = setup(tmp_path)
    stray = "5xzjn0y0bqzvs65awsqbdlwv7rmg3q5i"
    request = BuildRequest(
        command_args=request.command_args,
        inputs=request.inputs,
        outputs=request.outputs,
        refscan_needles=(*request.refscan_needles, stray),
    )
    result = BuildResult(
        outputs=(BuildOutput(result.outputs[0].path, result.outputs[0].node, (5,)),)
    )
    with pytest.raises(ImageInputError) as info:
        image_inputs_from_build(request, result, store)
    assert str(info.value) == (
        f"output /nix/store/{H_OUT}-app refers to needle 5 ({stray}), which is the hash of "
        "neither an output nor an input of the request: the image would miss it"
    )


def test_hash_part() -> None:
    assert hash_part(f"/nix/store/{H_OUT}-app") == H_OUT
    assert hash_part("/nix/store/short-app") is None
    assert hash_part("/nix/store/" + "e" * 32 + "-app") is None  # 'e' is not nixbase32
