"""The plugin's tests run pytest inside pytest (pytester): each inner run is a user project in a
temp dir. ``plugin_args`` repeats a scenario without xdist, with ``-n 0`` and with ``-n 2``, as
syrupy's own integration tests do."""

from __future__ import annotations

import pytest

#: the xdist modes of an inner run: none, xdist loaded but no workers, two workers
XDIST_MODES: dict[str, list[str]] = {
    "no_xdist": [],
    "xdist_zero": ["-n", "0"],
    "xdist_two": ["-n", "2"],
}


@pytest.fixture(params=list(XDIST_MODES.values()), ids=list(XDIST_MODES))
def plugin_args(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


@pytest.fixture(autouse=True)
def _not_an_xdist_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """When this suite runs under xdist, the inner runs must not inherit the worker's
    environment: syrupy (and anything else that reads it) would think they are xdist workers."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
