"""What can go wrong in a build, one exception type per cause.

Every build failure is a :class:`BuildError`; it carries the build's stdout and stderr and shows
the tail of stderr in its message, so that a failing test or ``snixbuild build`` explains itself.

| type | cause | CLI exit status |
|---|---|---|
| :class:`RequestValidationError` | the request breaks snix's rules (nothing was run) | 2 |
| :class:`BuildFailedError` | the builder exited with a non-zero status | 100 |
| :class:`MissingOutputError` | the builder exited 0 but did not create an output path | 100 |
| :class:`OutputIngestError` | an output exists but cannot be ingested (e.g. a FIFO) | 100 |
| :class:`BuildTimeoutError` | the build ran longer than the timeout; it was killed | 101 |
| :class:`RuntimeFailedError` | runc itself failed (bad spec, mount error…), per its log | 125 |
| :class:`HostIOError` | the host could not write or read what a build needs (disk full…) | 125 |
| :class:`UnsupportedBuildError` | ``DummyBuildService``: builds are not supported | 100 |

Errors about the engine's own set-up (no runtime, no sandbox shell, a bad service address) are
:class:`EngineConfigError`, with exit status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict, Unpack

from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.request.validation import RequestValidationError

__all__ = [
    "BuildError",
    "BuildFailedError",
    "BuildTimeoutError",
    "EngineConfigError",
    "HostIOError",
    "MissingOutputError",
    "OutputIngestError",
    "RequestValidationError",
    "RuntimeFailedError",
    "UnsupportedBuildError",
    "tail_text",
]

#: how many lines of a log an error message shows
TAIL_LINES = 20
#: at most this many characters of a log tail (a single huge line must not flood a terminal)
TAIL_CHARS = 4000


def tail_text(data: bytes, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``data``, decoded leniently, without a trailing newline."""
    text = data.decode("utf-8", errors="replace").rstrip("\n")
    if not text:
        return ""
    kept = "\n".join(text.split("\n")[-lines:])
    if len(kept) > TAIL_CHARS:
        kept = "…" + kept[-TAIL_CHARS:]
    return kept


class BuildLogs(TypedDict, total=False):
    """The keyword arguments every :class:`BuildError` takes besides its own."""

    stdout: bytes
    stderr: bytes
    container_id: str | None
    bundle_path: Path | None


class EngineConfigError(SnixError):
    """The engine cannot be set up: no OCI runtime, no sandbox shell, an unusable address."""


class BuildError(SnixError):
    """A build did not produce its outputs. ``reason`` is one line; the logs are attached.

    Attributes: ``reason``, ``stdout``/``stderr`` (all bytes the build wrote), ``stdout_tail``
    and ``stderr_tail`` (their last lines, decoded), ``container_id`` and ``bundle_path`` (set
    when the bundle was kept for inspection with ``keep_failed``).
    """

    exit_status = 100

    def __init__(
        self,
        reason: str,
        *,
        stdout: bytes = b"",
        stderr: bytes = b"",
        container_id: str | None = None,
        bundle_path: Path | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stdout = stdout
        self.stderr = stderr
        self.container_id = container_id
        self.bundle_path = bundle_path

    @property
    def stdout_tail(self) -> str:
        return tail_text(self.stdout)

    @property
    def stderr_tail(self) -> str:
        return tail_text(self.stderr)

    def __str__(self) -> str:
        parts = [self.reason]
        if self.bundle_path is not None:
            parts.append(f"(bundle kept for inspection at {self.bundle_path})")
        tail = self.stderr_tail
        if tail:
            parts.append(f"--- last lines of the build's stderr ---\n{tail}")
        elif self.stdout_tail:
            parts.append(f"--- last lines of the build's stdout ---\n{self.stdout_tail}")
        return "\n".join(parts)


class BuildFailedError(BuildError):
    """The builder ran and exited with a non-zero status (``exit_code``)."""

    def __init__(self, exit_code: int, **kwargs: Unpack[BuildLogs]) -> None:
        self.exit_code = exit_code
        if exit_code > 128:
            how = f"was killed by signal {exit_code - 128} (exit status {exit_code})"
        else:
            how = f"exited with status {exit_code}"
        super().__init__(f"build failed: the builder {how}", **kwargs)


class BuildTimeoutError(BuildError):
    """The build ran past ``timeout`` seconds; its container was killed and deleted."""

    exit_status = 101

    def __init__(self, timeout: float, **kwargs: Unpack[BuildLogs]) -> None:
        self.timeout = timeout
        super().__init__(
            f"build timed out after {timeout:g} s: the container was killed (SIGKILL) and deleted",
            **kwargs,
        )


class MissingOutputError(BuildError):
    """The builder succeeded but did not create ``output_path`` (the request's path)."""

    def __init__(self, output_path: str, host_path: Path, **kwargs: Unpack[BuildLogs]) -> None:
        self.output_path = output_path
        self.host_path = host_path
        super().__init__(
            f"build did not produce output {output_path!r} "
            f"(the builder exited 0 but nothing exists at /{output_path} in the sandbox)",
            **kwargs,
        )


class OutputIngestError(BuildError):
    """An output exists but cannot be ingested into the castore (``cause`` says why)."""

    def __init__(self, output_path: str, cause: str, **kwargs: Unpack[BuildLogs]) -> None:
        self.output_path = output_path
        super().__init__(
            f"cannot ingest output {output_path!r}: {cause}",
            **kwargs,
        )


class RuntimeFailedError(BuildError):
    """The OCI runtime failed on its own account; ``runtime_message`` is its logged error."""

    exit_status = 125

    def __init__(
        self, runtime_message: str, *, runtime: str = "runc", **kwargs: Unpack[BuildLogs]
    ) -> None:
        self.runtime_message = runtime_message
        self.runtime = runtime
        super().__init__(f"{runtime} failed: {runtime_message}", **kwargs)


class HostIOError(BuildError):
    """An I/O error on the host while setting up, running or collecting a build (a full bundle
    root or castore, a read-only file system, …); ``error`` is the ``OSError`` and ``bundle``
    the build's bundle directory."""

    exit_status = 125

    def __init__(self, error: OSError, bundle: Path, **kwargs: Unpack[BuildLogs]) -> None:
        self.error = error
        self.bundle = bundle
        what = error.strerror or str(error)
        where = f" ({error.filename})" if error.filename else ""
        super().__init__(
            f"build failed on the host: {what}{where} while building in {bundle}: is the file "
            "system of the bundle root or of the castore full or read-only?",
            **kwargs,
        )


class UnsupportedBuildError(BuildError):
    """The build service cannot build at all (``DummyBuildService``)."""
