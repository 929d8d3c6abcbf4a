"""Service construction without builds: addresses, the dummy service, the sandbox shell."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.errors import EngineConfigError, UnsupportedBuildError
from pytest_snixbuild.engine.service import (
    DUMMY_MESSAGE,
    DummyBuildService,
    OCIBuildService,
    find_sandbox_shell,
    from_addr,
    is_static_elf,
)
from pytest_snixbuild.request.model import BuildRequest

needs_runc = pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")


def test_dummy_service_refuses_every_build() -> None:
    with pytest.raises(
        UnsupportedBuildError, match="builds are not supported with DummyBuildService"
    ):
        DummyBuildService().build(BuildRequest(command_args=("true",)))
    assert DUMMY_MESSAGE == "builds are not supported with DummyBuildService"


def test_from_addr_dummy() -> None:
    assert isinstance(from_addr("dummy://", Store.memory()), DummyBuildService)


@needs_runc
def test_from_addr_oci_uses_the_path_as_bundle_root(tmp_path: Path) -> None:
    store = Store.memory()
    service = from_addr(f"oci://{tmp_path}/bundles", store, rootless=False, timeout=5)
    assert isinstance(service, OCIBuildService)
    assert service.bundle_root == tmp_path / "bundles"
    assert service.store is store
    assert service.rootless is False
    assert service.timeout == 5
    assert (tmp_path / "bundles" / ".runc").is_dir()


def test_from_addr_oci_without_path() -> None:
    with pytest.raises(EngineConfigError, match="oci needs a bundle dir as path"):
        from_addr("oci://", Store.memory())


def test_from_addr_oci_with_a_host_part() -> None:
    with pytest.raises(EngineConfigError, match="three slashes"):
        from_addr("oci://bundles/here", Store.memory())


@pytest.mark.parametrize(
    ("addr", "scheme"),
    [
        ("grpc+unix:///run/snix.sock", "grpc+unix"),
        ("http://localhost:8000", "http"),
        ("foo://", "foo"),
    ],
)
def test_from_addr_unknown_scheme(addr: str, scheme: str) -> None:
    with pytest.raises(EngineConfigError, match=re.escape(f"unknown scheme: {scheme}")):
        from_addr(addr, Store.memory())


def test_from_addr_not_an_address() -> None:
    with pytest.raises(EngineConfigError, match="invalid build service address"):
        from_addr("/just/a/path", Store.memory())


@needs_runc
def test_service_options_are_checked(tmp_path: Path) -> None:
    store = Store.memory()
    with pytest.raises(EngineConfigError, match="max_concurrent_builds is 0"):
        OCIBuildService.from_store(tmp_path, store, max_concurrent_builds=0)
    with pytest.raises(EngineConfigError, match="timeout is -1"):
        OCIBuildService.from_store(tmp_path, store, timeout=-1)
    with pytest.raises(EngineConfigError, match="'no-such-runtime' not found"):
        OCIBuildService.from_store(tmp_path, store, runtime="no-such-runtime")


# -- the sandbox shell ---------------------------------------------------------------------------
def test_debian_busybox_is_static() -> None:
    if not Path("/bin/busybox").exists():
        pytest.skip("busybox-static is not installed")
    assert is_static_elf(Path("/bin/busybox"))
    assert find_sandbox_shell() == str(Path("/bin/busybox").resolve())


def test_dynamic_executables_and_non_elf_files_are_not_static(tmp_path: Path) -> None:
    python = Path(shutil.which("python3") or "/usr/bin/python3").resolve()
    assert not is_static_elf(python)
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\n")
    assert not is_static_elf(script)
    assert not is_static_elf(tmp_path / "absent")


def test_no_static_shell_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SNIX_BUILD_SANDBOX_SHELL", raising=False)
    dynamic = Path(shutil.which("python3") or "/usr/bin/python3").resolve()
    with pytest.raises(EngineConfigError, match="no static busybox found") as caught:
        find_sandbox_shell(candidates=(str(tmp_path / "busybox"), str(dynamic)))
    assert "busybox-static" in str(caught.value)


def test_sandbox_shell_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EngineConfigError, match="not an absolute path"):
        find_sandbox_shell("busybox")
    with pytest.raises(EngineConfigError, match="not an executable file"):
        find_sandbox_shell(str(tmp_path / "missing"))
    python = str(Path(shutil.which("python3") or "/usr/bin/python3").resolve())
    assert find_sandbox_shell(python) == python  # accepted, with a warning
    monkeypatch.setenv("SNIX_BUILD_SANDBOX_SHELL", python)
    assert find_sandbox_shell() == python
