"""Names of the scratch directories inside a bundle, exactly as snix computes them."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import blake3

from pytest_snixbuild.castore.nodes import SymlinkNode
from pytest_snixbuild.request.model import BuildRequest


def scratch_name(path: str) -> str:
    """The directory name of scratch path ``path`` under ``<bundle>/scratch/``.

    It is RFC 4648 base32 (upper case, ``=``-padded, always 56 characters) of the BLAKE3 digest of
    the path as given (for example ``build`` or ``nix/store``). snix's source comment says
    "lower hex"; the code uses base32, and so do we.
    """
    return base64.b32encode(blake3.blake3(path.encode("utf-8")).digest()).decode("ascii")


def components(path: str) -> list[str]:
    """The ``/``-separated components of a clean relative path (``""`` has none)."""
    return [part for part in path.split("/") if part]


def scratch_location(scratch_paths: Sequence[str], path: str) -> tuple[str, list[str]] | None:
    """Which scratch path holds ``path`` inside the container, and the rest of it below there.

    Scratch paths are searched from last to first and the first component-wise prefix wins
    (``nix/sto`` is no prefix of ``nix/store/x``): runc mounts them in order, so that one is on
    top. None when ``path`` lies under no scratch path.
    """
    parts = components(path)
    for scratch_path in reversed(scratch_paths):
        prefix = components(scratch_path)
        if parts[: len(prefix)] == prefix:
            return scratch_path, parts[len(prefix) :]
    return None


def symlink_input_locations(request: BuildRequest) -> dict[str, tuple[str, list[str]]]:
    """Symlink inputs that are written into a scratch directory instead of being bind-mounted.

    A bind mount follows its source: runc would resolve a symlink input's target on the *host*
    (where ``/nix/store/...`` usually does not exist) and fail. So a symlink input whose place
    (``inputs_dir/name``) lies under a scratch path is created as a symlink there; see
    docs/oci-spec.md. Name → (scratch path, components of its place below that scratch path).
    """
    result: dict[str, tuple[str, list[str]]] = {}
    for name, node in sorted(request.inputs.items()):
        if not isinstance(node, SymlinkNode):
            continue
        where = scratch_location(request.scratch_paths, f"{request.inputs_dir}/{name}".lstrip("/"))
        if where is not None:
            result[name] = where
    return result
