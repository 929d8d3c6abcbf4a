"""The symlink layer: /bin links and their priority, /tmp, and the choice of /usr/bin/env."""

from __future__ import annotations

from pathlib import Path

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import Node
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.image.symlinks import find_env, symlink_layer_entries

H = "0" * 32


def package(store: Store, root: Path, name: str, programs: dict[str, str]) -> tuple[str, Node]:
    """A store path with ``bin/<name>``: value "exe" (executable file), "data" (plain file) or
    "-> target" (symlink)."""
    d = root / name / "bin"
    d.mkdir(parents=True)
    for prog, what in programs.items():
        if what.startswith("-> "):
            (d / prog).symlink_to(what[3:])
        else:
            (d / prog).write_text(prog)
            (d / prog).chmod(0o755 if what == "exe" else 0o644)
    return f"/nix/store/{H}-{name}", ingest_path(root / name, store)


def test_links_priority_tmp_and_env(tmp_path: Path) -> None:
    store = Store.memory()
    app = package(store, tmp_path, "app", {"app": "exe", "sh": "exe", "README": "data"})
    bb = package(
        store, tmp_path, "busybox", {"busybox": "exe", "sh": "-> busybox", "env": "-> busybox"}
    )
    entries = symlink_layer_entries([app], [app, bb], store)
    table = [(e.path, e.kind, e.mode, e.target) for e in entries]
    app_bin = f"/nix/store/{H}-app/bin/".encode()
    bb_bin = f"/nix/store/{H}-busybox/bin/".encode()
    assert table == [
        (b"bin", "directory", 0o755, b""),
        (b"bin/app", "symlink", 0o777, app_bin + b"app"),
        (b"bin/busybox", "symlink", 0o777, bb_bin + b"busybox"),
        (b"bin/env", "symlink", 0o777, bb_bin + b"env"),
        (b"bin/sh", "symlink", 0o777, app_bin + b"sh"),  # the top-level path wins
        (b"tmp", "directory", 0o1777, b""),
        (b"usr", "directory", 0o755, b""),
        (b"usr/bin", "directory", 0o755, b""),
        (b"usr/bin/env", "symlink", 0o777, bb_bin + b"env"),
    ]  # README is not a program: no link


def test_first_top_level_path_wins(tmp_path: Path) -> None:
    store = Store.memory()
    one = package(store, tmp_path, "one", {"tool": "exe"})
    two = package(store, tmp_path, "two", {"tool": "exe"})
    for order in ([one, two], [two, one]):
        entries = symlink_layer_entries(order, [one, two], store)
        link = next(e for e in entries if e.path == b"bin/tool")
        assert link.target == order[0][0].encode() + b"/bin/tool"


def test_env_prefers_coreutils_then_busybox(tmp_path: Path) -> None:
    store = Store.memory()
    other = package(store, tmp_path, "aaa-tools", {"env": "exe"})
    bb = package(store, tmp_path, "busybox", {"busybox": "exe"})
    cu = package(store, tmp_path, "coreutils-9.1", {"env": "exe"})
    assert find_env([other, bb, cu], store) == cu[0].encode() + b"/bin/env"
    # a busybox without an env applet link: its binary acts as env when called so
    assert find_env([other, bb], store) == bb[0].encode() + b"/bin/busybox"
    assert find_env([other], store) == other[0].encode() + b"/bin/env"


def test_no_env_no_bin_only_tmp(tmp_path: Path) -> None:
    store = Store.memory()
    data = package(store, tmp_path, "data", {"notes": "data"})
    entries = symlink_layer_entries([data], [data], store)
    assert [(e.path, e.mode) for e in entries] == [(b"tmp", 0o1777)]
