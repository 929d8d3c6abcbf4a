"""Fixtures of the castore tests: vectors, stores, the DIRECTORY_COMPLICATED tree, nix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.castore.store import Store

DATA = Path(__file__).resolve().parent.parent / "data" / "castore"


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "castore_vectors.json").read_text())
    return data


@pytest.fixture(scope="session")
def nar_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "nar_vectors.json").read_text())
    return data


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """Each test runs against the in-memory and the on-disk store."""
    if request.param == "memory":
        return Store.memory()
    return Store.open(tmp_path / "store")


def make_complicated(root: Path) -> Path:
    """The tree of snix's import test: ``.keep``, ``aa -> /nix/store/somewhereelse``,
    ``keep/.keep``."""
    root.mkdir()
    (root / ".keep").touch()
    (root / "aa").symlink_to("/nix/store/somewhereelse")
    (root / "keep").mkdir()
    (root / "keep" / ".keep").touch()
    return root


@pytest.fixture
def complicated_tree(tmp_path: Path) -> Path:
    return make_complicated(tmp_path / "complicated")


@pytest.fixture
def hello_file(tmp_path: Path) -> Path:
    path = tmp_path / "hello"
    path.write_bytes(b"Hello World!")
    return path


class Nix:
    """Debian's nix-bin, run without a daemon or a system config."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def dump(self, path: Path) -> bytes:
        return subprocess.run(
            ["nix-store", "--dump", str(path)], env=self.env, check=True, capture_output=True
        ).stdout

    def hash(self, path: Path) -> str:
        out = subprocess.run(
            ["nix-hash", "--type", "sha256", "--base32", str(path)],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return out.strip()


@pytest.fixture(scope="session")
def nix(tmp_path_factory: pytest.TempPathFactory) -> Nix:
    if shutil.which("nix-store") is None or shutil.which("nix-hash") is None:
        pytest.fail("nix-bin is required for the NAR parity tests (apt-get install nix-bin)")
    conf = tmp_path_factory.mktemp("nixconf")
    (conf / "nix.conf").write_text("build-users-group =\nexperimental-features = nix-command\n")
    env = dict(os.environ)
    env["NIX_CONF_DIR"] = str(conf)
    return Nix(env)


@pytest.fixture
def no_leftovers(tmp_path: Path) -> Iterator[Path]:
    """A store directory whose ``tmp/`` must be empty after the test."""
    root = tmp_path / "store"
    yield root
    for sub in ("blobs", "directories"):
        tmp = root / sub / "tmp"
        if tmp.exists():
            assert list(tmp.iterdir()) == []


@pytest.fixture(scope="session")
def nix_dump(nix: Nix) -> Callable[[Path], bytes]:
    """``nix-store --dump PATH``."""
    return nix.dump


@pytest.fixture(scope="session")
def nix_hash(nix: Nix) -> Callable[[Path], str]:
    """``nix-hash --type sha256 --base32 PATH``."""
    return nix.hash


@pytest.fixture(scope="session")
def nix_env(nix: Nix) -> dict[str, str]:
    """The environment to run other nix commands in (nix-command enabled, no daemon)."""
    return nix.env
