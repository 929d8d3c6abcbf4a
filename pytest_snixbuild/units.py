"""Sizes as people write them: ``64M``, ``1.5G``, ``4096`` (used by the CLI and the plugin)."""

from __future__ import annotations

#: suffixes of sizes, powers of 1024 (``K``, ``KB`` and ``KiB`` all mean 1024)
SIZE_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes, optionally with a K, M, G or T suffix; ValueError (saying what is expected)
    when ``text`` is no positive size."""
    body = text.strip().upper().removesuffix("B").removesuffix("I")
    suffix = body[-1:] if body[-1:] in SIZE_SUFFIXES else ""
    number = body[: len(body) - len(suffix)]
    try:
        value = int(float(number) * SIZE_SUFFIXES[suffix])
    except ValueError:
        raise ValueError(
            f"{text!r} is not a size (expected bytes, or a number with K, M, G or T)"
        ) from None
    if value < 1:
        raise ValueError(f"{text!r}: expected a positive size")
    return value
