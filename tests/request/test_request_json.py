"""The canonical JSON form of a BuildRequest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from request_strategies import requests

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, SymlinkNode
from pytest_snixbuild.request.json_form import (
    RequestJsonError,
    request_from_json,
    request_to_json,
)
from pytest_snixbuild.request.model import AdditionalFile, BuildRequest, EnvVar
from pytest_snixbuild.request.validation import RequestValidationError

D = B3Digest(bytes(32))


def test_canonical_form() -> None:
    req = BuildRequest(
        command_args=("a",),
        inputs={"d": DirectoryNode(D, 2), "f": FileNode(D, 1, True), "s": SymlinkNode(b"\xff")},
        environment_vars=(EnvVar("K", b"v"), EnvVar("L", b"\xff")),
        additional_files=(AdditionalFile("build/x", b"\x00\x80"),),
        constraints=None,
    )
    digest = "blake3-" + "A" * 43 + "="
    assert request_to_json(req) == {
        "inputs": {
            "d": {"type": "directory", "digest": digest, "size": 2},
            "f": {"type": "file", "digest": digest, "size": 1, "executable": True},
            "s": {"type": "symlink", "target": {"base64": "/w=="}},
        },
        "command_args": ["a"],
        "working_dir": "build",
        "scratch_paths": ["build", "nix/store"],
        "inputs_dir": "nix/store",
        "outputs": [],
        "environment_vars": [["K", "v"], ["L", {"base64": "/w=="}]],
        "constraints": None,
        "additional_files": [["build/x", {"base64": "AIA="}]],
        "refscan_needles": [],
    }


@settings(max_examples=50, deadline=None)
@given(requests())
def test_json_round_trip(req: BuildRequest) -> None:
    assert request_from_json(json.loads(json.dumps(request_to_json(req)))) == req


def test_vector_form_with_digest_hex() -> None:
    obj = request_to_json(BuildRequest(command_args=("a",), inputs={"d": DirectoryNode(D, 42)}))
    obj["inputs"]["d"] = {"type": "directory", "digest_hex": "00" * 32, "size": 42}
    assert request_from_json(obj).inputs["d"] == DirectoryNode(D, 42)


def _base() -> dict[str, Any]:
    return request_to_json(BuildRequest(command_args=("a",)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"command_args": "a"},
            "command_args: got str 'a' (expected a list)",
        ),
        (
            {"environment_vars": [["K"]]},
            "environment_vars[0]: got ['K'] (expected a [string, value] pair)",
        ),
        (
            {"environment_vars": [["K", {"base64": "@@"}]]},
            "environment_vars[0][1]: bad base64 '@@' (expected standard base64)",
        ),
        (
            {"inputs": {"x": {"type": "pipe"}}},
            "inputs.x.type: got 'pipe' (expected directory, file or symlink)",
        ),
        (
            {"inputs": {"x": {"type": "file", "digest": "nope", "size": 1}}},
            "inputs.x: invalid digest 'nope': expected the prefix 'blake3-'",
        ),
        ({"working_dir": None}, "working_dir: got NoneType None (expected a string)"),
    ],
)
def test_malformed_json(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestJsonError) as info:
        request_from_json({**_base(), **change})
    assert str(info.value) == message


def test_from_json_validates_unless_told_not_to() -> None:
    obj = {**_base(), "working_dir": "/abs"}
    with pytest.raises(RequestValidationError):
        request_from_json(obj)
    assert request_from_json(obj, validate=False).working_dir == "/abs"
