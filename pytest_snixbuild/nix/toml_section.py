"""The ``[derivation]`` section of a TOML case: a case built from a Nix derivation.

::

    [derivation]
    path = "hello.drv"      # the .drv file, relative to the case file (or absolute)
    store = "/nix/store"    # the Nix store directory holding its inputs (the default);
                            # a relative path is relative to the case file

    [expect.outputs.out]    # outputs by output name (their paths work too)
    nar_hash = "sha256:…"
    references = ["/nix/store/…-hello"]

Loading the case ingests the derivation's input closure from ``store`` into the castore and
makes its request (:func:`~pytest_snixbuild.nix.build.derivation_request`). The section tells
``[expect]`` the output names and the store path behind each needle (for ``references``), and a
fixed-output derivation adds a check that every build runs, ``[expect]`` or not: the declared
hash (:func:`~pytest_snixbuild.nix.build.verify_fixed_output`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.nix.build import (
    DerivationFileError,
    derivation_request,
    describe_outputs,
    read_derivation_file,
    verify_fixed_output,
)
from pytest_snixbuild.nix.closure import input_closure
from pytest_snixbuild.nix.derivation import Derivation, DerivationError
from pytest_snixbuild.nix.storepath import STORE_DIR, StorePath
from pytest_snixbuild.nix.to_request import needle_store_paths
from pytest_snixbuild.request.model import BuildResult
from pytest_snixbuild.request.toml_case import SectionResult
from pytest_snixbuild.request.toml_reader import Table, show

__all__ = ["DERIVATION_KEYS", "FixedOutputCheck", "load_derivation_section"]

DERIVATION_KEYS = ("path", "store")


@dataclass(frozen=True)
class FixedOutputCheck:
    """The check a fixed-output derivation case adds: the output has the declared hash and no
    references (a :class:`~pytest_snixbuild.request.toml_case.ResultCheck`)."""

    drv: Derivation
    drv_path: StorePath
    needle_paths: tuple[StorePath, ...]

    def __call__(self, result: BuildResult, store: Store) -> list[str]:
        try:
            for output in describe_outputs(self.drv, self.needle_paths, result, store):
                verify_fixed_output(self.drv, self.drv_path, output, store)
        except SnixError as exc:
            return [str(exc)]
        return []


def _resolve(table: Table, key: str, default: str | None = None) -> Path:
    text = table.string(key) if default is None else table.string(key, default)
    if not text:
        raise table.error(key, "the path is empty", "a path, relative to the case file")
    return table.source.path.parent / text


def load_derivation_section(table: Table, store: Store) -> SectionResult:
    """``[derivation]``: the request that builds the derivation, with what ``[expect]`` needs to
    name its outputs and references."""
    table.check_keys(DERIVATION_KEYS)
    drv_file = _resolve(table, "path")
    store_dir = _resolve(table, "store", STORE_DIR)
    if not drv_file.is_file():
        raise table.error(
            "path",
            f"no such file {show(str(drv_file), 200)}",
            "a derivation (.drv) file, relative to the case file",
        )
    try:
        drv, drv_path = read_derivation_file(drv_file)
    except DerivationFileError as exc:
        raise table.error("path", str(exc), "") from None
    except DerivationError as exc:
        raise table.error("path", f"not a valid derivation: {exc}", "") from None
    if not store_dir.is_dir():
        raise table.error(
            "store",
            f"{show(str(store_dir), 200)} is not a directory",
            "the Nix store directory holding the derivation's inputs, e.g. '/nix/store'",
        )
    try:
        inputs = input_closure(drv, store_dir, store)
    except SnixError as exc:
        raise table.error("store", str(exc), "") from None
    try:
        request = derivation_request(drv, inputs)
        needle_paths = tuple(needle_store_paths(drv, inputs))
    except SnixError as exc:
        raise table.error("path", f"cannot build this derivation: {exc}", "") from None
    output_names = {name: p.to_absolute().lstrip("/") for name, p in drv.output_paths().items()}
    checks = (FixedOutputCheck(drv, drv_path, needle_paths),) if drv.is_fixed_output else ()
    return SectionResult(
        request=request,
        output_names=output_names,
        needle_paths=tuple(p.to_absolute() for p in needle_paths),
        checks=checks,
    )
