"""A size-limited tmpfs for one build's bundle: the engine's disk limit (``disk_limit``).

Everything a build writes to its scratch paths (``/build``, ``/nix/store``, its outputs) lands in
``<bundle>/scratch`` on the host. With a disk limit the whole bundle directory is a fresh tmpfs
of that many bytes, so a build that writes without end gets ``ENOSPC`` instead of filling the
host's disk. :func:`bundle_tmpfs` mounts it and always unmounts it again, unless the bundle is
kept for inspection (``keep_failed``).

tmpfs lives in memory (and swap): the limit should stay well below the machine's RAM. Its pages
are charged to the memory cgroup of the process that writes them, i.e. the build's, so a
``memory_limit`` smaller than ``disk_limit`` ends a writing build first. Mounting needs root
(``CAP_SYS_ADMIN``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_snixbuild.engine.errors import EngineConfigError

__all__ = ["BUNDLE_TMPFS_MODE", "bundle_tmpfs", "tmpfs_options"]

log = logging.getLogger(__name__)

#: the tmpfs root is the bundle directory: as ``oci.bundle.BUNDLE_MODE``
BUNDLE_TMPFS_MODE = 0o700
MS_NOSUID = 0x2
MS_NODEV = 0x4
MNT_DETACH = 0x2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_void_p,
]
_libc.mount.restype = ctypes.c_int
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.umount2.restype = ctypes.c_int


def tmpfs_options(size: int) -> str:
    """The tmpfs mount data for a bundle of at most ``size`` bytes."""
    return f"size={size},mode={BUNDLE_TMPFS_MODE:o}"


def _mounted_at(path: Path) -> bool:
    target = os.fsencode(os.path.realpath(path))
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                fields = line.split(b" ")
                if len(fields) > 4 and fields[4] == target:
                    return True
    except OSError:
        return False
    return False


@contextmanager
def bundle_tmpfs(
    path: Path, size: int, *, keep: Callable[[], bool] = lambda: False
) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` bytes (``nosuid,nodev``) at the empty directory ``path``.

    On the way out it is unmounted (lazily if something still holds it), which frees everything
    written to it; when ``keep()`` is true it stays mounted and a warning says how to remove it.
    The directory itself is left for the caller to remove.
    """
    if size < 1:
        raise EngineConfigError(f"disk_limit is {size}: expected a positive number of bytes")
    if os.geteuid() != 0:
        raise EngineConfigError(
            f"disk_limit needs root: a size-limited tmpfs cannot be mounted at {path} "
            f"by uid {os.geteuid()}"
        )
    flags = MS_NOSUID | MS_NODEV
    data = tmpfs_options(size).encode()
    if _libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", flags, data) != 0:
        err = ctypes.get_errno()
        raise EngineConfigError(
            f"cannot mount a tmpfs of {size} bytes at {path} for disk_limit: {os.strerror(err)}"
        )
    try:
        yield path
    finally:
        if keep():
            log.warning(
                "bundle %s kept on its tmpfs: remove it with `umount %s && rmdir %s`",
                path,
                shlex.quote(str(path)),
                shlex.quote(str(path)),
            )
        else:
            _unmount(path)


def _unmount(path: Path) -> None:
    for flags in (0, MNT_DETACH):
        if not _mounted_at(path):
            return
        if _libc.umount2(os.fsencode(path), flags) == 0:
            return
        log.debug("umount2(%s, %d): %s", path, flags, os.strerror(ctypes.get_errno()))
    if _mounted_at(path):
        log.error("could not unmount the bundle tmpfs at %s: run `umount -l %s`", path, path)
