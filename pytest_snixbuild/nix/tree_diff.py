"""What differs between two castore trees, file by file (for ``drv build --check``).

:func:`diff_trees` walks two nodes side by side and skips every subtree whose digest is the same
on both sides. Each :class:`TreeDifference` names a path relative to the output root (``""`` for
the root itself) and says what differs: a missing or extra entry, the type, a file's contents or
executable bit, a symlink's target. For small text files the first differing line is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.store import Store

#: files up to this size are read to show the first differing line
LINE_DIFF_LIMIT = 64 * 1024
#: at most this many characters of a line or symlink target are shown
SHOWN_CHARS = 80


@dataclass(frozen=True, slots=True)
class TreeDifference:
    """One difference: ``path`` (``/``-joined, relative to the root) and what differs."""

    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.path or '.'}: {self.what}"


def _show(data: bytes) -> str:
    text = data.decode("utf-8", "backslashreplace")
    if len(text) > SHOWN_CHARS:
        text = text[: SHOWN_CHARS - 1] + "…"
    return repr(text)


def _read_small(node: FileNode, store: Store) -> bytes | None:
    if node.size > LINE_DIFF_LIMIT:
        return None
    with store.blobs.open_read(node.digest) as blob:
        return blob.read()


def _first_line_difference(first: bytes, second: bytes) -> str:
    a_lines, b_lines = first.splitlines(keepends=True), second.splitlines(keepends=True)
    for number, (a, b) in enumerate(zip(a_lines, b_lines, strict=False), start=1):
        if a != b:
            shown_a, shown_b = a.rstrip(b"\r\n"), b.rstrip(b"\r\n")
            if shown_a == shown_b:  # only the line ending differs: show it
                shown_a, shown_b = a, b
            return f"; first difference on line {number}: {_show(shown_a)} vs {_show(shown_b)}"
    return f"; {len(a_lines)} vs {len(b_lines)} lines"


def _file_difference(first: FileNode, second: FileNode, store: Store) -> list[str]:
    found = []
    if first.executable != second.executable:
        shown = {True: "executable", False: "not executable"}
        found.append(
            f"executable bit differs ({shown[first.executable]} in the first build, "
            f"{shown[second.executable]} in the second)"
        )
    if first.digest != second.digest:
        what = f"contents differ ({first.size} bytes, then {second.size} bytes"
        a, b = _read_small(first, store), _read_small(second, store)
        if a is not None and b is not None and b"\0" not in a + b:
            what += _first_line_difference(a, b)
        found.append(what + ")")
    return found


def _kind(node: Node) -> str:
    """``a file``, ``an executable file``, ``a directory``, ``a symlink``."""
    if isinstance(node, FileNode) and node.executable:
        return "an executable file"
    return f"a {node.kind}"


def diff_trees(first: Node, second: Node, store: Store) -> list[TreeDifference]:
    """Every difference between ``first`` and ``second`` (both in ``store``), in path order."""
    found: list[TreeDifference] = []
    stack: list[tuple[str, Node, Node]] = [("", first, second)]
    while stack:
        path, a, b = stack.pop()
        if a == b:
            continue
        if a.kind != b.kind:
            found.append(
                TreeDifference(path, f"{_kind(a)} in the first build, {_kind(b)} in the second")
            )
        elif isinstance(a, FileNode) and isinstance(b, FileNode):
            found.extend(TreeDifference(path, what) for what in _file_difference(a, b, store))
        elif isinstance(a, SymlinkNode) and isinstance(b, SymlinkNode):
            found.append(
                TreeDifference(
                    path, f"symlink target differs: {_show(a.target)} vs {_show(b.target)}"
                )
            )
        elif isinstance(a, DirectoryNode) and isinstance(b, DirectoryNode):
            name = path.rsplit("/", 1)[-1].encode("utf-8", "surrogateescape")
            left = store.get_directory(name, a)
            right = store.get_directory(name, b)
            prefix = f"{path}/" if path else ""
            children = []
            for entry in sorted(set(left) | set(right)):
                child = prefix + entry.decode("utf-8", "surrogateescape")
                if entry not in right:
                    found.append(
                        TreeDifference(child, f"only in the first build ({_kind(left[entry])})")
                    )
                elif entry not in left:
                    found.append(
                        TreeDifference(child, f"only in the second build ({_kind(right[entry])})")
                    )
                else:
                    children.append((child, left[entry], right[entry]))
            stack.extend(reversed(children))
    return sorted(found, key=lambda d: d.path.encode("utf-8", "surrogateescape"))
