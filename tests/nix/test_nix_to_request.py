"""derivation_to_build_request (spec §7.1) against build_request_vectors.json, and its rules."""

from __future__ import annotations

from typing import Any

import pytest
from nix_testlib import load_json

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node
from pytest_snixbuild.nix.aterm import parse_derivation
from pytest_snixbuild.nix.derivation import DerivationError
from pytest_snixbuild.nix.pathhash import hash_placeholder
from pytest_snixbuild.nix.storepath import StorePath
from pytest_snixbuild.nix.to_request import (
    SANDBOX_ENV,
    derivation_to_build_request,
    needle_store_paths,
    pass_as_file_name,
)
from pytest_snixbuild.request.json_form import request_from_json
from pytest_snixbuild.request.model import AdditionalFile, BuildConstraints, EnvVar
from pytest_snixbuild.request.proto import encode_build_request

CASES: dict[str, Any] = load_json("build_request_vectors.json")["cases"]
PASS_AS_FILE = load_json("derivation_vectors.json")["passAsFile_paths"]
OUT_PLACEHOLDER = hash_placeholder("out")


def _case(name: str) -> tuple[Any, dict[StorePath, Node], Any]:
    case = CASES[name]
    drv = parse_derivation(case["drv_aterm"].encode(), name)
    expected = request_from_json(case["build_request"], validate=False)
    inputs = {StorePath.from_basename(k): v for k, v in expected.inputs.items()}
    return drv, inputs, expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_vectors_field_by_field(name: str) -> None:
    drv, inputs, expected = _case(name)
    got = derivation_to_build_request(drv, inputs)
    assert got.command_args == expected.command_args
    assert dict(got.inputs) == dict(expected.inputs)
    assert got.working_dir == expected.working_dir == "build"
    assert got.scratch_paths == expected.scratch_paths == ("build", "nix/store")
    assert got.inputs_dir == expected.inputs_dir == "nix/store"
    assert got.outputs == expected.outputs
    assert got.environment_vars == expected.environment_vars
    assert got.constraints == expected.constraints
    assert got.additional_files == expected.additional_files
    assert got.refscan_needles == expected.refscan_needles
    assert got == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_vectors_byte_for_byte(name: str) -> None:
    drv, inputs, _expected = _case(name)
    got = derivation_to_build_request(drv, inputs)
    assert encode_build_request(got, validate=False).hex() == CASES[name]["protobuf_hex"]


def test_first_vector_details() -> None:
    drv, inputs, _ = _case("test_derivation_to_build_request")
    got = derivation_to_build_request(drv, inputs)
    assert got.inputs["mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"] == DirectoryNode(
        B3Digest(bytes(32)), 42
    )
    env = {e.key: e.value for e in got.environment_vars}
    assert {k: env[k].decode() for k in SANDBOX_ENV} == dict(SANDBOX_ENV)
    assert len(env) == 12 + 5
    assert got.constraints == BuildConstraints(
        system=":", network_access=False, provide_bin_sh=True
    )
    assert [p.to_absolute() for p in needle_store_paths(drv, inputs)] == [
        "/nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo",
        "/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar",
    ]


def test_fod_gets_network() -> None:
    drv, inputs, _ = _case("test_fod_to_build_request")
    constraints = derivation_to_build_request(drv, inputs).constraints
    assert constraints is not None and constraints.network_access


@pytest.mark.parametrize(("key", "path"), sorted(PASS_AS_FILE.items()))
def test_pass_as_file_names(key: str, path: str) -> None:
    assert f"/build/{pass_as_file_name(key)}" == path


def test_pass_as_file_vector() -> None:
    drv, inputs, _ = _case("test_pass_as_file")
    got = derivation_to_build_request(drv, inputs)
    env = {e.key: e.value for e in got.environment_vars}
    assert "bar" not in env and "baz" not in env
    assert env["passAsFile"] == b"bar baz"
    assert env["barPath"] == PASS_AS_FILE["bar"].encode()
    assert got.additional_files == (
        AdditionalFile("build/.attr-15l04iksj1280dvhbzdq9ai3wlf8ac2188m9qv0gn81k9nba19ds", b"bar"),
        AdditionalFile("build/.attr-1fcgpy7vc4ammr7s17j2xq88scswkgz23dqzc04g8sx5vcp2pppw", b"baz"),
    )


LIB = "/nix/store/2vixb94v0hy2xc6p7mbnxxcyc095yyia-has-multi-out-lib"
OUT = "/nix/store/55lwldka5nyxa08wnvlizyqw02ihy8ic-has-multi-out"


def _multi(args: str, env: str | bytes) -> bytes:
    env_bytes = env.encode() if isinstance(env, str) else env
    head = (
        f'Derive([("lib","{LIB}","",""),("out","{OUT}","","")],[],[],"x86_64-linux","/bin/sh",'
        f"[{args}],["
    )
    return head.encode() + env_bytes + b"])"


def test_placeholders() -> None:
    dev = hash_placeholder("dev")  # no such output: left alone
    lib = hash_placeholder("lib")
    drv = parse_derivation(
        _multi(
            f'"{OUT_PLACEHOLDER}/bin","{dev}"',
            f'("a","{lib}/x:{OUT_PLACEHOLDER}"),("f","{OUT_PLACEHOLDER}"),("name","has-multi-out"),'
            '("passAsFile","f")',
        ).replace(b'"/bin/sh"', f'"{OUT_PLACEHOLDER}/sh"'.encode())
    )
    got = derivation_to_build_request(drv, {})
    # the builder itself is not replaced; arguments are
    assert got.command_args == (f"{OUT_PLACEHOLDER}/sh", f"{OUT}/bin", dev)
    env = {e.key: e.value for e in got.environment_vars}
    assert env["a"] == f"{LIB}/x:{OUT}".encode()
    assert got.additional_files == (
        AdditionalFile(f"build/{pass_as_file_name('f')}", OUT.encode()),
    )
    # outputs and needles in output-name order; not a FOD: no network
    assert got.outputs == (LIB[1:], OUT[1:])
    assert got.refscan_needles[:2] == (
        "2vixb94v0hy2xc6p7mbnxxcyc095yyia",
        "55lwldka5nyxa08wnvlizyqw02ihy8ic",
    )
    assert got.constraints is not None and not got.constraints.network_access


def test_inputs_keyed_by_basename_needles_in_hash_order() -> None:
    drv = parse_derivation(_multi("", '("name","has-multi-out")'))
    node = FileNode(B3Digest(bytes(32)), 0)
    paths = [
        StorePath.from_basename("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-a"),
        StorePath.from_basename("00000000000000000000000000000000-z"),
        StorePath.from_basename("mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"),
    ]
    inputs: dict[StorePath, Node] = {p: node for p in paths}
    got = derivation_to_build_request(drv, inputs)
    assert sorted(got.inputs) == sorted(p.basename for p in paths)
    assert got.refscan_needles[2:] == (
        "00000000000000000000000000000000",
        "mp57d33657rf34lzvlbpfa1gjfv5gmpg",
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
    )
    mapped = needle_store_paths(drv, inputs)
    assert [p.hash_str for p in mapped] == list(got.refscan_needles)


def test_derivation_env_wins_over_sandbox_env() -> None:
    drv = parse_derivation(_multi("", '("HOME","/home/me"),("name","has-multi-out")'))
    env = {e.key: e.value for e in derivation_to_build_request(drv, {}).environment_vars}
    assert env["HOME"] == b"/home/me"
    keys = [e.key for e in derivation_to_build_request(drv, {}).environment_vars]
    assert keys == sorted(keys, key=str.encode)


def test_errors() -> None:
    drv = parse_derivation(_multi("", '("name","x"),("passAsFile","missing")'))
    with pytest.raises(DerivationError) as exc:
        derivation_to_build_request(drv, {})
    assert str(exc.value) == (
        "env 'passAsFile' ('missing') refers to the env key 'missing', which the derivation "
        "does not have"
    )
    drv = parse_derivation(_multi("", b'("name","x"),("passAsFile","\\t\xff")'))
    with pytest.raises(DerivationError) as exc:
        derivation_to_build_request(drv, {})
    assert str(exc.value) == (
        "env 'passAsFile' is not UTF-8 (b'\\t\\xff'): passAsFile elements must be env keys"
    )
    drv = parse_derivation(_multi("", '("name","x")').replace(LIB.encode(), b""), validate=False)
    with pytest.raises(DerivationError) as exc:
        derivation_to_build_request(drv, {})
    assert str(exc.value) == (
        "output 'lib' has no path: a derivation needs all its output paths to be built"
    )


def test_env_values_keep_raw_bytes() -> None:
    drv = parse_derivation(_multi("", b'("name","x"),("v","\xc5\xc4\xd6")'))
    env = {e.key: e for e in derivation_to_build_request(drv, {}).environment_vars}
    assert env["v"] == EnvVar("v", b"\xc5\xc4\xd6")
