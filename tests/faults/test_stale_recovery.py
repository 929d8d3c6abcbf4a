"""``recover_stale_state``: what a killed engine leaves (a dead FUSE mount, a running container, an
orphaned ``runc run``, its bundle) is cleaned and reported; live builds are never touched."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from snix_fault_helpers import (
    assert_nothing_left,
    clean_up_after,
    kill_and_reap,
    leftovers,
    running_container,
    start_victim,
    wait_for_build,
    wait_until,
)

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.castore.verify import verify_store
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.engine.stale import (
    KEPT_MARKER,
    RUNTIME_STATE_DIR,
    owner_alive,
    owner_pid,
    recover_stale_state,
)
from pytest_snixbuild.request.model import BuildRequest, EnvVar

OUT = "nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-out"
MODES = pytest.mark.parametrize("rootless", [True, False], ids=["rootless", "rootful"])


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def fake_id(pid: int) -> str:
    return f"snix-{pid}-{uuid.uuid4().hex}"


def tagged_processes(tag: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if tag.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.fixture
def victims(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Build processes the test starts; whatever happens, none survives it, nor its leftovers."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    clean_up_after(tmp_path, started)


# -- ownership -----------------------------------------------------------------------------------
def test_owner_pid() -> None:
    assert owner_pid(f"snix-123-{'a' * 32}") == 123
    assert owner_pid(f"snixtest.x-7-{'0' * 32}") == 7
    for name in ("snix-123", f"snix-x-{'a' * 32}", "mybuild", f"snix-1-{'A' * 32}", ".runc"):
        assert owner_pid(name) is None


def test_owner_alive() -> None:
    assert owner_alive(os.getpid())
    assert not owner_alive(dead_pid())
    with subprocess.Popen(["sleep", "60"]) as child:
        try:
            assert owner_alive(child.pid, time.time())
            # a leftover made an hour before this process started is not this process's
            assert not owner_alive(child.pid, time.time() - 3600)
            child.kill()
            child_state = Path(f"/proc/{child.pid}/stat")
            while child_state.exists() and child_state.read_text().split(") ")[1][0] != "Z":
                time.sleep(0.01)
            assert not owner_alive(child.pid)  # a zombie
        finally:
            child.kill()


# -- bundles without runc ------------------------------------------------------------------------
def test_only_bundles_of_gone_owners_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "bundles"
    gone = root / fake_id(dead_pid())
    mine = root / fake_id(os.getpid())
    kept = root / fake_id(dead_pid())
    foreign = root / "not-a-bundle"
    for d in (gone, mine, kept, foreign):
        (d / "root" / "etc").mkdir(parents=True)
        (d / "config.json").write_text("{}")
    (kept / KEPT_MARKER).touch()
    (gone / "root").chmod(0o555)  # builds may leave read-only directories
    lines = recover_stale_state(root)
    assert lines == [f"removed bundle {gone}"]
    assert not gone.exists()
    assert mine.exists() and kept.exists() and foreign.exists()
    assert recover_stale_state(root) == []


def test_a_reused_pid_does_not_protect_a_leftover(tmp_path: Path) -> None:
    root = tmp_path / "bundles"
    with subprocess.Popen(["sleep", "60"]) as newer:
        try:
            old = root / fake_id(newer.pid)
            fresh = root / fake_id(newer.pid)
            old.mkdir(parents=True)
            fresh.mkdir()
            an_hour_ago = time.time() - 3600
            os.utime(old, (an_hour_ago, an_hour_ago))
            assert recover_stale_state(root) == [f"removed bundle {old}"]
            assert fresh.exists()
        finally:
            newer.kill()


def test_missing_root_is_nothing_to_do(tmp_path: Path) -> None:
    assert recover_stale_state(tmp_path / "absent") == []
    assert not (tmp_path / "absent").exists()


def test_a_container_that_cannot_be_deleted_names_the_command(tmp_path: Path) -> None:
    root = tmp_path / "bundles"
    cid = fake_id(dead_pid())
    (root / RUNTIME_STATE_DIR / cid).mkdir(parents=True)
    (root / cid).mkdir()
    broken = tmp_path / "broken-runc"
    broken.write_text("#!/bin/sh\necho 'runc: permission denied' >&2\nexit 1\n")
    broken.chmod(0o755)
    lines = recover_stale_state(root, runtime=str(broken))
    assert len(lines) == 1
    assert lines[0].startswith(f"could not delete stale container {cid}")
    assert "permission denied" in lines[0]
    assert lines[0].endswith(
        f"run `broken-runc --root {root / RUNTIME_STATE_DIR} delete --force {cid}`"
    )
    # its bundle stays until the container is gone
    assert (root / cid).exists()
    # with a working runc, the (empty) state is removed and then the bundle
    assert recover_stale_state(root) == [
        f"deleted container {cid} (runc root {root / RUNTIME_STATE_DIR}): its process is gone",
        f"removed bundle {root / cid}",
    ]


# -- real leftovers of a killed engine -----------------------------------------------------------
@pytest.mark.snix_runc
@MODES
def test_sigkill_of_the_engine_then_recovery(
    rootless: bool, tmp_path: Path, victims: list[subprocess.Popen[bytes]]
) -> None:
    root, store_dir = tmp_path / "bundles", tmp_path / "store"
    tag = f"snixtag{uuid.uuid4().hex}"
    victim = start_victim(
        root, store_dir, rootless=rootless, script=f"cat $lib > $out; sleep 120; : {tag}"
    )
    victims.append(victim)
    cid = wait_for_build(root, victim)
    assert recover_stale_state(root) == []  # its owner is alive: nothing to do
    assert kill_and_reap(victim) == -signal.SIGKILL

    left = leftovers(root)
    assert left.mounts == [root / cid / "inputs"]
    assert left.containers == [cid]
    assert left.bundles == [cid]
    assert tagged_processes(tag), "the builder keeps running after its engine died"

    lines = recover_stale_state(root)
    assert lines == [
        *(
            f"killed orphaned runc process {pid} (it ran container {cid})"
            for pid in left.runc_processes
        ),
        f"deleted container {cid} (runc root {root / RUNTIME_STATE_DIR}): its process is gone",
        f"unmounted {root / cid / 'inputs'}: its FUSE server's process is gone",
        f"removed bundle {root / cid}",
    ]
    assert_nothing_left(root)
    assert tagged_processes(tag) == []
    assert verify_store(store_dir).ok
    assert recover_stale_state(root) == []


@pytest.mark.snix_runc
def test_a_new_service_recovers_before_its_first_build(
    tmp_path: Path, victims: list[subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    root, store_dir = tmp_path / "bundles", tmp_path / "store"
    victim = start_victim(root, store_dir, rootless=True)
    victims.append(victim)
    cid = wait_for_build(root, victim)
    kill_and_reap(victim)
    service = OCIBuildService.from_store(root, Store.open(store_dir))
    caplog.set_level(logging.WARNING, logger="pytest_snixbuild.engine.stale")
    result = service.build(
        BuildRequest(
            command_args=("/bin/sh", "-c", "echo fine > $out"),
            outputs=(OUT,),
            environment_vars=(EnvVar("out", f"/{OUT}".encode()),),
        )
    )
    assert result.exit_code == 0
    cleaned = service.recover_stale_state()
    assert any(line.startswith(f"deleted container {cid}") for line in cleaned)
    assert f"removed bundle {root / cid}" in cleaned
    assert f"stale state: removed bundle {root / cid}" in caplog.messages
    assert_nothing_left(root)
    assert verify_store(store_dir).ok


@pytest.mark.snix_runc
def test_live_builds_of_other_processes_are_left_alone(
    tmp_path: Path, victims: list[subprocess.Popen[bytes]]
) -> None:
    root, store_dir = tmp_path / "bundles", tmp_path / "store"
    victim = start_victim(root, store_dir, rootless=True)
    victims.append(victim)
    cid = wait_for_build(root, victim)
    assert recover_stale_state(root) == []
    assert running_container(root) == cid
    assert leftovers(root).mounts == [root / cid / "inputs"]
    # Ctrl-C of the owner: it cleans up everything itself
    victim.send_signal(signal.SIGINT)
    victim.communicate(timeout=60)
    assert_nothing_left(root)


@pytest.mark.snix_runc
def test_builds_in_other_threads_of_this_process_are_left_alone(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    service = OCIBuildService.from_store(tmp_path / "bundles", store)
    results: list[object] = []
    request = BuildRequest(
        command_args=("/bin/sh", "-c", "echo started > $out; sleep 2"),
        outputs=(OUT,),
        environment_vars=(EnvVar("out", f"/{OUT}".encode()),),
    )
    thread = threading.Thread(target=lambda: results.append(service.build(request)))
    thread.start()
    try:
        cid = str(wait_until("a running container", lambda: running_container(service.bundle_root)))
        assert recover_stale_state(service.bundle_root) == []
        assert (service.bundle_root / cid).is_dir()
    finally:
        thread.join(60)
    assert len(results) == 1
    assert_nothing_left(service.bundle_root)


@pytest.mark.snix_runc
def test_the_cli_reports_what_it_cleaned(
    tmp_path: Path, victims: list[subprocess.Popen[bytes]]
) -> None:
    root, store_dir = tmp_path / "bundles", tmp_path / "store"
    victim = start_victim(root, store_dir, rootless=True)
    victims.append(victim)
    cid = wait_for_build(root, victim)
    kill_and_reap(victim)
    case = tmp_path / "case.toml"
    case.write_text(
        f'[request]\ncommand_args = ["/bin/sh", "-c", "echo hi > $out"]\noutputs = ["{OUT}"]\n'
        f'[request.environment_vars]\nout = "/{OUT}"\n'
    )
    snixbuild = Path(sys.executable).with_name("snixbuild")
    done = subprocess.run(
        [str(snixbuild), "build", str(case), "--bundle-root", str(root), "--store", str(store_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"stale state: removed bundle {root / cid}" in done.stderr.splitlines()
    assert f"stale state: deleted container {cid}" in done.stderr
    assert_nothing_left(root)
