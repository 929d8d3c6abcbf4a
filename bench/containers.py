"""Hand-made runc bundles (the baselines of the build rows) and timing inside a container.

A hand-made bundle is written once with the project's own ``make_spec``/``make_bundle`` (so it is
the very config.json the engine would write), optionally with extra bind mounts, and then run
again and again by a bare ``runc run``: no FUSE, no ingestion, no bundle per build.

Work inside a container is timed there: busybox's ``adjtimex`` applet (a read-only
``adjtimex(2)``, allowed in the sandbox) prints the clock with microseconds before and after;
:func:`timed_script` wraps a shell snippet and :func:`parse_timer` reads the result from the
build's stdout. (``/proc/uptime`` has 10 ms steps, busybox's ``date`` has no ``%N``.)
"""

from __future__ import annotations

import contextlib
import itertools
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_snixbuild.engine.runtime import Runc, new_container_id
from pytest_snixbuild.oci.bundle import make_bundle
from pytest_snixbuild.oci.spec import INPUT_OPTIONS, make_spec
from pytest_snixbuild.request.model import BuildRequest

_CLOCK = re.compile(rb"time\.tv_sec: *([0-9]+)\s+time\.tv_usec: *([0-9]+)")


def timed_script(work: str) -> str:
    """A busybox shell script running ``work`` between two readings of the clock."""
    return timed_steps(work)


def timed_steps(*steps: str) -> str:
    """A busybox shell script reading the clock before, between and after ``steps``."""
    return "; ".join(["adjtimex", *(f"{step}; adjtimex" for step in steps)])


def parse_steps(stdout: bytes, steps: int) -> list[float]:
    """The seconds each step of :func:`timed_steps` took, from the build's stdout."""
    clocks = [int(sec) + int(usec) / 1e6 for sec, usec in _CLOCK.findall(stdout)]
    if len(clocks) != steps + 1:
        raise RuntimeError(
            f"expected {steps + 1} clock readings in the build's output: {stdout[-300:]!r}"
        )
    return [b - a for a, b in itertools.pairwise(clocks)]


def parse_timer(stdout: bytes) -> float:
    """Seconds between the two clock readings of :func:`timed_script` in ``stdout``."""
    return parse_steps(stdout, 1)[0]


class BareRunc:
    """``runc run`` of hand-made bundles with a private state directory."""

    def __init__(self, runtime: Runc) -> None:
        self.runtime = runtime
        self.path = runtime.path

    @classmethod
    @contextlib.contextmanager
    def private(cls, parent: Path) -> Iterator[BareRunc]:
        with Runc.private(parent=parent) as runtime:
            yield cls(runtime)

    def run(self, bundle: Path) -> bytes:
        """Run the bundle to completion; its stdout. Fails loudly on a non-zero exit."""
        cid = new_container_id("bench")
        done = subprocess.run(
            [self.path, "--root", str(self.runtime.root), "run", "--bundle", str(bundle), cid],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bare runc run failed ({done.returncode}): {done.stderr[-500:]!r}")
        return done.stdout


def hand_made_bundle(
    request: BuildRequest,
    path: Path,
    sandbox_shell: str,
    binds: dict[str, Path] | None = None,
) -> Path:
    """The engine's bundle for ``request`` at ``path``, plus host directories bind-mounted
    read-only (container path -> host path) the way the engine mounts inputs."""
    spec: dict[str, Any] = make_spec(request, rootless=True, sandbox_shell=sandbox_shell)
    for destination, source in (binds or {}).items():
        spec["mounts"].append(
            {
                "destination": destination,
                "type": "none",
                "source": str(source),
                "options": list(INPUT_OPTIONS),
            }
        )
    return make_bundle(request, spec, path).path
