"""Mount a :class:`~pytest_snixbuild.engine.fusefs.CastoreFS` and always unmount it again.

:func:`mount_castore` is a context manager: it mounts the inputs read-only, serves them from a
background thread, waits until the kernel's INIT has been answered and ``/proc/self/mountinfo``
shows the mount, yields the mountpoint, and on the way out (normal exit, exception, Ctrl-C)
unmounts and joins the thread.

Why a thread and not ``fuse_main``: fusepy's and mfusepy's ``FUSE()`` run libfuse's
``fuse_main``, which installs process-wide SIGTERM/SIGHUP handlers (they would swallow a SIGTERM
meant for pytest while any mount is up) and cannot be stopped from the outside except by
unmounting. We reuse the libraries' callback marshalling (their ``FUSE`` wrapper methods and
``fuse_operations`` structs) but drive libfuse's session API ourselves:
``fuse_new``/``fuse_mount`` in the calling thread (so mount errors are raised right there),
``fuse_loop`` in a daemon thread, ``fuse_unmount``/``fuse_destroy`` when the loop ends.

Why not a child process: a forked child of a multi-threaded pytest could inherit a held lock, a
spawned one costs tens of milliseconds per build. The price of the thread is that nothing in this
process may touch the mount while holding the GIL (e.g. ``mmap`` of a file on the mount read by C
code that keeps the GIL): ordinary file I/O, subprocesses and runc are fine.

Unmounting escalates until the mount is gone: ``umount2(path, 0)`` (``fusermount -u`` when not
root); if busy, ``MNT_FORCE`` (which aborts the FUSE connection: every pending and future request
fails with ENOTCONN, so no reader can hang) and then ``MNT_DETACH``; if the serving thread still
does not end (e.g. a leaked container keeps a bind mount of it alive in another mount namespace),
the connection is aborted through fusectl (``/sys/fs/fuse/connections/<minor>/abort``).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from pytest_snixbuild.castore.nodes import Node
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.fusefs import PATH_ENCODING, CastoreFS
from pytest_snixbuild.errors import SnixError

log = logging.getLogger(__name__)

Backend = Literal["auto", "fusepy", "mfusepy"]

#: kernel entry/attr/negative cache timeouts in seconds: inputs are immutable
CACHE_TIMEOUT = 365 * 24 * 3600.0
#: bdi readahead set on the mount (KiB); libfuse3 then sends 1 MiB READs instead of 128 KiB
READ_AHEAD_KB = 1024
FSNAME = "snix-castore"
MOUNTINFO = Path("/proc/self/mountinfo")
FUSECTL = Path("/sys/fs/fuse/connections")

MNT_FORCE = 1
MNT_DETACH = 2

#: the CastoreFS callbacks handed to libfuse (flush is left out: it saves a round trip per close)
_CALLBACKS = frozenset(
    {
        "getattr",
        "readlink",
        "open",
        "read",
        "release",
        "opendir",
        "readdir",
        "releasedir",
        "statfs",
        "init",
        "mkdir",
        "rmdir",
        "unlink",
        "symlink",
        "rename",
        "link",
        "chmod",
        "chown",
        "truncate",
        "create",
        "write",
        "mknod",
        "utimens",
        "setxattr",
        "removexattr",
    }
)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.umount2.restype = ctypes.c_int
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]
_libc.mount.restype = ctypes.c_int


class MountError(SnixError):
    """The castore could not be mounted, or not be unmounted."""


# ----------------------------------------------------------------------------------------------
# /proc/self/mountinfo


@dataclass(frozen=True)
class MountEntry:
    """One line of ``/proc/self/mountinfo``."""

    mount_id: int
    major: int
    minor: int
    mountpoint: Path
    fstype: str
    source: str
    options: str


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    if "\\" not in field:
        return field
    out = bytearray()
    raw = os.fsencode(field)
    i = 0
    while i < len(raw):
        if raw[i] == 0x5C and raw[i + 1 : i + 4].isdigit() and i + 4 <= len(raw):
            out.append(int(raw[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return os.fsdecode(bytes(out))


def read_mountinfo(path: Path = MOUNTINFO) -> list[MountEntry]:
    """The mounts this process sees, in mount order."""
    entries = []
    for line in path.read_text(errors="surrogateescape").splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split(" ")
        rest = right.split(" ")
        major, minor = fields[2].split(":")
        entries.append(
            MountEntry(
                mount_id=int(fields[0]),
                major=int(major),
                minor=int(minor),
                mountpoint=Path(_unescape(fields[4])),
                fstype=rest[0],
                source=_unescape(rest[1]) if len(rest) > 1 else "",
                options=fields[5],
            )
        )
    return entries


def fuse_mounts_under(path: Path) -> list[Path]:
    """FUSE mountpoints at or below ``path`` (deepest first), e.g. to clean up stale state."""
    base = Path(os.path.realpath(path))
    found = {
        entry.mountpoint
        for entry in read_mountinfo()
        if entry.fstype == "fuse" or entry.fstype.startswith(("fuse.", "fuseblk"))
        if entry.mountpoint == base or base in entry.mountpoint.parents
    }
    return sorted(found, key=lambda p: (len(p.parts), str(p)), reverse=True)


def _mount_entry(mountpoint: Path, minor: int | None = None) -> MountEntry | None:
    """The topmost FUSE mount at ``mountpoint`` (with that device minor, if given)."""
    match = None
    for entry in read_mountinfo():
        if (
            entry.mountpoint == mountpoint
            and entry.fstype.startswith("fuse")
            and (minor is None or (entry.major == 0 and entry.minor == minor))
        ):
            match = entry
    return match


# ----------------------------------------------------------------------------------------------
# unmounting


def _umount2(path: Path, flags: int) -> int:
    """``umount2``; 0 or the errno."""
    if _libc.umount2(os.fsencode(path), flags) == 0:
        return 0
    return ctypes.get_errno()


def _fusermount(path: Path, lazy: bool) -> bool:
    for tool in ("fusermount3", "fusermount"):
        args = [tool, "-uz" if lazy else "-u", "--", os.fspath(path)]
        try:
            done = subprocess.run(args, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return True
    return False


def abort_connection(minor: int) -> bool:
    """Abort FUSE connection ``minor`` through fusectl.

    As root, fusectl is mounted for the occasion when it is not, and unmounted again afterwards.
    """
    abort = FUSECTL / str(minor) / "abort"
    mounted_here = False
    if not abort.exists() and os.geteuid() == 0 and FUSECTL.is_dir():
        mounted_here = _libc.mount(b"fusectl", os.fsencode(FUSECTL), b"fusectl", 0, None) == 0
    try:
        abort.write_text("1")
    except OSError:
        return False
    finally:
        if mounted_here:
            _umount2(FUSECTL, MNT_DETACH)
    return True


def _unmount(mountpoint: Path, minor: int | None) -> None:
    """Remove our mount at ``mountpoint`` (only while mountinfo still shows it)."""
    for flags in (0, MNT_FORCE, 0, MNT_DETACH):
        if _mount_entry(mountpoint, minor) is None:
            return
        if os.geteuid() != 0:
            if _fusermount(mountpoint, lazy=flags == MNT_DETACH):
                return
            continue
        err = _umount2(mountpoint, flags)
        if err == 0:
            return
        log.debug("umount2(%s, %d): %s", mountpoint, flags, os.strerror(err))
    if _mount_entry(mountpoint, minor) is not None:
        raise MountError(f"cannot unmount the castore FUSE mount at {mountpoint}")


def force_unmount(path: Path) -> list[Path]:
    """Unmount every FUSE mount at or below ``path`` (stale state after a crash); returns them.

    Connections are aborted first, so a dead or hung server cannot block the unmount.
    """
    done = []
    for mountpoint in fuse_mounts_under(path):
        entry = _mount_entry(mountpoint)
        if entry is not None and entry.major == 0:
            abort_connection(entry.minor)
        _unmount(mountpoint, entry.minor if entry is not None else None)
        done.append(mountpoint)
    return done


# ----------------------------------------------------------------------------------------------
# libfuse backends


@dataclass(frozen=True)
class _Backend:
    """A FUSE binding and the libfuse session functions it is built on."""

    name: str
    module: ModuleType
    major: int
    new: Any
    mount: Any
    unmount: Any
    loop: Any
    destroy: Any
    free_args: Any


class _FuseArgs(ctypes.Structure):
    _fields_ = [
        ("argc", ctypes.c_int),
        ("argv", ctypes.POINTER(ctypes.c_char_p)),
        ("allocated", ctypes.c_int),
    ]


_ArgsP = ctypes.POINTER(_FuseArgs)
_vp, _cp, _int = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
#: libfuse's session API by major version: name -> (symbol version, restype, argtypes). The
#: versions matter: libfuse2 also exports unversioned compat symbols with other signatures.
_SYMBOLS: dict[int, dict[str, tuple[str, Any, tuple[Any, ...]]]] = {
    2: {
        "new": ("FUSE_2.6", _vp, (_vp, _ArgsP, _vp, ctypes.c_size_t, _vp)),
        "mount": ("FUSE_2.6", _vp, (_cp, _ArgsP)),
        "unmount": ("FUSE_2.6", None, (_cp, _vp)),
        "loop": ("FUSE_2.2", _int, (_vp,)),
        "destroy": ("FUSE_2.2", None, (_vp,)),
        "opt_free_args": ("FUSE_2.5", None, (_ArgsP,)),
    },
    3: {
        "new": ("FUSE_3.1", _vp, (_ArgsP, _vp, ctypes.c_size_t, _vp)),
        "mount": ("FUSE_3.0", _int, (_vp, _cp)),
        "unmount": ("FUSE_3.0", None, (_vp,)),
        "loop": ("FUSE_3.0", _int, (_vp,)),
        "destroy": ("FUSE_3.0", None, (_vp,)),
        "opt_free_args": ("FUSE_3.0", None, (_ArgsP,)),
    },
}
_libc.dlvsym.argtypes = [_vp, _cp, _cp]
_libc.dlvsym.restype = _vp


def _bind(lib: ctypes.CDLL, major: int) -> dict[str, Any]:
    functions = {}
    for name, (version, restype, argtypes) in _SYMBOLS[major].items():
        address = _libc.dlvsym(lib._handle, f"fuse_{name}".encode(), version.encode())
        if not address:
            raise OSError(f"{lib._name} has no fuse_{name}@{version}")
        functions[name] = ctypes.CFUNCTYPE(restype, *argtypes)(address)
    return functions


_backend_lock = threading.Lock()


def _import_mfusepy() -> ModuleType:
    """Import mfusepy on libfuse3 (unless it was imported already, or FUSE_LIBRARY_NAME is set)."""
    if "mfusepy" in sys.modules or "FUSE_LIBRARY_NAME" in os.environ:
        return importlib.import_module("mfusepy")
    os.environ["FUSE_LIBRARY_NAME"] = "fuse3"  # mfusepy picks its libfuse when imported
    try:
        return importlib.import_module("mfusepy")
    finally:
        os.environ.pop("FUSE_LIBRARY_NAME", None)


def _backend(name: Backend) -> _Backend:
    with _backend_lock:
        return _load_backend(name)


@functools.cache
def _load_backend(name: Backend) -> _Backend:
    candidates: list[str] = ["mfusepy", "fusepy"] if name == "auto" else [name]
    problems = []
    for candidate in candidates:
        try:
            if candidate == "mfusepy":
                module = _import_mfusepy()
                major = int(module.fuse_version_major)
            else:
                module = importlib.import_module("fuse")
                major = 2
            functions = _bind(module._libfuse, major)
        except (ImportError, OSError, RuntimeError, AttributeError, KeyError) as exc:
            problems.append(f"{candidate}: {exc}")
            continue
        return _Backend(
            candidate,
            module,
            major,
            functions["new"],
            functions["mount"],
            functions["unmount"],
            functions["loop"],
            functions["destroy"],
            functions["opt_free_args"],
        )
    raise MountError(
        f"no usable FUSE library for backend {name!r} ({'; '.join(problems)}): "
        "install fusepy (libfuse2) or mfusepy (libfuse3)"
    )


#: libfuse3's ``fuse_readdir_flags`` / ``fuse_fill_dir_flags``
FUSE_READDIR_PLUS = 1
FUSE_FILL_DIR_PLUS = 2


@functools.cache
def _readdir_plus_class(module: ModuleType) -> Any:
    """mfusepy's ``FUSE`` with a libfuse3 ``readdir`` that answers READDIRPLUS.

    mfusepy fills only the names and modes, so the kernel then sends a LOOKUP for every entry
    a reader stats or opens (``find``, ``ls -l``, a glob followed by ``cat``): one round trip
    per file. Here every entry goes to libfuse with its full attributes and
    ``FUSE_FILL_DIR_PLUS`` when the kernel asks for them: one READDIRPLUS per directory
    instantiates all its entries (with the mount's long entry/attr timeouts).

    Entries are passed with their position as a non-zero offset: libfuse 3.14 drops the
    attributes of entries filled with offset 0 (it buffers them and answers with inode 0, which
    the kernel ignores). With offsets the kernel asks again from where a full buffer stopped.
    Each distinct ``struct stat`` is built once per mount (5 µs each) and then copied.
    """

    class ReaddirPlusFUSE(module.FUSE):  # type: ignore[name-defined,misc]
        def readdir_fuse_3(
            self, path: bytes | None, buf: Any, filler: Any, offset: int, fip: Any, flags: int
        ) -> int:
            fill_flags = FUSE_FILL_DIR_PLUS if flags & FUSE_READDIR_PLUS else 0
            entries = self.operations.entries(
                "/" if path is None else path.decode(self.encoding, self.errors)
            )
            built: dict[tuple[int, int], Any] = self.__dict__.setdefault("_stats", {})
            for position in range(offset, len(entries)):
                name, attrs = entries[position]
                key = (attrs["st_ino"], attrs["st_size"])
                st = built.get(key)
                if st is None:
                    st = built[key] = module.c_stat()
                    module.set_st_attrs(st, attrs, use_ns=True)
                encoded = name.encode(self.encoding, self.errors)
                if filler(buf, encoded, st, position + 1, fill_flags):
                    break
            return 0

    return ReaddirPlusFUSE


def _operations(backend: _Backend, fs: CastoreFS) -> tuple[ctypes.Structure, list[Any]]:
    """A ``fuse_operations`` struct whose callbacks go through the library's own marshalling."""
    module = backend.module
    cls: Any = module.FUSE
    if backend.name == "mfusepy" and backend.major == 3:
        cls = _readdir_plus_class(module)
    wrapper = cls.__new__(cls)  # its __init__ would run fuse_main
    wrapper.operations = fs
    wrapper.raw_fi = False
    wrapper.encoding = PATH_ENCODING
    wrapper.errors = "strict"
    wrapper.use_ns = True
    wrapper._FUSE__critical_exception = None
    wrapper._libfuse2_options_moved_into_libfuse3_config = {}
    wanted = set(_CALLBACKS)
    if fs.zero_copy and backend.name == "mfusepy":
        wanted.add("read_buf")
    ops = module.fuse_operations()
    keep: list[Any] = []
    for field in module.fuse_operations._fields_:
        name, prototype = field[0], field[1]
        if not hasattr(prototype, "argtypes"):
            continue
        if (name[1:] if name in ("fgetattr", "ftruncate") else name) not in wanted:
            continue
        method = getattr(wrapper, f"{name}_fuse_{backend.major}", None) or getattr(
            wrapper, name, None
        )
        if method is None:
            continue
        callback = prototype(functools.partial(wrapper._wrapper, method))
        setattr(ops, name, callback)
        keep.append(callback)
    keep.append(wrapper)
    return ops, keep


def _fuse_args(options: list[str]) -> tuple[_FuseArgs, list[Any]]:
    argv_list = [b"snixbuild-castore", b"-o", ",".join(options).encode()]
    argv = (ctypes.c_char_p * (len(argv_list) + 1))(*argv_list, None)
    return _FuseArgs(len(argv_list), argv, 0), [argv, argv_list]


# ----------------------------------------------------------------------------------------------
# the session


class _Session:
    """One mounted filesystem: libfuse handles, the serving thread, and its teardown."""

    def __init__(self, backend: _Backend, fs: CastoreFS, mountpoint: Path) -> None:
        self.backend = backend
        self.fs = fs
        self.mountpoint = mountpoint
        self.fuse: int | None = None
        self.chan: int | None = None  # libfuse2 only
        self.minor: int | None = None
        self.thread: threading.Thread | None = None
        self.loop_status: int | None = None
        self._keep: list[Any] = []

    def mount(self, allow_other: bool) -> None:
        backend = self.backend
        options = ["ro", f"fsname={FSNAME}", f"subtype={FSNAME}"]
        if allow_other:
            options.append("allow_other")
        if backend.major == 2:
            timeouts = f"entry_timeout={CACHE_TIMEOUT:.0f},attr_timeout={CACHE_TIMEOUT:.0f}"
            options += [
                "use_ino",
                "kernel_cache",
                timeouts,
                f"negative_timeout={CACHE_TIMEOUT:.0f}",
            ]
        else:
            self.fs.fuse3_config = {
                "use_ino": 1,
                "kernel_cache": 1,
                "entry_timeout": CACHE_TIMEOUT,
                "attr_timeout": CACHE_TIMEOUT,
                "negative_timeout": CACHE_TIMEOUT,
            }
        ops, keep = _operations(backend, self.fs)
        args, keep_args = _fuse_args(options)
        self._keep = [ops, *keep, args, *keep_args]
        where = os.fsencode(self.mountpoint)
        try:
            if backend.major == 2:
                chan = backend.mount(where, ctypes.byref(args))
                if not chan:
                    raise self._mount_failed("fuse_mount")
                self.chan = chan
                fuse = backend.new(
                    chan, ctypes.byref(args), ctypes.byref(ops), ctypes.sizeof(ops), None
                )
                if not fuse:
                    backend.unmount(where, chan)
                    self.chan = None
                    raise self._mount_failed("fuse_new")
                self.fuse = fuse
            else:
                fuse = backend.new(ctypes.byref(args), ctypes.byref(ops), ctypes.sizeof(ops), None)
                if not fuse:
                    raise self._mount_failed("fuse_new")
                if backend.mount(fuse, where) != 0:
                    backend.destroy(fuse)
                    raise self._mount_failed("fuse_mount")
                self.fuse = fuse
        finally:
            backend.free_args(ctypes.byref(args))
        entry = _mount_entry(self.mountpoint)
        self.minor = entry.minor if entry is not None else None

    def _mount_failed(self, step: str) -> MountError:
        return MountError(
            f"cannot mount the castore at {self.mountpoint}: libfuse's {step} failed (its reason "
            "is on stderr); expected /dev/fuse to be usable, root or fusermount, and "
            "'user_allow_other' in /etc/fuse.conf for allow_other when not root"
        )

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self._serve, name=f"castore-fuse:{self.mountpoint}", daemon=True
        )
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.loop_status = self.backend.loop(self.fuse)
        finally:
            self._teardown()

    def _teardown(self) -> None:
        """After the loop: close the channel (libfuse skips the umount once it is gone)."""
        backend, fuse = self.backend, self.fuse
        if fuse is None:
            return
        self.fuse = None
        if backend.major == 2:
            backend.unmount(os.fsencode(self.mountpoint), self.chan)
        else:
            backend.unmount(fuse)
        backend.destroy(fuse)
        self.fs.close_all()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.fs.ready.wait(0.05):
            if self.thread is not None and not self.thread.is_alive():
                raise MountError(
                    f"the castore FUSE server for {self.mountpoint} stopped before it was ready "
                    f"(fuse_loop returned {self.loop_status})"
                )
            if time.monotonic() > deadline:
                raise MountError(
                    f"the castore FUSE mount at {self.mountpoint} was not ready after {timeout} s "
                    "(the kernel's INIT request was not answered)"
                )
        if self.minor is None or _mount_entry(self.mountpoint, self.minor) is None:
            raise MountError(
                f"the castore FUSE mount at {self.mountpoint} is not in {MOUNTINFO} "
                "after it was mounted"
            )

    def tune_readahead(self, kib: int) -> None:
        """Raise the mount's bdi readahead (root only; best effort)."""
        if self.minor is None:
            return
        with contextlib.suppress(OSError):
            Path(f"/sys/class/bdi/0:{self.minor}/read_ahead_kb").write_text(str(kib))

    def close(self, join_timeout: float) -> None:
        """Unmount, stop the thread and free libfuse's state; safe to call twice."""
        try:
            _unmount(self.mountpoint, self.minor)
        finally:
            thread = self.thread
            if thread is None:
                self._teardown()  # never served: nothing else will free it
            else:
                thread.join(join_timeout)
                if thread.is_alive() and self.minor is not None:
                    abort_connection(self.minor)
                    thread.join(join_timeout)
                if thread.is_alive():
                    raise MountError(
                        f"the castore FUSE server for {self.mountpoint} did not stop after "
                        f"its mount was removed (connection 0:{self.minor})"
                    )


def _check_mountpoint(mountpoint: Path) -> Path:
    mountpoint = Path(os.path.realpath(mountpoint))  # mountinfo shows resolved paths
    if not mountpoint.is_dir():
        raise MountError(
            f"cannot mount the castore at {mountpoint}: expected an existing directory"
        )
    if _mount_entry(mountpoint) is not None:
        raise MountError(f"cannot mount the castore at {mountpoint}: a FUSE mount is already there")
    if any(mountpoint.iterdir()):
        raise MountError(f"cannot mount the castore at {mountpoint}: expected an empty directory")
    return mountpoint


@contextlib.contextmanager
def mount_castore(
    inputs: Mapping[str, Node] | Mapping[bytes, Node],
    store: Store,
    mountpoint: Path,
    *,
    allow_other: bool = True,
    backend: Backend = "auto",
    list_root: bool = True,
    zero_copy: bool = True,
    read_ahead_kb: int | None = READ_AHEAD_KB,
    ready_timeout: float = 10.0,
    join_timeout: float = 5.0,
) -> Iterator[Path]:
    """Serve ``inputs`` (name -> node) from ``store`` read-only at ``mountpoint``.

    ``mountpoint`` must be an empty directory; it is created (and removed again) if it does not
    exist but its parent does. ``backend`` picks the FUSE binding: ``"auto"``
    prefers mfusepy on libfuse3 (zero-copy ``read_buf`` from the blob files, 1 MiB reads) and
    falls back to fusepy on libfuse2. The mount is unmounted on every exit path.
    """
    created = False
    if not os.path.lexists(mountpoint) and Path(mountpoint).parent.is_dir():
        Path(mountpoint).mkdir()
        created = True
    try:
        mountpoint = _check_mountpoint(mountpoint)
    except BaseException:
        if created:
            Path(mountpoint).rmdir()
        raise
    fs = CastoreFS(inputs, store, list_root=list_root, zero_copy=zero_copy)
    session = _Session(_backend(backend), fs, mountpoint)
    try:
        session.mount(allow_other)
        session.start()
        session.wait_ready(ready_timeout)
        if read_ahead_kb is not None:
            session.tune_readahead(read_ahead_kb)
        yield mountpoint
    finally:
        try:
            session.close(join_timeout)
        finally:
            if created:
                with contextlib.suppress(OSError):
                    mountpoint.rmdir()
