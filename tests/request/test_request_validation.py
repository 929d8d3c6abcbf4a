"""snix's BuildRequest validation rules (spec §3.3): each rule with a bad example, and the order."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, SymlinkNode
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.request.model import (
    AdditionalFile,
    BuildConstraints,
    BuildRequest,
    EnvVar,
)
from pytest_snixbuild.request.proto import decode_build_request, encode_build_request
from pytest_snixbuild.request.validation import (
    RequestValidationError,
    is_clean_absolute,
    is_clean_relative,
    validate_request,
)

D = B3Digest(bytes(32))
GOOD = BuildRequest(
    command_args=("/bin/sh", "-c", "true"),
    inputs={"aaa-in": DirectoryNode(D, 2), "bbb-in": FileNode(D, 0), "ccc-in": SymlinkNode(b"x")},
    outputs=("nix/store/a-out", "nix/store/b-out"),
    environment_vars=(EnvVar("A", b"1"), EnvVar("B", b"2"), EnvVar("C", b"3")),
    constraints=BuildConstraints(available_ro_paths=("/etc", "/usr")),
    additional_files=(AdditionalFile("build/a", b""), AdditionalFile("build/b", b"")),
)


def test_the_good_request_is_valid() -> None:
    validate_request(GOOD)
    assert decode_build_request(encode_build_request(GOOD)) == GOOD


# --------------------------------------------------------------------------------------------
# the is_clean_path table of the spec


@pytest.mark.parametrize(
    ("path", "clean"),
    [
        ("foo/bar/", False),
        ("foo/../bar", False),
        ("foo/./bar", False),
        ("foo//bar", False),
        ("//foo/bar", False),
        ("", True),
        ("foo/bar", True),
        ("/", False),  # relative check
        ("./foo", False),
        ("..", False),
        (".", False),
        ("foo", True),
    ],
)
def test_is_clean_relative(path: str, clean: bool) -> None:
    assert is_clean_relative(path) is clean


@pytest.mark.parametrize(
    ("path", "clean"),
    [
        ("/", True),
        ("/foo/bar", True),
        ("//foo/bar", False),
        ("/foo/bar/", False),
        ("/foo/../bar", False),
        ("/foo/./bar", False),
        ("/foo//bar", False),
        ("foo/bar", False),
        ("", False),
        ("/.", False),
    ],
)
def test_is_clean_absolute(path: str, clean: bool) -> None:
    assert is_clean_absolute(path) is clean


# --------------------------------------------------------------------------------------------
# every rule with a bad example


def _c(**kw: Any) -> BuildConstraints:
    assert GOOD.constraints is not None
    return dataclasses.replace(GOOD.constraints, **kw)


BAD = [
    # changes to GOOD, the field named, snix's error
    pytest.param(
        {"inputs": {"": FileNode(D, 0)}},
        "inputs[0]",
        "InvalidInputNode(0, InvalidName(Empty))",
        id="input-name-empty",
    ),
    pytest.param(
        {"inputs": {"a": FileNode(D, 0), ".": FileNode(D, 0)}},
        "inputs[0]",
        "InvalidInputNode(0, InvalidName(CurDir))",
        id="input-name-dot",
    ),
    pytest.param(
        {"inputs": {"..": FileNode(D, 0)}},
        "inputs[0]",
        "InvalidInputNode(0, InvalidName(Parent))",
        id="input-name-dotdot",
    ),
    pytest.param(
        {"inputs": {"a": FileNode(D, 0), "b/c": FileNode(D, 0)}},
        "inputs[1]",
        "InvalidInputNode(1, InvalidName(Slashes))",
        id="input-name-slash",
    ),
    pytest.param(
        {"inputs": {"a\0b": FileNode(D, 0)}},
        "inputs[0]",
        "InvalidInputNode(0, InvalidName(Null))",
        id="input-name-nul",
    ),
    pytest.param(
        {"inputs": {"x" * 256: FileNode(D, 0)}},
        "inputs[0]",
        "InvalidInputNode(0, InvalidName(TooLong))",
        id="input-name-too-long",
    ),
    pytest.param(
        {"inputs": {"a": DirectoryNode(D, 1 << 64)}},
        "inputs[0]",
        "InvalidInputNode(0)",
        id="input-size-overflow",
    ),
    pytest.param(
        {"inputs": {"a": "not a node"}}, "inputs[0]", "InvalidInputNode(0)", id="input-not-a-node"
    ),
    pytest.param(
        {"working_dir": "/build"}, "working_dir", "InvalidWorkingDir", id="working-dir-absolute"
    ),
    pytest.param(
        {"working_dir": "build/.."}, "working_dir", "InvalidWorkingDir", id="working-dir-dotdot"
    ),
    pytest.param(
        {"scratch_paths": ("build", "nix//store")},
        "scratch_paths[1]",
        "InvalidScratchPath(1)",
        id="scratch-path-slashes",
    ),
    pytest.param(
        {"scratch_paths": ("nix/store", "build")},
        "scratch_paths[1]",
        "ScratchPathsNotSorted",
        id="scratch-paths-unsorted",
    ),
    pytest.param(
        {"inputs_dir": "nix/store/"},
        "inputs_dir",
        "InvalidInputsDir",
        id="inputs-dir-trailing-slash",
    ),
    pytest.param(
        {"outputs": ("nix/store/./x",)}, "outputs[0]", "InvalidOutputPath(0)", id="output-dot"
    ),
    pytest.param(
        {"outputs": ("nix/store/b", "nix/store/a")},
        "outputs[1]",
        "OutputsNotSorted",
        id="outputs-unsorted",
    ),
    pytest.param(
        {"environment_vars": (EnvVar("", b"x"),)},
        "environment_vars[0].key",
        "InvalidEnvVar(0)",
        id="env-key-empty",
    ),
    pytest.param(
        {"environment_vars": (EnvVar("A", b""), EnvVar("B=C", b"x"))},
        "environment_vars[1].key",
        "InvalidEnvVar(1)",
        id="env-key-equals",
    ),
    pytest.param(
        {"environment_vars": (EnvVar("A\0", b"x"),)},
        "environment_vars[0].key",
        "InvalidEnvVar(0)",
        id="env-key-nul",
    ),
    pytest.param(
        {"environment_vars": (EnvVar("A", b"x\0y"),)},
        "environment_vars[0].value",
        "InvalidEnvVar(0)",
        id="env-value-nul",
    ),
    pytest.param(
        {"environment_vars": (EnvVar("b", b""), EnvVar("a", b""))},
        "environment_vars[1].key",
        "EnvVarNotSorted",
        id="env-unsorted",
    ),
    pytest.param(
        {"constraints": _c(system="")},
        "constraints.system",
        "InvalidBuildConstraints(InvalidSystem)",
        id="system-empty",
    ),
    pytest.param(
        {"constraints": _c(min_memory=1 << 64)},
        "constraints.min_memory",
        "",
        id="min-memory-overflow",
    ),
    pytest.param(
        {"constraints": _c(available_ro_paths=("etc",))},
        "constraints.available_ro_paths[0]",
        "InvalidAvailableRoPaths(0)",
        id="ro-path-relative",
    ),
    pytest.param(
        {"constraints": _c(available_ro_paths=("//etc",))},
        "constraints.available_ro_paths[0]",
        "InvalidAvailableRoPaths(0)",
        id="ro-path-double-slash",
    ),
    pytest.param(
        {"constraints": _c(available_ro_paths=("/usr", "/etc"))},
        "constraints.available_ro_paths[1]",
        "AvailableRoPathsNotSorted",
        id="ro-paths-unsorted",
    ),
    pytest.param(
        {"additional_files": (AdditionalFile("/build/a", b""),)},
        "additional_files[0].path",
        "InvalidAdditionalFilePath(0)",
        id="additional-file-absolute",
    ),
    pytest.param(
        {"additional_files": (AdditionalFile("build/b", b""), AdditionalFile("build/a", b""))},
        "additional_files[1].path",
        "AdditionalFilesNotSorted",
        id="additional-files-unsorted",
    ),
]


@pytest.mark.parametrize(("changes", "field", "snix_error"), BAD)
def test_each_rule_rejects_its_bad_example(
    changes: dict[str, Any], field: str, snix_error: str
) -> None:
    bad = dataclasses.replace(GOOD, **changes)
    with pytest.raises(RequestValidationError) as info:
        validate_request(bad)
    assert info.value.field == field
    assert info.value.snix_error == snix_error
    assert isinstance(info.value, SnixError)
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"scratch_paths": ("build", "nix//store")},
            "scratch_paths[1]: 'nix//store' contains '//' (expected a clean relative path: "
            "'/'-separated names, no leading or trailing '/', no '//', '.' or '..')",
        ),
        (
            {"outputs": ("nix/store/b", "nix/store/a")},
            "outputs[1]: 'nix/store/a' sorts before 'nix/store/b' at outputs[0] "
            "(expected outputs sorted by bytes; duplicates are allowed)",
        ),
        (
            {"environment_vars": (EnvVar("A", b""), EnvVar("B=C", b"x"))},
            "environment_vars[1].key: the key 'B=C' contains '=' "
            "(expected a non-empty key without '=' or NUL)",
        ),
        (
            {"inputs": {"a": FileNode(D, 0), "b/c": FileNode(D, 0)}},
            "inputs[1]: invalid input name 'b/c': it contains '/' (expected a single path "
            "component of 1 to 255 bytes, not '.' or '..', without '/' or NUL)",
        ),
        (
            {"constraints": _c(available_ro_paths=("etc",))},
            "constraints.available_ro_paths[0]: 'etc' is not absolute (expected a clean absolute "
            "path: '/' followed by '/'-separated names, no '//', '.' or '..')",
        ),
        (
            {"constraints": _c(system="")},
            "constraints.system: the system is empty (expected a system such as 'x86_64-linux')",
        ),
    ],
)
def test_messages_word_for_word(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        validate_request(dataclasses.replace(GOOD, **changes))
    assert str(info.value) == message


def test_value_attribute_is_the_offending_value() -> None:
    with pytest.raises(RequestValidationError) as info:
        validate_request(dataclasses.replace(GOOD, scratch_paths=("build", "a/../b")))
    assert info.value.value == "a/../b"
    assert info.value.location == ("scratch_paths", 1)


# --------------------------------------------------------------------------------------------
# what passes on purpose


@pytest.mark.parametrize(
    "changes",
    [
        {"scratch_paths": ("build", "build")},
        {"outputs": ("nix/store/a", "nix/store/a")},
        {"environment_vars": (EnvVar("A", b"1"), EnvVar("A", b"2"))},
        {"constraints": _c(available_ro_paths=("/etc", "/etc"))},
        {"additional_files": (AdditionalFile("build/a", b"1"), AdditionalFile("build/a", b"2"))},
        {"constraints": None},
        {"working_dir": ""},
        {"constraints": _c(available_ro_paths=("/",))},
        {"environment_vars": (EnvVar("A", b"\xff\xfe"),)},
        {"scratch_paths": ()},
        {"refscan_needles": ("", "")},
        {"outputs": ("somewhere/else",)},
    ],
    ids=[
        "duplicate-scratch-paths",
        "duplicate-outputs",
        "duplicate-env-keys",
        "duplicate-ro-paths",
        "duplicate-additional-files",
        "no-constraints",
        "empty-working-dir",
        "root-ro-path",
        "non-utf8-env-value",
        "no-scratch-paths",
        "needles-unchecked",
        "output-outside-scratch",
    ],
)
def test_passes_like_snix(changes: dict[str, Any]) -> None:
    validate_request(dataclasses.replace(GOOD, **changes))


# --------------------------------------------------------------------------------------------
# snix's order: the first failure wins


def test_order_inputs_before_working_dir() -> None:
    bad = dataclasses.replace(GOOD, inputs={"..": FileNode(D, 0)}, working_dir="/x")
    with pytest.raises(RequestValidationError, match=r"^inputs\[0\]"):
        validate_request(bad)


def test_order_each_path_before_sorting() -> None:
    bad = dataclasses.replace(GOOD, scratch_paths=("z", "a", "b//c"))
    with pytest.raises(RequestValidationError) as info:
        validate_request(bad)
    assert info.value.snix_error == "InvalidScratchPath(2)"


def test_order_scratch_before_inputs_dir_before_outputs() -> None:
    bad = dataclasses.replace(GOOD, scratch_paths=("/a",), inputs_dir="/b", outputs=("/c",))
    with pytest.raises(RequestValidationError, match=r"^scratch_paths\[0\]"):
        validate_request(bad)
    with pytest.raises(RequestValidationError, match=r"^inputs_dir"):
        validate_request(dataclasses.replace(bad, scratch_paths=()))
    with pytest.raises(RequestValidationError, match=r"^outputs\[0\]"):
        validate_request(dataclasses.replace(bad, scratch_paths=(), inputs_dir=""))


def test_order_env_before_constraints_before_additional_files() -> None:
    bad = dataclasses.replace(
        GOOD,
        environment_vars=(EnvVar("=", b""),),
        constraints=_c(system=""),
        additional_files=(AdditionalFile("/x", b""),),
    )
    with pytest.raises(RequestValidationError, match=r"^environment_vars\[0\]\.key"):
        validate_request(bad)
    with pytest.raises(RequestValidationError, match=r"^constraints\.system"):
        validate_request(dataclasses.replace(bad, environment_vars=()))
    with pytest.raises(RequestValidationError, match=r"^additional_files\[0\]\.path"):
        validate_request(dataclasses.replace(bad, environment_vars=(), constraints=None))


def test_env_key_checked_before_value() -> None:
    bad = dataclasses.replace(GOOD, environment_vars=(EnvVar("a=b", b"\0"),))
    with pytest.raises(RequestValidationError) as info:
        validate_request(bad)
    assert info.value.field == "environment_vars[0].key"
