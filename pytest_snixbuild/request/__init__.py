"""BuildRequest and BuildResult: the model, validation, TOML cases and snix protobuf interop.

* :mod:`.model` — the frozen dataclasses;
* :mod:`.validation` — snix's rules, :func:`validate_request`, :class:`RequestValidationError`;
* :mod:`.proto` — snix's protobuf bytes, both ways;
* :mod:`.json_form` — the canonical JSON form;
* :mod:`.toml_case` — TOML case files (:func:`load_case`), see docs/toml-format.md;
* :mod:`.toml_writer` — a request (and its expectations) back to TOML.
"""

from pytest_snixbuild.request.json_form import request_from_json, request_to_json
from pytest_snixbuild.request.model import (
    AdditionalFile,
    BuildConstraints,
    BuildOutput,
    BuildRequest,
    BuildResult,
    EnvVar,
)
from pytest_snixbuild.request.proto import (
    decode_build_request,
    decode_build_result,
    encode_build_request,
    encode_build_result,
)
from pytest_snixbuild.request.toml_case import Case, CaseError, Expect, OutputExpect, load_case
from pytest_snixbuild.request.validation import (
    RequestValidationError,
    is_clean_absolute,
    is_clean_relative,
    validate_request,
)

__all__ = [
    "AdditionalFile",
    "BuildConstraints",
    "BuildOutput",
    "BuildRequest",
    "BuildResult",
    "Case",
    "CaseError",
    "EnvVar",
    "Expect",
    "OutputExpect",
    "RequestValidationError",
    "decode_build_request",
    "decode_build_result",
    "encode_build_request",
    "encode_build_result",
    "is_clean_absolute",
    "is_clean_relative",
    "load_case",
    "request_from_json",
    "request_to_json",
    "validate_request",
]
