"""BuildRequest and BuildResponse as snix's protobuf bytes (``snix.build.v1``), by hand.

Encoding is deterministic proto3, the bytes prost writes: fields in ascending number order,
scalar defaults omitted, every element of a repeated field and every present sub-message written
(even when empty), repeated ``uint64`` packed.

Decoding first reads the wire format (a malformed message, a wrong wire type or a string that is
not UTF-8 is a :class:`ProtoDecodeError`, as prost fails before validation) and then applies
snix's validation in snix's order (spec §3.3), raising :class:`RequestValidationError` for the
first failure, with ``snix_error`` naming snix's error (``InvalidInputNode(2)``, ...).

Where our model differs from snix's Rust model (spec §3.4), on purpose:

* ``constraints`` is one optional message, not a set. An absent message decodes to ``None``
  and a present one to :class:`BuildConstraints`; ``min_memory = 0`` is just the default, so
  model -> proto -> model is the identity (snix's model adds ``MinMemory(0)`` on the way).
  ``None`` encodes to no field 8 at all; a present message is always written, even if all of
  its fields are defaults (so ``BuildConstraints(system="")`` encodes, and fails validation,
  as in snix).
* ``available_ro_paths`` keep their order (snix's HashSet loses it and may emit them unsorted);
  validation requires them sorted, so what we encode is always what snix accepts.
* Input names must be UTF-8 (snix allows any bytes): a non-UTF-8 name is ``InvalidInputNode(i)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from pytest_snixbuild.castore.encoding import decode_entry, encode_entry
from pytest_snixbuild.castore.errors import ValidationError
from pytest_snixbuild.castore.nodes import Node
from pytest_snixbuild.castore.protowire import (
    WIRE_LEN,
    WIRE_VARINT,
    DecodeError,
    Field,
    bool_field,
    iter_fields,
    len_field,
    read_varint,
    uint_field,
    varint,
)
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.request.model import (
    AdditionalFile,
    BuildConstraints,
    BuildOutput,
    BuildRequest,
    BuildResult,
    EnvVar,
)
from pytest_snixbuild.request.validation import (
    STEPS_AFTER_INPUTS,
    FieldError,
    RequestValidationError,
    check_input_name,
    validate_request,
)

T = TypeVar("T")


class ProtoDecodeError(SnixError):
    """The bytes are not a well-formed ``snix.build.v1`` message."""

    def __init__(self, message: str, field: str, why: str) -> None:
        self.message = message
        self.field = field
        super().__init__(
            f"{message}.{field}: {why} (expected a well-formed {message} protobuf message)"
        )


class ResponseValidationError(FieldError):
    """A BuildResponse breaks one of snix's rules (missing or named output entry, ...)."""


# --------------------------------------------------------------------------------------------
# encoding


def _string(field: int, s: str) -> bytes:
    return len_field(field, s.encode("utf-8"))


def _repeated_strings(field: int, items: tuple[str, ...]) -> bytes:
    return b"".join(len_field(field, s.encode("utf-8"), always=True) for s in items)


def _encode_constraints(c: BuildConstraints) -> bytes:
    return (
        _string(1, c.system)
        + uint_field(2, c.min_memory)
        + _repeated_strings(3, c.available_ro_paths)
        + bool_field(4, c.network_access)
        + bool_field(5, c.provide_bin_sh)
    )


def encode_build_request(req: BuildRequest, *, validate: bool = True) -> bytes:
    """snix's deterministic bytes for ``req``; validated first unless ``validate=False``."""
    if validate:
        validate_request(req)
    out = bytearray()
    for name in sorted(req.inputs, key=lambda n: n.encode("utf-8")):
        out += len_field(1, encode_entry(name.encode("utf-8"), req.inputs[name]), always=True)
    out += _repeated_strings(2, req.command_args)
    out += _string(3, req.working_dir)
    out += _repeated_strings(4, req.scratch_paths)
    out += _string(5, req.inputs_dir)
    out += _repeated_strings(6, req.outputs)
    for env in req.environment_vars:
        body = _string(1, env.key) + len_field(2, env.value)
        out += len_field(7, body, always=True)
    if req.constraints is not None:
        out += len_field(8, _encode_constraints(req.constraints), always=True)
    for f in req.additional_files:
        out += len_field(9, _string(1, f.path) + len_field(2, f.contents), always=True)
    out += _repeated_strings(10, req.refscan_needles)
    return bytes(out)


def encode_build_result(result: BuildResult) -> bytes:
    """A BuildResponse: each output an anonymous Entry plus its needle indices (packed)."""
    out = bytearray()
    for output in result.outputs:
        body = len_field(1, encode_entry(b"", output.node), always=True)
        needles = b"".join(varint(n) for n in sorted(set(output.needles)))
        body += len_field(2, needles)
        out += len_field(1, body, always=True)
    return bytes(out)


# --------------------------------------------------------------------------------------------
# decoding: the wire format first


def _fields(data: bytes, message: str, where: str) -> Iterator[Field]:
    try:
        yield from iter_fields(data)
    except DecodeError as exc:
        raise ProtoDecodeError(message, where or "(message)", str(exc)) from exc


def _as_bytes(f: Field, message: str, where: str) -> bytes:
    if f.wire != WIRE_LEN or not isinstance(f.value, bytes):
        raise ProtoDecodeError(message, where, f"wire type {f.wire} where a length-delimited field")
    return f.value


def _as_int(f: Field, message: str, where: str) -> int:
    if f.wire != WIRE_VARINT or not isinstance(f.value, int):
        raise ProtoDecodeError(message, where, f"wire type {f.wire} where a varint field")
    return f.value


def _as_str(f: Field, message: str, where: str) -> str:
    raw = _as_bytes(f, message, where)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtoDecodeError(message, where, f"string {raw!r} is not UTF-8") from exc


def _decode_env(data: bytes, where: str) -> EnvVar:
    key, value = "", b""
    for f in _fields(data, "BuildRequest", where):
        if f.number == 1:
            key = _as_str(f, "BuildRequest", f"{where}.key")
        elif f.number == 2:
            value = _as_bytes(f, "BuildRequest", f"{where}.value")
    return EnvVar(key, value)


def _decode_constraints(data: bytes) -> BuildConstraints:
    where = "constraints"
    system, min_memory = "", 0
    ro_paths: list[str] = []
    network_access = provide_bin_sh = False
    for f in _fields(data, "BuildRequest", where):
        if f.number == 1:
            system = _as_str(f, "BuildRequest", f"{where}.system")
        elif f.number == 2:
            min_memory = _as_int(f, "BuildRequest", f"{where}.min_memory")
        elif f.number == 3:
            ro_paths.append(
                _as_str(f, "BuildRequest", f"{where}.available_ro_paths[{len(ro_paths)}]")
            )
        elif f.number == 4:
            network_access = bool(_as_int(f, "BuildRequest", f"{where}.network_access"))
        elif f.number == 5:
            provide_bin_sh = bool(_as_int(f, "BuildRequest", f"{where}.provide_bin_sh"))
    return BuildConstraints(system, min_memory, tuple(ro_paths), network_access, provide_bin_sh)


def _decode_additional_file(data: bytes, where: str) -> AdditionalFile:
    path, contents = "", b""
    for f in _fields(data, "BuildRequest", where):
        if f.number == 1:
            path = _as_str(f, "BuildRequest", f"{where}.path")
        elif f.number == 2:
            contents = _as_bytes(f, "BuildRequest", f"{where}.contents")
    return AdditionalFile(path, contents)


def _collect(items: list[T], f: Field, where: str, parse: Callable[[Field, str], T]) -> None:
    items.append(parse(f, f"{where}[{len(items)}]"))


def _decode_input(index: int, entry: bytes) -> tuple[str, Node]:
    """Step 1 for one input: the node first, then the name (snix's order)."""
    snix_error = f"InvalidInputNode({index})"
    try:
        raw_name, node = decode_entry(entry)
    except ValidationError as exc:
        raise RequestValidationError(
            ("inputs", index),
            entry,
            f"invalid input node: {exc}",
            "a valid castore Entry",
            snix_error,
        ) from exc
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        name = raw_name.decode("utf-8", "surrogateescape")
        check_input_name(index, name)
        raise RequestValidationError(
            ("inputs", index),
            raw_name,
            f"input name {raw_name!r} is not UTF-8",
            "UTF-8 input names (a limitation of this implementation)",
            snix_error,
        ) from None
    check_input_name(index, name)
    return name, node


def decode_build_request(data: bytes) -> BuildRequest:
    """Decode and validate a BuildRequest, reporting the first error snix would report."""
    msg = "BuildRequest"
    entries: list[bytes] = []
    command_args: list[str] = []
    scratch_paths: list[str] = []
    outputs: list[str] = []
    env: list[EnvVar] = []
    additional: list[AdditionalFile] = []
    needles: list[str] = []
    working_dir = inputs_dir = ""
    constraints_raw: bytes | None = None

    def as_str(f: Field, where: str) -> str:
        return _as_str(f, msg, where)

    for f in _fields(data, msg, ""):
        n = f.number
        if n == 1:
            entries.append(_as_bytes(f, msg, f"inputs[{len(entries)}]"))
        elif n == 2:
            _collect(command_args, f, "command_args", as_str)
        elif n == 3:
            working_dir = as_str(f, "working_dir")
        elif n == 4:
            _collect(scratch_paths, f, "scratch_paths", as_str)
        elif n == 5:
            inputs_dir = as_str(f, "inputs_dir")
        elif n == 6:
            _collect(outputs, f, "outputs", as_str)
        elif n == 7:
            where = f"environment_vars[{len(env)}]"
            env.append(_decode_env(_as_bytes(f, msg, where), where))
        elif n == 8:
            # repeated occurrences of a message field merge: concatenating them is the same
            constraints_raw = (constraints_raw or b"") + _as_bytes(f, msg, "constraints")
        elif n == 9:
            where = f"additional_files[{len(additional)}]"
            additional.append(_decode_additional_file(_as_bytes(f, msg, where), where))
        elif n == 10:
            _collect(needles, f, "refscan_needles", as_str)
    constraints = None if constraints_raw is None else _decode_constraints(constraints_raw)

    # step 1: inputs, node then name, strictly increasing names
    inputs: dict[str, Node] = {}
    prev = b""
    for i, entry in enumerate(entries):
        name, node = _decode_input(i, entry)
        cur = name.encode("utf-8")
        if cur <= prev:
            raise RequestValidationError(
                ("inputs", i),
                name,
                f"input name {name!r} does not sort after the previous one",
                "input names strictly increasing by bytes (no duplicates)",
                "InputNodesNotSorted",
            )
        prev = cur
        inputs[name] = node

    req = BuildRequest(
        command_args=tuple(command_args),
        inputs=inputs,
        working_dir=working_dir,
        scratch_paths=tuple(scratch_paths),
        inputs_dir=inputs_dir,
        outputs=tuple(outputs),
        environment_vars=tuple(env),
        constraints=constraints,
        additional_files=tuple(additional),
        refscan_needles=tuple(needles),
    )
    for step in STEPS_AFTER_INPUTS:
        step(req)
    return req


def _packed_or_single(f: Field, where: str) -> list[int]:
    """A repeated uint64 may come packed (one LEN field) or as single varints."""
    if f.wire == WIRE_VARINT and isinstance(f.value, int):
        return [f.value]
    raw = _as_bytes(f, "BuildResponse", where)
    values, pos = [], 0
    try:
        while pos < len(raw):
            value, pos = read_varint(raw, pos)
            values.append(value)
    except DecodeError as exc:
        raise ProtoDecodeError("BuildResponse", where, str(exc)) from exc
    return values


def decode_build_result(data: bytes, request: BuildRequest | None = None) -> BuildResult:
    """Decode a BuildResponse. With ``request``, each output gets its path from
    ``request.outputs`` (same order) and needle indices are checked against its needles."""
    msg = "BuildResponse"
    raw_outputs = [_as_bytes(f, msg, "outputs") for f in _fields(data, msg, "") if f.number == 1]
    if request is not None and len(raw_outputs) != len(request.outputs):
        raise ResponseValidationError(
            ("outputs",),
            len(raw_outputs),
            f"{len(raw_outputs)} outputs in the response",
            f"one per request output: {len(request.outputs)}",
        )
    result: list[BuildOutput] = []
    for i, raw in enumerate(raw_outputs):
        where = f"outputs[{i}]"
        entry: bytes | None = None
        indices: set[int] = set()
        for f in _fields(raw, msg, where):
            if f.number == 1:
                entry = (entry or b"") + _as_bytes(f, msg, f"{where}.output")
            elif f.number == 2:
                indices.update(_packed_or_single(f, f"{where}.needles"))
        if entry is None:
            raise ResponseValidationError(
                ("outputs", i, "output"),
                None,
                "the output entry is missing",
                "an anonymous castore Entry",
                f"MissingOutputEntry({i})",
            )
        try:
            name, node = decode_entry(entry)
        except ValidationError as exc:
            raise ResponseValidationError(
                ("outputs", i, "output"),
                entry,
                f"invalid output entry: {exc}",
                "an anonymous castore Entry",
                f"InvalidOutputEntry({i})",
            ) from exc
        if name:
            raise ResponseValidationError(
                ("outputs", i, "output"),
                name,
                f"the output entry is named {name!r}",
                "an anonymous castore Entry (empty name)",
                f"InvalidOutputEntry({i})",
            )
        path = ""
        if request is not None:
            path = request.outputs[i]
            for n in sorted(indices):
                if n >= len(request.refscan_needles):
                    raise ResponseValidationError(
                        ("outputs", i, "needles"),
                        n,
                        f"needle index {n} is out of range",
                        f"an index below {len(request.refscan_needles)}, "
                        "the number of refscan_needles",
                    )
        result.append(BuildOutput(path=path, node=node, needles=tuple(sorted(indices))))
    return BuildResult(outputs=tuple(result))
