"""The OCI runtime wrapper: run one bundle with ``runc`` and always clean up after it.

:class:`Runc` runs ``runc --root <private state dir> --log <file> --log-format json run --bundle
<bundle> <id>`` with stdin on ``/dev/null``. Each build gets its own container id (see
:func:`new_container_id`). stdout and stderr are captured separately and each is streamed, line by
line, to a :mod:`logging` logger while the build runs (one reader thread per pipe).

runc's exit status is the builder's, except that runc exits 1 on its own errors too: the JSON log
tells them apart (runc writes ``{"level": "error", "msg": ...}`` there only for its own failures),
and :attr:`RunResult.runc_error` holds that message.

On a timeout, on ``KeyboardInterrupt`` or on any other exception while waiting, the container is
killed (``runc kill <id> KILL``; if runc cannot, the ``runc run`` process group is SIGKILLed) and
``runc delete --force`` removes whatever is left; :meth:`Runc.delete` is idempotent.

Another runtime binary with runc's command line (``crun``) can be given as ``path``; see
docs/engine.md for why crun 1.8.1 does not work on hybrid-cgroup hosts such as this one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pytest_snixbuild.engine.errors import EngineConfigError, RuntimeFailedError

__all__ = [
    "CONTAINER_ID_PATTERN",
    "ContainerInfo",
    "RunResult",
    "Runc",
    "new_container_id",
    "validate_container_id",
]

log = logging.getLogger(__name__)

#: the build's stdout and stderr are streamed to these loggers unless others are given
STDOUT_LOGGER = logging.getLogger("pytest_snixbuild.build.stdout")
STDERR_LOGGER = logging.getLogger("pytest_snixbuild.build.stderr")

#: container ids we create: safe for runc, crun, file names and cgroup names
CONTAINER_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")

#: runc log levels that mean runc itself failed
_ERROR_LEVELS = frozenset({"error", "fatal", "panic"})

#: seconds to wait for ``runc run`` to exit after its container was SIGKILLed
KILL_GRACE = 5.0
#: seconds to wait for the pipe readers after ``runc run`` exited
READER_GRACE = 5.0
#: how often ``runc list`` is tried when containers vanish while it runs
LIST_ATTEMPTS = 5


def validate_container_id(container_id: str) -> str:
    """Return ``container_id`` if it matches :data:`CONTAINER_ID_PATTERN`, else raise."""
    if not CONTAINER_ID_PATTERN.fullmatch(container_id):
        raise EngineConfigError(
            f"invalid container id {container_id!r}: expected 1-63 characters of [a-z0-9_.-] "
            "starting with a letter or digit"
        )
    return container_id


def new_container_id(prefix: str = "snix") -> str:
    """A fresh container id, unique across threads, processes and hosts.

    ``<prefix>-<pid>-<uuid4 hex>``; the pid makes it easy to see which process (e.g. which
    xdist worker) a leftover belongs to.
    """
    return validate_container_id(f"{prefix}-{os.getpid()}-{uuid.uuid4().hex}")


@dataclass(frozen=True, slots=True)
class RunResult:
    """How one ``runc run`` ended."""

    container_id: str
    #: runc's exit status: the builder's, 128+N when killed by signal N, 1 on a runc error
    exit_code: int
    stdout: bytes
    stderr: bytes
    #: the error runc logged about itself (None when runc did its job)
    runc_error: str | None
    #: True when the run was killed because it ran past its timeout
    timed_out: bool
    #: wall-clock seconds from spawning runc to its exit
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.runc_error is None


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """One entry of ``runc list``."""

    id: str
    status: str
    pid: int
    bundle: str


class _PipeReader(threading.Thread):
    """Reads one pipe to the end, keeping every byte and logging every line."""

    def __init__(
        self, pipe: IO[bytes], logger: logging.Logger, container_id: str, stream: str
    ) -> None:
        super().__init__(name=f"{stream}-{container_id[:24]}", daemon=True)
        self._pipe = pipe
        self._logger = logger
        self._container_id = container_id
        self._stream = stream
        self._chunks: list[bytes] = []

    def run(self) -> None:
        logger = self._logger
        with self._pipe:
            for line in iter(self._pipe.readline, b""):
                self._chunks.append(line)
                if logger.isEnabledFor(logging.INFO):
                    logger.info(
                        "%s",
                        line.decode("utf-8", errors="replace").rstrip("\r\n"),
                        extra={"container_id": self._container_id, "stream": self._stream},
                    )

    @property
    def data(self) -> bytes:
        return b"".join(self._chunks)


def read_runtime_errors(log_path: Path) -> str | None:
    """The error messages runc wrote to its JSON log (``--log-format json``), or None."""
    try:
        raw = log_path.read_bytes()
    except FileNotFoundError:
        return None
    messages: list[str] = []
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            # not JSON (an old runtime ignoring --log-format): keep it, it is all we have
            messages.append(line.decode("utf-8", errors="replace"))
            continue
        if isinstance(entry, dict) and str(entry.get("level", "")).lower() in _ERROR_LEVELS:
            msg = str(entry.get("msg", "")).strip()
            if msg and msg not in messages:
                messages.append(msg)
    return "; ".join(messages) if messages else None


#: the longest :func:`wait_for_exit` blocks without looking at pending interrupts
WAIT_SLICE = 0.05


def wait_for_exit(proc: subprocess.Popen[bytes], timeout: float | None) -> int:
    """``proc.wait(timeout)`` without polling.

    With a timeout, ``Popen.wait`` sleeps in steps of up to 50 ms until the process has ended,
    which added 20–60 ms to every build run with a timeout (the plugin's default). A pidfd
    becomes readable the moment the process exits. It is watched in slices of at most
    :data:`WAIT_SLICE` seconds, so that a ``KeyboardInterrupt`` raised without a signal
    (``_thread.interrupt_main``) is still seen promptly. Raises ``subprocess.TimeoutExpired``.
    """
    if timeout is None:
        return proc.wait()
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # no pidfd (Linux < 5.3), or already reaped
        return proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            ready, _, _ = select.select([pidfd], [], [], min(remaining, WAIT_SLICE))
            if ready:
                return proc.wait()
    finally:
        os.close(pidfd)


class Runc:
    """One OCI runtime binary and one private state directory (``--root``).

    ``path`` is the runtime (looked up on ``PATH`` when it has no slash); ``root`` is the state
    directory, created (0700) if missing. Several :class:`Runc` objects, threads and processes may
    share one root: every container gets a unique id. Use :meth:`private` for a throwaway root.
    """

    def __init__(self, root: Path, path: str = "runc", *, kill_grace: float = KILL_GRACE) -> None:
        resolved = shutil.which(path)
        if resolved is None:
            raise EngineConfigError(
                f"OCI runtime {path!r} not found (looked on PATH={os.environ.get('PATH', '')!r}); "
                "install runc or pass the runtime's path"
            )
        self.path = resolved
        self.name = Path(resolved).name
        self.root = Path(root).absolute()
        self.kill_grace = kill_grace
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._version: str | None = None

    def __repr__(self) -> str:
        return f"Runc(root={str(self.root)!r}, path={self.path!r})"

    @classmethod
    @contextlib.contextmanager
    def private(cls, path: str = "runc", *, parent: Path | None = None) -> Iterator[Runc]:
        """A runtime with a fresh state directory; on exit every container left in it is
        force-deleted and the directory is removed (also on exceptions and Ctrl-C)."""
        root = Path(tempfile.mkdtemp(prefix="snixbuild-runc-", dir=parent))
        try:
            runtime = cls(root, path)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        try:
            yield runtime
        finally:
            try:
                runtime.delete_all()
            finally:
                shutil.rmtree(root, ignore_errors=True)

    # -- commands ------------------------------------------------------------------------------
    def _argv(self, *args: str) -> list[str]:
        return [self.path, "--root", str(self.root), *args]

    def _call(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            self._argv(*args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def version(self) -> str:
        """The first line of ``<runtime> --version`` (e.g. ``runc version 1.1.5+ds1``)."""
        if self._version is None:
            out = subprocess.run(
                [self.path, "--version"], capture_output=True, check=False, timeout=30
            )
            text = out.stdout.decode("utf-8", errors="replace").strip()
            self._version = text.splitlines()[0] if text else f"{self.name} (unknown version)"
        return self._version

    def list_containers(self) -> list[ContainerInfo]:
        """Every container in this state directory (``runc list --format json``).

        ``runc list`` fails when a container disappears while it reads the directory (another
        thread's build just ended): that is retried a few times.
        """
        for attempt in range(LIST_ATTEMPTS):
            done = self._call("list", "--format", "json")
            if done.returncode == 0:
                break
            time.sleep(0.01 * (attempt + 1))
        if done.returncode != 0:
            raise RuntimeFailedError(
                done.stderr.decode("utf-8", errors="replace").strip()
                or f"'{self.name} list' exited with status {done.returncode}",
                runtime=self.name,
            )
        entries = json.loads(done.stdout or b"null") or []
        return [
            ContainerInfo(
                id=str(e.get("id", "")),
                status=str(e.get("status", "")),
                pid=int(e.get("pid", 0) or 0),
                bundle=str(e.get("bundle", "")),
            )
            for e in entries
        ]

    def state_exists(self, container_id: str) -> bool:
        """True while the runtime keeps state for ``container_id`` (cheap: no process)."""
        return (self.root / container_id).exists()

    def kill(self, container_id: str, sig: str = "KILL") -> bool:
        """Send ``sig`` to the container's init process; False if there is no such container."""
        return self._call("kill", container_id, sig, timeout=30).returncode == 0

    def delete(self, container_id: str) -> None:
        """``runc delete --force``: kill and remove the container. Safe to call any number of
        times, also for an id that never existed."""
        done = self._call("delete", "--force", container_id)
        if done.returncode != 0 and self.state_exists(container_id):
            raise RuntimeFailedError(
                f"could not delete container {container_id}: "
                + done.stderr.decode("utf-8", errors="replace").strip(),
                runtime=self.name,
                container_id=container_id,
            )

    def delete_all(self) -> None:
        """Force-delete every container in this state directory."""
        for info in self.list_containers():
            self.delete(info.id)

    @contextlib.contextmanager
    def container(self, container_id: str | None = None) -> Iterator[str]:
        """Reserve a container id; whatever happens inside, the container is deleted on exit."""
        cid = validate_container_id(container_id) if container_id else new_container_id()
        try:
            yield cid
        finally:
            self._delete_quietly(cid)

    def _delete_quietly(self, container_id: str) -> None:
        if not self.state_exists(container_id):
            return
        try:
            self.delete(container_id)
        except (RuntimeFailedError, OSError, subprocess.SubprocessError) as exc:
            log.error("cleanup: %s", exc)

    # -- run -----------------------------------------------------------------------------------
    def run(
        self,
        bundle: Path,
        container_id: str | None = None,
        *,
        timeout: float | None = None,
        stdout_logger: logging.Logger | None = None,
        stderr_logger: logging.Logger | None = None,
        log_path: Path | None = None,
    ) -> RunResult:
        """Run the bundle to completion and return how it ended.

        A non-zero exit or a runc error is *reported* in the result, not raised. A timeout kills
        and deletes the container and returns ``timed_out=True``. Exceptions while waiting
        (``KeyboardInterrupt`` included) kill and delete the container, then propagate.
        ``log_path`` (default ``<bundle>/runtime-log.json``) receives runc's JSON log.
        """
        bundle = Path(bundle).absolute()
        cid = validate_container_id(container_id) if container_id else new_container_id()
        log_path = log_path or bundle / "runtime-log.json"
        log_path.write_bytes(b"")  # runc appends: start from an empty log
        argv = self._argv(
            "--log", str(log_path), "--log-format", "json", "run", "--bundle", str(bundle), cid
        )
        log.debug("running %s", argv)
        timed_out = False
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            # our own process group: a terminal's Ctrl-C reaches us, and we clean up the container
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        readers = (
            _PipeReader(proc.stdout, stdout_logger or STDOUT_LOGGER, cid, "stdout"),
            _PipeReader(proc.stderr, stderr_logger or STDERR_LOGGER, cid, "stderr"),
        )
        for reader in readers:
            reader.start()
        try:
            try:
                wait_for_exit(proc, timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                log.warning("container %s ran past its %g s timeout: killing it", cid, timeout)
                self._kill_run(cid, proc)
        finally:
            if proc.returncode is None:  # interrupted while waiting
                self._kill_run(cid, proc)
            duration = time.monotonic() - started
            for reader in readers:
                reader.join(READER_GRACE)
            self._delete_quietly(cid)
        exit_code = proc.returncode
        if exit_code < 0:
            exit_code = 128 - exit_code
        runc_error = None if timed_out else read_runtime_errors(log_path)
        if proc.returncode < 0 and not timed_out and runc_error is None:
            # runc exits 128+N when the *container* dies of signal N; a negative status means
            # runc itself was killed from outside (its container was force-deleted above)
            runc_error = (
                f"{self.name} itself was killed by {signal.Signals(-proc.returncode).name} "
                "while the build ran; its container was deleted"
            )
        return RunResult(
            container_id=cid,
            exit_code=exit_code,
            stdout=readers[0].data,
            stderr=readers[1].data,
            runc_error=runc_error if exit_code != 0 else None,
            timed_out=timed_out,
            duration=duration,
        )

    def _kill_run(self, container_id: str, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the container (and, failing that, ``runc run`` itself) and reap ``runc run``."""
        if self.kill(container_id, "KILL"):
            try:
                proc.wait(timeout=self.kill_grace)
                return
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        # runc was killed before or while creating the container: remove any half-made state
        self._delete_quietly(container_id)
