"""The BuildRequest model, mirroring snix's ``build.proto`` (package ``snix.build.v1``).

Every container is a tuple (or a read-only mapping for ``inputs``) so that requests are frozen,
hashable values that can be compared, snapshotted and sent across processes.

Field names are exactly the proto's. Differences from snix's Rust model, on purpose:

* ``inputs`` is keyed by ``str`` (store-path basenames in practice); the proto allows any bytes,
  and decoding a non-UTF-8 input name is reported as an error.
* ``constraints`` is one optional message rather than a set: ``None`` means "absent" (no System
  constraint at all), as in the proto.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from pytest_snixbuild.castore.nodes import Node


@dataclass(frozen=True, slots=True)
class EnvVar:
    """One environment variable. Keys are strings without ``=`` or NUL; values are bytes."""

    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class BuildConstraints:
    """What the build needs from the builder."""

    system: str = "x86_64-linux"
    #: bytes of memory the build needs; 0 means no requirement
    min_memory: int = 0
    #: absolute host paths mounted read-only at the same place
    available_ro_paths: tuple[str, ...] = ()
    network_access: bool = False
    #: bind-mount the sandbox shell at /bin/sh
    provide_bin_sh: bool = True


@dataclass(frozen=True, slots=True)
class AdditionalFile:
    """A file written into the bundle before the build (path relative, under ``build/``)."""

    path: str
    contents: bytes


def _frozen_inputs(inputs: Mapping[str, Node]) -> Mapping[str, Node]:
    return MappingProxyType(dict(sorted(inputs.items())))


@dataclass(frozen=True, slots=True)
class BuildRequest:
    """A request for one sandboxed build. See docs/toml-format.md for every field."""

    command_args: tuple[str, ...]
    #: name (a single path component) -> castore node, served under ``inputs_dir``
    inputs: Mapping[str, Node] = field(default_factory=lambda: MappingProxyType({}))
    working_dir: str = "build"
    scratch_paths: tuple[str, ...] = ("build", "nix/store")
    inputs_dir: str = "nix/store"
    outputs: tuple[str, ...] = ()
    environment_vars: tuple[EnvVar, ...] = ()
    constraints: BuildConstraints | None = field(default_factory=BuildConstraints)
    additional_files: tuple[AdditionalFile, ...] = ()
    refscan_needles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", _frozen_inputs(self.inputs))
        for name in (
            "command_args",
            "scratch_paths",
            "outputs",
            "environment_vars",
            "additional_files",
            "refscan_needles",
        ):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def __hash__(self) -> int:
        return hash(
            (
                tuple(self.inputs.items()),
                self.command_args,
                self.working_dir,
                self.scratch_paths,
                self.inputs_dir,
                self.outputs,
                self.environment_vars,
                self.constraints,
                self.additional_files,
                self.refscan_needles,
            )
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BuildRequest):
            return NotImplemented
        return (
            dict(self.inputs) == dict(other.inputs)
            and self.command_args == other.command_args
            and self.working_dir == other.working_dir
            and self.scratch_paths == other.scratch_paths
            and self.inputs_dir == other.inputs_dir
            and self.outputs == other.outputs
            and self.environment_vars == other.environment_vars
            and self.constraints == other.constraints
            and self.additional_files == other.additional_files
            and self.refscan_needles == other.refscan_needles
        )


@dataclass(frozen=True, slots=True)
class BuildOutput:
    """One output of a finished build: where it was, what it is, which needles it holds."""

    #: the request's output path (relative, e.g. ``nix/store/<hash>-foo``)
    path: str
    node: Node
    #: sorted indices into ``BuildRequest.refscan_needles`` found in this output
    needles: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a build produced, in the order of ``BuildRequest.outputs``, plus its logs."""

    outputs: tuple[BuildOutput, ...]
    stdout: bytes = b""
    stderr: bytes = b""
    #: wall-clock seconds from bundle creation to the end of ingestion
    duration: float = 0.0
    exit_code: int = 0
