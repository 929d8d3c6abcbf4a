"""``docker load`` reads the Docker archive of an image, and ``docker run`` runs it.

A private ``dockerd`` is started for this module (its own socket, data and exec roots under a
temporary directory; vfs storage, no iptables, no bridge) and stopped afterwards, so the host's
Docker, if any, is never touched. Run with ``pytest --snix-runc`` (docker runs runc).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from snix_image_helpers import HelloImage, config_of, need_tool, run_tool

from pytest_snixbuild.image.api import ImageResult, build_image

pytestmark = pytest.mark.snix_runc

#: seconds to wait for the private daemon to answer
DOCKERD_READY = 60


@pytest.fixture(scope="module")
def docker_host(request: pytest.FixtureRequest) -> Iterator[str]:
    """``DOCKER_HOST`` of a private dockerd, stopped and removed at the end of the module."""
    need_tool(request, "dockerd", "docker")
    root = Path(tempfile.mkdtemp(prefix="snix-dockerd-"))
    host = f"unix://{root}/docker.sock"
    log = (root / "dockerd.log").open("wb")
    daemon = subprocess.Popen(
        [
            "dockerd",
            "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "dockerd.pid"),
            "-H", host,
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--storage-driver=vfs",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DOCKERD_READY
        while docker(host, "info", check=False).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                text = (root / "dockerd.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"the private dockerd did not start:\n{text}")
            time.sleep(0.2)
        yield host
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        log.close()
        subprocess.run(["umount", "-R", "-l", str(root)], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def docker(host: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": host}
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def built(hello_image: HelloImage, tmp_path: Path) -> ImageResult:
    return build_image(
        hello_image.inputs,
        hello_image.store,
        tmp_path / "img",
        tag="snix-hello:v1",
        entrypoint=["/bin/hello"],
        cmd=["world"],
        docker_archive=tmp_path / "img.tar",
    )


def test_docker_load_reads_the_archive(built: ImageResult, docker_host: str) -> None:
    assert built.docker_archive is not None
    loaded = docker(docker_host, "load", "-i", str(built.docker_archive))
    assert "Loaded image: snix-hello:v1" in loaded.stdout
    layers = docker(
        docker_host, "image", "inspect", "snix-hello:v1", "--format", "{{json .RootFS.Layers}}"
    )
    # docker computed the same diff_ids from the layer tars as our config records
    assert layers.stdout.strip() == json_list(config_of(built.out_dir)["rootfs"]["diff_ids"])
    docker(docker_host, "image", "rm", "snix-hello:v1")


def test_docker_runs_the_entrypoint(built: ImageResult, docker_host: str) -> None:
    assert built.docker_archive is not None
    docker(docker_host, "load", "-i", str(built.docker_archive))
    try:
        ran = docker(docker_host, "run", "--rm", "--network", "none", "snix-hello:v1")
        assert ran.stdout == "hello from the image: world\n"
        other = docker(docker_host, "run", "--rm", "--network", "none", "snix-hello:v1", "docker")
        assert other.stdout == "hello from the image: docker\n"
    finally:
        docker(docker_host, "image", "rm", "snix-hello:v1")


def json_list(items: list[str]) -> str:
    return "[" + ",".join(f'"{i}"' for i in items) + "]"


def test_the_oci_layout_copies_into_docker(built: ImageResult, docker_host: str) -> None:
    """The OCI layout itself (not only the archive) reaches docker through skopeo."""
    archive = built.out_dir.parent / "via-skopeo.tar"
    run_tool("skopeo", "copy", f"oci:{built.out_dir}:v1", f"docker-archive:{archive}:via:skopeo")
    docker(docker_host, "load", "-i", str(archive))
    try:
        ran = docker(docker_host, "run", "--rm", "--network", "none", "via:skopeo")
        assert ran.stdout == "hello from the image: world\n"
    finally:
        docker(docker_host, "image", "rm", "via:skopeo")
