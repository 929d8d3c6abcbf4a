"""TOML case files: a build request and what its build must show (docs/toml-format.md).

A case file has exactly one *request section* and an optional ``[expect]`` table. The request
sections are a registry (:data:`REQUEST_SECTIONS`): ``[request]`` is a BuildRequest written out
field by field; ``[derivation]`` builds a Nix derivation (``pytest_snixbuild.nix.toml_section``).
A section registers itself with :func:`register_request_section`; its loader returns the
request, or a :class:`SectionResult` that also names the outputs (``[expect.outputs.NAME]``),
maps needles to store paths (``references``) and adds checks every build must pass.

Every problem is a :class:`CaseError` reading ``FILE:LINE: key.path: what was wrong (what was
expected)``, including snix's validation rules (a :class:`RequestValidationError` is reported at
the key that holds the offending value).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pytest_snixbuild.castore.digests import B3Digest, DigestError
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.request.model import (
    AdditionalFile,
    BuildConstraints,
    BuildRequest,
    BuildResult,
    EnvVar,
)
from pytest_snixbuild.request.nar_hash_text import (
    NAR_HASH_EXPECTED,
    format_nar_hash,
    parse_nar_hash,
)
from pytest_snixbuild.request.toml_inputs import DIGEST_EXPECTED, load_inputs
from pytest_snixbuild.request.toml_locate import Key
from pytest_snixbuild.request.toml_reader import CaseError, CaseSource, Table, show, toml_type
from pytest_snixbuild.request.validation import (
    CLEAN_RELATIVE,
    RequestValidationError,
    is_clean_relative,
    path_problem,
    validate_request,
)

__all__ = [
    "REQUEST_SECTIONS",
    "Case",
    "CaseError",
    "Expect",
    "OutputExpect",
    "ResultCheck",
    "SectionResult",
    "load_case",
    "load_case_text",
    "register_request_section",
]

OutputType = Literal["file", "directory", "symlink"]
OUTPUT_TYPES: tuple[OutputType, ...] = ("file", "directory", "symlink")


@dataclass(frozen=True)
class OutputExpect:
    """What one output must be. ``None`` means "not checked"."""

    type: OutputType | None = None
    #: the castore digest of the output's node (for a symlink: of nothing; use ``type``)
    digest: B3Digest | None = None
    #: Nix's NAR hash, normalised to ``sha256:<nixbase32>`` (see nar_hash_text.format_nar_hash)
    nar_hash: str | None = None
    #: the exact contents of a file output
    contents: bytes | None = None
    #: exactly the needles found in this output, in the order of request.refscan_needles
    needles: tuple[str, ...] | None = None
    #: exactly the store paths this output refers to (sorted); needs Expect.needle_paths
    references: tuple[str, ...] | None = None


#: a check every successful build of a case must pass: (result, store) -> problems
ResultCheck = Callable[[BuildResult, Store], Sequence[str]]


@dataclass(frozen=True)
class Expect:
    """What the build must show: success or failure, and per-output expectations."""

    success: bool = True
    #: output path (as in request.outputs) -> expectation; only the outputs named are checked
    outputs: Mapping[str, OutputExpect] = field(default_factory=lambda: MappingProxyType({}))
    #: the absolute store path behind each refscan needle (by index), when the section knows it
    needle_paths: tuple[str, ...] | None = None
    #: checks from the request section (e.g. a fixed-output hash), run after a successful build
    checks: tuple[ResultCheck, ...] = ()


@dataclass(frozen=True)
class Case:
    """One case file: its request, resolved against a store, and its expectations."""

    path: Path
    #: the file stem
    name: str
    request: BuildRequest
    #: None when the file has no ``[expect]`` table
    expect: Expect | None


@dataclass(frozen=True)
class SectionResult:
    """What a request section gives besides its request."""

    request: BuildRequest
    #: output name -> request output path: ``[expect.outputs.NAME]`` may use the name
    output_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: the absolute store path behind each refscan needle: ``references`` may be expected
    needle_paths: tuple[str, ...] | None = None
    #: checks every successful build must pass, with or without ``[expect]``
    checks: tuple[ResultCheck, ...] = ()


#: builds the BuildRequest of a request section; inputs go into the store
SectionLoader = Callable[[Table, Store], BuildRequest | SectionResult]


def _load_derivation_section(table: Table, store: Store) -> SectionResult:
    from pytest_snixbuild.nix.toml_section import load_derivation_section

    return load_derivation_section(table, store)


#: request section name -> its loader; exactly one of them must be present in a case file
REQUEST_SECTIONS: dict[str, SectionLoader] = {}

EXPECT_SECTION = "expect"


def register_request_section(name: str, loader: SectionLoader) -> None:
    """Make ``[name]`` a request section (replacing any previous loader for it)."""
    REQUEST_SECTIONS[name] = loader


# --------------------------------------------------------------------------------------------
# [request]

REQUEST_KEYS = (
    "command_args",
    "working_dir",
    "scratch_paths",
    "inputs_dir",
    "outputs",
    "refscan_needles",
    "environment_vars",
    "constraints",
    "additional_files",
    "inputs",
)
CONSTRAINT_KEYS = ("system", "min_memory", "available_ro_paths", "network_access", "provide_bin_sh")
_DEFAULT = BuildRequest(command_args=("",))
_DEFAULT_CONSTRAINTS = BuildConstraints()


def _environment_vars(req: Table) -> tuple[tuple[EnvVar, ...], bool]:
    """(env vars, given as a table); a table is sorted by key, an array is kept in order."""
    value = req.data.get("environment_vars")
    if value is None:
        return (), True
    if isinstance(value, list):
        out = []
        for item in req.tables("environment_vars"):
            item.check_keys(("key", "value"))
            out.append(EnvVar(item.string("key"), item.get_bytes("value")))
        return tuple(out), False
    table = req.table(
        "environment_vars", "a table of NAME = value, or an array of { key, value } tables"
    )
    assert table is not None
    pairs = [EnvVar(k, table.bytes_value(k, v)) for k, v in table.data.items()]
    return tuple(sorted(pairs, key=lambda e: e.key.encode("utf-8"))), True


def _constraints(req: Table) -> BuildConstraints | None:
    value = req.data.get("constraints")
    if value is False:
        return None
    if value is True:
        return _DEFAULT_CONSTRAINTS
    table = req.table("constraints", "a table, or false for no constraints message")
    if table is None:
        return _DEFAULT_CONSTRAINTS
    table.check_keys(CONSTRAINT_KEYS)
    d = _DEFAULT_CONSTRAINTS
    return BuildConstraints(
        system=table.string("system", d.system),
        min_memory=table.integer("min_memory", d.min_memory),
        available_ro_paths=table.strings("available_ro_paths", d.available_ro_paths),
        network_access=table.boolean("network_access", d.network_access),
        provide_bin_sh=table.boolean("provide_bin_sh", d.provide_bin_sh),
    )


def _additional_files(req: Table) -> tuple[AdditionalFile, ...]:
    out = []
    for item in req.tables("additional_files"):
        item.check_keys(("path", "contents"))
        out.append(AdditionalFile(item.string("path"), item.get_bytes("contents")))
    return tuple(out)


def _toml_key_of(location: tuple[str | int, ...], req: BuildRequest, env_table: bool) -> Key:
    """Where, in a ``[request]`` table, the value a validation error names was written."""
    head = location[0]
    if head == "inputs" and len(location) > 1 and isinstance(location[1], int):
        names = list(req.inputs)
        if location[1] < len(names):
            return ("request", "inputs", names[location[1]])
    if head == "environment_vars" and env_table and len(location) > 1:
        index = location[1]
        if isinstance(index, int) and index < len(req.environment_vars):
            return ("request", "environment_vars", req.environment_vars[index].key)
    return ("request", *location)


def load_request_section(table: Table, store: Store) -> BuildRequest:
    """``[request]``: a BuildRequest field by field, validated with snix's rules."""
    table.check_keys(REQUEST_KEYS)
    command_args = table.strings("command_args")
    if not command_args:
        raise table.error(
            "command_args", "the array is empty", "the program to run and its arguments"
        )
    env, env_table = _environment_vars(table)
    inputs_table = table.table("inputs", "a table of name = { … } inline tables")
    d = _DEFAULT
    req = BuildRequest(
        command_args=command_args,
        inputs=load_inputs(inputs_table, store) if inputs_table is not None else {},
        working_dir=table.string("working_dir", d.working_dir),
        scratch_paths=table.strings("scratch_paths", d.scratch_paths),
        inputs_dir=table.string("inputs_dir", d.inputs_dir),
        outputs=table.strings("outputs", d.outputs),
        environment_vars=env,
        constraints=_constraints(table),
        additional_files=_additional_files(table),
        refscan_needles=table.strings("refscan_needles", d.refscan_needles),
    )
    try:
        validate_request(req)
    except RequestValidationError as exc:
        key = _toml_key_of(exc.location, req, env_table)
        raise table.source.error(key, exc.reason, exc.expected) from None
    return req


REQUEST_SECTIONS["request"] = load_request_section
REQUEST_SECTIONS["derivation"] = _load_derivation_section


# --------------------------------------------------------------------------------------------
# [expect]

OUTPUT_KEYS = ("type", "digest", "nar_hash", "contents", "needles", "references")


def _references(spec: Table, section: SectionResult) -> tuple[str, ...]:
    given = spec.strings("references")
    known = section.needle_paths
    if known is None:
        raise spec.error(
            "references",
            "references can only be checked for a [derivation] case",
            "needles (hash parts) in a [request] case",
        )
    for i, path in enumerate(given):
        if path not in known:
            raise spec.error(
                ("references", i),
                f"{path!r} is not an output or input of the derivation",
                "absolute store paths of the derivation's outputs or input closure",
            )
    return tuple(sorted(set(given)))


def _output_expect(spec: Table, req: BuildRequest, section: SectionResult) -> OutputExpect:
    spec.check_keys(OUTPUT_KEYS)
    kind: OutputType | None = None
    if spec.has("type"):
        text = spec.string("type")
        if text not in OUTPUT_TYPES:
            raise spec.error("type", f"unknown output type {text!r}", "file, directory or symlink")
        kind = text
    digest = None
    if spec.has("digest"):
        text = spec.string("digest")
        try:
            digest = B3Digest.parse(text)
        except DigestError:
            raise spec.error("digest", f"invalid digest {show(text)}", DIGEST_EXPECTED) from None
    nar_hash = None
    if spec.has("nar_hash"):
        text = spec.string("nar_hash")
        raw = parse_nar_hash(text)
        if raw is None:
            raise spec.error("nar_hash", f"invalid NAR hash {show(text)}", NAR_HASH_EXPECTED)
        nar_hash = format_nar_hash(raw)
    contents = None
    if spec.has("contents"):
        if kind not in (None, "file"):
            raise spec.error(
                "contents",
                f"contents given for a {kind} output",
                'contents only with type = "file"',
            )
        contents = spec.get_bytes("contents")
    needles = None
    if spec.has("needles"):
        given = spec.strings("needles")
        for i, needle in enumerate(given):
            if needle not in req.refscan_needles:
                raise spec.error(
                    ("needles", i),
                    f"{needle!r} is not one of request.refscan_needles",
                    "needles listed in request.refscan_needles",
                )
        needles = tuple(n for n in dict.fromkeys(req.refscan_needles) if n in given)
    references = _references(spec, section) if spec.has("references") else None
    return OutputExpect(kind, digest, nar_hash, contents, needles, references)


def load_expect(table: Table, req: BuildRequest, section: SectionResult | None = None) -> Expect:
    """``[expect]``, checked against the request (and section) it belongs to."""
    section = section or SectionResult(req)
    table.check_keys(("success", "outputs"))
    success = table.boolean("success", True)
    outputs: dict[str, OutputExpect] = {}
    outputs_table = table.table("outputs", 'a table of "output path" = { … } tables')
    for key, value in (outputs_table.data if outputs_table else {}).items():
        assert outputs_table is not None
        if not isinstance(value, dict):
            raise outputs_table.error(
                key, f"wrong type: {toml_type(value)} {show(value)}", "a table"
            )
        path = section.output_names.get(key, key)
        if key not in section.output_names and not is_clean_relative(key):
            raise outputs_table.error(key, path_problem(key), CLEAN_RELATIVE)
        if path not in req.outputs:
            known = ", ".join(repr(o) for o in req.outputs) or "none"
            expected = f"an output path listed in request.outputs: {known}"
            if section.output_names:
                names = ", ".join(repr(n) for n in section.output_names)
                expected = f"an output name ({names}) or {expected}"
            raise outputs_table.error(key, f"{key!r} is not one of request.outputs", expected)
        if path in outputs:
            raise outputs_table.error(
                key, f"output {path!r} is given twice", "each output once, by name or by path"
            )
        spec = Table(table.source, (*outputs_table.key, key), value)
        outputs[path] = _output_expect(spec, req, section)
    return Expect(success, MappingProxyType(outputs), section.needle_paths, section.checks)


# --------------------------------------------------------------------------------------------
# the case file


def _request_section(root: Table) -> tuple[str, Table]:
    present = [name for name in root.data if name in REQUEST_SECTIONS]
    if not present:
        sections = " or ".join(f"[{name}]" for name in REQUEST_SECTIONS)
        raise root.error("request", "missing", f"a {sections} table")
    if len(present) > 1:
        raise root.error(
            present[1], f"both [{present[0]}] and [{present[1]}] given", "exactly one of them"
        )
    name = present[0]
    table = root.table(name)
    assert table is not None
    return name, table


def load_case_text(text: str, path: Path, store: Store) -> Case:
    """Load a case from its text; ``path`` names it and anchors relative input paths."""
    source, data = CaseSource.parse(path, text)
    root = source.root(data)
    root.check_keys((*REQUEST_SECTIONS, EXPECT_SECTION))
    name, table = _request_section(root)
    loaded = REQUEST_SECTIONS[name](table, store)
    section = loaded if isinstance(loaded, SectionResult) else SectionResult(loaded)
    request = section.request
    expect_table = root.table(EXPECT_SECTION)
    expect = load_expect(expect_table, request, section) if expect_table is not None else None
    if expect is None and section.checks:
        expect = Expect(needle_paths=section.needle_paths, checks=section.checks)
    return Case(path=path, name=path.stem, request=request, expect=expect)


def load_case(path: Path, store: Store) -> Case:
    """Load and validate the case file ``path``; inputs are stored in ``store``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CaseError(path, None, "", f"cannot read the case file: {exc.strerror}", "") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CaseError(path, line, "", "invalid TOML: the file is not UTF-8", "") from None
    return load_case_text(text, path, store)
