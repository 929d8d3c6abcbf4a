"""The image's last layer: ``/bin`` links into the store, ``/tmp`` and ``/usr/bin/env``.

As Nixery's symlink layer (a ``symlinkJoin`` of the top-level packages plus ``/tmp`` and
``/usr/bin/env``):

* ``/bin/<name>`` -> ``<store path>/bin/<name>`` for every executable file or symlink in the
  ``bin/`` directory of each store path of the image. When several paths have a program of the
  same name, the top-level paths win (the one given first), then the others in store-path order:
  an entrypoint such as ``/bin/hello`` comes from the top-level package, and the tools it runs on
  (``/bin/sh`` of a busybox it refers to) are there too.
* ``/tmp``, mode 1777.
* ``/usr/bin/env`` -> an ``env`` of the closure: ``bin/env`` of a ``coreutils*`` path, else of a
  ``busybox*`` path (or its ``bin/busybox``, which acts as ``env`` when called by that name),
  else of any path, in store-path order. Without one there is no ``/usr/bin/env`` (Nixery leaves
  a dangling link instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pytest_snixbuild.castore.errors import CastoreError
from pytest_snixbuild.castore.nodes import Directory, DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.image.errors import LayerWriteError
from pytest_snixbuild.image.layering import package_name
from pytest_snixbuild.image.tarstream import TarEntry

DIR_MODE = 0o755
TMP_MODE = 0o1777
LINK_MODE = 0o777


def bin_directory(node: Node, store: Store, store_path: str) -> Directory | None:
    """The ``bin/`` Directory of a store path, or None when it has none."""
    if not isinstance(node, DirectoryNode):
        return None
    try:
        top = store.get_directory(b"", node)
        child = top.get(b"bin")
        if not isinstance(child, DirectoryNode):
            return None
        return store.get_directory(b"bin", child)
    except CastoreError as exc:
        raise LayerWriteError(f"cannot read {store_path}: {exc}") from exc


def _is_program(node: Node) -> bool:
    return isinstance(node, SymlinkNode) or (isinstance(node, FileNode) and node.executable)


def bin_links(by_priority: Sequence[tuple[str, Node]], store: Store) -> dict[bytes, bytes]:
    """``name -> target`` for ``/bin``: the first path (in the given order) with a program of
    that name."""
    links: dict[bytes, bytes] = {}
    for store_path, node in by_priority:
        directory = bin_directory(node, store, store_path)
        if directory is None:
            continue
        for name, child in directory.items():
            if _is_program(child) and name not in links:
                links[name] = store_path.encode("utf-8", "surrogateescape") + b"/bin/" + name
    return links


def _env_preference(store_path: str) -> tuple[int, str]:
    name = package_name(store_path)
    rank = 0 if name.startswith("coreutils") else 1 if name.startswith("busybox") else 2
    return rank, store_path


def find_env(closure: Iterable[tuple[str, Node]], store: Store) -> bytes | None:
    """The target of ``/usr/bin/env`` (see the module docstring), or None."""
    for store_path, node in sorted(closure, key=lambda pn: _env_preference(pn[0])):
        directory = bin_directory(node, store, store_path)
        if directory is None:
            continue
        base = store_path.encode("utf-8", "surrogateescape") + b"/bin/"
        env = directory.get(b"env")
        if env is not None and _is_program(env):
            return base + b"env"
        busybox = directory.get(b"busybox")
        is_busybox = package_name(store_path).startswith("busybox")
        if is_busybox and busybox is not None and _is_program(busybox):
            return base + b"busybox"
    return None


def link_priority(
    top_level: Sequence[tuple[str, Node]], closure: Iterable[tuple[str, Node]]
) -> list[tuple[str, Node]]:
    """The top-level paths (given order), then the rest of the closure (store-path order)."""
    first = {p for p, _ in top_level}
    return list(top_level) + sorted(
        (pn for pn in closure if pn[0] not in first), key=lambda pn: pn[0]
    )


def symlink_layer_entries(
    top_level: Sequence[tuple[str, Node]], closure: Sequence[tuple[str, Node]], store: Store
) -> list[TarEntry]:
    """The members of the symlink layer, sorted, parents first."""
    entries: list[TarEntry] = []
    links = bin_links(link_priority(top_level, closure), store)
    if links:
        entries.append(TarEntry(b"bin", "directory", DIR_MODE))
        entries.extend(
            TarEntry(b"bin/" + name, "symlink", LINK_MODE, target=target)
            for name, target in sorted(links.items())
        )
    entries.append(TarEntry(b"tmp", "directory", TMP_MODE))
    env = find_env(closure, store)
    if env is not None:
        entries.append(TarEntry(b"usr", "directory", DIR_MODE))
        entries.append(TarEntry(b"usr/bin", "directory", DIR_MODE))
        entries.append(TarEntry(b"usr/bin/env", "symlink", LINK_MODE, target=env))
    return entries
