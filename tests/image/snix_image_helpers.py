"""Helpers of the image tests: realistic store paths (a static busybox, a script using it), the
external tools, and reading layouts back."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.image.api import ImageInput

DATA = Path(__file__).resolve().parent.parent / "data" / "image"
SCHEMA_DIR = DATA / "image-spec-schema"
CASES = DATA / "cases"
BUSYBOX = "/bin/busybox"

H_BUSYBOX = "0c2kkq4mzpc5b6fkxw5m2nm0d1hsd2s5"
H_HELLO = "1b9p07z77phvv2hf6gjxnah8b4xxkvy8"
BUSYBOX_PATH = f"/nix/store/{H_BUSYBOX}-busybox"
HELLO_PATH = f"/nix/store/{H_HELLO}-hello"
APPLETS = ("cat", "echo", "env", "id", "ls", "sh", "stat")


def make_busybox_tree(root: Path) -> Path:
    """``root/bin/busybox`` (a copy of the static /bin/busybox) with applet symlinks."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copyfile(BUSYBOX, bin_dir / "busybox")
    (bin_dir / "busybox").chmod(0o755)
    for applet in APPLETS:
        os.symlink("busybox", bin_dir / applet)
    return root


def make_hello_tree(root: Path, busybox_path: str = BUSYBOX_PATH) -> Path:
    """``root/bin/hello``: a script run by the busybox store path, printing its arguments."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "hello"
    script.write_text(f'#!{busybox_path}/bin/sh\necho "hello from the image: $*"\n')
    script.chmod(0o755)
    return root


def need_tool(request: pytest.FixtureRequest, *names: str) -> None:
    """Skip (or fail with --snix-strict) when a tool is not installed."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        message = f"not installed: {', '.join(missing)}"
        if request.config.getoption("--snix-strict"):
            pytest.fail(message)
        pytest.skip(message)


def run_tool(*argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def blob(layout: Path, digest: str) -> Path:
    algorithm, encoded = digest.split(":", 1)
    return layout / "blobs" / algorithm / encoded


def manifest_of(layout: Path) -> dict[str, Any]:
    index = read_json(layout / "index.json")
    manifest: dict[str, Any] = read_json(blob(layout, index["manifests"][0]["digest"]))
    return manifest


def config_of(layout: Path) -> dict[str, Any]:
    config: dict[str, Any] = read_json(blob(layout, manifest_of(layout)["config"]["digest"]))
    return config


def layer_members(layout: Path, i: int) -> list[tarfile.TarInfo]:
    digest = manifest_of(layout)["layers"][i]["digest"]
    with tarfile.open(blob(layout, digest), "r:gz") as tar:
        return tar.getmembers()


def all_files(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file below ``root`` (directories implied)."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def gunzip(path: Path) -> bytes:
    with gzip.open(path, "rb") as f:
        return f.read()


def rewrite_json_blob(layout: Path, old_digest: str, value: Any) -> str:
    """Store ``value`` as a new blob (canonical JSON) and return its digest; the old one stays."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    digest = sha256_of(data)
    blob(layout, digest).write_bytes(data)
    return digest


def leftovers(parent: Path) -> list[str]:
    """Hidden temporary entries (``.<name>.tmp-…``) left in ``parent``."""
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name)


@dataclass
class HelloImage:
    """A castore holding busybox and a hello script that needs it, as image inputs."""

    store: Store
    busybox: ImageInput
    hello: ImageInput

    @property
    def inputs(self) -> list[ImageInput]:
        return [self.hello, self.busybox]


def hello_inputs(store: Store, src: Path) -> HelloImage:
    bb = ingest_path(make_busybox_tree(src / "busybox"), store)
    hello = ingest_path(make_hello_tree(src / "hello"), store)
    return HelloImage(
        store,
        ImageInput(BUSYBOX_PATH, bb, frozenset()),
        ImageInput(HELLO_PATH, hello, frozenset({BUSYBOX_PATH})),
    )
