"""snix's BuildRequest validation rules (spec §3.3), applied to our model in snix's order.

:func:`validate_request` checks, in this order, and reports the first failure only:

1. ``inputs``: every node is well formed and every name is a valid path component (UTF-8 here),
   names strictly increasing by bytes;
2. ``working_dir`` is a clean relative path;
3. every ``scratch_paths`` entry is clean relative, then the list is sorted (duplicates pass);
4. ``inputs_dir`` is clean relative;
5. every ``outputs`` entry is clean relative, then the list is sorted (duplicates pass);
6. every environment variable: key non-empty, without ``=`` and NUL, value without NUL; then the
   keys are sorted (duplicate keys pass);
7. ``constraints`` (when present): ``system`` non-empty, every ``available_ro_paths`` entry clean
   absolute, then that list sorted;
8. every ``additional_files`` path is clean relative, then the list is sorted by path.

The checks a Python model needs on top of snix's (snix gets them from its types) are folded into
the step of the field they belong to: node sizes and ``min_memory`` must fit in a u64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.nodes import (
    MAX_NAME_LEN,
    MAX_TARGET_LEN,
    U64_MAX,
    DirectoryNode,
    FileNode,
    InvalidSymlinkTargetError,
    SymlinkNode,
    name_problem,
    validate_symlink_target,
)
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.request.model import BuildRequest

#: a field inside a message: names and list indices, e.g. ("environment_vars", 3, "key")
FieldPath = tuple[str | int, ...]


def field_text(path: FieldPath) -> str:
    """``("environment_vars", 3, "key")`` -> ``environment_vars[3].key``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class FieldError(SnixError):
    """A field of a message has a value that breaks a rule.

    ``field`` is the field as text (``scratch_paths[1]``), ``location`` the same as a tuple,
    ``value`` the offending value, ``reason`` what is wrong with it and ``expected`` what was
    expected instead. ``snix_error`` names the error snix reports for the same input
    (``InvalidScratchPath(1)``), so conformance tests can compare error kinds.
    """

    def __init__(
        self,
        location: FieldPath,
        value: object,
        reason: str,
        expected: str,
        snix_error: str = "",
    ) -> None:
        self.location = location
        self.field = field_text(location)
        self.value = value
        self.reason = reason
        self.expected = expected
        self.snix_error = snix_error
        super().__init__(f"{self.field}: {reason} (expected {expected})")


class RequestValidationError(FieldError):
    """A BuildRequest breaks one of snix's validation rules (spec §3.3)."""


# --------------------------------------------------------------------------------------------
# clean paths


def _clean_components(p: str) -> bool:
    return all(c not in ("", ".", "..") for c in p.split("/"))


def is_clean_relative(p: str) -> bool:
    """snix's clean relative path: ``""``, or ``/``-separated components that are all non-empty
    and neither ``.`` nor ``..`` (so no leading or trailing ``/`` and no ``//``)."""
    return p == "" or _clean_components(p)


def is_clean_absolute(p: str) -> bool:
    """snix's clean absolute path: ``/``, or one leading ``/`` followed by a clean relative path
    that is not empty."""
    return p == "/" or (p.startswith("/") and _clean_components(p[1:]))


def path_problem(p: str, *, absolute: bool = False) -> str:
    """Why ``p`` is not a clean path, e.g. ``'a//b' contains '//'`` (assuming it is not)."""
    return f"{p!r} {_path_problem(p, absolute=absolute)}"


def _path_problem(p: str, *, absolute: bool) -> str:
    if absolute and not p.startswith("/"):
        return "is not absolute"
    if not absolute and p.startswith("/"):
        return "is absolute"
    body = p[1:] if absolute else p
    parts = body.split("/")
    if body.endswith("/"):
        return "ends with '/'"
    if "" in parts:
        return "contains '//'"
    if "." in parts:
        return "contains a '.' component"
    return "contains a '..' component"


CLEAN_RELATIVE = (
    "a clean relative path: '/'-separated names, no leading or trailing '/', no '//', '.' or '..'"
)
CLEAN_ABSOLUTE = "a clean absolute path: '/' followed by '/'-separated names, no '//', '.' or '..'"


def _check_relative(location: FieldPath, p: str, snix_error: str) -> None:
    if not is_clean_relative(p):
        raise RequestValidationError(location, p, path_problem(p), CLEAN_RELATIVE, snix_error)


def _check_absolute(location: FieldPath, p: str, snix_error: str) -> None:
    if not is_clean_absolute(p):
        raise RequestValidationError(
            location, p, path_problem(p, absolute=True), CLEAN_ABSOLUTE, snix_error
        )


def _check_sorted(
    field: str,
    items: Sequence[Any],
    key: Callable[[Any], bytes],
    what: str,
    snix_error: str,
    subfield: str | None = None,
) -> None:
    """Non-strict sort check by bytes (duplicates pass), as snix does."""
    for i in range(1, len(items)):
        prev, cur = key(items[i - 1]), key(items[i])
        if cur < prev:
            location: FieldPath = (field, i) if subfield is None else (field, i, subfield)
            shown_cur = cur.decode("utf-8", "backslashreplace")
            shown_prev = prev.decode("utf-8", "backslashreplace")
            raise RequestValidationError(
                location,
                items[i],
                f"{shown_cur!r} sorts before {shown_prev!r} at {field}[{i - 1}]",
                f"{what} sorted by bytes; duplicates are allowed",
                snix_error,
            )


def _utf8(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


# --------------------------------------------------------------------------------------------
# the steps, in snix's order


def check_input_node(location: FieldPath, node: object) -> None:
    """A node is one of our node types, with a 32-byte digest and sizes that fit in a u64."""
    if isinstance(node, SymlinkNode):
        try:
            validate_symlink_target(node.target)
        except InvalidSymlinkTargetError as exc:
            raise RequestValidationError(
                location,
                node.target,
                str(exc),
                f"a target of 1 to {MAX_TARGET_LEN} bytes without NUL",
                f"InvalidInputNode({location[-1]}, InvalidSymlinkTarget)",
            ) from exc
        return
    if not isinstance(node, FileNode | DirectoryNode):
        raise RequestValidationError(
            location,
            node,
            f"{type(node).__name__} is not a castore node",
            "a FileNode, DirectoryNode or SymlinkNode",
            f"InvalidInputNode({location[-1]})",
        )
    if not isinstance(node.digest, B3Digest):
        raise RequestValidationError(
            location, node, "the digest is not a B3Digest", "a 32-byte BLAKE3 digest"
        )
    if not isinstance(node.size, int) or not 0 <= node.size <= U64_MAX:
        raise RequestValidationError(
            location,
            node.size,
            f"size {node.size!r} does not fit in a u64",
            f"an integer from 0 to {U64_MAX}",
            f"InvalidInputNode({location[-1]})",
        )


def check_input_name(index: int, name: str) -> None:
    problem = name_problem(_utf8(name))
    if problem is None:
        return
    why = {
        "Empty": "is empty",
        "Parent": "is '..'",
        "CurDir": "is '.'",
        "TooLong": f"is {len(_utf8(name))} bytes long",
        "Null": "contains NUL",
        "Slashes": "contains '/'",
    }[problem]
    raise RequestValidationError(
        ("inputs", index),
        name,
        f"invalid input name {name!r}: it {why}",
        f"a single path component of 1 to {MAX_NAME_LEN} bytes, not '.' or '..', "
        "without '/' or NUL",
        f"InvalidInputNode({index}, InvalidName({problem}))",
    )


def _check_inputs(req: BuildRequest) -> None:
    prev = b""
    for i, (name, node) in enumerate(req.inputs.items()):
        check_input_node(("inputs", i), node)
        check_input_name(i, name)
        cur = _utf8(name)
        if cur <= prev:
            raise RequestValidationError(
                ("inputs", i),
                name,
                f"input name {name!r} does not sort after the previous one",
                "input names strictly increasing by bytes (no duplicates)",
                "InputNodesNotSorted",
            )
        prev = cur


def _check_scratch_paths(req: BuildRequest) -> None:
    for i, p in enumerate(req.scratch_paths):
        _check_relative(("scratch_paths", i), p, f"InvalidScratchPath({i})")
    _check_sorted(
        "scratch_paths", req.scratch_paths, _utf8, "scratch_paths", "ScratchPathsNotSorted"
    )


def _check_outputs(req: BuildRequest) -> None:
    for i, p in enumerate(req.outputs):
        _check_relative(("outputs", i), p, f"InvalidOutputPath({i})")
    _check_sorted("outputs", req.outputs, _utf8, "outputs", "OutputsNotSorted")


def _check_environment_vars(req: BuildRequest) -> None:
    expected_key = "a non-empty key without '=' or NUL"
    for i, env in enumerate(req.environment_vars):
        snix_error = f"InvalidEnvVar({i})"
        if env.key == "":
            raise RequestValidationError(
                ("environment_vars", i, "key"),
                env.key,
                "the key is empty",
                expected_key,
                snix_error,
            )
        if "=" in env.key:
            raise RequestValidationError(
                ("environment_vars", i, "key"),
                env.key,
                f"the key {env.key!r} contains '='",
                expected_key,
                snix_error,
            )
        if "\0" in env.key:
            raise RequestValidationError(
                ("environment_vars", i, "key"),
                env.key,
                f"the key {env.key!r} contains NUL",
                expected_key,
                snix_error,
            )
        if b"\0" in env.value:
            raise RequestValidationError(
                ("environment_vars", i, "value"),
                env.value,
                f"the value of {env.key!r} contains NUL",
                "a value without NUL bytes",
                snix_error,
            )
    _check_sorted(
        "environment_vars",
        req.environment_vars,
        lambda e: _utf8(e.key),
        "environment variables",
        "EnvVarNotSorted",
        subfield="key",
    )


def _check_constraints(req: BuildRequest) -> None:
    c = req.constraints
    if c is None:
        return
    if c.system == "":
        raise RequestValidationError(
            ("constraints", "system"),
            c.system,
            "the system is empty",
            "a system such as 'x86_64-linux'",
            "InvalidBuildConstraints(InvalidSystem)",
        )
    if not isinstance(c.min_memory, int) or not 0 <= c.min_memory <= U64_MAX:
        raise RequestValidationError(
            ("constraints", "min_memory"),
            c.min_memory,
            f"{c.min_memory!r} does not fit in a u64",
            f"a number of bytes from 0 to {U64_MAX}",
        )
    for i, p in enumerate(c.available_ro_paths):
        _check_absolute(
            ("constraints", "available_ro_paths", i), p, f"InvalidAvailableRoPaths({i})"
        )
    for i in range(1, len(c.available_ro_paths)):
        prev, cur = c.available_ro_paths[i - 1], c.available_ro_paths[i]
        if _utf8(cur) < _utf8(prev):
            raise RequestValidationError(
                ("constraints", "available_ro_paths", i),
                cur,
                f"{cur!r} sorts before {prev!r} at constraints.available_ro_paths[{i - 1}]",
                "available_ro_paths sorted by bytes; duplicates are allowed",
                "AvailableRoPathsNotSorted",
            )


def _check_additional_files(req: BuildRequest) -> None:
    for i, f in enumerate(req.additional_files):
        _check_relative(("additional_files", i, "path"), f.path, f"InvalidAdditionalFilePath({i})")
    _check_sorted(
        "additional_files",
        req.additional_files,
        lambda f: _utf8(f.path),
        "additional_files",
        "AdditionalFilesNotSorted",
        subfield="path",
    )


def check_working_dir(req: BuildRequest) -> None:
    _check_relative(("working_dir",), req.working_dir, "InvalidWorkingDir")


def check_inputs_dir(req: BuildRequest) -> None:
    _check_relative(("inputs_dir",), req.inputs_dir, "InvalidInputsDir")


#: steps 2-8 of snix's order (step 1, the inputs, is done while decoding when decoding bytes)
STEPS_AFTER_INPUTS: tuple[Callable[[BuildRequest], None], ...] = (
    check_working_dir,
    _check_scratch_paths,
    check_inputs_dir,
    _check_outputs,
    _check_environment_vars,
    _check_constraints,
    _check_additional_files,
)


def validate_request(req: BuildRequest) -> None:
    """Raise :class:`RequestValidationError` for the first rule ``req`` breaks, in snix's order."""
    _check_inputs(req)
    for step in STEPS_AFTER_INPUTS:
        step(req)
