"""Build services: :class:`OCIBuildService` (real builds in runc), :class:`DummyBuildService`, and
:func:`from_addr` to pick one by address, as snix's ``buildservice::from_addr``.

``OCIBuildService.build(request)`` is snix's ``OCIBuildService::do_build`` (spec §4.7), made safe
to use from tests:

1. validate the request (:func:`~pytest_snixbuild.request.validation.validate_request`);
2. write the spec and the bundle ``<bundle_root>/<container id>`` (``make_spec``,
   ``make_bundle``) and work out where each output appears on the host;
3. mount the inputs from the castore over FUSE at ``<bundle>/inputs`` (skipped without inputs);
4. run ``runc`` (:class:`~pytest_snixbuild.engine.runtime.Runc`) and check how it ended;
5. locate the outputs: a missing one fails the build, naming its path;
6. ingest each output into the castore while 7. scanning it for needles (one scanner each);
8. clean up, whatever happened: unmount, delete the container, remove the bundle (kept only when
   ``keep_failed`` is set and the build failed; its path is then logged and put on the error).

A bounded semaphore allows ``max_concurrent_builds`` builds of one service at a time; builds from
several services, threads and processes (pytest-xdist workers) may share one on-disk castore.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import shutil
import stat
import struct
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import blake3

from pytest_snixbuild.castore.blobs import (
    TMP_DIR,
    BlobService,
    BlobWriter,
    LocalBlobService,
    hash_file,
    shard_path,
)
from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.directories import DirectoryService
from pytest_snixbuild.castore.errors import CastoreError, CorruptionError
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import Node
from pytest_snixbuild.castore.refscan import ReferencePattern, ReferenceScanner
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.errors import (
    BuildError,
    BuildFailedError,
    BuildTimeoutError,
    EngineConfigError,
    HostIOError,
    MissingOutputError,
    OutputIngestError,
    RuntimeFailedError,
    UnsupportedBuildError,
)
from pytest_snixbuild.engine.mount import mount_castore
from pytest_snixbuild.engine.runtime import Runc, RunResult, new_container_id
from pytest_snixbuild.engine.stale import KEPT_MARKER, mount_is_dead, recover_stale_state
from pytest_snixbuild.engine.tmpfs import bundle_tmpfs
from pytest_snixbuild.oci.bundle import host_output_paths, make_bundle
from pytest_snixbuild.oci.spec import SCRATCH_DIR, make_spec
from pytest_snixbuild.oci.subuid import IdMappings, host_id_mappings
from pytest_snixbuild.request.model import BuildOutput, BuildRequest, BuildResult
from pytest_snixbuild.request.validation import validate_request

__all__ = [
    "DUMMY_MESSAGE",
    "BuildService",
    "DummyBuildService",
    "OCIBuildService",
    "find_sandbox_shell",
    "from_addr",
    "is_static_elf",
]

log = logging.getLogger(__name__)

#: snix's message for every build on a ``dummy://`` service
DUMMY_MESSAGE = "builds are not supported with DummyBuildService"
#: the state directory of the runtime, inside the bundle root
RUNTIME_STATE_DIR = ".runc"
#: where a static busybox usually is (Debian's busybox-static, other distributions, Nix)
SANDBOX_SHELL_CANDIDATES: tuple[str, ...] = ("/bin/busybox", "/usr/bin/busybox", "/sbin/busybox")
#: environment variable naming the sandbox shell (as snix's build-time SNIX_BUILD_SANDBOX_SHELL)
SANDBOX_SHELL_ENV = "SNIX_BUILD_SANDBOX_SHELL"


class BuildService(Protocol):
    """Anything that turns a BuildRequest into a BuildResult (or raises a BuildError)."""

    def build(self, request: BuildRequest) -> BuildResult: ...


# ------------------------------------------------------------------------------------------------
# the sandbox shell


def is_static_elf(path: Path) -> bool:
    """True if ``path`` is an ELF executable without a program interpreter (``PT_INTERP``).

    A binary mounted at ``/bin/sh`` in an empty root must not need the dynamic loader. Reads the
    ELF header and program headers only (32/64-bit, either byte order).
    """
    try:
        with open(path, "rb") as f:
            ident = f.read(16)
            if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2):
                return False
            endian = "<" if ident[5] == 1 else ">"
            if ident[4] == 2:  # ELFCLASS64
                header = f.read(48)
                (phoff,) = struct.unpack_from(endian + "Q", header, 16)
                phentsize, phnum = struct.unpack_from(endian + "HH", header, 38)
            else:
                header = f.read(36)
                (phoff,) = struct.unpack_from(endian + "I", header, 12)
                phentsize, phnum = struct.unpack_from(endian + "HH", header, 26)
            if phnum == 0 or phentsize < 4:
                return False
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except (OSError, struct.error):
        return False
    if len(table) < phentsize * phnum:
        return False
    pt_interp = 3
    return all(
        struct.unpack_from(endian + "I", table, i * phentsize)[0] != pt_interp for i in range(phnum)
    )


def find_sandbox_shell(
    override: str | None = None, *, candidates: tuple[str, ...] = SANDBOX_SHELL_CANDIDATES
) -> str:
    """The host binary to bind-mount at ``/bin/sh``.

    ``override`` if given, else ``$SNIX_BUILD_SANDBOX_SHELL``, else the first static busybox
    among ``candidates``.

    An override must exist and be executable; a dynamically linked one is accepted with a
    warning (it will only work if the build can see its loader and libraries).
    """
    chosen = override or os.environ.get(SANDBOX_SHELL_ENV) or None
    if chosen is not None:
        path = Path(chosen)
        where = "sandbox_shell" if override else f"${SANDBOX_SHELL_ENV}"
        if not path.is_absolute():
            raise EngineConfigError(
                f"{where} {chosen!r} is not an absolute path: it is bind-mounted at /bin/sh, "
                "so it must be an absolute host path"
            )
        if not path.is_file() or not os.access(path, os.X_OK):
            raise EngineConfigError(
                f"{where} {chosen!r} is not an executable file: expected a static shell such as "
                "/bin/busybox"
            )
        if not is_static_elf(path):
            log.warning(
                "sandbox shell %s is not a static ELF executable: it needs a loader and libraries "
                "that the build's empty root does not have",
                chosen,
            )
        return str(path)
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file() and os.access(path, os.X_OK) and is_static_elf(path):
            return str(path.resolve())
    raise EngineConfigError(
        f"no static busybox found for the sandbox's /bin/sh (looked at {', '.join(candidates)}): "
        "install busybox-static (Debian: apt-get install busybox-static), set "
        f"${SANDBOX_SHELL_ENV}, or pass sandbox_shell=/path/to/static/sh"
    )


# ------------------------------------------------------------------------------------------------
# cleanup helpers


def mounts_below(path: Path) -> list[str]:
    """Mount points at or below ``path`` (any file system type), from /proc/self/mounts."""
    prefix = os.path.realpath(path)
    found = []
    try:
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                fields = line.split(" ")
                if len(fields) < 2:
                    continue
                point = fields[1].encode().decode("unicode_escape")
                if point == prefix or point.startswith(prefix + "/"):
                    found.append(point)
    except OSError:
        return []
    return found


def remove_bundle(path: Path) -> None:
    """Remove a bundle directory, refusing to descend into anything still mounted below it."""
    still_mounted = mounts_below(path)
    if still_mounted:
        log.error(
            "not removing bundle %s: %s still mounted below it", path, ", ".join(still_mounted)
        )
        return
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except OSError:
        # the build may have left directories without write permission (chmod 555): open
        # them up and try again
        for dirpath, dirnames, _files in os.walk(path):
            for name in dirnames:
                entry = os.path.join(dirpath, name)
                if os.path.islink(entry):
                    continue  # a link the build made (os.walk lists links to directories)
                with contextlib.suppress(OSError):
                    os.chmod(entry, stat.S_IRWXU, follow_symlinks=False)
        shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):
        log.error("could not remove bundle %s completely", path)


def note_lost_inputs(error: BuildError, mountpoint: Path) -> None:
    """Add to ``error``'s reason when the inputs' FUSE mount stopped serving during the build
    (its server crashed or its connection was aborted): the builder then saw ENOTCONN or
    ECONNABORTED on its inputs, which its own message may not make obvious."""
    if mount_is_dead(mountpoint):
        error.reason += (
            f"; the inputs' FUSE mount {mountpoint} stopped serving during the build "
            "(its server crashed or its connection was aborted)"
        )


# ------------------------------------------------------------------------------------------------
# the services


def _check_cpus(cpus: Collection[int] | None) -> frozenset[int] | None:
    if cpus is None:
        return None
    allowed = os.sched_getaffinity(0)
    chosen = frozenset(cpus)
    if not chosen or not all(type(c) is int for c in chosen) or not chosen <= allowed:
        raise EngineConfigError(
            f"cpus is {sorted(cpus, key=str)!r}: expected a non-empty set of the CPUs this "
            f"process may use ({', '.join(map(str, sorted(allowed)))}), or None"
        )
    return chosen


@contextlib.contextmanager
def pinned_to(cpus: frozenset[int] | None) -> Iterator[None]:
    """Run the calling thread on ``cpus`` (None: leave it alone) and restore its CPUs afterwards.
    Threads it starts and processes it forks meanwhile (the FUSE server, runc, the build)
    inherit them."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


class DummyBuildService:
    """A build service that cannot build: every build fails (snix's ``dummy://``)."""

    def build(self, request: BuildRequest) -> BuildResult:
        raise UnsupportedBuildError(DUMMY_MESSAGE)

    def __repr__(self) -> str:
        return "DummyBuildService()"


class OCIBuildService:
    """Real builds: each request runs in its own runc container with its inputs over FUSE.

    ``bundle_root`` holds one bundle directory per running build (named after its container id)
    and the runtime's state directory ``.runc``. ``timeout`` (seconds, None for none) bounds each
    ``runc run``; ``build(request, timeout=...)`` overrides it for one build. ``runtime`` is the
    OCI runtime binary (``runc``; see docs/engine.md about ``crun``). The build's stdout and
    stderr are streamed, line by line, to ``stdout_logger`` and ``stderr_logger``.

    ``cpus`` (opt-in) runs each build, its runc and its FUSE server on those CPUs only. On a VM
    where waking a thread on another vCPU costs tens of µs, one CPU makes every FUSE request
    of a build that touches many small input files several times cheaper; it halves large
    sequential reads, which then cannot overlap (see docs/performance.md).

    Limits (opt-in, see docs/security.md): ``memory_limit`` bytes for each build's memory cgroup
    (the OOM killer ends a build that needs more: exit status 137); ``disk_limit`` bytes for each
    bundle, which is then a tmpfs of that size (a build that fills it gets ENOSPC; root only).
    """

    def __init__(
        self,
        bundle_root: Path,
        blob_service: BlobService,
        directory_service: DirectoryService,
        *,
        rootless: bool = True,
        sandbox_shell: str | None = None,
        max_concurrent_builds: int = 2,
        timeout: float | None = None,
        keep_failed: bool = False,
        runtime: str = "runc",
        stdout_logger: logging.Logger | None = None,
        stderr_logger: logging.Logger | None = None,
        spec_hook: Callable[[dict[str, Any], BuildRequest], None] | None = None,
        memory_limit: int | None = None,
        disk_limit: int | None = None,
        cpus: Collection[int] | None = None,
    ) -> None:
        if max_concurrent_builds < 1:
            raise EngineConfigError(
                f"max_concurrent_builds is {max_concurrent_builds}: expected at least 1"
            )
        if timeout is not None and timeout <= 0:
            raise EngineConfigError(f"timeout is {timeout}: expected a positive number of seconds")
        for name, limit in (("memory_limit", memory_limit), ("disk_limit", disk_limit)):
            if limit is not None and (isinstance(limit, bool) or limit < 1):
                raise EngineConfigError(
                    f"{name} is {limit!r}: expected a positive number of bytes (or None)"
                )
        if disk_limit is not None and os.geteuid() != 0:
            raise EngineConfigError(
                "disk_limit needs root: each bundle is a tmpfs of that size, and only root "
                f"can mount one (running as uid {os.geteuid()})"
            )
        #: the CPUs each build (runc, the container, the FUSE server) runs on; None: any
        self.cpus = _check_cpus(cpus)
        #: bytes of memory (and memory+swap) for each build's cgroup; None: no limit
        self.memory_limit = memory_limit
        #: bytes for each build's bundle, a tmpfs holding its scratch paths; None: no limit
        self.disk_limit = disk_limit
        self.bundle_root = Path(bundle_root).absolute()
        self.bundle_root.mkdir(parents=True, exist_ok=True)
        self.store = Store(blob_service, directory_service, None)
        self.rootless = rootless
        self.max_concurrent_builds = max_concurrent_builds
        self.timeout = timeout
        self.keep_failed = keep_failed
        self.stdout_logger = stdout_logger
        self.stderr_logger = stderr_logger
        #: called with (spec, request) to change a spec in place before its bundle is written
        self.spec_hook = spec_hook
        self.runtime = Runc(self.bundle_root / RUNTIME_STATE_DIR, runtime)
        self._sandbox_shell_override = sandbox_shell
        self._sandbox_shell: str | None = None
        self._mappings: IdMappings | None = None
        self._setup_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrent_builds)
        self._recovered: list[str] | None = None

    @classmethod
    def from_store(cls, bundle_root: Path, store: Store, **options: Any) -> OCIBuildService:
        """The same service, taking a :class:`~pytest_snixbuild.castore.store.Store`."""
        service = cls(bundle_root, store.blobs, store.directories, **options)
        service.store = store
        return service

    def __repr__(self) -> str:
        mode = "rootless" if self.rootless else "rootful"
        return f"OCIBuildService({str(self.bundle_root)!r}, {mode}, runtime={self.runtime.path!r})"

    # -- set-up, done once ---------------------------------------------------------------------
    @property
    def sandbox_shell(self) -> str:
        """The host binary mounted at ``/bin/sh`` (found on first use)."""
        with self._setup_lock:
            if self._sandbox_shell is None:
                self._sandbox_shell = find_sandbox_shell(self._sandbox_shell_override)
            return self._sandbox_shell

    @property
    def mappings(self) -> IdMappings:
        """The uid/gid mappings of every build (read from passwd/subuid/subgid once)."""
        with self._setup_lock:
            if self._mappings is None:
                self._mappings = host_id_mappings(rootless=self.rootless)
            return self._mappings

    def recover_stale_state(self) -> list[str]:
        """Clean up what killed processes left in the bundle root (see
        :func:`~pytest_snixbuild.engine.stale.recover_stale_state`); runs once per service, before
        its first build. Returns (and logs) what was cleaned."""
        with self._setup_lock:
            if self._recovered is None:
                self._recovered = recover_stale_state(self.bundle_root, runtime=self.runtime.path)
            return self._recovered

    def _shell_for(self, request: BuildRequest) -> str:
        if request.constraints is not None and request.constraints.provide_bin_sh:
            return self.sandbox_shell
        # not mounted: any absolute path will do for the spec
        return self._sandbox_shell or self._sandbox_shell_override or SANDBOX_SHELL_CANDIDATES[0]

    # -- building ------------------------------------------------------------------------------
    def build(self, request: BuildRequest, *, timeout: float | None = None) -> BuildResult:
        """Run one build; see the module docstring for the steps. Raises a
        :class:`~pytest_snixbuild.engine.errors.BuildError` subclass when the build fails and
        :class:`~pytest_snixbuild.request.validation.RequestValidationError` for a bad request.
        """
        validate_request(request)
        self.recover_stale_state()
        shell = self._shell_for(request)
        mappings = self.mappings
        with self._slots:
            return self._build(request, shell, mappings, timeout or self.timeout)

    def _build(
        self,
        request: BuildRequest,
        shell: str,
        mappings: IdMappings,
        timeout: float | None,
    ) -> BuildResult:
        started = time.monotonic()
        container_id = new_container_id()
        bundle_path = self.bundle_root / container_id
        try:
            try:
                return self._build_in(
                    request, shell, mappings, timeout, container_id, bundle_path, started
                )
            except OSError as exc:  # a full or read-only disk: cleaned up by now
                raise HostIOError(exc, bundle_path, container_id=container_id) from exc
        except BuildError as exc:
            if self.keep_failed and bundle_path.exists():
                exc.bundle_path = bundle_path
            raise

    def _build_in(
        self,
        request: BuildRequest,
        shell: str,
        mappings: IdMappings,
        timeout: float | None,
        container_id: str,
        bundle_path: Path,
        started: float,
    ) -> BuildResult:
        succeeded = False
        with ExitStack() as cleanup:
            spec = make_spec(
                request,
                rootless=self.rootless,
                sandbox_shell=shell,
                mappings=mappings,
                memory_limit=self.memory_limit,
            )
            if self.spec_hook is not None:
                self.spec_hook(spec, request)
            outputs = host_output_paths(request, bundle_path)
            if self.disk_limit is None:
                make_bundle(request, spec, bundle_path)
                cleanup.callback(self._dispose_bundle, bundle_path, lambda: succeeded)
            else:
                # the bundle is a tmpfs: unmounted (unless kept) before the directory goes
                bundle_path.mkdir()
                cleanup.callback(self._dispose_bundle, bundle_path, lambda: succeeded)
                cleanup.enter_context(
                    bundle_tmpfs(
                        bundle_path,
                        self.disk_limit,
                        keep=lambda: self.keep_failed and not succeeded,
                    )
                )
                make_bundle(request, spec, bundle_path)
            # the FUSE server thread and runc inherit this thread's CPUs
            cleanup.enter_context(pinned_to(self.cpus))
            if request.inputs:
                cleanup.enter_context(
                    mount_castore(request.inputs, self.store, bundle_path / "inputs")
                )
            # runtime.run deletes the container itself; this also covers an exception between
            cleanup.enter_context(self.runtime.container(container_id))
            run = self.runtime.run(
                bundle_path,
                container_id,
                timeout=timeout,
                stdout_logger=self.stdout_logger,
                stderr_logger=self.stderr_logger,
            )
            try:
                self._check_run(run, timeout)
            except BuildError as exc:
                if request.inputs:
                    note_lost_inputs(exc, bundle_path / "inputs")
                raise
            built = tuple(
                self._collect(request, output, host_path, run, bundle_path)
                for output, host_path in outputs.items()
            )
            succeeded = True
        return BuildResult(
            outputs=built,
            stdout=run.stdout,
            stderr=run.stderr,
            duration=time.monotonic() - started,
            exit_code=run.exit_code,
        )

    def _check_run(self, run: RunResult, timeout: float | None) -> None:
        logs: dict[str, Any] = {
            "stdout": run.stdout,
            "stderr": run.stderr,
            "container_id": run.container_id,
        }
        if run.timed_out:
            assert timeout is not None
            raise BuildTimeoutError(timeout, **logs)
        if run.runc_error is not None:
            raise RuntimeFailedError(run.runc_error, runtime=self.runtime.name, **logs)
        if run.exit_code != 0:
            raise BuildFailedError(run.exit_code, **logs)

    def _collect(
        self,
        request: BuildRequest,
        output: str,
        host_path: Path,
        run: RunResult,
        bundle_path: Path,
    ) -> BuildOutput:
        """Steps 5–7 for one output: check it exists, ingest it, scan it."""
        logs: dict[str, Any] = {
            "stdout": run.stdout,
            "stderr": run.stderr,
            "container_id": run.container_id,
        }
        link = symlinked_parent(host_path, bundle_path / SCRATCH_DIR)
        if link is not None:
            # on the host the link would lead out of the bundle (as root: to any host file)
            raise OutputIngestError(
                output,
                f"{link.name!r} on the way to it is a symlink the build made (to "
                f"{os.readlink(link)!r}); outputs are only read through real directories",
                **logs,
            )
        if not os.path.lexists(host_path):
            raise MissingOutputError(output, host_path, **logs)
        node, needles = ingest_and_scan(host_path, self.store, request.refscan_needles)
        return BuildOutput(path=output, node=node, needles=needles)

    def _dispose_bundle(self, bundle_path: Path, succeeded: Any) -> None:
        """Step 8's last part: remove the bundle, or keep it after a failure with keep_failed."""
        if not bundle_path.exists():
            return
        if self.keep_failed and not succeeded():
            log.warning("build failed: bundle kept for inspection at %s", bundle_path)
            with contextlib.suppress(OSError):
                (bundle_path / KEPT_MARKER).touch()
            return
        remove_bundle(bundle_path)


def symlinked_parent(host_path: Path, scratch_root: Path) -> Path | None:
    """The first directory on the way from a scratch directory to ``host_path`` that the build
    replaced by a symlink, or None.

    ``host_path`` is ``<scratch_root>/<scratch dir>/<output's rest>``; the scratch directory
    itself is a mount point in the build and cannot be replaced, the directories below it can.
    Following such a link on the host would ingest whatever it points to.
    """
    rest = host_path.relative_to(scratch_root).parts
    current = scratch_root / rest[0]
    for part in rest[1:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except OSError:
            return None  # missing: the output is missing, which is reported as such
        if stat.S_ISLNK(st.st_mode):
            return current
        if not stat.S_ISDIR(st.st_mode):
            return None
    return None


#: output files at least this large are hashed with all cores
PARALLEL_HASH_MIN = 16 << 20
#: ... through memory-mapped windows of this size
HASH_WINDOW = 32 << 20


class OutputBlobService:
    """A blob service for ingesting *build outputs*: an on-disk store adopts output files.

    Copying a 1 GiB output into the store costs 1–4 s on a VM (fresh page-cache pages); a
    finished build's files are never written again and its bundle is deleted right after, so a
    file on the store's file system is hashed, hard-linked into ``<store>/tmp``, made read-only
    and owned by this process, and renamed into place, exactly where and how
    :class:`~pytest_snixbuild.castore.blobs.LocalBlobService` would have written it. Files with
    other hard links (the inode is shared), on another file system, or in any other store are
    copied by the wrapped service as usual. Everything but ``put_file`` is delegated.
    """

    def __init__(self, inner: BlobService) -> None:
        self._inner = inner
        self._root = inner.root if isinstance(inner, LocalBlobService) else None
        self._root_dev: int | None = None
        if self._root is not None:
            with contextlib.suppress(OSError):
                self._root_dev = os.stat(self._root).st_dev

    def has(self, digest: B3Digest) -> bool:
        return self._inner.has(digest)

    def open_read(self, digest: B3Digest) -> BinaryIO:
        return self._inner.open_read(digest)

    def put(self, data: bytes) -> B3Digest:
        return self._inner.put(data)

    def writer(self) -> BlobWriter:
        return self._inner.writer()

    def backing_path(self, digest: B3Digest) -> Path | None:
        return self._inner.backing_path(digest)

    def iter_digests(self) -> Iterator[B3Digest]:
        return self._inner.iter_digests()

    def put_file(self, path: Path) -> tuple[B3Digest, int]:
        if self._root is None:
            return self._inner.put_file(path)
        try:
            st = os.lstat(path)
        except OSError:
            return self._inner.put_file(path)  # it reports the error
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_dev != self._root_dev:
            return self._inner.put_file(path)
        digest, size = _hash_output_file(path, st.st_size)
        if self._inner.has(digest):
            try:
                self._inner.open_read(digest).close()  # verifies the stored copy
                return digest, size
            except CorruptionError:
                pass  # replaced below
        if self._adopt(path, digest):
            return digest, size
        return self._inner.put_file(path)

    def _adopt(self, path: Path, digest: B3Digest) -> bool:
        assert self._root is not None
        tmp_dir = self._root / TMP_DIR
        tmp = tmp_dir / f"{os.getpid()}-{uuid.uuid4().hex}"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            os.link(path, tmp, follow_symlinks=False)
        except OSError as exc:  # EXDEV, EPERM (protected_hardlinks), …: copy instead
            log.debug("cannot hard-link %s into the store (%s): copying", path, exc)
            return False
        try:
            if os.geteuid() == 0:
                os.chown(tmp, 0, 0, follow_symlinks=False)
            os.chmod(tmp, 0o444, follow_symlinks=False)
            final = shard_path(self._root, digest)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return True


def _hash_output_file(path: Path, size: int) -> tuple[B3Digest, int]:
    """BLAKE3 of a file; large ones with every core, over memory-mapped windows.

    Mapping the file's page-cache pages saves copying them into a buffer first, and BLAKE3's
    threads fault them in in parallel (``MAP_POPULATE`` was slower: one thread pre-faults).
    Each window is unmapped before the next is mapped, so at most :data:`HASH_WINDOW` of the
    file is resident in this process at a time (mapped file pages count towards its RSS). The
    file is a finished output: nothing truncates it meanwhile.
    """
    if size < PARALLEL_HASH_MIN:
        return hash_file(path)
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        total = os.fstat(fd).st_size
        for offset in range(0, total, HASH_WINDOW):
            length = min(HASH_WINDOW, total - offset)
            with mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ, offset=offset) as window:
                hasher.update(window)
    finally:
        os.close(fd)
    return B3Digest(hasher.digest()), total


def ingest_and_scan(
    path: Path, store: Store, needles: tuple[str, ...] | ReferencePattern
) -> tuple[Node, tuple[int, ...]]:
    """Ingest a build output into ``store`` and scan its file contents and symlink targets for
    ``needles``; returns the root node and the sorted indices of the needles found.

    Files are adopted into an on-disk store rather than copied (:class:`OutputBlobService`):
    call this only for paths nothing will write to any more.
    """
    pattern = needles if isinstance(needles, ReferencePattern) else ReferencePattern(needles)
    target = Store(OutputBlobService(store.blobs), store.directories, store.path)
    scanner = ReferenceScanner(pattern)
    try:
        if not len(pattern):
            return ingest_path(path, target), ()
        node = ingest_path(
            path,
            target,
            on_file=lambda p, _node: scanner.scan_file(p),
            on_symlink=lambda _p, link: scanner.scan_symlink_target(link),
        )
    except CastoreError as exc:
        raise OutputIngestError(str(path), str(exc)) from exc
    return node, scanner.matches()


# ------------------------------------------------------------------------------------------------
# addresses


def from_addr(uri: str, store: Store, **options: Any) -> BuildService:
    """A build service from its address, as snix's ``from_addr``.

    * ``dummy://`` → :class:`DummyBuildService`;
    * ``oci:///path/to/bundle-root`` → :class:`OCIBuildService` with that bundle root (``oci://``
      without a path is an error: "oci needs a bundle dir as path");
    * anything else → "unknown scheme: X".

    ``options`` are passed to :class:`OCIBuildService` (``rootless``, ``timeout``, …).
    """
    parsed = urllib.parse.urlsplit(uri)
    scheme = parsed.scheme
    if not scheme or "://" not in uri:
        raise EngineConfigError(
            f"invalid build service address {uri!r}: expected 'dummy://' or 'oci:///bundle/dir'"
        )
    if scheme == "dummy":
        return DummyBuildService()
    if scheme == "oci":
        if parsed.netloc:
            raise EngineConfigError(
                f"oci address {uri!r} has a host part {parsed.netloc!r}: expected "
                "oci:///absolute/bundle/dir (three slashes)"
            )
        path = urllib.parse.unquote(parsed.path)
        if not path:
            raise EngineConfigError(f"oci needs a bundle dir as path (address {uri!r})")
        return OCIBuildService.from_store(Path(path), store, **options)
    raise EngineConfigError(f"unknown scheme: {scheme} (address {uri!r})")
