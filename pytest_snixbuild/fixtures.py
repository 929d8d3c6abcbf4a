"""The fixtures the plugin provides (registered by pytest_snixbuild.plugin)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.harness import SnixHarness, get_harness
from pytest_snixbuild.oci.normalize import normalize_spec
from pytest_snixbuild.request.model import BuildRequest, BuildResult, EnvVar
from pytest_snixbuild.request.toml_case import Case, load_case
from pytest_snixbuild.request.validation import validate_request
from pytest_snixbuild.snapshot import OciSpecExtension


@pytest.fixture(scope="session")
def snix_harness(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> SnixHarness:
    """The plugin's session state: options, store, engine, statistics."""
    harness = get_harness(pytestconfig)
    harness.set_basetemp(tmp_path_factory.getbasetemp())
    return harness


@pytest.fixture(scope="session")
def snix_store(snix_harness: SnixHarness) -> Store:
    """The castore of this session (``--snix-store DIR``, or one under pytest's basetemp)."""
    return snix_harness.store


@pytest.fixture(scope="session")
def snix_engine(snix_harness: SnixHarness) -> OCIBuildService:
    """The build engine (skips without ``--snix-runc``; an error with ``--snix-strict``)."""
    return snix_harness.engine


RequestFactory = Callable[..., BuildRequest]


@pytest.fixture
def snix_request(
    snix_harness: SnixHarness, snix_store: Store, request: pytest.FixtureRequest
) -> RequestFactory:
    """Make a BuildRequest: ``snix_request("case.toml")`` loads a case (relative to the test
    file), ``snix_request(command_args=[...], outputs=[...], ...)`` builds one in Python from
    :class:`BuildRequest`'s fields (validated; ``environment_vars`` may be a mapping). A loaded
    case goes through the ``pytest_snixbuild_modify_request`` hook, as a collected case does."""
    base = Path(request.node.path).parent

    def make(path: str | Path | None = None, **fields: Any) -> BuildRequest:
        if path is not None:
            if fields:
                raise TypeError("snix_request takes a case path or request fields, not both")
            case = load_case(base / path, snix_store)
            return snix_harness.modify_request(case.request, case)
        env = fields.get("environment_vars")
        if isinstance(env, Mapping):
            fields["environment_vars"] = env_vars(env)
        built = BuildRequest(**fields)
        validate_request(built)
        return built

    return make


def env_vars(env: Mapping[str, str | bytes]) -> tuple[EnvVar, ...]:
    """A mapping of environment variables as the sorted ``EnvVar`` tuple a request holds."""
    return tuple(
        EnvVar(key, value.encode() if isinstance(value, str) else value)
        for key, value in sorted(env.items(), key=lambda kv: kv[0].encode())
    )


@pytest.fixture
def snix_case(snix_store: Store, request: pytest.FixtureRequest) -> Callable[[str | Path], Case]:
    """Load a whole case (request and ``[expect]``), relative to the test file."""
    base = Path(request.node.path).parent
    return lambda path: load_case(base / path, snix_store)


@pytest.fixture
def snix_spec(snix_harness: SnixHarness) -> Callable[[BuildRequest], dict[str, Any]]:
    """Turn a request into its normalized config.json data (hooks applied)."""
    return lambda req: normalize_spec(snix_harness.spec_for(req))


@pytest.fixture
def snix_build(
    snix_harness: SnixHarness, request: pytest.FixtureRequest
) -> Callable[..., BuildResult]:
    """Build a request in real runc: ``snix_build(request, timeout=None) -> BuildResult``.
    Using this fixture marks the test ``snix_runc``."""
    snix_harness.require_runc()
    node = request.node

    def build(req: BuildRequest, *, timeout: float | None = None) -> BuildResult:
        return snix_harness.build(req, name=node.nodeid, item=node, timeout=timeout)

    return build


@pytest.fixture
def snix_snapshot(snapshot: Any) -> Any:
    """syrupy's ``snapshot``, set up with the config.json extension."""
    return snapshot.with_defaults(extension_class=OciSpecExtension)
