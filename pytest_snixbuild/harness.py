"""The per-session state of the pytest plugin: where the store and bundles live, the engine,
what is available on this machine, and the statistics of the builds run.

One :class:`SnixHarness` exists per pytest process (so one per xdist worker). Each worker has its
own bundle root and container ids; the on-disk castore is shared by all workers of a run (it is
safe for several processes at once).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.errors import BuildError, EngineConfigError
from pytest_snixbuild.engine.service import OCIBuildService, find_sandbox_shell
from pytest_snixbuild.engine.stale import recover_stale_state
from pytest_snixbuild.oci.spec import make_spec
from pytest_snixbuild.oci.subuid import host_id_mappings
from pytest_snixbuild.options import get_option, size_of, store_dir_of, timeout_of
from pytest_snixbuild.request.model import BuildRequest, BuildResult
from pytest_snixbuild.request.toml_case import Case

#: shown in the spec when no static busybox is installed (the path is normalized anyway)
FALLBACK_SHELL = "/bin/sh"

harness_key = pytest.StashKey["SnixHarness"]()
#: why a test that needs runc is skipped without --snix-runc
RUNC_OFF_REASON = "needs real runc builds: run pytest with --snix-runc to enable"
#: the name of the session's default store, under basetemp
STORE_DIRNAME = "snix-store"


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@dataclass(frozen=True, slots=True)
class BuildRecord:
    """One build the plugin ran, for the terminal summary."""

    name: str
    duration: float
    #: "ok", "failed", "failed as expected" (a case with ``success = false``) or "interrupted"
    status: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class BuildStats:
    records: list[BuildRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: BuildRecord) -> None:
        with self._lock:
            self.records.append(record)

    def to_json(self) -> list[list[Any]]:
        return [[r.name, r.duration, r.status] for r in self.records]

    def merge_json(self, data: list[list[Any]]) -> None:
        for name, duration, status in data:
            self.add(BuildRecord(str(name), float(duration), str(status)))


def runtime_version(runtime: str) -> str | None:
    """The first line of ``<runtime> --version``, or None when it cannot be run."""
    path = shutil.which(runtime)
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = out.stdout.strip().splitlines()
    return first[0] if first else None


def fuse_available() -> str | None:
    """None when FUSE can be mounted here, else why not."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist (load the fuse module, or run the container with it)"
    if shutil.which("fusermount") is None and shutil.which("fusermount3") is None:
        return "neither fusermount nor fusermount3 is installed (Debian: apt-get install fuse3)"
    return None


class SnixHarness:
    """Settings resolved from the options, plus lazily created store and engine."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.runc_enabled = bool(get_option(config, "snix_runc"))
        self.strict = bool(get_option(config, "snix_strict"))
        self.runtime = str(get_option(config, "snix_runtime"))
        rootless = config.getoption("snix_rootless", default=None)
        self.rootless = bool(config.getini("snix_rootless") if rootless is None else rootless)
        self.keep_failed = bool(get_option(config, "snix_keep_failed"))
        self.timeout = timeout_of(config)
        self.memory_limit = size_of(config, "snix_memory_limit")
        self.disk_limit = size_of(config, "snix_disk_limit")
        self.store_dir: Path | None = store_dir_of(config)
        self.stats = BuildStats()
        self._basetemp: Path | None = None
        self._store: Store | None = None
        self._engine: OCIBuildService | None = None
        self._lock = threading.RLock()
        self._unavailable: tuple[str] | None = None

    # -- places --------------------------------------------------------------------------------
    def set_basetemp(self, basetemp: Path) -> None:
        self._basetemp = basetemp

    @property
    def worker_id(self) -> str:
        workerinput = getattr(self.config, "workerinput", None)
        return str(workerinput["workerid"]) if workerinput else "main"

    def default_store_dir(self) -> Path:
        """Under basetemp; shared by the workers of an xdist run (their basetemps' parent)."""
        assert self._basetemp is not None, "the harness needs pytest's basetemp first"
        shared = self._basetemp.parent if _is_xdist_worker(self.config) else self._basetemp
        return shared / STORE_DIRNAME

    def store_description(self) -> str:
        """The store's path for the report header (the controller's, under xdist)."""
        if self.store_dir is not None:
            return str(self.store_dir)
        factory = getattr(self.config, "_tmp_path_factory", None)
        if factory is None:
            return f"<basetemp>/{STORE_DIRNAME}"
        return str(factory.getbasetemp() / STORE_DIRNAME)

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                if self.store_dir is None:
                    self.store_dir = self.default_store_dir()
                self._store = Store.open(self.store_dir)
            return self._store

    # -- leftovers of killed runs ---------------------------------------------------------------
    def stale_bundle_roots(self) -> list[Path]:
        """Bundle roots earlier pytest runs may have left: ``snix-bundles-*`` in the given
        ``--basetemp``, else in every ``pytest-*`` basetemp of this user (xdist workers' too)."""
        given = self.config.getoption("basetemp", default=None)
        if given:
            bases = [Path(given).absolute()]
        else:
            temproot = Path(os.environ.get("PYTEST_DEBUG_TEMPROOT") or tempfile.gettempdir())
            try:
                user = getpass.getuser()
            except (ImportError, KeyError, OSError):
                user = "unknown"
            parent = temproot / f"pytest-of-{user}"
            bases = sorted(parent.glob("pytest-*")) + sorted(parent.glob("garbage-*"))
        roots: dict[Path, None] = {}
        for base in bases:
            if base.is_symlink():  # pytest-current
                continue
            for pattern in ("snix-bundles-*", "popen-gw*/snix-bundles-*"):
                for root in sorted(base.glob(pattern)):
                    if root.is_dir() and not root.is_symlink():
                        roots[root] = None
        return list(roots)

    def recover_stale_state(self) -> list[str]:
        """Clean up what killed runs left in :meth:`stale_bundle_roots` (mounts, containers,
        bundles of processes that are gone); returns what was done, one line each."""
        lines = []
        for root in self.stale_bundle_roots():
            lines += recover_stale_state(root, runtime=self.runtime)
        return lines

    # -- availability --------------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        """Why real builds cannot run here, or None when they can (checked once)."""
        if self._unavailable is None:
            self._unavailable = (self._check_available() or "",)
        return self._unavailable[0] or None

    def _check_available(self) -> str | None:
        if shutil.which(self.runtime) is None:
            return f"the OCI runtime {self.runtime!r} is not installed (apt-get install runc)"
        fuse = fuse_available()
        if fuse is not None:
            return fuse
        try:
            find_sandbox_shell(None)
        except EngineConfigError as exc:
            return str(exc)
        return None

    def require_runc(self) -> None:
        """Skip (or, with --snix-strict, fail) when builds cannot run. The skip is reported at
        the test's location, not here."""
        if not self.runc_enabled:
            raise pytest.skip.Exception(RUNC_OFF_REASON, _use_item_location=True)
        reason = self.unavailable_reason()
        if reason is not None:
            if self.strict:
                pytest.fail(f"--snix-strict: cannot run builds: {reason}", pytrace=False)
            raise pytest.skip.Exception(
                f"cannot run builds here: {reason}", _use_item_location=True
            )

    @property
    def engine(self) -> OCIBuildService:
        self.require_runc()
        with self._lock:
            if self._engine is None:
                assert self._basetemp is not None
                self._engine = OCIBuildService.from_store(
                    self._basetemp / f"snix-bundles-{self.worker_id}",
                    self.store,
                    rootless=self.rootless,
                    timeout=self.timeout,
                    memory_limit=self.memory_limit,
                    disk_limit=self.disk_limit,
                    keep_failed=self.keep_failed,
                    runtime=self.runtime,
                    max_concurrent_builds=2,
                    spec_hook=self._modify_spec,
                )
            return self._engine

    # -- the work ------------------------------------------------------------------------------
    def _modify_spec(self, spec: dict[str, Any], request: BuildRequest) -> None:
        self.config.hook.pytest_snixbuild_modify_spec(spec=spec, request=request)

    def spec_for(self, request: BuildRequest, *, rootless: bool | None = None) -> dict[str, Any]:
        """The spec a build of ``request`` gets here (hooks applied), before normalization;
        ``rootless`` defaults to the session's mode."""
        if rootless is None:
            rootless = self.rootless
        try:
            shell = find_sandbox_shell(None)
        except EngineConfigError:
            shell = FALLBACK_SHELL
        spec = make_spec(
            request,
            rootless=rootless,
            sandbox_shell=shell,
            mappings=host_id_mappings(rootless=rootless),
        )
        self._modify_spec(spec, request)
        return spec

    def modify_request(self, request: BuildRequest, case: Case) -> BuildRequest:
        replaced = self.config.hook.pytest_snixbuild_modify_request(request=request, case=case)
        return request if replaced is None else replaced

    def build(
        self,
        request: BuildRequest,
        *,
        name: str,
        case: Case | None = None,
        item: pytest.Item | None = None,
        timeout: float | None = None,
        expect_failure: bool = False,
    ) -> BuildResult:
        """Build in runc, record the outcome, attach logs to the test on failure, call hooks.
        ``expect_failure``: the build is meant to fail (the summary says so)."""
        engine = self.engine
        started = time.monotonic()
        result: BuildResult | None = None
        error: BuildError | None = None
        status = "interrupted"
        try:
            with terminate_as_interrupt():
                result = engine.build(request, timeout=timeout)
            status = "ok"
            return result
        except BuildError as exc:
            error = exc
            status = "failed as expected" if expect_failure else "failed"
            if item is not None:
                attach_logs(item, exc.stdout, exc.stderr, getattr(exc, "bundle_path", None))
            raise
        finally:
            self.stats.add(BuildRecord(name, time.monotonic() - started, status))
            self.config.hook.pytest_snixbuild_build_finished(
                request=request, result=result, case=case, error=error
            )


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While a build runs in the main thread, SIGTERM raises KeyboardInterrupt, so that the
    engine cleans up (container, mount, bundle) as on Ctrl-C and pytest ends as interrupted.
    Python's default for SIGTERM is to die at once, leaving all of that behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield  # someone else handles SIGTERM: leave it to them
        return
    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


#: at most this many bytes of a build log are attached to a test report
LOG_LIMIT = 64 * 1024


def attach_logs(item: pytest.Item, stdout: bytes, stderr: bytes, bundle: Path | None) -> None:
    """Add the build's stdout and stderr (tails) as sections of the test's report."""
    for label, data in (("build stdout", stdout), ("build stderr", stderr)):
        if data:
            text = data[-LOG_LIMIT:].decode("utf-8", "replace")
            if len(data) > LOG_LIMIT:
                text = f"[... {len(data) - LOG_LIMIT} bytes cut ...]\n" + text
            item.add_report_section("call", label, text)
    if bundle is not None:
        item.add_report_section("call", "kept bundle", f"the failed build's bundle: {bundle}")


def get_harness(config: pytest.Config) -> SnixHarness:
    return config.stash[harness_key]


Factory = Callable[..., Any]
