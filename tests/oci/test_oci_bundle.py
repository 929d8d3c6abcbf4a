"""make_bundle: the files it writes and who owns them; host_output_paths: snix's resolution."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.oci import (
    BundleError,
    OutputPathError,
    host_output_paths,
    make_bundle,
    scratch_name,
)
from pytest_snixbuild.oci.bundle import build_user_host_ids
from pytest_snixbuild.request.model import AdditionalFile, BuildRequest

SpecFn = Callable[..., dict[str, Any]]
BUILD = "3SCCPULSYMZAQ35F76TA3A3HYQROJMTNQW7SVJDXX5BNIYJ3WHYA===="
STORE = "SN566XP5HOO2D322W42EA3DZYPDYBMPRUF3TGFIMLXV54WM4CSNQ===="


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_bundle_layout(foo_request: BuildRequest, pure_spec: SpecFn, tmp_path: Path) -> None:
    spec = pure_spec(foo_request)
    bundle = make_bundle(foo_request, spec, tmp_path / "b")
    assert bundle.path == tmp_path / "b"
    assert bundle.config_path == bundle.path / "config.json"
    assert bundle.inputs_dir == bundle.path / "inputs"
    assert bundle.root_dir == bundle.path / "root"
    assert bundle.scratch_dirs == {
        "build": bundle.path / "scratch" / BUILD,
        "nix/store": bundle.path / "scratch" / STORE,
    }
    assert _tree(bundle.path) == [
        "config.json",
        "inputs",
        "root",
        "root/etc",
        "root/etc/group",
        "root/etc/hosts",
        "root/etc/passwd",
        "scratch",
        f"scratch/{BUILD}",
        f"scratch/{STORE}",
    ]
    text = bundle.config_path.read_text()
    assert json.loads(text) == spec
    assert text == json.dumps(spec, separators=(",", ":"))  # compact, in snix's key order
    assert "\n" not in text


def test_etc_files_as_nix_writes_them(
    foo_request: BuildRequest, pure_spec: SpecFn, tmp_path: Path
) -> None:
    bundle = make_bundle(foo_request, pure_spec(foo_request), tmp_path / "b")
    etc = bundle.root_dir / "etc"
    assert (etc / "passwd").read_text() == (
        "root:x:0:0:Nix build user:/build:/noshell\n"
        "nixbld:x:1000:100:Nix build user:/build:/noshell\n"
        "nobody:x:65534:65534:Nobody:/:/noshell\n"
    )
    assert (etc / "group").read_text() == "root:x:0:\nnixbld:!:100:\nnogroup:x:65534:\n"
    assert (etc / "hosts").read_text() == "127.0.0.1 localhost\n::1 localhost\n"
    for name in ("passwd", "group", "hosts"):
        assert stat.S_IMODE((etc / name).stat().st_mode) == 0o644


def test_additional_files_go_into_the_build_scratch_dir(
    make_request: Callable[..., BuildRequest], pure_spec: SpecFn, tmp_path: Path
) -> None:
    request = make_request(
        additional_files=(
            AdditionalFile("build/.attrs.json", b"{}"),
            AdditionalFile("build/sub/dir/file", b"\x00\xff"),
        )
    )
    bundle = make_bundle(request, pure_spec(request), tmp_path / "b")
    build = bundle.scratch_dirs["build"]
    assert (build / ".attrs.json").read_bytes() == b"{}"
    assert (build / "sub" / "dir" / "file").read_bytes() == b"\x00\xff"
    assert _tree(bundle.scratch_dirs["nix/store"]) == []


def test_additional_files_ignored_without_build_scratch_path(
    make_request: Callable[..., BuildRequest], pure_spec: SpecFn, tmp_path: Path
) -> None:
    request = make_request(
        scratch_paths=("nix/store",),
        outputs=("out",),
        additional_files=(AdditionalFile("elsewhere", b"x"),),
    )
    bundle = make_bundle(request, pure_spec(request), tmp_path / "b")
    assert list(bundle.scratch_dirs) == ["nix/store"]
    assert _tree(bundle.path / "scratch") == [STORE]


@pytest.mark.parametrize("path", ["build", "src/x", "buildx/y", "/build/x"])
def test_additional_files_must_start_with_build(
    make_request: Callable[..., BuildRequest], pure_spec: SpecFn, tmp_path: Path, path: str
) -> None:
    request = make_request(additional_files=(AdditionalFile(path, b""),))
    with pytest.raises(BundleError, match="Additional files must start with build/") as info:
        make_bundle(request, pure_spec(request), tmp_path / "b")
    assert repr(path) in str(info.value)
    assert not (tmp_path / "b").exists()  # nothing left behind


@pytest.mark.parametrize("path", ["build/../escape", "build//x", "build/./x", "build/x/"])
def test_additional_files_stay_inside(
    make_request: Callable[..., BuildRequest], pure_spec: SpecFn, tmp_path: Path, path: str
) -> None:
    request = make_request(additional_files=(AdditionalFile(path, b""),))
    with pytest.raises(BundleError, match="not a clean relative path"):
        make_bundle(request, pure_spec(request), tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_additional_file_cleans_up(
    make_request: Callable[..., BuildRequest], pure_spec: SpecFn, tmp_path: Path
) -> None:
    request = make_request(
        additional_files=(AdditionalFile("build/a", b"file"), AdditionalFile("build/a/b", b"x"))
    )
    with pytest.raises(BundleError, match="cannot write additional file 'build/a/b'"):
        make_bundle(request, pure_spec(request), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_existing_bundle_is_refused(
    foo_request: BuildRequest, pure_spec: SpecFn, tmp_path: Path
) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep").write_text("mine")
    with pytest.raises(BundleError, match="already exists and is not empty"):
        make_bundle(foo_request, pure_spec(foo_request), tmp_path / "b")
    assert (tmp_path / "b" / "keep").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    make_bundle(foo_request, pure_spec(foo_request), tmp_path / "empty")


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
@pytest.mark.parametrize(("rootless", "owner"), [(True, (100000, 100000)), (False, (1000, 100))])
def test_scratch_dirs_belong_to_the_build_user(
    make_request: Callable[..., BuildRequest],
    pure_spec: SpecFn,
    tmp_path: Path,
    rootless: bool,
    owner: tuple[int, int],
) -> None:
    """Rootless: the build user's mapped host ids; rootful: 1000:100 themselves."""
    request = make_request(additional_files=(AdditionalFile("build/d/f", b"x"),))
    spec = pure_spec(request, rootless=rootless)
    assert build_user_host_ids(spec) == owner
    bundle = make_bundle(request, spec, tmp_path / "b")
    for scratch in bundle.scratch_dirs.values():
        for p in [scratch, *scratch.rglob("*")]:
            st = p.lstat()
            assert (st.st_uid, st.st_gid) == owner, p
    assert bundle.root_dir.stat().st_uid == os.geteuid()


def test_unmapped_build_user_is_an_error(
    foo_request: BuildRequest, pure_spec: SpecFn, tmp_path: Path
) -> None:
    spec = pure_spec(foo_request)
    spec["linux"]["uidMappings"] = spec["linux"]["uidMappings"][:1]
    with pytest.raises(BundleError, match="do not map it"):
        build_user_host_ids(spec)


# host_output_paths: snix's find_path_in_scratchs / get_host_output_paths cases


def _request(outputs: tuple[str, ...], scratch: tuple[str, ...]) -> BuildRequest:
    return BuildRequest(command_args=("/x",), outputs=outputs, scratch_paths=scratch)


def test_snix_case() -> None:
    out = "nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo"
    got = host_output_paths(_request((out,), ("build", "nix/store")), Path("bundle-root"))
    assert got == {out: Path(f"bundle-root/scratch/{STORE}/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo")}


def test_outputs_in_request_order(tmp_path: Path) -> None:
    outs = ("nix/store/b-out", "build/a/deep/file", "nix/store/a-dev")
    got = host_output_paths(_request(outs, ("build", "nix/store")), tmp_path)
    assert list(got) == list(outs)
    assert got["build/a/deep/file"] == tmp_path / "scratch" / BUILD / "a" / "deep" / "file"


def test_prefix_is_component_wise() -> None:
    """``nix/sto`` is no prefix of ``nix/store/aaaa``."""
    with pytest.raises(OutputPathError) as info:
        host_output_paths(_request(("nix/store/aaaa",), ("build", "nix/sto")), Path("b"))
    assert str(info.value).startswith(
        "unable to find path 'nix/store/aaaa' under any scratch path "
        "(scratch_paths = ['build', 'nix/sto'])"
    )


def test_longest_prefix_wins() -> None:
    got = host_output_paths(_request(("nix/store/x",), ("nix", "nix/store")), Path("b"))
    assert got == {"nix/store/x": Path("b/scratch") / scratch_name("nix/store") / "x"}
    got = host_output_paths(_request(("nix/other",), ("nix", "nix/store")), Path("b"))
    assert got == {"nix/other": Path("b/scratch") / scratch_name("nix") / "other"}


def test_last_mount_wins_for_unsorted_scratch_paths() -> None:
    """Scratch paths are mounted in request order, so the later ``/nix`` hides ``/nix/store``."""
    got = host_output_paths(_request(("nix/store/x",), ("nix/store", "nix")), Path("b"))
    assert got == {"nix/store/x": Path("b/scratch") / scratch_name("nix") / "store" / "x"}


def test_output_equal_to_scratch_path_and_empty_scratch_path() -> None:
    got = host_output_paths(_request(("out",), ("out",)), Path("b"))
    assert got == {"out": Path("b/scratch") / scratch_name("out")}
    got = host_output_paths(_request(("a/b",), ("",)), Path("b"))
    assert got == {"a/b": Path("b/scratch") / scratch_name("") / "a" / "b"}


def test_no_scratch_paths() -> None:
    with pytest.raises(OutputPathError, match=r"scratch_paths = \[\]"):
        host_output_paths(_request(("x",), ()), Path("b"))


def test_malformed_spec_is_a_bundle_error(foo_request: BuildRequest, pure_spec: SpecFn) -> None:
    spec = pure_spec(foo_request)
    del spec["linux"]["uidMappings"][1]["size"]
    with pytest.raises(BundleError, match="malformed"):
        build_user_host_ids(spec)
    del spec["process"]["user"]
    with pytest.raises(BundleError, match=r"no usable process\.user"):
        build_user_host_ids(spec)
