"""Every generated spec is valid: OCI runtime-spec v1.3.0 JSON schema plus the semantic rules."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.castore.nodes import Node
from pytest_snixbuild.oci.schema import SpecSchemaError, check_spec, semantic_problems
from pytest_snixbuild.request.model import AdditionalFile, BuildRequest

Errors = Callable[[Mapping[str, Any]], list[str]]
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "data" / "oci" / "runtime-spec-schema"
FIXTURES = SCHEMA_DIR / "test" / "config"


@pytest.mark.parametrize("path", sorted((FIXTURES / "good").glob("*.json")), ids=lambda p: p.stem)
def test_upstream_good_configs_validate(path: Path, schema_errors: Errors) -> None:
    assert schema_errors(json.loads(path.read_text())) == []


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("linux-hugepage", "pageSize"),
        ("linux-netdevice", "netDevices"),
        ("linux-rdma", "hcaHandles"),
        ("freebsd-vnet-disable", "vnet"),
    ],
)
def test_upstream_bad_configs_fail(name: str, needle: str, schema_errors: Errors) -> None:
    """A resolver that silently resolved nothing would let these pass."""
    errors = schema_errors(json.loads((FIXTURES / "bad" / f"{name}.json").read_text()))
    assert errors, name
    assert any(needle in e for e in errors), errors


@pytest.mark.parametrize("rootless", [True, False], ids=["rootless", "rootful"])
@pytest.mark.parametrize("network", [True, False], ids=["net", "nonet"])
@pytest.mark.parametrize("bin_sh", [True, False], ids=["sh", "nosh"])
@pytest.mark.parametrize(
    "ro_paths",
    [(), ("/usr/share/zoneinfo", "/etc/ssl/certs", "/etc/ssl/certs")],
    ids=["noro", "ro"],
)
@pytest.mark.parametrize("n_inputs", [0, 1, 60])
def test_generated_specs_are_valid(
    make_request: Callable[..., BuildRequest],
    pure_spec: Callable[..., dict[str, Any]],
    input_set: Callable[[int], dict[str, Node]],
    schema_errors: Errors,
    rootless: bool,
    network: bool,
    bin_sh: bool,
    ro_paths: tuple[str, ...],
    n_inputs: int,
) -> None:
    request = make_request(
        network=network,
        bin_sh=bin_sh,
        ro_paths=ro_paths,
        inputs=input_set(n_inputs),
        outputs=("out", "dev", "doc"),
        additional_files=(AdditionalFile("build/.attr-x", b"x"),),
    )
    spec = pure_spec(request, rootless=rootless)
    assert schema_errors(spec) == []
    assert semantic_problems(spec) == []
    assert len([m for m in spec["mounts"] if m["source"].startswith("inputs/")]) == n_inputs
    check_spec(spec, SCHEMA_DIR)  # the same through the raising helper


def test_the_foo_request_is_valid(
    foo_request: BuildRequest, pure_spec: Callable[..., dict[str, Any]], schema_errors: Errors
) -> None:
    for rootless in (True, False):
        spec = pure_spec(foo_request, rootless=rootless)
        assert schema_errors(spec) == [] and semantic_problems(spec) == []


def _mutated(spec: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    copied = copy.deepcopy(spec)
    change(copied)
    return copied


def test_schema_catches_type_errors(
    foo_request: BuildRequest, pure_spec: Callable[..., dict[str, Any]], schema_errors: Errors
) -> None:
    spec = pure_spec(foo_request)

    def bad_uid(s: dict[str, Any]) -> None:
        s["process"]["user"]["uid"] = -1

    def bad_terminal(s: dict[str, Any]) -> None:
        s["process"]["terminal"] = "false"

    assert any(e.startswith("/process/user/uid") for e in schema_errors(_mutated(spec, bad_uid)))
    assert schema_errors(_mutated(spec, bad_terminal))
    with pytest.raises(SpecSchemaError, match="/process/user/uid"):
        check_spec(_mutated(spec, bad_uid), SCHEMA_DIR)


def _set_nested(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(spec: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = spec
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("process.args", [], "process.args must not be empty"),
        ("process.terminal", True, "process.terminal is true"),
        ("process.cwd", "build", "process.cwd 'build' is not an absolute path"),
        ("process.env.0", "FOO", "process.env[0] 'FOO' is not KEY=VALUE"),
        ("process.capabilities.bounding.0", "CAP_BOGUS", "unknown capability 'CAP_BOGUS'"),
        ("process.capabilities.inheritable", [], "ambient must be within permitted and inherit"),
        ("mounts.0.destination", "proc", "mounts.destination[0] 'proc' is not an absolute path"),
        (
            "linux.maskedPaths.0",
            "proc/kcore",
            "linux.maskedPaths[0] 'proc/kcore' is not an absolute",
        ),
        ("linux.namespaces.1", {"type": "pid"}, "duplicated namespace 'pid'"),
        ("linux.namespaces.2", {"type": "cgroup"}, "hostname is set but"),
        ("process.user.uid", 1001, "process.user.uid 1001 is not in linux.uidMappings"),
        ("linux.uidMappings.0.containerID", 5, "do not map container uid 0"),
    ],
)
def test_semantic_problems(
    foo_request: BuildRequest,
    pure_spec: Callable[..., dict[str, Any]],
    schema_errors: Errors,
    path: str,
    value: Any,
    problem: str,
) -> None:
    spec = _mutated(pure_spec(foo_request), _set_nested(path, value))
    problems = semantic_problems(spec)
    assert any(p.startswith(problem) or problem in p for p in problems), problems
    with pytest.raises(SpecSchemaError):
        check_spec(spec)
