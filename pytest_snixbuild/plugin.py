"""The pytest plugin (entry point ``pytest11: snixbuild``)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("snixbuild", "sandboxed builds with pytest-snixbuild")
    group.addoption(
        "--snix-runc",
        action="store_true",
        default=None,
        help="run real builds in runc (tests that need runc are skipped without it)",
    )
