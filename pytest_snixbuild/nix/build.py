"""Building a derivation in the sandbox and reporting its outputs as Nix would register them.

:func:`build_derivation` reads a ``.drv`` file, ingests its input closure from a Nix store
directory into the castore, turns it into a BuildRequest, builds it with an engine and reports,
for each output (in output-name order):

* its store path, the sha256 of its NAR and the NAR's size (what ``nix-store -q --hash`` and
  ``nix path-info`` show);
* its references: the store paths whose hash parts the output contains, mapped back from the
  refscan needles (sorted; a self-reference is included, as Nix does).

A fixed-output derivation's output is then checked against the declared hash (flat: the file's
contents; recursive: the NAR) and must not refer to any store path; a mismatch is a
:class:`HashMismatchError` worded as Nix words it. With ``check=True`` the derivation is built a
second time and the two results are compared as ``nix-build --check`` does, except that a
:class:`NonDeterministicError` names every file that differs.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_snixbuild.castore.nar import iter_nar, nar_hash
from pytest_snixbuild.castore.nodes import FileNode, Node
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.engine.service import BuildService
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.nix.aterm import parse_derivation
from pytest_snixbuild.nix.closure import ClosureFinder, ReferenceMode, input_closure
from pytest_snixbuild.nix.derivation import Derivation, DerivationError
from pytest_snixbuild.nix.hashes import NixHash
from pytest_snixbuild.nix.hashing import derivation_path
from pytest_snixbuild.nix.storepath import StorePath, StorePathError
from pytest_snixbuild.nix.to_request import derivation_to_build_request, needle_store_paths
from pytest_snixbuild.nix.tree_diff import TreeDifference, diff_trees
from pytest_snixbuild.request.model import BuildOutput, BuildRequest, BuildResult

__all__ = [
    "DerivationBuildResult",
    "DerivationFileError",
    "DerivationOutput",
    "FixedOutputError",
    "HashMismatchError",
    "NonDeterministicError",
    "build_derivation",
    "compare_builds",
    "derivation_request",
    "describe_outputs",
    "read_derivation_file",
    "verify_fixed_output",
]


class DerivationFileError(DerivationError):
    """A ``.drv`` file cannot be read."""


class HashMismatchError(SnixError):
    """A fixed-output derivation produced an output whose hash is not the declared one.

    The message is Nix 2.8's word for word (SRI hashes, aligned), and so is the exit status
    (102)."""

    exit_status = 102

    def __init__(self, drv_path: StorePath, specified: NixHash, got: NixHash) -> None:
        self.drv_path = drv_path
        self.specified = specified
        self.got = got
        super().__init__(
            f"hash mismatch in fixed-output derivation '{drv_path.to_absolute()}':\n"
            f"  specified: {specified.sri}\n"
            f"     got:    {got.sri}"
        )


class FixedOutputError(SnixError):
    """A fixed-output derivation's output has the wrong shape or refers to store paths."""

    exit_status = 100


class NonDeterministicError(SnixError):
    """Two builds of the same derivation gave different outputs (``--check``).

    ``differences`` maps each differing output's store path to what differs in it. Nix exits
    with status 104 in this case, and so does ``snixbuild drv build --check``."""

    exit_status = 104

    def __init__(
        self, drv_path: StorePath, differences: Mapping[StorePath, Sequence[TreeDifference]]
    ) -> None:
        self.drv_path = drv_path
        self.differences = dict(differences)
        parts = []
        for path, found in differences.items():
            parts.append(
                f"derivation '{drv_path.to_absolute()}' may not be deterministic: output "
                f"'{path.to_absolute()}' differs:"
            )
            parts.extend(f"  {difference}" for difference in found)
        super().__init__("\n".join(parts))


@dataclass(frozen=True, slots=True)
class DerivationOutput:
    """One built output, with what Nix would register for it."""

    name: str
    path: StorePath
    node: Node
    nar_hash: NixHash
    nar_size: int
    #: store paths the output refers to, sorted (a self-reference included)
    references: tuple[StorePath, ...]

    def to_json(self) -> dict[str, Any]:
        """``{"name", "path", "nar_hash": "sha256:<nixbase32>", "nar_size", "references"}``."""
        return {
            "name": self.name,
            "path": self.path.to_absolute(),
            "nar_hash": self.nar_hash.to_nix32(),
            "nar_size": self.nar_size,
            "references": [ref.to_absolute() for ref in self.references],
        }


@dataclass(frozen=True, slots=True)
class DerivationBuildResult:
    """A built derivation: its outputs in output-name order, and the build behind them."""

    drv_path: StorePath
    derivation: Derivation
    request: BuildRequest
    outputs: tuple[DerivationOutput, ...]
    result: BuildResult

    def output(self, name: str) -> DerivationOutput:
        for output in self.outputs:
            if output.name == name:
                return output
        known = ", ".join(o.name for o in self.outputs)
        raise KeyError(f"no output {name!r} (the outputs are {known})")

    def to_json(self) -> list[dict[str, Any]]:
        return [output.to_json() for output in self.outputs]


def read_derivation_file(file: Path | str) -> tuple[Derivation, StorePath]:
    """Parse a ``.drv`` file. Its store path is its file name when that is a store path
    basename, else the path computed from its contents."""
    file = Path(file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise DerivationFileError(
            f"{file}: cannot read: {exc.strerror} (expected a derivation .drv file)"
        ) from None
    drv = parse_derivation(data, str(file))
    try:
        path = StorePath.from_basename(file.name)
    except StorePathError:
        path = derivation_path(drv)
    return drv, path


def derivation_request(drv: Derivation, inputs: Mapping[StorePath, Node]) -> BuildRequest:
    """:func:`~pytest_snixbuild.nix.to_request.derivation_to_build_request`, with the outputs
    sorted by path.

    snix lists the outputs in output-name order, which breaks the "outputs are sorted" rule
    its own protobuf validation (and so our engine) enforces for most multi-output derivations;
    the order of ``outputs`` carries no meaning (the needles keep output-name order).
    """
    request = derivation_to_build_request(drv, inputs)
    return dataclasses.replace(request, outputs=tuple(sorted(request.outputs)))


def _references(output: BuildOutput, needle_paths: Sequence[StorePath]) -> tuple[StorePath, ...]:
    found = {needle_paths[i] for i in output.needles}
    return tuple(sorted(found, key=lambda p: p.to_absolute()))


def describe_outputs(
    drv: Derivation, needle_paths: Sequence[StorePath], result: BuildResult, store: Store
) -> tuple[DerivationOutput, ...]:
    """What Nix would register for each output of ``result``, in output-name order.

    ``needle_paths`` is :func:`~pytest_snixbuild.nix.to_request.needle_store_paths` of the
    request that was built."""
    built = {output.path: output for output in result.outputs}
    described = []
    for name, path in drv.output_paths().items():
        output = built.get(path.to_absolute().lstrip("/"))
        if output is None:
            raise DerivationError(
                f"the build result has no output {path.to_absolute()} (output {name!r})"
            )
        digest, size = nar_hash(output.node, store)
        described.append(
            DerivationOutput(
                name=name,
                path=path,
                node=output.node,
                nar_hash=NixHash("sha256", digest),
                nar_size=size,
                references=_references(output, needle_paths),
            )
        )
    return tuple(described)


def _recursive_hash(algo: str, node: Node, store: Store) -> NixHash:
    hasher = hashlib.new(algo)
    for chunk in iter_nar(node, store):
        hasher.update(chunk)
    return NixHash(algo, hasher.digest())


def _flat_hash(algo: str, node: FileNode, store: Store) -> NixHash:
    hasher = hashlib.new(algo)
    with store.blobs.open_read(node.digest) as blob:
        while chunk := blob.read(1 << 20):
            hasher.update(chunk)
    return NixHash(algo, hasher.digest())


def verify_fixed_output(
    drv: Derivation, drv_path: StorePath, output: DerivationOutput, store: Store
) -> None:
    """Check a fixed-output derivation's output as Nix does; nothing to do for other outputs.

    Raises :class:`FixedOutputError` for a flat output that is not a non-executable regular
    file or for an output with references, and :class:`HashMismatchError` for a wrong hash.
    """
    fixed = drv.fixed_output
    if fixed is None or fixed.ca is None or output.name != "out":
        return
    ca = fixed.ca
    where = output.path.to_absolute()
    if ca.method == "flat":
        node = output.node
        if not isinstance(node, FileNode) or node.executable:
            raise FixedOutputError(
                f"output path '{where}' should be a non-executable regular file since "
                f"recursive hashing is not enabled (outputHashMode=flat); the build made "
                f"{'an executable file' if isinstance(node, FileNode) else 'a ' + node.kind}"
            )
        got = _flat_hash(ca.algo, node, store)
    else:
        got = _recursive_hash(ca.algo, output.node, store)
    if got != ca.hash:
        raise HashMismatchError(drv_path, ca.hash, got)
    if output.references:
        shown = ", ".join(ref.to_absolute() for ref in output.references)
        raise FixedOutputError(
            f"illegal path references in fixed-output derivation '{drv_path.to_absolute()}': "
            f"its output refers to {shown} (a fixed output must not refer to store paths)"
        )


def compare_builds(
    drv_path: StorePath,
    first: Sequence[DerivationOutput],
    second: Sequence[DerivationOutput],
    store: Store,
) -> None:
    """Raise :class:`NonDeterministicError` unless both builds gave the same outputs."""
    differences: dict[StorePath, list[TreeDifference]] = {}
    for a, b in zip(first, second, strict=True):
        if a.node != b.node:
            differences[a.path] = diff_trees(a.node, b.node, store)
    if differences:
        raise NonDeterministicError(drv_path, differences)


def build_derivation(
    drv_path: Path | str,
    store_dir: Path | str,
    engine: BuildService,
    castore: Store,
    *,
    check: bool = False,
    references: ReferenceMode | ClosureFinder = "auto",
) -> DerivationBuildResult:
    """Build the derivation in the file ``drv_path`` with ``engine``.

    The inputs (input sources, selected outputs of input derivations, their runtime closure)
    are read from the Nix store directory ``store_dir`` and ingested into ``castore``, which
    must be the store the engine serves inputs from and ingests outputs into. ``references``
    says how the inputs' closure is found (see
    :func:`~pytest_snixbuild.nix.closure.input_closure`). With ``check``, the derivation is
    built twice and must give the same outputs both times.
    """
    drv, drv_store_path = read_derivation_file(drv_path)
    inputs = input_closure(drv, Path(store_dir), castore, references=references)
    request = derivation_request(drv, inputs)
    needle_paths = needle_store_paths(drv, inputs)
    result = engine.build(request)
    outputs = describe_outputs(drv, needle_paths, result, castore)
    for output in outputs:
        verify_fixed_output(drv, drv_store_path, output, castore)
    if check:
        again = describe_outputs(drv, needle_paths, engine.build(request), castore)
        compare_builds(drv_store_path, outputs, again, castore)
    return DerivationBuildResult(drv_store_path, drv, request, outputs, result)
