"""Fixtures for the Nix-format tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from nix_testlib import NixTools


@pytest.fixture(scope="session")
def nix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NixTools]:
    """Nix with a private configuration. Tests using it need nix-bin (CI installs it)."""
    if shutil.which("nix-instantiate") is None:
        pytest.skip("nix-bin is not installed (apt-get install nix-bin)")
    work = tmp_path_factory.mktemp("nix")
    conf = work / "conf"
    conf.mkdir()
    (conf / "nix.conf").write_text(
        "build-users-group =\n"
        "sandbox = true\n"
        "sandbox-fallback = false\n"
        "substituters =\n"
        "experimental-features = nix-command\n"
    )
    bb = work / "busybox" / "bin"
    bb.mkdir(parents=True)
    shutil.copy2("/bin/busybox", bb / "busybox")
    (bb / "busybox").chmod(0o555)
    yield NixTools(conf, work)
    (bb / "busybox").chmod(0o755)
