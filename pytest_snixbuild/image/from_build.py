"""The store paths of an image from a finished build: its outputs and their runtime closure.

A build's outputs know their references as needle indices (``BuildOutput.needles``, indices into
``BuildRequest.refscan_needles``); each needle is the hash part of a store path. The store paths
are:

* an output ``nix/store/<hash>-name`` -> ``/nix/store/<hash>-name``;
* an input named ``<hash>-name`` under ``inputs_dir`` -> ``/<inputs_dir>/<hash>-name``.

The inputs' own references are not part of the result, so they are found as Nix finds them: by
scanning each input's file contents and symlink targets (streamed from the castore, with snix's
scanning rules) for the hash parts of every input and output. The image holds every output plus
every input reachable from them; ``all_inputs`` adds the other inputs too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pytest_snixbuild.castore.errors import CastoreError
from pytest_snixbuild.castore.nodes import FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.refscan import ReferencePattern, ReferenceScanner
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.image.api import ImageInput
from pytest_snixbuild.image.errors import ImageInputError
from pytest_snixbuild.request.model import BuildRequest, BuildResult

#: ``<32 nixbase32 characters>-``: a store path basename's hash part
HASH_PART = re.compile(r"([0-9abcdfghijklmnpqrsvwxyz]{32})-")


def hash_part(store_path: str) -> str | None:
    """The 32-character hash of ``…/<hash>-name``, or None when the basename has none."""
    match = HASH_PART.match(store_path.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def input_store_path(request: BuildRequest, name: str) -> str:
    return "/" + request.inputs_dir.strip("/") + "/" + name


def scan_references(node: Node, store: Store, pattern: ReferencePattern) -> tuple[int, ...]:
    """Needle indices found in a castore tree (file contents and symlink targets)."""
    scanner = ReferenceScanner(pattern)
    try:
        for _, child in store.walk(node):
            if isinstance(child, FileNode):
                with store.blobs.open_read(child.digest) as f:
                    scanner.scan_stream(f)
            elif isinstance(child, SymlinkNode):
                scanner.scan_symlink_target(child.target)
    except CastoreError as exc:
        raise ImageInputError(f"cannot scan a build input for references: {exc}") from exc
    return scanner.matches()


def image_inputs_from_build(
    request: BuildRequest, result: BuildResult, store: Store, *, all_inputs: bool = False
) -> list[ImageInput]:
    """The outputs of ``result`` (in request order) and the inputs they need (sorted)."""
    outputs = {"/" + o.path.strip("/"): o for o in result.outputs}
    inputs: dict[str, Node] = {input_store_path(request, n): v for n, v in request.inputs.items()}
    by_hash: dict[str, str] = {}
    for path in [*outputs, *inputs]:
        h = hash_part(path)
        if h is not None:
            by_hash.setdefault(h, path)
    needle_paths: list[str | None] = [by_hash.get(n) for n in request.refscan_needles]

    references: dict[str, frozenset[str]] = {}
    for path, output in outputs.items():
        refs = set()
        for i in output.needles:
            target = needle_paths[i] if i < len(needle_paths) else None
            if target is None:
                raise ImageInputError(
                    f"output {path} refers to needle {i} "
                    f"({request.refscan_needles[i] if i < len(needle_paths) else '?'}), which is "
                    "the hash of neither an output nor an input of the request: the image would "
                    "miss it"
                )
            refs.add(target)
        references[path] = frozenset(refs)

    universe = sorted(by_hash)
    pattern = ReferencePattern(universe) if universe else None

    def input_refs(path: str) -> frozenset[str]:
        if pattern is None:
            return frozenset()
        return frozenset(
            by_hash[universe[i]] for i in scan_references(inputs[path], store, pattern)
        )

    wanted = list(outputs) + (sorted(inputs) if all_inputs else [])
    queue = list(wanted)
    seen = set(queue)
    while queue:
        path = queue.pop()
        if path not in references:
            references[path] = input_refs(path)
        for ref in sorted(references[path]):
            if ref not in seen:
                seen.add(ref)
                queue.append(ref)
    nodes: Mapping[str, Node] = {**inputs, **{p: o.node for p, o in outputs.items()}}
    order = list(outputs) + sorted(p for p in seen if p not in outputs)
    return [ImageInput(p, nodes[p], references[p]) for p in order]
