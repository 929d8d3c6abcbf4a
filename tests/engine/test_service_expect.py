"""Checking a case's [expect] table against a build result: what the messages say."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nar import nar_hash
from pytest_snixbuild.castore.nodes import Node, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.errors import BuildFailedError
from pytest_snixbuild.engine.expect import check_expectations, format_nar_hash, format_report
from pytest_snixbuild.request.model import BuildOutput, BuildRequest, BuildResult
from pytest_snixbuild.request.toml_case import Expect, OutputExpect

OUT = "nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-hello"
DEV = "nix/store/flh4511s7fl3iz41dylfrcc8davh7naw-dev"
N0 = "v137y81wxx44zx8nln1b4xhj75bs7dbn"
N1 = "cqpygxchhbrk2a5c3l2shj8chbkj6zg6"
REQUEST = BuildRequest(command_args=("true",), outputs=(OUT, DEV), refscan_needles=(N0, N1))


@pytest.fixture
def store() -> Store:
    return Store.memory()


def file_node(store: Store, tmp_path: Path, data: bytes, name: str = "f") -> Node:
    path = tmp_path / name
    path.write_bytes(data)
    return ingest_path(path, store)


def expect(**outputs: OutputExpect) -> Expect:
    paths = {"out": OUT, "dev": DEV}
    return Expect(True, MappingProxyType({paths[k]: v for k, v in outputs.items()}))


def result(*outputs: BuildOutput) -> BuildResult:
    return BuildResult(outputs=outputs)


def test_everything_matching_is_no_problem(store: Store, tmp_path: Path) -> None:
    node = file_node(store, tmp_path, b"hello\n")
    assert not isinstance(node, SymlinkNode)
    ok = OutputExpect(
        type="file",
        digest=node.digest,
        nar_hash=format_nar_hash(nar_hash(node, store)[0]),
        contents=b"hello\n",
        needles=(N1,),
    )
    outcome = result(BuildOutput(OUT, node, (1,)), BuildOutput(DEV, SymlinkNode(b"/x")))
    assert check_expectations(expect(out=ok), REQUEST, outcome, store) == []


def test_contents_differ_with_a_unified_diff(store: Store, tmp_path: Path) -> None:
    node = file_node(store, tmp_path, b"line 1\nline two\nline 3\n")
    problems = check_expectations(
        expect(out=OutputExpect(contents=b"line 1\nline 2\nline 3\n")),
        REQUEST,
        result(BuildOutput(OUT, node)),
        store,
    )
    assert len(problems) == 1
    assert problems[0].startswith(f"output {OUT}: contents differ:")
    assert "--- expected\n+++ actual\n" in problems[0]
    assert "\n-line 2\n+line two\n" in problems[0]


def test_binary_contents_name_the_first_differing_byte(store: Store, tmp_path: Path) -> None:
    node = file_node(store, tmp_path, b"\xff\x00abc")
    (problem,) = check_expectations(
        expect(out=OutputExpect(contents=b"\xff\x00abd")),
        REQUEST,
        result(BuildOutput(OUT, node)),
        store,
    )
    assert "(binary): first difference at byte 4" in problem


def test_wrong_type_is_reported_alone(store: Store, tmp_path: Path) -> None:
    problems = check_expectations(
        expect(out=OutputExpect(type="directory", contents=b"x")),
        REQUEST,
        result(BuildOutput(OUT, file_node(store, tmp_path, b"x"))),
        store,
    )
    assert problems == [f"output {OUT}: expected a directory, but the build made a file"]


def test_digest_and_nar_hash_mismatches_show_both_values(store: Store, tmp_path: Path) -> None:
    node = file_node(store, tmp_path, b"actual\n")
    other = file_node(store, tmp_path, b"expected\n", "g")
    assert not isinstance(node, SymlinkNode) and not isinstance(other, SymlinkNode)
    want_nar = format_nar_hash(nar_hash(other, store)[0])
    problems = check_expectations(
        expect(out=OutputExpect(digest=other.digest, nar_hash=want_nar)),
        REQUEST,
        result(BuildOutput(OUT, node)),
        store,
    )
    got_nar = format_nar_hash(nar_hash(node, store)[0])
    assert problems == [
        f"output {OUT}: digest is {node.digest}, expected {other.digest}",
        f"output {OUT}: nar_hash is {got_nar}, expected {want_nar}",
    ]
    assert got_nar.startswith("sha256:") and len(got_nar) == 7 + 52


def test_needles_by_value(store: Store, tmp_path: Path) -> None:
    node = file_node(store, tmp_path, b"x")
    (problem,) = check_expectations(
        expect(out=OutputExpect(needles=(N0,))),
        REQUEST,
        result(BuildOutput(OUT, node, (1,))),
        store,
    )
    assert problem == f"output {OUT}: needles differ: missing {N0}; unexpected {N1} (found: {N1})"


def test_expected_failure(store: Store) -> None:
    failing = Expect(success=False)
    error = BuildFailedError(3, stderr=b"about to fail\n")
    assert check_expectations(failing, REQUEST, error, store) == []
    (problem,) = check_expectations(failing, REQUEST, result(), store)
    assert "expected the build to fail (expect.success = false), but it succeeded" in problem


def test_unexpected_failure_shows_the_reason_and_the_log(store: Store) -> None:
    error = BuildFailedError(2, stderr=b"cc: error: x.c: No such file\n")
    (problem,) = check_expectations(Expect(), REQUEST, error, store)
    assert problem.startswith("expected the build to succeed, but it failed: build failed: ")
    assert "the builder exited with status 2" in problem
    assert "cc: error: x.c: No such file" in problem


def test_report_format() -> None:
    text = format_report("case.toml", ["first\nsecond line", "other"])
    assert text == ("case.toml: 2 expectation(s) not met\n  - first\n    second line\n  - other")
