"""Hooks that conftest.py files and plugins can implement to extend pytest-snixbuild.

Each is called with keyword arguments only. Implement them in a ``conftest.py``::

    def pytest_snixbuild_modify_request(request, case):
        return dataclasses.replace(request, command_args=(*request.command_args, "--verbose"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_snixbuild.request.model import BuildRequest, BuildResult
    from pytest_snixbuild.request.toml_case import Case


@pytest.hookspec(firstresult=True)
def pytest_snixbuild_modify_request(request: BuildRequest, case: Case) -> BuildRequest | None:
    """Return a replacement for a case's request before it is snapshotted and built.

    The first implementation returning a value wins; return None to leave it unchanged.
    """


def pytest_snixbuild_modify_spec(spec: dict[str, Any], request: BuildRequest) -> None:
    """Change the runtime spec (config.json data) in place before it is written and run.

    Called for every build the plugin runs, cases and the ``snix_build`` fixture alike. The
    snapshot of a case records the spec after these changes.
    """


def pytest_snixbuild_build_finished(
    request: BuildRequest,
    result: BuildResult | None,
    case: Case | None,
    error: BaseException | None,
) -> None:
    """Called after every build, successful or not: ``result`` or ``error`` is set."""
