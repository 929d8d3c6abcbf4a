"""A minimal protobuf wire-format reader and writer, enough for snix's messages.

Writing follows proto3 deterministic serialisation: fields in ascending number order, default
values omitted. Reading accepts any field order and skips unknown fields, as protobuf does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pytest_snixbuild.castore.errors import ValidationError

WIRE_VARINT = 0
WIRE_I64 = 1
WIRE_LEN = 2
WIRE_I32 = 5


class DecodeError(ValidationError):
    """The bytes are not a well-formed protobuf message."""


def varint(value: int) -> bytes:
    """Unsigned LEB128."""
    if value < 0:
        raise ValueError("varints here are unsigned")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(field: int, wire: int) -> bytes:
    return varint((field << 3) | wire)


def len_field(field: int, payload: bytes, *, always: bool = False) -> bytes:
    """A length-delimited field; omitted when empty unless ``always`` (sub-messages)."""
    if not payload and not always:
        return b""
    return tag(field, WIRE_LEN) + varint(len(payload)) + payload


def uint_field(field: int, value: int) -> bytes:
    if value == 0:
        return b""
    return tag(field, WIRE_VARINT) + varint(value)


def bool_field(field: int, value: bool) -> bytes:
    return tag(field, WIRE_VARINT) + b"\x01" if value else b""


@dataclass(frozen=True, slots=True)
class Field:
    number: int
    wire: int
    #: the integer for varint/fixed fields, the bytes for length-delimited ones
    value: int | bytes

    def as_bytes(self, what: str) -> bytes:
        if self.wire != WIRE_LEN or not isinstance(self.value, bytes):
            raise DecodeError(
                f"{what}: expected a length-delimited field, got wire type {self.wire}"
            )
        return self.value

    def as_int(self, what: str) -> int:
        if self.wire != WIRE_VARINT or not isinstance(self.value, int):
            raise DecodeError(f"{what}: expected a varint field, got wire type {self.wire}")
        return self.value


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise DecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result >> 64:
                raise DecodeError("varint exceeds 64 bits")
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("varint too long")


def iter_fields(data: bytes | memoryview) -> Iterator[Field]:
    """Yield the fields of one message, in wire order."""
    data = bytes(data)
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise DecodeError("field number 0 is invalid")
        if wire == WIRE_VARINT:
            value, pos = read_varint(data, pos)
            yield Field(number, wire, value)
        elif wire == WIRE_LEN:
            length, pos = read_varint(data, pos)
            end = pos + length
            if end > len(data):
                raise DecodeError("length-delimited field runs past the end of the message")
            yield Field(number, wire, data[pos:end])
            pos = end
        elif wire == WIRE_I64:
            if pos + 8 > len(data):
                raise DecodeError("truncated fixed64 field")
            yield Field(number, wire, int.from_bytes(data[pos : pos + 8], "little"))
            pos += 8
        elif wire == WIRE_I32:
            if pos + 4 > len(data):
                raise DecodeError("truncated fixed32 field")
            yield Field(number, wire, int.from_bytes(data[pos : pos + 4], "little"))
            pos += 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")
