"""The castore mount used from inside real runc containers, with and without a user namespace."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from snix_engine_helpers import write_bundle
from test_fuse_support import HELLO, HELLO_TEXT, SRC, Tree, build_tree, fuse_mounts_in

from pytest_snixbuild.engine.mount import mount_castore

pytestmark = [
    pytest.mark.snix_runc,
    pytest.mark.skipif(shutil.which("runc") is None, reason="needs runc"),
]

#: the mount options a FUSE bind mount needs inside a user namespace (nosuid/nodev are locked)
INPUT_MOUNT_OPTIONS = ["rbind", "ro", "nosuid", "nodev"]

SCRIPT = f"""
cat /inputs/{SRC}/hello.txt
cat /inputs/{HELLO}
ls -ln /inputs/{SRC}/bin/run /inputs/{SRC}/hello.txt /inputs/{SRC}/empty
stat -c 'ino=%i' /inputs/{SRC}/hello.txt /inputs/{SRC}/copy.txt
/inputs/{SRC}/bin/run
wc -c < /inputs/{SRC}/big.bin
if touch /inputs/{SRC}/new 2>/dev/null; then echo WRITABLE; else echo read-only; fi
id -u
"""


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A world-traversable temporary directory: in a shifted user namespace the container's
    root (host uid 100000) must be able to reach the bundle and the mount (pytest's are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="snix-fuse-runc-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return build_tree(tmp_path_factory.mktemp("fuse-runc-tree"), big=True)


def run_in_runc(tmp: Path, mnt: Path, userns: str) -> subprocess.CompletedProcess[str]:
    bundle = write_bundle(tmp / "bundle", ["/bin/sh", "-c", SCRIPT], rootless=userns == "self")
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["mounts"].append(
        {
            "destination": "/inputs",
            "type": "none",
            "source": str(mnt),
            "options": INPUT_MOUNT_OPTIONS,
        }
    )
    if userns == "subids":  # as snix builds run: ids shifted by 100000, builder 1000:100
        # the shifted root cannot create mountpoints in a root-owned rootfs: make them first
        root = bundle / "root"
        for name in ("proc", "dev", "tmp", "inputs", "bin"):
            (root / name).mkdir(exist_ok=True)
        (root / "bin" / "sh").touch()
        config["linux"]["namespaces"].append({"type": "user"})
        config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        config["process"]["user"] = {"uid": 1000, "gid": 100}
    config_path.write_text(json.dumps(config))
    state = tmp / "runc-state"
    container = f"fuse-test-{uuid.uuid4().hex[:12]}"
    try:
        return subprocess.run(
            ["runc", "--root", str(state), "run", "--bundle", str(bundle), container],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        subprocess.run(
            ["runc", "--root", str(state), "delete", "--force", container],
            capture_output=True,
            check=False,
        )


@pytest.mark.parametrize("userns", ["none", "self", "subids"])
@pytest.mark.parametrize("backend", ["mfusepy", "fusepy"])
def test_inputs_readable_inside_runc(tree: Tree, open_tmp: Path, userns: str, backend: str) -> None:
    with mount_castore(tree.inputs, tree.store, open_tmp / "mnt", backend=backend) as mnt:  # type: ignore[arg-type]
        done = run_in_runc(open_tmp, mnt, userns)
    assert fuse_mounts_in(open_tmp) == []
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    text = HELLO_TEXT.decode().strip()
    assert lines[0] == text
    assert lines[1] == text
    listing = {line.split()[-1].rsplit("/", 1)[-1]: line.split() for line in lines[2:5]}
    owner = "65534" if userns == "subids" else "0"  # host root is unmapped in the shifted userns
    assert listing["run"][0] == "-r-xr-xr-x"
    assert listing["hello.txt"][0] == "-r--r--r--"
    assert listing["empty"][0] == "-r--r--r--"
    assert listing["hello.txt"][2:4] == [owner, owner]
    assert listing["empty"][4] == "0"
    assert lines[5] == lines[6]  # same content, same inode
    assert lines[7] == f"ran /inputs/{SRC}/bin/run"
    assert int(lines[8]) == len(tree.big)
    assert lines[9] == "read-only"
    assert lines[10] == ("1000" if userns == "subids" else "0")
