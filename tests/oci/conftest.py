"""Fixtures for the OCI spec and bundle tests: the reference data and request builders."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node
from pytest_snixbuild.oci.schema import schema_validator
from pytest_snixbuild.oci.spec import make_spec
from pytest_snixbuild.oci.subuid import IdMappings
from pytest_snixbuild.request.model import BuildConstraints, BuildRequest, EnvVar

DATA = Path(__file__).resolve().parent.parent / "data" / "oci"
SCHEMA_DIR = DATA / "runtime-spec-schema"

#: fixed mappings so that specs are pure and comparable
MAPPINGS = IdMappings.snix(uid=0, gid=0, subuid=100000, subgid=100000)
CGROUPS = "/snixbuild-test"
SHELL = "/bin/busybox"


@pytest.fixture(scope="session")
def oci_data() -> Path:
    return DATA


@pytest.fixture(scope="session")
def config_example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "oci_config_example.json").read_text())
    return data


@pytest.fixture(scope="session")
def schema_errors() -> Callable[[Mapping[str, Any]], list[str]]:
    return schema_validator(SCHEMA_DIR)


@pytest.fixture(scope="session")
def foo_request(config_example: dict[str, Any]) -> BuildRequest:
    """The BuildRequest of snix's glue test "foo", the one the example config.json is for."""
    env = config_example["rootless_config"]["process"]["env"]
    return BuildRequest(
        command_args=(":",),
        inputs={"mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar": DirectoryNode(B3Digest(bytes(32)), 42)},
        outputs=("nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo",),
        environment_vars=tuple(EnvVar(k, v.encode()) for k, v in (e.split("=", 1) for e in env)),
        constraints=BuildConstraints(system=":", provide_bin_sh=True),
        refscan_needles=("fhaj6gmwns62s6ypkcldbaj2ybvkhx3p", "mp57d33657rf34lzvlbpfa1gjfv5gmpg"),
    )


def many_inputs(n: int) -> dict[str, Node]:
    """``n`` inputs with store-path-like names, alternating files and directories."""
    inputs: dict[str, Node] = {}
    for i in range(n):
        digest = B3Digest.of(str(i).encode())
        name = f"{i:032d}-input-{i}"
        inputs[name] = FileNode(digest, i) if i % 2 else DirectoryNode(digest, i)
    return inputs


RequestFactory = Callable[..., BuildRequest]


@pytest.fixture
def make_request() -> RequestFactory:
    """A BuildRequest for ``/bin/sh -c SCRIPT`` with one output per name in ``outputs``."""

    def factory(
        script: str = "echo hello > $out",
        *,
        outputs: tuple[str, ...] = ("out",),
        network: bool = False,
        bin_sh: bool = True,
        ro_paths: tuple[str, ...] = (),
        inputs: Mapping[str, Node] | None = None,
        scratch_paths: tuple[str, ...] = ("build", "nix/store"),
        **fields: Any,
    ) -> BuildRequest:
        paths = {name: f"nix/store/{'a' * 31}{i}-{name}" for i, name in enumerate(outputs)}
        env = [EnvVar(name, f"/{path}".encode()) for name, path in paths.items()]
        return BuildRequest(
            command_args=("/bin/sh", "-c", script),
            inputs=dict(inputs or {}),
            outputs=tuple(sorted(paths.values())),
            environment_vars=tuple(sorted(env, key=lambda e: e.key)),
            scratch_paths=scratch_paths,
            constraints=BuildConstraints(
                network_access=network, provide_bin_sh=bin_sh, available_ro_paths=ro_paths
            ),
            **fields,
        )

    return factory


@pytest.fixture(scope="session")
def input_set() -> Callable[[int], dict[str, Node]]:
    return many_inputs


@pytest.fixture
def pure_spec() -> Callable[..., dict[str, Any]]:
    """make_spec with fixed mappings, cgroups path and sandbox shell (so it is pure)."""

    def spec(request: BuildRequest, *, rootless: bool = True) -> dict[str, Any]:
        return make_spec(
            request,
            rootless=rootless,
            sandbox_shell=SHELL,
            mappings=MAPPINGS,
            cgroups_path=CGROUPS,
        )

    return spec
