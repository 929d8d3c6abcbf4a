"""Derivation hashes: the ``.drv`` path, ``hashDerivationModulo`` and output paths.

* The drv path is a text path named ``<name>.drv`` whose contents are the ATerm and whose
  references are the input sources and input derivation paths.
* ``hashDerivationModulo`` of a fixed-output derivation is
  ``sha256("fixed:out:<r:?><algo>:<hex>:<out path>")``; of any other derivation, the SHA-256 of
  its ATerm with each input derivation path replaced by the lower-hex hashDerivationModulo of
  that input (which needs the input derivations: pass a *resolver*).
* Input-addressed output paths use the hashDerivationModulo of the derivation with all output
  paths and their env entries blanked; fixed-output paths depend on the declared hash only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, MutableMapping
from pathlib import Path

from pytest_snixbuild.nix.aterm import parse_derivation, write_derivation
from pytest_snixbuild.nix.derivation import Derivation, DerivationError
from pytest_snixbuild.nix.pathhash import (
    fixed_output_path,
    input_addressed_output_path,
    output_path_name,
    text_path,
)
from pytest_snixbuild.nix.storepath import StorePath

#: looks up an input derivation by its ``.drv`` store path
DerivationResolver = Callable[[StorePath], Derivation]


def derivation_path(drv: Derivation, name: str | None = None) -> StorePath:
    """The store path of the ``.drv`` file holding ``drv`` (``name`` defaults to ``drv.name``)."""
    drv_name = name if name is not None else drv.name
    references = [*drv.input_sources, *drv.input_derivations]
    return text_path(f"{drv_name}.drv", write_derivation(drv), references)


def fod_digest(drv: Derivation) -> bytes | None:
    """For a fixed-output derivation, ``sha256("fixed:out:<r:?><algo>:<hex>:<out path>")``."""
    out = drv.fixed_output
    if out is None or out.ca is None:
        return None
    path = out.path.to_absolute() if out.path is not None else ""
    text = f"fixed:out:{out.ca.mode_prefix}{out.ca.algo}:{out.ca.hex}:{path}"
    return hashlib.sha256(text.encode()).digest()


def hash_derivation_modulo(
    drv: Derivation,
    resolve: DerivationResolver,
    cache: MutableMapping[StorePath, bytes] | None = None,
) -> bytes:
    """Nix's ``hashDerivationModulo`` of ``drv`` as it is (output paths included).

    ``resolve`` is called for each input derivation (recursively); ``cache`` may be shared
    between calls to avoid hashing an input twice.
    """
    fixed = fod_digest(drv)
    if fixed is not None:
        return fixed
    memo: MutableMapping[StorePath, bytes] = {} if cache is None else cache
    replacements: dict[str, tuple[str, ...]] = {}
    for drv_path, names in drv.input_derivations.items():
        digest = memo.get(drv_path)
        if digest is None:
            digest = hash_derivation_modulo(resolve(drv_path), resolve, memo)
            memo[drv_path] = digest
        # like Nix (insert_or_assign), a later input with the same hash replaces an earlier one
        replacements[digest.hex()] = names
    return hashlib.sha256(write_derivation(drv, replacements)).digest()


def compute_output_paths(
    drv: Derivation,
    resolve: DerivationResolver,
    name: str | None = None,
    cache: MutableMapping[StorePath, bytes] | None = None,
) -> dict[str, StorePath]:
    """What every output's path must be, from the derivation's inputs and declared hashes."""
    drv_name = name if name is not None else drv.name
    paths: dict[str, StorePath] = {}
    blank_modulo: bytes | None = None
    for out_name, out in drv.outputs.items():
        if out.ca is not None:
            paths[out_name] = fixed_output_path(output_path_name(drv_name, out_name), out.ca)
            continue
        if blank_modulo is None:
            blank_modulo = hash_derivation_modulo(drv.with_blank_outputs(), resolve, cache)
        paths[out_name] = input_addressed_output_path(drv_name, out_name, blank_modulo)
    return paths


def fill_output_paths(
    drv: Derivation, resolve: DerivationResolver, name: str | None = None
) -> Derivation:
    """``drv`` with its output paths (and their env entries) computed and filled in."""
    return drv.with_output_paths(compute_output_paths(drv, resolve, name))


def check_output_paths(
    drv: Derivation, resolve: DerivationResolver, name: str | None = None
) -> None:
    """Raise :class:`DerivationError` unless every output path (and its env entry, when there
    is one) is what the derivation's inputs give."""
    for out_name, expected in compute_output_paths(drv, resolve, name).items():
        actual = drv.outputs[out_name].path
        if actual != expected:
            shown = actual.to_absolute() if actual is not None else "no path"
            raise DerivationError(
                f"output {out_name!r} has {shown}, but its inputs give {expected.to_absolute()}"
            )
        env_value = drv.environment.get(out_name)
        if env_value is not None and env_value != expected.to_absolute().encode():
            raise DerivationError(
                f"env {out_name!r} is {env_value!r}, expected the output path "
                f"{expected.to_absolute()}"
            )


def no_input_derivations(path: StorePath) -> Derivation:
    """A resolver for derivations that have no input derivations: any call is an error."""
    raise DerivationError(
        f"input derivation {path.to_absolute()} is needed, but no way to load derivations was given"
    )


def resolver_from_store_dir(store_dir: Path) -> DerivationResolver:
    """A caching resolver that reads ``<store_dir>/<basename>`` and parses it."""
    loaded: dict[StorePath, Derivation] = {}

    def resolve(path: StorePath) -> Derivation:
        drv = loaded.get(path)
        if drv is None:
            file = store_dir / path.basename
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise DerivationError(
                    f"cannot read input derivation {file}: {exc.strerror or exc}"
                ) from exc
            drv = parse_derivation(data, str(file))
            loaded[path] = drv
        return drv

    return resolve
