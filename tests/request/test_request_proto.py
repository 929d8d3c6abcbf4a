"""BuildRequest/BuildResponse protobuf interop: encoding details, decoding errors in snix's order,
the §3.4 quirks, and round trips."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from request_strategies import U64_MAX, node, requests

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.encoding import encode_entry
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.protowire import bool_field, len_field, uint_field, varint
from pytest_snixbuild.request.model import (
    BuildConstraints,
    BuildOutput,
    BuildRequest,
    BuildResult,
    EnvVar,
)
from pytest_snixbuild.request.proto import (
    ProtoDecodeError,
    ResponseValidationError,
    decode_build_request,
    decode_build_result,
    encode_build_request,
    encode_build_result,
)
from pytest_snixbuild.request.validation import RequestValidationError

D = B3Digest(bytes(range(32)))
MINIMAL = BuildRequest(command_args=("true",), constraints=None, scratch_paths=(), working_dir="")


def entry(name: bytes, digest: bytes = bytes(32), kind: int = 2) -> bytes:
    """BuildRequest.inputs field (1) holding an Entry with a file/dir node of any digest."""
    body = len_field(1, name) + len_field(2, digest)
    return len_field(1, len_field(kind, body, always=True), always=True)


# --------------------------------------------------------------------------------------------
# encoding details


def test_minimal_request_bytes() -> None:
    # only command_args and inputs_dir: working_dir "" and no constraints are omitted
    assert encode_build_request(MINIMAL) == bytes.fromhex("1204747275652a096e69782f73746f7265")


def test_empty_repeated_strings_are_written() -> None:
    req = dataclasses.replace(MINIMAL, command_args=("", "x"), inputs_dir="")
    assert encode_build_request(req) == b"\x12\x00\x12\x01x"


def test_present_but_default_constraints_are_an_empty_message() -> None:
    req = dataclasses.replace(
        MINIMAL, inputs_dir="", constraints=BuildConstraints("", provide_bin_sh=False)
    )
    data = encode_build_request(req, validate=False)
    assert data == b"\x12\x04true" + b"\x42\x00"
    with pytest.raises(RequestValidationError) as info:
        decode_build_request(data)
    assert info.value.snix_error == "InvalidBuildConstraints(InvalidSystem)"


def test_constraints_fields() -> None:
    c = BuildConstraints("x", 300, ("/a", "/b"), True, True)
    req = dataclasses.replace(MINIMAL, inputs_dir="", constraints=c)
    body = (
        len_field(1, b"x")
        + uint_field(2, 300)
        + len_field(3, b"/a")
        + len_field(3, b"/b")
        + bool_field(4, True)
        + bool_field(5, True)
    )
    assert encode_build_request(req) == b"\x12\x04true" + len_field(8, body, always=True)


def test_encode_validates_unless_told_not_to() -> None:
    bad = dataclasses.replace(MINIMAL, working_dir="/abs")
    with pytest.raises(RequestValidationError):
        encode_build_request(bad)
    assert b"/abs" in encode_build_request(bad, validate=False)


def test_inputs_are_named_entries_in_name_order() -> None:
    req = dataclasses.replace(
        MINIMAL, inputs_dir="", inputs={"b": SymlinkNode(b"t"), "a": FileNode(D, 3, True)}
    )
    expected = (
        len_field(1, encode_entry(b"a", FileNode(D, 3, True)), always=True)
        + len_field(1, encode_entry(b"b", SymlinkNode(b"t")), always=True)
        + b"\x12\x04true"
    )
    assert encode_build_request(req) == expected


# --------------------------------------------------------------------------------------------
# §3.4 quirks: what we do


def test_absent_constraints_round_trip_as_absent() -> None:
    decoded = decode_build_request(encode_build_request(MINIMAL))
    assert decoded.constraints is None


def test_present_constraints_with_zero_min_memory_round_trip() -> None:
    req = dataclasses.replace(MINIMAL, constraints=BuildConstraints(system="s"))
    decoded = decode_build_request(encode_build_request(req))
    assert decoded.constraints == BuildConstraints(system="s", provide_bin_sh=True)
    assert decoded == req


def test_repeated_constraints_messages_merge() -> None:
    data = len_field(8, len_field(1, b"sys"), always=True) + len_field(
        8, bool_field(4, True), always=True
    )
    decoded = decode_build_request(data)
    assert decoded.constraints == BuildConstraints("sys", 0, (), True, False)


def test_unknown_fields_are_skipped_and_fields_may_come_in_any_order() -> None:
    data = b"\x2a\x01x" + b"\x12\x01a" + uint_field(99, 7) + b"\x12\x01b"
    decoded = decode_build_request(data)
    assert decoded.command_args == ("a", "b")
    assert decoded.inputs_dir == "x"


# --------------------------------------------------------------------------------------------
# decoding errors in snix's order


@pytest.mark.parametrize(
    ("data", "field", "snix_error"),
    [
        (entry(b"a", bytes(31)), "inputs[0]", "InvalidInputNode(0)"),
        (entry(b"a") + entry(b"b", b"", kind=1), "inputs[1]", "InvalidInputNode(1)"),
        (entry(b""), "inputs[0]", "InvalidInputNode(0, InvalidName(Empty))"),
        (entry(b"a/b"), "inputs[0]", "InvalidInputNode(0, InvalidName(Slashes))"),
        (entry(b"\xff"), "inputs[0]", "InvalidInputNode(0)"),
        (entry(b"b") + entry(b"a"), "inputs[1]", "InputNodesNotSorted"),
        (entry(b"a") + entry(b"a"), "inputs[1]", "InputNodesNotSorted"),
        (len_field(1, b"", always=True), "inputs[0]", "InvalidInputNode(0)"),
        (
            len_field(1, len_field(3, len_field(1, b"l"), always=True), always=True),
            "inputs[0]",
            "InvalidInputNode(0)",
        ),
        (len_field(3, b"/w"), "working_dir", "InvalidWorkingDir"),
        (
            len_field(4, b"b", always=True) + len_field(4, b"a", always=True),
            "scratch_paths[1]",
            "ScratchPathsNotSorted",
        ),
        (len_field(5, b"a/"), "inputs_dir", "InvalidInputsDir"),
        (len_field(6, b".", always=True), "outputs[0]", "InvalidOutputPath(0)"),
        (
            len_field(7, len_field(1, b"a=b"), always=True),
            "environment_vars[0].key",
            "InvalidEnvVar(0)",
        ),
        (
            len_field(7, len_field(2, b"v"), always=True),
            "environment_vars[0].key",
            "InvalidEnvVar(0)",
        ),
        (
            len_field(8, len_field(1, b"s") + len_field(3, b"rel"), always=True),
            "constraints.available_ro_paths[0]",
            "InvalidAvailableRoPaths(0)",
        ),
        (
            len_field(9, len_field(1, b"../x"), always=True),
            "additional_files[0].path",
            "InvalidAdditionalFilePath(0)",
        ),
    ],
)
def test_decode_reports_snix_errors(data: bytes, field: str, snix_error: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        decode_build_request(data)
    assert info.value.field == field
    assert info.value.snix_error == snix_error


def test_decode_message_names_the_field_and_value() -> None:
    with pytest.raises(RequestValidationError) as info:
        decode_build_request(entry(b"b") + entry(b"a"))
    assert str(info.value) == (
        "inputs[1]: input name 'a' does not sort after the previous one "
        "(expected input names strictly increasing by bytes (no duplicates))"
    )


def test_decode_node_checked_before_name() -> None:
    with pytest.raises(RequestValidationError) as info:
        decode_build_request(entry(b"a/b", bytes(5)))
    assert "InvalidDigestLen(5)" in str(info.value)


def test_decode_inputs_checked_before_working_dir() -> None:
    with pytest.raises(RequestValidationError) as info:
        decode_build_request(len_field(3, b"/w") + entry(b".."))
    assert info.value.field == "inputs[0]"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"\x12\x05ab",
            "BuildRequest.(message): length-delimited field runs past the end of the message "
            "(expected a well-formed BuildRequest protobuf message)",
        ),
        (
            b"\x10\x01",
            "BuildRequest.command_args[0]: wire type 0 where a length-delimited field "
            "(expected a well-formed BuildRequest protobuf message)",
        ),
        (
            b"\x1a\x01\xff",
            "BuildRequest.working_dir: string b'\\xff' is not UTF-8 "
            "(expected a well-formed BuildRequest protobuf message)",
        ),
        (
            len_field(8, b"\x10\x01\x10", always=True),
            "BuildRequest.constraints: truncated varint "
            "(expected a well-formed BuildRequest protobuf message)",
        ),
    ],
)
def test_wire_errors_come_first(data: bytes, message: str) -> None:
    with pytest.raises(ProtoDecodeError) as info:
        decode_build_request(entry(b"..") + data)
    assert str(info.value) == message


def test_env_value_may_be_any_bytes_without_nul() -> None:
    data = b"\x12\x01x" + len_field(7, len_field(1, b"K") + len_field(2, b"\xff\x00"), always=True)
    with pytest.raises(RequestValidationError) as info:
        decode_build_request(data)
    assert info.value.field == "environment_vars[0].value"
    ok = b"\x12\x01x" + len_field(7, len_field(1, b"K") + len_field(2, b"\xff"), always=True)
    assert decode_build_request(ok).environment_vars == (EnvVar("K", b"\xff"),)


# --------------------------------------------------------------------------------------------
# BuildResponse


def test_build_result_bytes() -> None:
    result = BuildResult(
        outputs=(
            BuildOutput("nix/store/a", FileNode(D, 5), (3, 1)),
            BuildOutput("nix/store/b", SymlinkNode(b"/x"), ()),
        )
    )
    data = encode_build_result(result)
    out0 = len_field(1, encode_entry(b"", FileNode(D, 5)), always=True) + len_field(
        2, varint(1) + varint(3)
    )
    out1 = len_field(1, encode_entry(b"", SymlinkNode(b"/x")), always=True)
    assert data == len_field(1, out0, always=True) + len_field(1, out1, always=True)
    decoded = decode_build_result(data)
    assert decoded.outputs == (
        BuildOutput("", FileNode(D, 5), (1, 3)),
        BuildOutput("", SymlinkNode(b"/x"), ()),
    )


def test_build_result_paths_and_needles_from_the_request() -> None:
    req = BuildRequest(command_args=("x",), outputs=("o1",), refscan_needles=("n0", "n1"))
    data = encode_build_result(BuildResult((BuildOutput("o1", DirectoryNode(D, 4), (1,)),)))
    assert decode_build_result(data, req).outputs == (BuildOutput("o1", DirectoryNode(D, 4), (1,)),)


def test_build_result_accepts_unpacked_needles() -> None:
    body = len_field(1, encode_entry(b"", FileNode(D, 1)), always=True)
    body += uint_field(2, 2) + uint_field(2, 2) + b"\x10\x00"  # 0 written explicitly
    decoded = decode_build_result(len_field(1, body, always=True))
    assert decoded.outputs[0].needles == (0, 2)


@pytest.mark.parametrize(
    ("data", "snix_error"),
    [
        (len_field(1, b"", always=True), "MissingOutputEntry(0)"),
        (
            len_field(1, len_field(1, encode_entry(b"name", FileNode(D, 1)), always=True)),
            "InvalidOutputEntry(0)",
        ),
        (
            len_field(1, len_field(1, len_field(2, len_field(2, b"short")), always=True)),
            "InvalidOutputEntry(0)",
        ),
    ],
)
def test_build_result_errors(data: bytes, snix_error: str) -> None:
    with pytest.raises(ResponseValidationError) as info:
        decode_build_result(data)
    assert info.value.snix_error == snix_error
    assert info.value.field == "outputs[0].output"


def test_build_result_checked_against_request() -> None:
    req = BuildRequest(command_args=("x",), outputs=("o1",), refscan_needles=("n0",))
    two = encode_build_result(
        BuildResult((BuildOutput("", FileNode(D, 1)), BuildOutput("", FileNode(D, 1))))
    )
    with pytest.raises(ResponseValidationError, match=r"^outputs: 2 outputs in the response"):
        decode_build_result(two, req)
    bad_needle = encode_build_result(BuildResult((BuildOutput("", FileNode(D, 1), (1,)),)))
    with pytest.raises(ResponseValidationError, match=r"needle index 1 is out of range"):
        decode_build_result(bad_needle, req)


# --------------------------------------------------------------------------------------------
# round trips


@settings(max_examples=60, deadline=None)
@given(requests())
def test_model_proto_model(req: BuildRequest) -> None:
    data = encode_build_request(req)
    decoded = decode_build_request(data)
    assert decoded == req
    assert encode_build_request(decoded) == data


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(node, st.lists(st.integers(0, U64_MAX), max_size=4)), max_size=4))
def test_result_proto_result(outputs: list[tuple[Node, list[int]]]) -> None:
    result = BuildResult(tuple(BuildOutput("", n, tuple(sorted(set(ns)))) for n, ns in outputs))
    assert decode_build_result(encode_build_result(result)) == result
