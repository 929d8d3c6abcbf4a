"""Helpers for the sandbox probes: probe scripts and their results, capability masks, a TCP
listener on the host's loopback, and the leftover checks run after every probe.

A probe is a build whose single output ``$out`` is a directory of result files. The script
starts with :data:`PROLOGUE`, which defines ``try NAME 'shell code'``: it runs the code with
``/bin/sh -c`` and records its stdout, stderr and exit status as ``NAME.out``, ``NAME.err`` and
``NAME.rc``. Tests assert on those files, not only on exit codes.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.service import RUNTIME_STATE_DIR, OCIBuildService, mounts_below
from pytest_snixbuild.request.model import BuildConstraints, BuildRequest, BuildResult, EnvVar

ENGINE_TESTS = Path(__file__).resolve().parent.parent / "engine"


def _engine_helpers() -> ModuleType:
    """tests/engine/snix_engine_helpers.py (the engine tests' leftover checks), reused."""
    name = "snix_engine_helpers"
    if name not in sys.modules:
        if str(ENGINE_TESTS) not in sys.path:
            sys.path.insert(0, str(ENGINE_TESTS))
        importlib.import_module(name)
    return sys.modules[name]


_engine = _engine_helpers()
fuse_mounts_below: Callable[[Path], list[str]] = _engine.fuse_mounts_below
processes_with_arg: Callable[[str], list[int]] = _engine.processes_with_arg

STORE = "nix/store"
OUT = f"{STORE}/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-probe"
#: a second output, for requests with two
OUT2 = f"{STORE}/flh4511s7fl3iz41dylfrcc8davh7naw-probe2"
#: input names (store path basenames)
INPUT = "v137y81wxx44zx8nln1b4xhj75bs7dbn-victim"
PROBE_INPUT = "cqpygxchhbrk2a5c3l2shj8chbkj6zg6-sandbox-probe"
CGROUP_ROOT = Path("/sys/fs/cgroup")

_libc = ctypes.CDLL(None, use_errno=True)

PROLOGUE = """\
set -u
mkdir -p "$out"
try() { /bin/sh -c "$2" > "$out/$1.out" 2> "$out/$1.err"; echo $? > "$out/$1.rc"; }
"""

#: capability numbers from linux/capability.h
CAPABILITY_BITS: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}


def capability_mask(names: list[str] | tuple[str, ...]) -> int:
    """The bitmask the kernel shows in /proc/<pid>/status for a list of ``CAP_*`` names."""
    mask = 0
    for name in names:
        mask |= 1 << CAPABILITY_BITS[name]
    return mask


def status_fields(text: str) -> dict[str, str]:
    """``/proc/<pid>/status`` as a dict (``"CapEff" -> "00000000a80425fb"``)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


# ------------------------------------------------------------------------------------------------
# requests and results


def probe_request(
    script: str,
    *,
    constraints: BuildConstraints | None = None,
    inputs: Mapping[str, Node] | None = None,
    outputs: tuple[str, ...] = (OUT,),
    env: Mapping[str, str] | None = None,
    prologue: bool = True,
) -> BuildRequest:
    """``/bin/sh -c PROLOGUE+script`` with ``$out`` (and ``$out2``) set to the outputs."""
    variables = {"out": "/" + outputs[0]}
    if len(outputs) > 1:
        variables["out2"] = "/" + outputs[1]
    variables.update(env or {})
    return BuildRequest(
        command_args=("/bin/sh", "-c", (PROLOGUE if prologue else "") + script),
        inputs=dict(inputs or {}),
        outputs=tuple(sorted(outputs)),
        environment_vars=tuple(EnvVar(k, v.encode()) for k, v in sorted(variables.items())),
        constraints=constraints if constraints is not None else BuildConstraints(),
    )


class Attempt(NamedTuple):
    """What one ``try NAME 'code'`` did inside the sandbox."""

    rc: int
    out: str
    err: str


@dataclass
class Probe:
    """The files a probe wrote into ``$out`` (path relative to ``$out`` -> contents)."""

    files: dict[str, bytes]
    stdout: bytes = b""
    stderr: bytes = b""

    def text(self, name: str) -> str:
        return self.files[name].decode()

    def attempt(self, name: str) -> Attempt:
        return Attempt(
            int(self.text(f"{name}.rc")), self.text(f"{name}.out"), self.text(f"{name}.err")
        )

    def lines(self, name: str) -> list[str]:
        return self.text(name).splitlines()


def read_tree(store: Store, node: Node, prefix: str = "") -> dict[str, bytes | SymlinkNode]:
    """Every file (contents) and symlink (node) below ``node``, by relative path."""
    found: dict[str, bytes | SymlinkNode] = {}
    if isinstance(node, FileNode):
        with store.blobs.open_read(node.digest) as f:
            found[prefix] = f.read()
    elif isinstance(node, SymlinkNode):
        found[prefix] = node
    elif isinstance(node, DirectoryNode):
        directory = store.directories.get(node.digest)
        for name, child in directory.items():
            path = f"{prefix}/{name.decode()}" if prefix else name.decode()
            found.update(read_tree(store, child, path))
    return found


def probe_result(store: Store, node: Node, stdout: bytes, stderr: bytes) -> Probe:
    files = {k: v for k, v in read_tree(store, node).items() if isinstance(v, bytes)}
    return Probe(files, stdout, stderr)


# ------------------------------------------------------------------------------------------------
# leftovers


def cgroup_dirs(cgroups_path: str) -> list[Path]:
    """Directories of ``cgroups_path`` that still exist, in any hierarchy."""
    leaf = cgroups_path.strip("/")
    candidates = [CGROUP_ROOT / leaf]
    if CGROUP_ROOT.is_dir():
        candidates += [d / leaf for d in CGROUP_ROOT.iterdir() if d.is_dir()]
    return [p for p in candidates if p.exists()]


def leftovers(service: OCIBuildService, specs: list[dict[str, Any]]) -> list[str]:
    """Everything a finished build might have left behind, described; empty when clean.

    FUSE mounts (the engine tests' check) and any other mount (a disk-limit tmpfs) below the
    bundle root, containers in the runtime's state, bundle directories, the builds' cgroups.
    """
    root = service.bundle_root
    found = [f"FUSE mount {m}" for m in fuse_mounts_below(root)]
    found += [f"mount {m}" for m in mounts_below(root)]
    found += [f"container {c.id} ({c.status})" for c in service.runtime.list_containers()]
    if root.is_dir():
        found += [f"bundle {p}" for p in root.iterdir() if p.name != RUNTIME_STATE_DIR]
        state = root / RUNTIME_STATE_DIR
        if state.is_dir():
            found += [f"runtime state {p}" for p in state.iterdir()]
    for spec in specs:
        found += [f"cgroup {p}" for p in cgroup_dirs(spec["linux"]["cgroupsPath"])]
    return found


# ------------------------------------------------------------------------------------------------
# one test's engines

SHELL = "/bin/busybox"


class Sandbox:
    """Engines for one test (all rootless or all rootful) and the builds they ran.

    Every service's ``spec_hook`` records the spec of each build, so the leftover check can
    look for the builds' cgroups too.
    """

    def __init__(self, tmp_path: Path, rootless: bool, store: Store) -> None:
        self.tmp_path = tmp_path
        self.rootless = rootless
        self.store = store
        self.services: list[OCIBuildService] = []
        self.specs: list[dict[str, Any]] = []

    @property
    def mode(self) -> str:
        return "rootless" if self.rootless else "rootful"

    def service(self, **options: Any) -> OCIBuildService:
        options.setdefault("timeout", 120)
        root = self.tmp_path / f"bundles-{len(self.services)}"
        service = OCIBuildService.from_store(
            root,
            self.store,
            rootless=self.rootless,
            sandbox_shell=SHELL,
            spec_hook=lambda spec, _request: self.specs.append(spec),
            **options,
        )
        self.services.append(service)
        return service

    def build(self, request: BuildRequest, service: OCIBuildService | None = None) -> BuildResult:
        return (service or self.default_service).build(request)

    def probe(self, script: str, service: OCIBuildService | None = None, **kw: Any) -> Probe:
        """Run a probe script (see snix_sandbox_helpers) and return what it wrote to ``$out``."""
        result = self.build(probe_request(script, **kw), service)
        return probe_result(self.store, result.outputs[0].node, result.stdout, result.stderr)

    @property
    def default_service(self) -> OCIBuildService:
        if not self.services:
            self.service()
        return self.services[0]

    def leftovers(self) -> list[str]:
        found: list[str] = []
        for service in self.services:
            found += leftovers(service, self.specs)
        return found


# ------------------------------------------------------------------------------------------------
# a TCP listener on the host's loopback


@dataclass
class Listener:
    """Accepts connections on 127.0.0.1 (or an abstract unix socket) in a thread and keeps what
    each one sent.

    Every connection is read up to the first newline, until the peer closes it or until
    ``timeout`` seconds pass, then closed. Use as a context manager; connect to ``port``.
    """

    timeout: float = 30.0
    #: listen on this abstract unix socket name instead of TCP
    abstract_name: str | None = None
    received: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.abstract_name is None:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._sock.bind(("127.0.0.1", 0))
            self.port: int = self._sock.getsockname()[1]
        else:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.bind("\0" + self.abstract_name)
            self.port = 0
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(self.timeout)
                chunks = []
                try:
                    while chunk := conn.recv(65536):
                        chunks.append(chunk)
                        if b"\n" in chunk:
                            break
                except OSError:
                    pass
                self.received.append(b"".join(chunks))

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 5)
        self._sock.close()


def host_namespaces() -> dict[str, str]:
    """This process's namespaces (``pid -> "pid:[4026531836]"``)."""
    return {name: os.readlink(f"/proc/self/ns/{name}") for name in NAMESPACES}


NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")


# ------------------------------------------------------------------------------------------------
# mounts the tests make themselves


def mount_tmpfs(path: Path, options: str) -> None:
    """Mount a small tmpfs at ``path`` (the test's own; ``unmount_below`` removes it)."""
    if _libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", 0, options.encode()) != 0:
        raise OSError(ctypes.get_errno(), f"mount tmpfs at {path}")


def unmount_below(path: Path) -> None:
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted(points, key=len, reverse=True):
        if point == target or point.startswith(target + "/"):
            _libc.umount2(os.fsencode(point), 2)  # MNT_DETACH


FUSECTL = Path("/sys/fs/fuse/connections")


@contextmanager
def fusectl_mounted() -> Iterator[Path]:
    """The host's fusectl file system, mounted for the duration if it is not (root only)."""
    with open("/proc/self/mountinfo") as f:
        present = any(line.split()[4] == str(FUSECTL) for line in f)
    if not present and _libc.mount(b"fusectl", os.fsencode(FUSECTL), b"fusectl", 0, None) != 0:
        raise OSError(ctypes.get_errno(), f"mount fusectl at {FUSECTL}")
    try:
        yield FUSECTL
    finally:
        if not present:
            _libc.umount2(os.fsencode(FUSECTL), 2)  # MNT_DETACH
