"""Building derivations: output reports, fixed-output checks, --check and the tree diff.

Most tests use a fake engine that "builds" by writing files with Python and then ingests and
scans them exactly as the real engine does (``ingest_and_scan``); the real runc builds are in
test_nix_build_cli.py and test_nix_parity_build.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from nix_testlib import DATA

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nar import nar_hash_path
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.service import ingest_and_scan
from pytest_snixbuild.nix.build import (
    DerivationFileError,
    DerivationOutput,
    FixedOutputError,
    HashMismatchError,
    NonDeterministicError,
    build_derivation,
    compare_builds,
    derivation_request,
    describe_outputs,
    read_derivation_file,
    verify_fixed_output,
)
from pytest_snixbuild.nix.cahash import CAHash
from pytest_snixbuild.nix.closure import input_closure
from pytest_snixbuild.nix.derivation import Derivation, DerivationError, Output
from pytest_snixbuild.nix.hashes import NixHash
from pytest_snixbuild.nix.storepath import StorePath
from pytest_snixbuild.nix.to_request import derivation_to_build_request, needle_store_paths
from pytest_snixbuild.nix.tree_diff import TreeDifference, diff_trees
from pytest_snixbuild.request.model import BuildOutput, BuildRequest, BuildResult

CASES = DATA / "cases"
STORE_DIR = CASES / "store"
HELLO = STORE_DIR / "y9v6p79df1h4m07g08xamw6p36dv33bm-hello.drv"
DEP = STORE_DIR / "8d4f5lxgacnwlqqv100x46w77dnky63f-dep.drv"
FOD = STORE_DIR / "lwric6hprlwl7yndn78sy90574d84lsm-fod.drv"
FOD_WRONG = STORE_DIR / "k2x43blrny6j6gahnqr8k481z8njgb5f-fod-wrong.drv"
HELLO_OUT = "/nix/store/65an4d6vg99z526gsv1bnnc10b00s1q1-hello"
HELLO_DEV = "/nix/store/jza6b911i9riakm4rji1zyk1b17903xs-hello-dev"
DEP_OUT = "/nix/store/fwr53h1ziqnp023qpgjyd2sf3ix9x81p-dep"
NOTE = "/nix/store/715a8fi6jcf25958bmkm3yxfrc53gbpx-note"
SHA256_HELLO = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

#: (output path as in the request, host directory to write it in) -> None
Writer = Callable[[str, Path], object]


class FakeEngine:
    """Runs ``writer`` for each output instead of a builder, then ingests and scans the output
    as OCIBuildService does."""

    def __init__(self, store: Store, work: Path, writer: Writer) -> None:
        self.store = store
        self.work = work
        self.writer = writer
        self.requests: list[BuildRequest] = []

    def build(self, request: BuildRequest) -> BuildResult:
        self.requests.append(request)
        root = self.work / f"build-{len(self.requests)}"
        outputs = []
        for output in request.outputs:
            host = root / output
            host.parent.mkdir(parents=True, exist_ok=True)
            self.writer("/" + output, host)
            node, needles = ingest_and_scan(host, self.store, request.refscan_needles)
            outputs.append(BuildOutput(output, node, needles))
        shutil.rmtree(root)
        return BuildResult(tuple(outputs))


def write_hello(output: str, host: Path) -> None:
    """What hello's builder writes (see tests/data/nix/cases/cases.nix)."""
    if output == HELLO_DEV:
        host.write_text(f"{HELLO_OUT}\n")
        return
    host.mkdir()
    dep = (STORE_DIR / DEP_OUT.rsplit("/", 1)[1]).read_text()
    note = (STORE_DIR / NOTE.rsplit("/", 1)[1]).read_text()
    (host / "inputs").write_text(f"{dep}{note}{DEP_OUT} {NOTE}\n")
    (host / "self").write_text(f"{HELLO_OUT}\n")


def test_build_reports_outputs_as_nix_registers_them(tmp_path: Path) -> None:
    store = Store.memory()
    engine = FakeEngine(store, tmp_path, write_hello)
    built = build_derivation(HELLO, STORE_DIR, engine, store)
    assert built.drv_path == StorePath.from_basename(HELLO.name)
    assert [o.name for o in built.outputs] == ["dev", "out"]
    dev, out = built.outputs
    assert dev.path.to_absolute() == HELLO_DEV
    assert dev.references == (StorePath.from_absolute_path(HELLO_OUT),)
    # self-reference included, sorted by path
    assert [r.to_absolute() for r in out.references] == [HELLO_OUT, NOTE, DEP_OUT]
    assert built.output("out") is out
    with pytest.raises(KeyError, match="no output 'lib' \\(the outputs are dev, out\\)"):
        built.output("lib")
    # the NAR hash and size are those of the files the builder wrote (as nix-hash computes)
    engine.writer = write_hello
    again = tmp_path / "again"
    again.mkdir()
    write_hello(HELLO_OUT, again / "out")
    digest, size = nar_hash_path(again / "out")
    assert out.nar_hash == NixHash("sha256", digest)
    assert out.nar_size == size
    assert built.to_json()[1] == {
        "name": "out",
        "path": HELLO_OUT,
        "nar_hash": NixHash("sha256", digest).to_nix32(),
        "nar_size": size,
        "references": [HELLO_OUT, NOTE, DEP_OUT],
    }
    # one build, of the derivation's request with the outputs sorted by path
    (request,) = engine.requests
    assert request.outputs == (HELLO_OUT[1:], HELLO_DEV[1:])
    assert built.request == request


def test_derivation_request_sorts_outputs_and_keeps_needles(tmp_path: Path) -> None:
    drv, _ = read_derivation_file(HELLO)
    inputs = input_closure(drv, STORE_DIR, Store.memory())
    snix = derivation_to_build_request(drv, inputs)
    ours = derivation_request(drv, inputs)
    assert snix.outputs == (HELLO_DEV[1:], HELLO_OUT[1:])  # output-name order
    assert ours.outputs == (HELLO_OUT[1:], HELLO_DEV[1:])  # path order, as validation wants
    assert dataclasses.replace(ours, outputs=snix.outputs) == snix
    paths = needle_store_paths(drv, inputs)
    assert [p.hash_str for p in paths] == list(ours.refscan_needles)
    assert [p.to_absolute() for p in paths] == [HELLO_DEV, HELLO_OUT, NOTE, DEP_OUT]


def test_check_passes_for_a_deterministic_build(tmp_path: Path) -> None:
    store = Store.memory()
    engine = FakeEngine(store, tmp_path, write_hello)
    build_derivation(HELLO, STORE_DIR, engine, store, check=True)
    assert len(engine.requests) == 2


def test_check_names_the_files_that_differ(tmp_path: Path) -> None:
    store = Store.memory()
    builds = iter(range(100))

    def unstable(output: str, host: Path) -> None:
        n = next(builds)
        write_hello(output, host)
        if output == HELLO_OUT:
            (host / "stamp").write_text(f"build {n}\n")
            (host / "self").chmod(0o755 if n else 0o644)

    engine = FakeEngine(store, tmp_path, unstable)
    with pytest.raises(NonDeterministicError) as exc:
        build_derivation(HELLO, STORE_DIR, engine, store, check=True)
    assert str(exc.value) == (
        f"derivation '/nix/store/{HELLO.name}' may not be deterministic: output "
        f"'{HELLO_OUT}' differs:\n"
        "  self: executable bit differs (not executable in the first build, executable in the "
        "second)\n"
        "  stamp: contents differ (8 bytes, then 8 bytes; first difference on line 1: "
        "'build 0' vs 'build 2')"
    )
    assert exc.value.exit_status == 104
    assert list(exc.value.differences) == [StorePath.from_absolute_path(HELLO_OUT)]


def _tree(root: Path, spec: dict[str, str | tuple[str, str]]) -> Path:
    """A directory from {path: contents | ("exec", contents) | ("link", target) | ("dir", "")}."""
    root.mkdir()
    for rel, what in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(what, str):
            path.write_text(what)
        elif what[0] == "exec":
            path.write_text(what[1])
            path.chmod(0o755)
        elif what[0] == "link":
            os.symlink(what[1], path)
        else:
            path.mkdir()
    return root


def test_tree_diff_every_kind_of_difference(tmp_path: Path) -> None:
    store = Store.memory()
    first = _tree(
        tmp_path / "a",
        {
            "same/file": "x",
            "text": "one\ntwo\nthree\n",
            "longer": "a\n",
            "binary": "\0\1",
            "run": ("exec", "#!"),
            "link": ("link", "target-a"),
            "kind": "a file",
            "gone/deep": "x",
            "sub/removed": "x",
        },
    )
    second = _tree(
        tmp_path / "b",
        {
            "same/file": "x",
            "text": "one\nTWO\nthree\n",
            "longer": "a\nb\n",
            "binary": "\0\2",
            "run": "#!",
            "link": ("link", "target-b"),
            "kind": ("dir", ""),
            "sub/added": ("link", "x"),
            "new": ("exec", "x"),
        },
    )
    a, b = ingest_path(first, store), ingest_path(second, store)
    assert diff_trees(a, a, store) == []
    assert [str(d) for d in diff_trees(a, b, store)] == [
        "binary: contents differ (2 bytes, then 2 bytes)",
        "gone: only in the first build (a directory)",
        "kind: a file in the first build, a directory in the second",
        "link: symlink target differs: 'target-a' vs 'target-b'",
        "longer: contents differ (2 bytes, then 4 bytes; 1 vs 2 lines)",
        "new: only in the second build (an executable file)",
        "run: executable bit differs (executable in the first build, not executable in the second)",
        "sub/added: only in the second build (a symlink)",
        "sub/removed: only in the first build (a file)",
        "text: contents differ (14 bytes, then 14 bytes; first difference on line 2: 'two' vs "
        "'TWO')",
    ]


def test_tree_diff_at_the_root(tmp_path: Path) -> None:
    store = Store.memory()
    (tmp_path / "f").write_text("a")
    (tmp_path / "g").write_text("b")
    (tmp_path / "d").mkdir()
    f, g, d = (ingest_path(tmp_path / n, store) for n in "fgd")
    assert diff_trees(f, g, store) == [
        TreeDifference(
            "", "contents differ (1 bytes, then 1 bytes; first difference on line 1: 'a' vs 'b')"
        )
    ]
    assert (
        str(diff_trees(f, d, store)[0]) == ".: a file in the first build, a directory in the second"
    )


# ------------------------------------------------------------------------------------------------
# fixed-output derivations


def _output(
    store: Store, host: Path, drv: Derivation, refs: tuple[StorePath, ...] = ()
) -> DerivationOutput:
    node = ingest_path(host, store)
    path = drv.output_paths()["out"]
    return DerivationOutput("out", path, node, NixHash("sha256", b"\0" * 32), 0, refs)


def _with_hash(drv: Derivation, ca: CAHash) -> Derivation:
    out = drv.outputs["out"]
    return dataclasses.replace(drv, outputs={"out": Output(out.path, ca)})


def test_fixed_output_flat(tmp_path: Path) -> None:
    store = Store.memory()
    drv, drv_path = read_derivation_file(FOD)
    good = tmp_path / "good"
    good.write_text("hello")
    verify_fixed_output(drv, drv_path, _output(store, good, drv), store)
    bad = tmp_path / "bad"
    bad.write_text("goodbye")
    with pytest.raises(HashMismatchError) as exc:
        verify_fixed_output(drv, drv_path, _output(store, bad, drv), store)
    # word for word what Nix 2.8 says (test_nix_parity_build.py compares with Nix itself)
    assert str(exc.value) == (
        f"hash mismatch in fixed-output derivation '/nix/store/{FOD.name}':\n"
        "  specified: sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\n"
        "     got:    sha256-guNaY866N+lkZDTF3UEupXcUfx5KQczeFhQlMYfj2/k="
    )
    assert exc.value.exit_status == 102
    assert exc.value.got == NixHash.of("sha256", b"goodbye")


def test_fixed_output_flat_must_be_a_plain_file(tmp_path: Path) -> None:
    store = Store.memory()
    drv, drv_path = read_derivation_file(FOD)
    out = drv.output_paths()["out"].to_absolute()
    directory = tmp_path / "dir"
    directory.mkdir()
    with pytest.raises(FixedOutputError) as exc:
        verify_fixed_output(drv, drv_path, _output(store, directory, drv), store)
    assert str(exc.value) == (
        f"output path '{out}' should be a non-executable regular file since recursive hashing "
        "is not enabled (outputHashMode=flat); the build made a directory"
    )
    exe = tmp_path / "exe"
    exe.write_text("hello")
    exe.chmod(0o755)
    with pytest.raises(FixedOutputError, match=r"the build made an executable file$"):
        verify_fixed_output(drv, drv_path, _output(store, exe, drv), store)


def test_fixed_output_recursive_any_algorithm(tmp_path: Path) -> None:
    store = Store.memory()
    flat, drv_path = read_derivation_file(FOD)
    tree = _tree(tmp_path / "t", {"file": "hello", "bin/run": ("exec", "#!/bin/sh\n")})
    nar = b"".join(_nar_chunks(tree))
    for algo in ("sha256", "sha1", "sha512"):
        ca = CAHash.of("nar", algo, hashlib.new(algo, nar).digest())
        drv = _with_hash(flat, ca)
        verify_fixed_output(drv, drv_path, _output(store, tree, drv), store)
    wrong = _with_hash(flat, CAHash.of("nar", "sha1", b"\0" * 20))
    with pytest.raises(HashMismatchError) as exc:
        verify_fixed_output(wrong, drv_path, _output(store, tree, wrong), store)
    assert exc.value.got == NixHash.of("sha1", nar)
    assert "specified: sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" in str(exc.value)


def _nar_chunks(path: Path) -> list[bytes]:
    from pytest_snixbuild.castore.nar import iter_nar_path

    return list(iter_nar_path(path))


def test_fixed_output_must_not_have_references(tmp_path: Path) -> None:
    store = Store.memory()
    drv, drv_path = read_derivation_file(FOD)
    good = tmp_path / "good"
    good.write_text("hello")
    ref = StorePath.from_absolute_path(DEP_OUT)
    with pytest.raises(FixedOutputError) as exc:
        verify_fixed_output(drv, drv_path, _output(store, good, drv, (ref,)), store)
    assert str(exc.value) == (
        f"illegal path references in fixed-output derivation '/nix/store/{FOD.name}': its "
        f"output refers to {DEP_OUT} (a fixed output must not refer to store paths)"
    )


def test_not_fixed_output_is_not_checked(tmp_path: Path) -> None:
    store = Store.memory()
    drv, drv_path = read_derivation_file(DEP)
    anything = tmp_path / "x"
    anything.mkdir()
    verify_fixed_output(drv, drv_path, _output(store, anything, drv), store)


def test_build_of_a_wrong_fixed_output_fails(tmp_path: Path) -> None:
    store = Store.memory()
    engine = FakeEngine(store, tmp_path, lambda _out, host: host.write_text("goodbye"))
    with pytest.raises(HashMismatchError, match=r"^hash mismatch in fixed-output derivation"):
        build_derivation(FOD_WRONG, STORE_DIR, engine, store)
    ok = FakeEngine(store, tmp_path, lambda _out, host: host.write_text("hello"))
    built = build_derivation(FOD, STORE_DIR, ok, store)
    assert built.outputs[0].references == ()


# ------------------------------------------------------------------------------------------------
# errors


def test_describe_outputs_needs_every_output(tmp_path: Path) -> None:
    drv, _ = read_derivation_file(HELLO)
    store = Store.memory()
    (tmp_path / "f").write_text("x")
    node = ingest_path(tmp_path / "f", store)
    result = BuildResult((BuildOutput(HELLO_OUT[1:], node, ()),))
    with pytest.raises(DerivationError) as exc:
        describe_outputs(drv, [], result, store)
    assert str(exc.value) == f"the build result has no output {HELLO_DEV} (output 'dev')"


def test_read_derivation_file(tmp_path: Path) -> None:
    with pytest.raises(DerivationFileError) as exc:
        read_derivation_file(tmp_path / "missing.drv")
    assert str(exc.value) == (
        f"{tmp_path}/missing.drv: cannot read: No such file or directory (expected a "
        "derivation .drv file)"
    )
    renamed = tmp_path / "renamed.drv"
    shutil.copy(HELLO, renamed)
    _drv, path = read_derivation_file(renamed)  # not a store path name: computed
    assert path == StorePath.from_basename(HELLO.name)
    garbage = tmp_path / "garbage.drv"
    garbage.write_bytes(b"Derive(")
    with pytest.raises(DerivationError, match=f"^{garbage}: at byte 7: "):
        read_derivation_file(garbage)


def test_compare_builds_without_differences(tmp_path: Path) -> None:
    store = Store.memory()
    drv, drv_path = read_derivation_file(DEP)
    (tmp_path / "f").write_text("x")
    out = _output(store, tmp_path / "f", drv)
    compare_builds(drv_path, [out], [out], store)
