"""Check a case's ``[expect]`` table against what a build did, with messages a person can act on.

:func:`check_expectations` returns one message per mismatch (an empty list means the build met
every expectation). Each message names the output and the field, shows the expected and the
actual value, and for file contents gives a unified diff. Needles are shown by value, not index.

``references`` (derivation cases) are compared as store paths, through the case's
``needle_paths``. The request section's own ``checks`` (a fixed-output hash) run first; a build
that fails one counts as a failed build (so ``expect.success = false`` accepts it).

``expect.success = false`` means the build must fail: a :class:`BuildError` is then the expected
outcome and nothing else is checked; a successful build is a mismatch.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.nar import nar_hash
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.errors import BuildError
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.nix.hashes import NixHash
from pytest_snixbuild.request.model import BuildOutput, BuildRequest, BuildResult
from pytest_snixbuild.request.toml_case import Expect, OutputExpect

__all__ = [
    "CONTENTS_LIMIT",
    "check_expectations",
    "format_nar_hash",
    "format_report",
]

#: file contents larger than this are compared by digest only (a diff of them helps nobody)
CONTENTS_LIMIT = 1 << 20
#: at most this many diff lines in one message
DIFF_LINES = 60


def check_expectations(
    case_expect: Expect,
    request: BuildRequest,
    outcome: BuildResult | BuildError,
    store: Store,
) -> list[str]:
    """Every way ``outcome`` (the result, or the error the build raised) misses ``case_expect``.

    A build that fails one of the section's ``checks`` counts as failed."""
    failed_checks: list[str] = []
    if not isinstance(outcome, BuildError):
        for check in case_expect.checks:
            failed_checks.extend(check(outcome, store))
    if not case_expect.success:
        if isinstance(outcome, BuildError) or failed_checks:
            return []
        built = ", ".join(o.path for o in outcome.outputs) or "no outputs"
        return [f"expected the build to fail (expect.success = false), but it succeeded ({built})"]
    if isinstance(outcome, BuildError):
        message = f"expected the build to succeed, but it failed: {outcome.reason}"
        tail = outcome.stderr_tail or outcome.stdout_tail
        if tail:
            message += f"\n--- last lines of the build's output ---\n{tail}"
        return [message]
    problems = failed_checks
    produced = {o.path: o for o in outcome.outputs}
    for path, expected in case_expect.outputs.items():
        output = produced.get(path)
        if output is None:
            known = ", ".join(repr(p) for p in request.outputs) or "none"
            problems.append(
                f"expect.outputs names {path!r}, which is not an output of the request "
                f"(request.outputs: {known})"
            )
            continue
        problems.extend(
            _check_output(path, expected, output, request, store, case_expect.needle_paths)
        )
    return problems


def _check_output(
    path: str,
    expected: OutputExpect,
    output: BuildOutput,
    request: BuildRequest,
    store: Store,
    needle_paths: Sequence[str] | None = None,
) -> list[str]:
    node = output.node
    where = f"output {path}"
    problems: list[str] = []
    if expected.type is not None and expected.type != node.kind:
        problems.append(f"{where}: expected a {expected.type}, but the build made a {node.kind}")
        return problems  # the other fields make no sense for the wrong type
    if expected.digest is not None:
        problems.extend(_check_digest(where, expected.digest, node))
    if expected.nar_hash is not None:
        problems.extend(_check_nar_hash(where, expected.nar_hash, node, store))
    if expected.contents is not None:
        problems.extend(_check_contents(where, expected.contents, node, store))
    if expected.needles is not None:
        problems.extend(_check_needles(where, expected.needles, output, request))
    if expected.references is not None:
        problems.extend(_check_references(where, expected.references, output, needle_paths))
    return problems


def _check_digest(where: str, expected: B3Digest, node: Node) -> list[str]:
    if isinstance(node, SymlinkNode):
        return [f"{where}: expected digest {expected}, but a symlink has no digest"]
    if expected != node.digest:
        return [f"{where}: digest is {node.digest}, expected {expected}"]
    return []


def format_nar_hash(digest: bytes) -> str:
    """``sha256:<nixbase32>``, the form ``nix-store --query --hash`` prints."""
    return NixHash("sha256", digest).to_nix32()


def _check_nar_hash(where: str, expected: str, node: Node, store: Store) -> list[str]:
    try:
        wanted = NixHash.parse(expected, algo="sha256")
    except SnixError as exc:
        return [f"{where}: the expected nar_hash is not a sha256 hash: {exc}"]
    actual, _size = nar_hash(node, store)
    if actual != wanted.digest:
        return [f"{where}: nar_hash is {format_nar_hash(actual)}, expected {wanted.to_nix32()}"]
    return []


def _actual_contents(node: Node, store: Store) -> bytes | None:
    if isinstance(node, SymlinkNode):
        return node.target
    if isinstance(node, FileNode):
        with store.blobs.open_read(node.digest) as blob:
            return blob.read(CONTENTS_LIMIT + 1)
    return None


def _check_contents(where: str, wanted: bytes, node: Node, store: Store) -> list[str]:
    if isinstance(node, DirectoryNode):
        return [f"{where}: expected contents, but the output is a directory (compare its digest)"]
    if isinstance(node, FileNode) and node.size > CONTENTS_LIMIT:
        if node.size != len(wanted) or B3Digest.of(wanted) != node.digest:
            return [
                f"{where}: contents differ: the file has {node.size} bytes (digest "
                f"{node.digest}), expected {len(wanted)} bytes (digest {B3Digest.of(wanted)})"
            ]
        return []
    actual = _actual_contents(node, store)
    assert actual is not None
    if actual == wanted:
        return []
    what = "symlink target" if isinstance(node, SymlinkNode) else "contents"
    return [f"{where}: {what} differ{_diff(wanted, actual)}"]


def _diff(expected: bytes, actual: bytes) -> str:
    try:
        want_text, got_text = expected.decode(), actual.decode()
    except UnicodeDecodeError:
        at = next(
            (i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
            min(len(expected), len(actual)),
        )
        return (
            f" (binary): first difference at byte {at}; expected {len(expected)} bytes "
            f"{expected[at : at + 16]!r}…, got {len(actual)} bytes {actual[at : at + 16]!r}…"
        )
    lines = list(
        difflib.unified_diff(
            want_text.splitlines(keepends=True),
            got_text.splitlines(keepends=True),
            fromfile="expected",
            tofile="actual",
        )
    )
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"… ({len(lines) - DIFF_LINES} more diff lines)\n"]
    shown = "".join(
        line if line.endswith("\n") else line + "\n\\ no newline at end\n" for line in lines
    )
    return ":\n" + shown.rstrip("\n")


def _check_needles(
    where: str, expected: Sequence[str], output: BuildOutput, request: BuildRequest
) -> list[str]:
    needles = request.refscan_needles
    problems = [
        f"{where}: expects needle {value!r}, which is not in request.refscan_needles"
        for value in expected
        if value not in needles
    ]
    found = {needles[i] for i in output.needles if i < len(needles)}
    wanted = set(expected)
    missing = sorted(wanted - found)
    unexpected = sorted(found - wanted)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected)}")
        found_text = ", ".join(sorted(found)) or "none"
        problems.append(f"{where}: needles differ: {'; '.join(parts)} (found: {found_text})")
    return problems


def _check_references(
    where: str, expected: Sequence[str], output: BuildOutput, needle_paths: Sequence[str] | None
) -> list[str]:
    if needle_paths is None:
        return [f"{where}: references are expected, but the case does not map needles to paths"]
    found = {needle_paths[i] for i in output.needles if i < len(needle_paths)}
    wanted = set(expected)
    if found == wanted:
        return []
    parts = []
    if wanted - found:
        parts.append(f"missing {', '.join(sorted(wanted - found))}")
    if found - wanted:
        parts.append(f"unexpected {', '.join(sorted(found - wanted))}")
    shown = ", ".join(sorted(found)) or "none"
    return [f"{where}: references differ: {'; '.join(parts)} (found: {shown})"]


def format_report(name: str, problems: Sequence[str]) -> str:
    """A readable block: the case name, then each mismatch, indented."""
    lines = [f"{name}: {len(problems)} expectation(s) not met"]
    for problem in problems:
        first, *rest = problem.split("\n")
        lines.append(f"  - {first}")
        lines.extend(f"    {line}" for line in rest)
    return "\n".join(lines)
