"""Fuzzing the TOML case loader (``load_case_text``): a malformed case is a ``CaseError`` with
its ``FILE:LINE: key: ...`` message, never another exception or a hang."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from snix_fuzz_helpers import FUZZ, mutated_text, outcome, seeds

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.request.toml_case import Case, CaseError, load_case_text

TOML_SEEDS = [s.decode("utf-8") for s in seeds(".toml")]

REQUEST_KEYS = [
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
]
INPUT_KEYS = [
    "contents",
    "executable",
    "directory",
    "file",
    "symlink",
    "target",
    "digest",
    "size",
    "base64",
]
EXPECT_KEYS = [
    "success",
    "outputs",
    "type",
    "digest",
    "nar_hash",
    "contents",
    "needles",
    "references",
]
CONSTRAINT_KEYS = ["system", "min_memory", "available_ro_paths", "network_access", "provide_bin_sh"]
WORDS = [
    "nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-hello",
    "/nix/store/bhg1c6wywawwaaivx0k0x8xhbyx4vwic-hello",
    "bhg1c6wywawwaaivx0k0x8xhbyx4vwic",
    "v137y81wxx44zx8nln1b4xhj75bs7dbn-lib",
    "blake3-rxNJufX5oaagQE3qNtzJSZvLJcmtwRK3zJqTyuQfMmI=",
    "sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw",
    "/build",
    "build",
    "nix/store",
    "/bin/sh",
    "file",
    "directory",
    "symlink",
    "",
    ".",
    "..",
    "a=b",
    "\u0000",
]


def toml_key(key: str) -> str:
    return (
        key
        if key.replace("_", "a").replace("-", "a").isalnum() and key.isascii()
        else json.dumps(key)
    )


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    assert isinstance(value, Raw)
    return value.text


class Raw:
    """A TOML literal written as is (dates and times)."""

    def __init__(self, text: str) -> None:
        self.text = text


SCALARS = (
    st.sampled_from(WORDS)
    | st.text(max_size=12)
    | st.integers(-(1 << 64), 1 << 64)
    | st.booleans()
    | st.floats()
    | st.sampled_from([Raw("1979-05-27T07:32:00Z"), Raw("07:32:00"), Raw("1979-05-27")])
)


def values(keys: list[str]) -> st.SearchStrategy[object]:
    return st.recursive(
        SCALARS,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(keys) | st.sampled_from(WORDS) | st.text(max_size=6),
                inner,
                max_size=4,
            )
        ),
        max_leaves=12,
    )


@st.composite
def cases(draw: st.DrawFn) -> str:
    """A case file with the right sections and keys, and values of any type and shape."""
    lines = ["[request]"]
    for key in draw(st.lists(st.sampled_from(REQUEST_KEYS), max_size=6, unique=True)):
        if key == "inputs":
            continue
        subkeys = {"constraints": CONSTRAINT_KEYS, "environment_vars": WORDS}.get(key, INPUT_KEYS)
        lines.append(f"{key} = {toml_value(draw(values(subkeys)))}")
    if draw(st.booleans()):
        lines.append("[request.inputs]")
        for name in draw(
            st.lists(st.sampled_from(WORDS) | st.text(max_size=8), max_size=3, unique=True)
        ):
            lines.append(f"{toml_key(name)} = {toml_value(draw(values(INPUT_KEYS)))}")
    if draw(st.booleans()):
        lines.append("[expect]")
        for key in draw(st.lists(st.sampled_from(EXPECT_KEYS), max_size=3, unique=True)):
            lines.append(f"{key} = {toml_value(draw(values(EXPECT_KEYS + WORDS)))}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def case_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the fuzzed case pretends to be: an empty directory, so relative input paths
    resolve to nothing."""
    return tmp_path_factory.mktemp("fuzz-case") / "fuzz.toml"


def check(text: str, path: Path) -> None:
    case = outcome(lambda: load_case_text(text, path, Store.memory()), (CaseError,))
    assert case is None or isinstance(case, Case)


@FUZZ
@given(mutated_text(st.sampled_from(TOML_SEEDS)))
def test_mutated_cases(case_path: Path, text: str) -> None:
    check(text, case_path)


@FUZZ
@given(cases())
def test_generated_cases(case_path: Path, text: str) -> None:
    check(text, case_path)


@FUZZ
@given(st.text(max_size=200))
def test_random_text(case_path: Path, text: str) -> None:
    check(text, case_path)


@FUZZ
@given(st.integers(1, 4000), st.sampled_from(["[", "{a = "]), st.booleans())
def test_deep_nesting(case_path: Path, depth: int, opener: str, closed: bool) -> None:
    """Arrays and inline tables nested up to thousands of levels (tomllib recurses)."""
    closer, inner = ("]", "") if opener == "[" else ("}", "1")
    value = opener * depth + inner + (closer * depth if closed else "")
    check(f"[request]\ncommand_args = {value}\n", case_path)
