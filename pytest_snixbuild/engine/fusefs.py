"""A read-only FUSE filesystem serving castore nodes, with snix's semantics (``castore/src/fs``).

:class:`CastoreFS` is an ``Operations`` object for fusepy and mfusepy (both call it the same way);
:func:`pytest_snixbuild.engine.mount.mount_castore` mounts it. The root lists the input nodes by
name; below them the tree comes from the store:

* modes ``S_IFREG|0444`` (``0555`` when executable), ``S_IFDIR|0555``, ``S_IFLNK|0444``; uid and
  gid 0; mtime 1 s (the root: 0); atime and ctime 0; nlink 0; blksize 1024 and 1024 blocks (the
  root: 0 blocks, size 0) — all as snix reports them;
* inode numbers are deduplicated by content: one number per blob digest (the first node seen
  decides whether it shows as executable, as in snix), per symlink target and per Directory digest;
  the root is inode 1 and the others count up from 2 as they are first seen. Mount with ``use_ino``
  so that ``stat`` shows them;
* Directories are fetched from the DirectoryService the first time something inside them is looked
  up or listed; a missing Directory is EIO. Once fetched, a directory's st_size is its number of
  entries (before, the node's size), as in snix;
* file contents stream from the blob store: ``open`` opens the blob's backing file (or a stream for
  an in-memory store) and ``read``/``read_buf`` read at an offset, so a blob is never held in
  memory. A missing (or corrupt) blob is EIO on ``open``; ``stat`` still works;
* names that are not valid castore names, and names not in the inputs, are ENOENT; writes of any
  kind are EROFS (and the mount is read-only, so the kernel refuses most of them first).

The filesystem is meant for a single-threaded FUSE loop (``nothreads``): it keeps no locks.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import stat
import threading
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.errors import CastoreError
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node, SymlinkNode, name_problem
from pytest_snixbuild.castore.store import Store

log = logging.getLogger(__name__)

#: paths arrive from libfuse as bytes; latin-1 maps every byte to one character and back
PATH_ENCODING = "latin-1"
ROOT_INO = 1
FIRST_INO = 2
BLKSIZE = 1024
BLOCKS = 1024
#: nanoseconds (the filesystem sets ``use_ns``)
MTIME_NS = 1_000_000_000

# fuse_buf flags (fuse_common.h)
_FUSE_BUF_IS_FD = 1 << 1
_FUSE_BUF_FD_SEEK = 1 << 2
#: synthetic file handles (in-memory blobs) start here, far above any file descriptor
_STREAM_FH_BASE = 1 << 40

Attrs = dict[str, int]


def _fail(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class _FuseBuf(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("flags", ctypes.c_int),
        ("mem", ctypes.c_void_p),
        ("fd", ctypes.c_int),
        ("pos", ctypes.c_int64),
    ]


class _FuseBufvec(ctypes.Structure):
    """``struct fuse_bufvec`` with its inline one-element ``buf`` array (64 bytes on x86-64)."""

    _fields_ = [
        ("count", ctypes.c_size_t),
        ("idx", ctypes.c_size_t),
        ("off", ctypes.c_size_t),
        ("buf", _FuseBuf * 1),
    ]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = [ctypes.c_size_t]
_libc.free.restype = None
_libc.free.argtypes = [ctypes.c_void_p]


class _Inode:
    """One inode: a node (None for the root), its attributes, and its children once loaded."""

    __slots__ = ("attrs", "children", "node")

    def __init__(self, node: Node | None, attrs: Attrs) -> None:
        self.node = node
        self.attrs = attrs
        self.children: dict[bytes, _Inode] | None = None


class CastoreFS:
    """fusepy / mfusepy ``Operations`` over ``inputs`` (name -> node) backed by ``store``.

    ``list_root=False`` makes listing the root EPERM (lookups still work), as snix's option.
    ``zero_copy`` enables ``read_buf`` (mfusepy only): libfuse reads the blob's backing file itself
    and Python never touches the data.
    """

    use_ns = True

    def __init__(
        self,
        inputs: Mapping[str, Node] | Mapping[bytes, Node],
        store: Store,
        *,
        list_root: bool = True,
        zero_copy: bool = True,
    ) -> None:
        items: Iterable[tuple[str | bytes, Node]] = inputs.items()
        self._inputs: dict[bytes, Node] = dict(
            sorted((os.fsencode(name), node) for name, node in items)
        )
        self._store = store
        self._list_root = list_root
        self._zero_copy = zero_copy
        self._by_content: dict[tuple[str, object], _Inode] = {}
        self._next_ino = FIRST_INO
        self._root = _Inode(None, self._root_attrs())
        self._paths: dict[str, _Inode] = {"/": self._root}
        self._streams: dict[int, BinaryIO] = {}
        #: blob digest -> its verified backing file (blobs are immutable: verify once per mount)
        self._backing: dict[B3Digest, str] = {}
        self._next_stream = _STREAM_FH_BASE
        #: set when the kernel's INIT request has been answered: the mount is serving
        self.ready = threading.Event()
        #: ``fuse_config`` settings applied in ``init_with_config`` (libfuse3), set by the mounter
        self.fuse3_config: dict[str, float | int] = {}

    # ------------------------------------------------------------------------------------------
    # inode table
    @staticmethod
    def _root_attrs() -> Attrs:
        return {
            "st_ino": ROOT_INO,
            "st_mode": stat.S_IFDIR | 0o555,
            "st_nlink": 0,
            "st_uid": 0,
            "st_gid": 0,
            "st_size": 0,
            "st_atime": 0,
            "st_mtime": 0,
            "st_ctime": 0,
            "st_blksize": BLKSIZE,
            "st_blocks": 0,
        }

    def _inode_for(self, node: Node) -> _Inode:
        if isinstance(node, FileNode):
            key: tuple[str, object] = ("file", node.digest)
        elif isinstance(node, SymlinkNode):
            key = ("symlink", node.target)
        else:
            key = ("directory", node.digest)
        inode = self._by_content.get(key)
        if inode is None:
            inode = _Inode(node, self._node_attrs(node, self._next_ino))
            self._next_ino += 1
            self._by_content[key] = inode
        return inode

    @staticmethod
    def _node_attrs(node: Node, ino: int) -> Attrs:
        if isinstance(node, FileNode):
            mode = stat.S_IFREG | (0o555 if node.executable else 0o444)
            size = node.size
        elif isinstance(node, SymlinkNode):
            mode = stat.S_IFLNK | 0o444
            size = len(node.target)
        else:
            mode = stat.S_IFDIR | 0o555
            size = node.size
        return {
            "st_ino": ino,
            "st_mode": mode,
            "st_nlink": 0,
            "st_uid": 0,
            "st_gid": 0,
            "st_size": size,
            "st_atime": 0,
            "st_mtime": MTIME_NS,
            "st_ctime": 0,
            "st_blksize": BLKSIZE,
            "st_blocks": BLOCKS,
        }

    def _children(self, inode: _Inode) -> dict[bytes, _Inode]:
        """The children of a directory inode, fetching its Directory on first use."""
        if inode.children is not None:
            return inode.children
        node = inode.node
        if not isinstance(node, DirectoryNode):
            raise _fail(errno.ENOTDIR)
        try:
            directory = self._store.directories.get(node.digest)
        except CastoreError as exc:
            log.warning("castore FUSE: cannot load directory %s: %s", node.digest, exc)
            raise _fail(errno.EIO) from exc
        inode.children = {name: self._inode_for(child) for name, child in directory.items()}
        inode.attrs["st_size"] = len(inode.children)
        return inode.children

    def _child(self, parent: _Inode, name: bytes) -> _Inode:
        if parent is self._root:
            if name_problem(name) is not None:
                raise _fail(errno.ENOENT)
            node = self._inputs.get(name)
            if node is None:
                raise _fail(errno.ENOENT)
            return self._inode_for(node)
        child = self._children(parent).get(name)
        if child is None:
            raise _fail(errno.ENOENT)
        return child

    def _resolve(self, path: str) -> _Inode:
        """The inode at an absolute path, walking down from the deepest path already known."""
        inode = self._paths.get(path)
        if inode is not None:
            return inode
        names: list[str] = []
        known = path
        while inode is None:
            known, _, name = known.rpartition("/")
            names.append(name)
            inode = self._paths.get(known or "/")
        for name in reversed(names):
            inode = self._child(inode, name.encode(PATH_ENCODING))
            known = f"{known}/{name}"
            self._paths[known] = inode
        return inode

    # ------------------------------------------------------------------------------------------
    # dispatch (fusepy calls operations(name, *args); mfusepy calls the methods directly)
    def __call__(self, op: str, *args: Any) -> Any:
        method = getattr(self, op, None)
        if method is None:
            raise _fail(errno.ENOSYS)
        return method(*args)

    def init(self, path: str) -> None:
        self.ready.set()

    def init_with_config(self, conn: Any, config: Any) -> None:
        """mfusepy: apply the mounter's settings to libfuse3's ``fuse_config`` (None on libfuse2).

        Splice replies (``FUSE_CAP_SPLICE_WRITE``) are not requested: on this machine they made
        1 GiB reads slower and erratic (1.3–3.2 GB/s against a steady 3.3–3.6 GB/s without).
        """
        if config is not None:
            for key, value in self.fuse3_config.items():
                setattr(config, key, value)
        self.ready.set()

    # ------------------------------------------------------------------------------------------
    # metadata
    def getattr(self, path: str, fh: int | None = None) -> Attrs:
        return self._resolve(path).attrs

    def readlink(self, path: str) -> str:
        inode = self._resolve(path)
        if inode is self._root:
            raise _fail(errno.ENOSYS)
        if not isinstance(inode.node, SymlinkNode):
            raise _fail(errno.EINVAL)
        return inode.node.target.decode(PATH_ENCODING)

    def opendir(self, path: str) -> int:
        inode = self._resolve(path)
        if inode is self._root:
            if not self._list_root:
                raise _fail(errno.EPERM)
        else:
            self._children(inode)
        return 0

    def entries(self, path: str) -> list[tuple[str, Attrs]]:
        """A directory's entries in name order (no ``.``/``..``), with their attributes."""
        inode = self._resolve(path)
        if inode is self._root:
            if not self._list_root:
                raise _fail(errno.EPERM)
            children = [(name, self._inode_for(node)) for name, node in self._inputs.items()]
        else:
            children = list(self._children(inode).items())
        return [(name.decode(PATH_ENCODING), child.attrs) for name, child in children]

    def readdir(self, path: str, fh: int) -> Iterable[tuple[str, Attrs, int]]:
        return [
            (name, {"st_ino": attrs["st_ino"], "st_mode": attrs["st_mode"]}, 0)
            for name, attrs in self.entries(path)
        ]

    def releasedir(self, path: str, fh: int) -> int:
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": BLKSIZE, "f_frsize": BLKSIZE, "f_namemax": 255}

    # ------------------------------------------------------------------------------------------
    # contents
    def open(self, path: str, flags: int) -> int:
        inode = self._resolve(path)
        if inode is self._root:
            raise _fail(errno.ENOSYS)
        node = inode.node
        if not isinstance(node, FileNode):
            raise _fail(errno.EISDIR)
        if flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC:
            raise _fail(errno.EROFS)
        known = self._backing.get(node.digest)
        if known is not None:
            with contextlib.suppress(OSError):
                return os.open(known, os.O_RDONLY | os.O_CLOEXEC)
        blobs = self._store.blobs
        try:
            backing = blobs.backing_path(node.digest)
            if backing is not None:
                fd = os.open(backing, os.O_RDONLY | os.O_CLOEXEC)
                self._backing[node.digest] = os.fspath(backing)
                return fd
            stream = blobs.open_read(node.digest)
        except (CastoreError, OSError) as exc:
            log.warning("castore FUSE: cannot open blob %s for %s: %s", node.digest, path, exc)
            raise _fail(errno.EIO) from exc
        fh = self._next_stream
        self._next_stream += 1
        self._streams[fh] = stream
        return fh

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        stream = self._streams.get(fh)
        if stream is None:
            return os.pread(fh, size, offset)
        stream.seek(offset)
        return stream.read(size)

    def read_buf(self, path: str, bufpp: Any, size: int, offset: int, fh: int) -> int:
        """mfusepy: hand libfuse the backing file descriptor; it reads (or splices) by itself."""
        vec_addr = _libc.malloc(ctypes.sizeof(_FuseBufvec))  # libfuse free()s it
        if not vec_addr:
            raise _fail(errno.ENOMEM)
        vec = _FuseBufvec.from_address(vec_addr)
        vec.count, vec.idx, vec.off = 1, 0, 0
        buf = vec.buf[0]
        stream = self._streams.get(fh)
        if stream is None:
            buf.size, buf.flags, buf.mem, buf.fd, buf.pos = (
                size,
                _FUSE_BUF_IS_FD | _FUSE_BUF_FD_SEEK,
                None,
                fh,
                offset,
            )
        else:
            stream.seek(offset)
            data = stream.read(size)
            mem = _libc.malloc(max(len(data), 1))  # freed by libfuse with the bufvec
            if not mem:
                _libc.free(vec_addr)
                raise _fail(errno.ENOMEM)
            ctypes.memmove(mem, data, len(data))
            buf.size, buf.flags, buf.mem, buf.fd, buf.pos = len(data), 0, mem, -1, 0
        ctypes.cast(bufpp, ctypes.POINTER(ctypes.c_void_p))[0] = vec_addr
        return 0

    def release(self, path: str, fh: int) -> int:
        stream = self._streams.pop(fh, None)
        if stream is not None:
            stream.close()
        else:
            os.close(fh)
        return 0

    def close_all(self) -> None:
        """Close in-memory streams left open (the loop has ended; release will not come)."""
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()

    # ------------------------------------------------------------------------------------------
    # everything that writes: read-only filesystem
    def _read_only(self, *args: Any) -> int:
        raise _fail(errno.EROFS)

    mkdir = rmdir = unlink = symlink = rename = link = _read_only
    chmod = chown = truncate = create = write = mknod = utimens = _read_only
    setxattr = removexattr = _read_only

    @property
    def zero_copy(self) -> bool:
        """Whether the mounter should register ``read_buf`` (mfusepy only)."""
        return self._zero_copy
