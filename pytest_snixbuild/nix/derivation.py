"""The derivation model (snix's ``nix_compat::derivation::Derivation``) and its validation.

A :class:`Derivation` is a frozen value. Its containers are normalised on construction to the
order the ATerm form uses: outputs and environment sorted by name (environment keys by their
UTF-8 bytes), input derivations and input sources in store-path order, the output names of each
input derivation sorted. Environment values are raw bytes (Nix allows any bytes there); every
other string is text.

Parsing and writing live in :mod:`~pytest_snixbuild.nix.aterm` (the ``.drv`` form) and
:mod:`~pytest_snixbuild.nix.derivation_json` (the JSON forms).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.nix.cahash import CAHash
from pytest_snixbuild.nix.storepath import StorePath, name_problem, store_path_key


class DerivationError(SnixError):
    """A derivation cannot be parsed, is not valid, or cannot be used as asked."""


@dataclass(frozen=True, slots=True)
class Output:
    """One output: its store path (None while it is being computed) and, for fixed-output
    derivations, the content hash it must have."""

    path: StorePath | None
    ca: CAHash | None = None

    @property
    def is_fixed(self) -> bool:
        return self.ca is not None


def _env_key(item: tuple[str, bytes]) -> bytes:
    return item[0].encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Derivation:
    """A Nix derivation, as stored in a ``.drv`` file."""

    outputs: Mapping[str, Output]
    input_derivations: Mapping[StorePath, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    input_sources: tuple[StorePath, ...] = ()
    system: str = ""
    builder: str = ""
    arguments: tuple[str, ...] = ()
    environment: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        outputs = dict(sorted(self.outputs.items()))
        inputs = {
            path: tuple(sorted(set(names)))
            for path, names in sorted(
                self.input_derivations.items(), key=lambda kv: store_path_key(kv[0])
            )
        }
        env = dict(sorted(self.environment.items(), key=_env_key))
        object.__setattr__(self, "outputs", MappingProxyType(outputs))
        object.__setattr__(self, "input_derivations", MappingProxyType(inputs))
        object.__setattr__(
            self, "input_sources", tuple(sorted(self.input_sources, key=store_path_key))
        )
        object.__setattr__(self, "arguments", tuple(self.arguments))
        object.__setattr__(self, "environment", MappingProxyType(env))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Derivation):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[object, ...]:
        return (
            tuple(self.outputs.items()),
            tuple(self.input_derivations.items()),
            self.input_sources,
            self.system,
            self.builder,
            self.arguments,
            tuple(self.environment.items()),
        )

    # Convenience wrappers around the format modules ----------------------------------------
    @classmethod
    def from_aterm(cls, data: bytes, source: str = "derivation") -> Derivation:
        """Parse and validate a ``.drv`` file's bytes (see :func:`.aterm.parse_derivation`)."""
        from pytest_snixbuild.nix.aterm import parse_derivation

        return parse_derivation(data, source)

    def to_aterm(self) -> bytes:
        from pytest_snixbuild.nix.aterm import write_derivation

        return write_derivation(self)

    # Queries --------------------------------------------------------------------------------
    @property
    def fixed_output(self) -> Output | None:
        """The ``out`` output when this is a fixed-output derivation (its only output is ``out``
        and has a hash), else None."""
        if len(self.outputs) != 1:
            return None
        out = self.outputs.get("out")
        return out if out is not None and out.ca is not None else None

    @property
    def is_fixed_output(self) -> bool:
        return self.fixed_output is not None

    @property
    def structured_attrs(self) -> bytes | None:
        """The raw ``__json`` environment value when the derivation uses structuredAttrs."""
        return self.environment.get("__json")

    @property
    def name(self) -> str:
        """The derivation's name: env ``name``, or the ``name`` of its structured attrs."""
        raw = self.environment.get("name")
        if raw is not None:
            try:
                return raw.decode()
            except UnicodeDecodeError as exc:
                raise DerivationError(f"env 'name' is not UTF-8: {raw!r}") from exc
        attrs = self.structured_attrs
        if attrs is not None:
            try:
                value = json.loads(attrs).get("name")
            except (ValueError, AttributeError, RecursionError) as exc:
                raise DerivationError(f"env '__json' is not a JSON object: {exc}") from exc
            if isinstance(value, str):
                return value
        raise DerivationError(
            "derivation has no name: expected an env entry 'name' (or a string 'name' in "
            "the structured attrs '__json')"
        )

    def output_paths(self) -> dict[str, StorePath]:
        """Output name -> store path, for every output that has one, in name order."""
        return {name: out.path for name, out in self.outputs.items() if out.path is not None}

    # Derived derivations --------------------------------------------------------------------
    def with_blank_outputs(self) -> Derivation:
        """This derivation with every output path removed and each output's env entry set to
        ``""``: the form Nix hashes to compute input-addressed output paths."""
        outputs = {name: Output(None, out.ca) for name, out in self.outputs.items()}
        env = dict(self.environment)
        for name in self.outputs:
            env[name] = b""
        return replace(self, outputs=outputs, environment=env)

    def with_output_paths(self, paths: Mapping[str, StorePath]) -> Derivation:
        """This derivation with the given output paths filled in (outputs and env)."""
        outputs = dict(self.outputs)
        env = dict(self.environment)
        for name, path in paths.items():
            outputs[name] = Output(path, outputs[name].ca)
            env[name] = path.to_absolute().encode()
        return replace(self, outputs=outputs, environment=env)

    # Validation -----------------------------------------------------------------------------
    def validate(self, check_output_paths: bool = True) -> Derivation:
        """Check snix's derivation rules; return self or raise :class:`DerivationError`."""
        problems = list(self.problems(check_output_paths))
        if problems:
            raise DerivationError(f"invalid derivation: {problems[0]}")
        return self

    def problems(self, check_output_paths: bool = True) -> Iterable[str]:
        """Every rule this derivation breaks, in snix's order, as readable sentences."""
        if not self.outputs:
            yield "it has no outputs, expected at least one"
        for name, out in self.outputs.items():
            problem = output_name_problem(name)
            if problem is not None:
                yield f"output name {name!r} is invalid: {problem}"
            if out.ca is not None:
                if len(self.outputs) != 1 or name != "out":
                    yield (
                        f"output {name!r} has a fixed hash, but a fixed output must be the only "
                        f"output and be named 'out' (outputs: {', '.join(self.outputs)})"
                    )
                if out.ca.method == "text":
                    yield (
                        f"output {name!r} has a text hash ({out.ca.aterm_algo}), expected a "
                        "flat or recursive (r:) one"
                    )
            if check_output_paths and out.path is None:
                yield f"output {name!r} has no path"
        for drv_path, names in self.input_derivations.items():
            if not drv_path.name.endswith(".drv"):
                yield f"input derivation {drv_path.to_absolute()!r} does not end in '.drv'"
            if not names:
                yield f"input derivation {drv_path.to_absolute()!r} selects no outputs"
            for out_name in names:
                problem = output_name_problem(out_name)
                if problem is not None:
                    yield (
                        f"input derivation {drv_path.to_absolute()!r} selects the invalid "
                        f"output name {out_name!r}: {problem}"
                    )
        if not self.system:
            yield "'system' is empty"
        if not self.builder:
            yield "'builder' is empty"
        if "" in self.environment:
            yield "env has an empty key"


def output_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an output name (empty, ``drv``, or not a store path name)."""
    if name == "drv":
        return "'drv' is reserved"
    return name_problem(name)
