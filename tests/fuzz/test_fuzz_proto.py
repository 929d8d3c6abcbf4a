"""Fuzzing the protobuf decoders: ``decode_build_request`` gives a BuildRequest, a
``ProtoDecodeError`` (bad wire format) or a ``RequestValidationError`` (snix's rules);
``decode_directory`` gives a Directory or a castore ``ValidationError``. Nothing else, no hang."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from snix_fuzz_helpers import FUZZ, mutated, outcome, seeds

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.encoding import decode_directory, decode_entry
from pytest_snixbuild.castore.errors import ValidationError
from pytest_snixbuild.castore.nodes import (
    Directory,
    DirectoryNode,
    FileNode,
    Node,
    SymlinkNode,
    name_problem,
)
from pytest_snixbuild.castore.protowire import (
    WIRE_I32,
    WIRE_I64,
    WIRE_LEN,
    WIRE_VARINT,
    tag,
    varint,
)
from pytest_snixbuild.request.proto import (
    ProtoDecodeError,
    decode_build_request,
    encode_build_request,
)
from pytest_snixbuild.request.validation import RequestValidationError

REQUEST_SEEDS = seeds(".pb")
REQUEST_ERRORS = (ProtoDecodeError, RequestValidationError)


@st.composite
def messages(draw: st.DrawFn, fields: tuple[int, ...], depth: int = 2) -> bytes:
    """A random protobuf message: known and unknown field numbers with any wire type, nested
    messages in length-delimited fields, and now and then a broken tail."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 8))):
        number = draw(st.sampled_from(fields) | st.integers(1, 40))
        wire = draw(
            st.sampled_from([WIRE_LEN, WIRE_LEN, WIRE_VARINT, WIRE_I64, WIRE_I32, 3, 4, 6, 7])
        )
        out += tag(number, wire)
        if wire == WIRE_VARINT:
            out += varint(
                draw(st.sampled_from([0, 1, 2, 127, 128, (1 << 64) - 1]) | st.integers(0, 1 << 70))
            )
        elif wire == WIRE_I64:
            out += draw(st.binary(min_size=8, max_size=8))
        elif wire == WIRE_I32:
            out += draw(st.binary(min_size=4, max_size=4))
        elif wire == WIRE_LEN:
            if depth and draw(st.booleans()):
                payload = draw(messages((1, 2, 3, 4, 5), depth - 1))
            else:
                payload = draw(st.binary(max_size=40) | st.text(max_size=20).map(str.encode))
            out += varint(len(payload)) + payload
    if draw(st.integers(0, 9)) == 0:
        out += draw(st.binary(max_size=4))
    return bytes(out)


def check_request(data: bytes) -> None:
    request = outcome(lambda: decode_build_request(data), REQUEST_ERRORS)
    if request is not None:
        # what decodes is valid, so it encodes (deterministically) and decodes to the same
        assert decode_build_request(encode_build_request(request)) == request


@FUZZ
@given(mutated(st.sampled_from(REQUEST_SEEDS)))
def test_mutated_build_requests(data: bytes) -> None:
    check_request(data)


@FUZZ
@given(messages(tuple(range(1, 11))))
def test_random_build_request_messages(data: bytes) -> None:
    check_request(data)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_as_build_request(data: bytes) -> None:
    check_request(data)


# -- Directory -----------------------------------------------------------------------------------
VALID_NAMES = st.binary(min_size=1, max_size=8).filter(lambda n: name_problem(n) is None)
DIGESTS = st.binary(min_size=32, max_size=32).map(B3Digest)
SIZES = st.integers(0, 1 << 40)
TARGETS = st.binary(min_size=1, max_size=20).filter(lambda t: b"\0" not in t)


@st.composite
def directories(draw: st.DrawFn) -> bytes:
    """The canonical encoding of a random valid Directory."""
    entries: dict[bytes, Node] = {}
    for name in draw(st.lists(VALID_NAMES, max_size=5, unique=True)):
        kind = draw(st.sampled_from(["directory", "file", "symlink"]))
        if kind == "directory":
            entries[name] = DirectoryNode(draw(DIGESTS), draw(SIZES))
        elif kind == "file":
            entries[name] = FileNode(draw(DIGESTS), draw(SIZES), draw(st.booleans()))
        else:
            entries[name] = SymlinkNode(draw(TARGETS))
    return Directory(entries).encode()


def check_directory(data: bytes) -> None:
    directory = outcome(lambda: decode_directory(data), (ValidationError,))
    if directory is not None:
        assert decode_directory(directory.encode()) == directory


@FUZZ
@given(st.data())
def test_mutated_directories(data: st.DataObject) -> None:
    check_directory(data.draw(mutated(directories())))


@FUZZ
@given(messages((1, 2, 3)))
def test_random_directory_messages(data: bytes) -> None:
    check_directory(data)


@FUZZ
@given(messages((1, 2, 3, 4)))
def test_random_entries(data: bytes) -> None:
    outcome(lambda: decode_entry(data), (ValidationError,))
