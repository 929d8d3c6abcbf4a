"""The runc wrapper, against real runc with hand-made bundles."""

from __future__ import annotations

import _thread
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from snix_engine_helpers import processes_with_arg, write_bundle

from pytest_snixbuild.engine.errors import EngineConfigError
from pytest_snixbuild.engine.runtime import (
    CONTAINER_ID_PATTERN,
    Runc,
    new_container_id,
    read_runtime_errors,
    validate_container_id,
)

runc_test = pytest.mark.snix_runc
rootless_and_rootful = pytest.mark.parametrize(
    "rootless", [True, False], ids=["rootless", "rootful"]
)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runc]:
    with Runc.private(parent=tmp_path) as rt:
        yield rt
        assert rt.list_containers() == []


def marker() -> str:
    return f"snixtest-{uuid.uuid4().hex}"


# -- container ids (no runc needed) --------------------------------------------------------------
def test_new_container_ids_are_unique_and_safe() -> None:
    ids = {new_container_id() for _ in range(200)}
    assert len(ids) == 200
    for cid in ids:
        assert CONTAINER_ID_PATTERN.fullmatch(cid)
        assert cid.startswith("snix-")


@pytest.mark.parametrize("bad", ["", "-lead", "A", "a/b", "..", "a b", "é", "x" * 64, ".x"])
def test_invalid_container_ids_are_rejected(bad: str) -> None:
    with pytest.raises(EngineConfigError, match="invalid container id"):
        validate_container_id(bad)


def test_missing_runtime_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineConfigError, match="'no-such-runc' not found"):
        Runc(tmp_path, "no-such-runc")


def test_runtime_errors_are_read_from_the_json_log(tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    log.write_text(
        '{"level":"warning","msg":"ignoring unknown capabilities","time":"t"}\n'
        '{"level":"error","msg":"runc run failed: boom","time":"t"}\n'
    )
    assert read_runtime_errors(log) == "runc run failed: boom"
    log.write_text('{"level":"info","msg":"fine"}\n')
    assert read_runtime_errors(log) is None
    assert read_runtime_errors(tmp_path / "absent.json") is None


# -- real runc ------------------------------------------------------------------------------------
@runc_test
def test_version_names_the_runtime(runtime: Runc) -> None:
    assert runtime.version().startswith("runc version")


@runc_test
@rootless_and_rootful
@pytest.mark.parametrize("status", [0, 1, 3, 42, 255])
def test_exit_code_is_propagated(
    runtime: Runc, tmp_path: Path, rootless: bool, status: int
) -> None:
    bundle = write_bundle(tmp_path / "b", ["/bin/sh", "-c", f"exit {status}"], rootless=rootless)
    result = runtime.run(bundle)
    assert result.exit_code == status
    assert result.runc_error is None
    assert not result.timed_out
    assert result.ok == (status == 0)
    assert not runtime.state_exists(result.container_id)


@runc_test
@rootless_and_rootful
def test_stdout_and_stderr_are_separate_and_streamed(
    runtime: Runc, tmp_path: Path, rootless: bool, caplog: pytest.LogCaptureFixture
) -> None:
    script = "echo out1; echo err1 >&2; echo out2; printf 'no-newline' >&2"
    bundle = write_bundle(tmp_path / "b", ["/bin/sh", "-c", script], rootless=rootless)
    out_logger = logging.getLogger("snixtest.stdout")
    err_logger = logging.getLogger("snixtest.stderr")
    with caplog.at_level(logging.INFO, logger="snixtest"):
        result = runtime.run(bundle, stdout_logger=out_logger, stderr_logger=err_logger)
    assert result.ok
    assert result.stdout == b"out1\nout2\n"
    assert result.stderr == b"err1\nno-newline"
    by_logger = [(r.name, r.getMessage()) for r in caplog.records if r.name.startswith("snixtest")]
    assert ("snixtest.stdout", "out1") in by_logger
    assert ("snixtest.stdout", "out2") in by_logger
    assert ("snixtest.stderr", "err1") in by_logger
    assert ("snixtest.stderr", "no-newline") in by_logger
    records = [r for r in caplog.records if r.name == "snixtest.stdout"]
    assert all(getattr(r, "container_id", None) == result.container_id for r in records)


@runc_test
def test_large_output_is_captured_completely(runtime: Runc, tmp_path: Path) -> None:
    # 4 MiB on stdout (more than any pipe buffer) while stderr gets a line per 64 KiB
    script = "i=0; while [ $i -lt 64 ]; do head -c 65536 /dev/zero; echo tick >&2; i=$((i+1)); done"
    bundle = write_bundle(tmp_path / "b", ["/bin/sh", "-c", script])
    # /dev/zero is not in the hand-made /dev: bind it from the host
    result = runtime.run(_with_dev_zero(bundle))
    assert result.ok, result
    assert result.stdout == b"\0" * (64 * 65536)
    assert result.stderr == b"tick\n" * 64


def _with_dev_zero(bundle: Path) -> Path:
    import json

    spec = json.loads((bundle / "config.json").read_text())
    spec["mounts"].append(
        {"destination": "/dev/zero", "type": "none", "source": "/dev/zero", "options": ["rbind"]}
    )
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


@runc_test
@rootless_and_rootful
def test_runc_error_is_told_apart_from_exit_1(
    runtime: Runc, tmp_path: Path, rootless: bool
) -> None:
    exits_1 = runtime.run(
        write_bundle(tmp_path / "a", ["/bin/sh", "-c", "exit 1"], rootless=rootless)
    )
    assert exits_1.exit_code == 1
    assert exits_1.runc_error is None

    bad_exec = runtime.run(
        write_bundle(tmp_path / "b", ["/bin/no-such-builder"], rootless=rootless)
    )
    assert bad_exec.exit_code == 1
    assert bad_exec.runc_error is not None
    assert "/bin/no-such-builder" in bad_exec.runc_error
    assert not runtime.state_exists(bad_exec.container_id)


@runc_test
def test_invalid_bundle_is_a_runc_error(runtime: Runc, tmp_path: Path) -> None:
    bundle = tmp_path / "empty"
    bundle.mkdir()
    result = runtime.run(bundle)
    assert result.exit_code != 0
    assert result.runc_error is not None
    assert "config.json" in result.runc_error


@runc_test
@rootless_and_rootful
def test_timeout_kills_and_deletes(runtime: Runc, tmp_path: Path, rootless: bool) -> None:
    tag = marker()
    script = f"echo started; sleep 60; : {tag}"
    bundle = write_bundle(tmp_path / "b", ["/bin/sh", "-c", script], rootless=rootless)
    result = runtime.run(bundle, timeout=1.0)
    assert result.timed_out
    assert result.exit_code == 137
    assert result.runc_error is None
    assert not result.ok
    assert result.stdout == b"started\n"
    assert not runtime.state_exists(result.container_id)
    assert runtime.list_containers() == []
    assert processes_with_arg(tag) == []


@runc_test
def test_delete_is_idempotent(runtime: Runc, tmp_path: Path) -> None:
    cid = new_container_id()
    runtime.delete(cid)  # never existed
    runtime.delete(cid)
    result = runtime.run(write_bundle(tmp_path / "b", ["/bin/sh", "-c", "true"]), cid)
    assert result.ok
    runtime.delete(cid)
    runtime.delete(cid)


@runc_test
def test_list_shows_a_running_container(runtime: Runc, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", ["/bin/sh", "-c", "sleep 60"])
    cid = new_container_id()
    seen: list[str] = []

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = [c for c in runtime.list_containers() if c.status == "running"]
            if running:
                seen.extend(c.id for c in running)
                runtime.kill(cid, "KILL")
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = runtime.run(bundle, cid, timeout=60)
    watcher.join()
    assert seen == [cid]
    assert result.exit_code == 137
    assert not result.timed_out


@runc_test
@rootless_and_rootful
def test_keyboard_interrupt_kills_and_deletes(
    runtime: Runc, tmp_path: Path, rootless: bool
) -> None:
    tag = marker()
    bundle = write_bundle(
        tmp_path / "b", ["/bin/sh", "-c", f"sleep 60; : {tag}"], rootless=rootless
    )
    cid = new_container_id()

    def interrupt_when_running() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(c.id == cid and c.status == "running" for c in runtime.list_containers()):
                break
            time.sleep(0.05)
        _thread.interrupt_main()

    timer = threading.Thread(target=interrupt_when_running)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            runtime.run(bundle, cid, timeout=60)
    finally:
        timer.join()
    assert not runtime.state_exists(cid)
    assert runtime.list_containers() == []
    assert processes_with_arg(tag) == []


@runc_test
def test_container_context_deletes_on_exception(runtime: Runc, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", ["/bin/sh", "-c", "true"])
    with pytest.raises(RuntimeError), runtime.container() as cid:
        runtime.run(bundle, cid)
        raise RuntimeError("boom")
    assert not runtime.state_exists(cid)


@runc_test
def test_private_root_is_removed(tmp_path: Path) -> None:
    with Runc.private(parent=tmp_path) as rt:
        root = rt.root
        assert root.is_dir()
        assert rt.run(write_bundle(tmp_path / "b", ["/bin/sh", "-c", "true"])).ok
    assert not root.exists()


@runc_test
def test_crun_is_usable_or_reports_its_own_error(tmp_path: Path) -> None:
    """crun 1.8.1 refuses hybrid cgroup v1+v2 hosts; either way the wrapper classifies it."""
    try:
        crun = Runc(tmp_path / "crun-state", "crun")
    except EngineConfigError:
        pytest.skip("crun is not installed")
    result = crun.run(write_bundle(tmp_path / "b", ["/bin/sh", "-c", "echo hi; exit 7"]))
    if result.runc_error is None:
        assert result.exit_code == 7
        assert result.stdout == b"hi\n"
    else:
        assert result.exit_code != 0
        assert "cgroup" in result.runc_error
    assert crun.list_containers() == []
