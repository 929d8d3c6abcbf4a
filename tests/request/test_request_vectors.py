"""snix's expected BuildRequests (glue derivation_to_build_request tests), byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.nodes import DirectoryNode
from pytest_snixbuild.request.json_form import request_from_json, request_to_json
from pytest_snixbuild.request.model import BuildConstraints
from pytest_snixbuild.request.proto import decode_build_request, encode_build_request

VECTORS = Path(__file__).parent.parent / "data" / "request" / "build_request_vectors.json"
CASES: dict[str, dict[str, Any]] = json.loads(VECTORS.read_text())["cases"]


def test_all_cases_are_present() -> None:
    assert sorted(CASES) == [
        "test_derivation_to_build_request",
        "test_fod_to_build_request",
        "test_pass_as_file",
    ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_encode_matches_snix_bytes(name: str) -> None:
    case = CASES[name]
    request = request_from_json(case["build_request"])
    assert encode_build_request(request).hex() == case["protobuf_hex"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_decode_gives_the_expected_request(name: str) -> None:
    case = CASES[name]
    decoded = decode_build_request(bytes.fromhex(case["protobuf_hex"]))
    assert decoded == request_from_json(case["build_request"])
    assert encode_build_request(decoded).hex() == case["protobuf_hex"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_canonical_json_round_trip(name: str) -> None:
    request = request_from_json(CASES[name]["build_request"])
    again = request_from_json(json.loads(json.dumps(request_to_json(request))))
    assert again == request


def test_first_case_in_detail() -> None:
    request = decode_build_request(
        bytes.fromhex(CASES["test_derivation_to_build_request"]["protobuf_hex"])
    )
    assert dict(request.inputs) == {
        "mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar": DirectoryNode(B3Digest(bytes(32)), 42)
    }
    assert request.command_args == (":",)
    assert request.outputs == ("nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo",)
    assert request.constraints == BuildConstraints(system=":", provide_bin_sh=True)
    assert len(request.environment_vars) == 17
    assert request.refscan_needles == (
        "fhaj6gmwns62s6ypkcldbaj2ybvkhx3p",
        "mp57d33657rf34lzvlbpfa1gjfv5gmpg",
    )


def test_fod_has_network_access() -> None:
    request = decode_build_request(
        bytes.fromhex(CASES["test_fod_to_build_request"]["protobuf_hex"])
    )
    assert request.constraints is not None
    assert request.constraints.network_access
    env = {e.key: e.value for e in request.environment_vars}
    assert env["outputHashMode"] == b"recursive"


def test_pass_as_file_additional_files_sorted() -> None:
    request = decode_build_request(bytes.fromhex(CASES["test_pass_as_file"]["protobuf_hex"]))
    assert [(f.path, f.contents) for f in request.additional_files] == [
        ("build/.attr-15l04iksj1280dvhbzdq9ai3wlf8ac2188m9qv0gn81k9nba19ds", b"bar"),
        ("build/.attr-1fcgpy7vc4ammr7s17j2xq88scswkgz23dqzc04g8sx5vcp2pppw", b"baz"),
    ]
