"""BuildRequest and BuildResult: the model, validation, TOML cases and snix protobuf interop."""

from pytest_snixbuild.request.model import (
    AdditionalFile,
    BuildConstraints,
    BuildOutput,
    BuildRequest,
    BuildResult,
    EnvVar,
)

__all__ = [
    "AdditionalFile",
    "BuildConstraints",
    "BuildOutput",
    "BuildRequest",
    "BuildResult",
    "EnvVar",
]
