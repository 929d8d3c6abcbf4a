"""The pytest plugin (entry point ``pytest11: snixbuild``).

This first version registers ``--snix-runc``, ``--snix-strict`` and the ``snix_runc`` marker:
tests marked ``snix_runc`` are skipped unless ``--snix-runc`` is given.
"""

from __future__ import annotations

import pytest

RUNC_MARKER = "snix_runc"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("snixbuild", "sandboxed builds with pytest-snixbuild")
    group.addoption(
        "--snix-runc",
        action="store_true",
        default=None,
        help="run real builds in runc (tests that need runc are skipped without it)",
    )
    group.addoption(
        "--snix-strict",
        action="store_true",
        default=None,
        help="a missing runc, FUSE or busybox is an error instead of a skip (for CI)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{RUNC_MARKER}: the test needs a real OCI runtime (runc) and FUSE; "
        "skipped unless pytest runs with --snix-runc",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--snix-runc"):
        return
    skip = pytest.mark.skip(reason="needs real runc builds: run pytest with --snix-runc to enable")
    for item in items:
        if item.get_closest_marker(RUNC_MARKER) is not None:
            item.add_marker(skip)
