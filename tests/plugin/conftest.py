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
