"""Waiting for runc without polling (``wait_for_exit``)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pytest_snixbuild.engine.runtime import wait_for_exit


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def test_returns_the_exit_status_as_soon_as_the_process_ends() -> None:
    proc = _child("import sys, time; time.sleep(0.2); sys.exit(3)")
    assert wait_for_exit(proc, 30.0) == 3
    assert proc.returncode == 3


def test_no_timeout_and_already_exited() -> None:
    proc = _child("pass")
    assert wait_for_exit(proc, None) == 0
    done = _child("import sys; sys.exit(4)")
    time.sleep(0.3)  # a zombie by now: its pidfd is readable at once
    assert wait_for_exit(done, 5.0) == 4


def test_timeout_raises_and_leaves_the_process_running() -> None:
    proc = _child("import time; time.sleep(30)")
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            wait_for_exit(proc, 0.2)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
