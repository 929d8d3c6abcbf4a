"""model -> TOML -> model: the writer's text loads back to an equal request and expectations."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from request_strategies import component, requests

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.nodes import Directory, FileNode, Node, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.nix import nixbase32
from pytest_snixbuild.request.model import BuildRequest, EnvVar
from pytest_snixbuild.request.toml_case import (
    OUTPUT_TYPES,
    Expect,
    OutputExpect,
    load_case_text,
)
from pytest_snixbuild.request.toml_writer import request_to_toml, toml_string

CASE_PATH = Path("/nonexistent/roundtrip.toml")


@st.composite
def stored_inputs(draw: st.DrawFn, store: Store) -> dict[str, Node]:
    """Inputs whose blobs and directories are in ``store`` (as a loaded case needs)."""
    out: dict[str, Node] = {}
    for name in draw(st.lists(component, max_size=3, unique=True)):
        kind = draw(st.sampled_from(["file", "directory", "symlink"]))
        data = draw(st.binary(max_size=20))
        if kind == "symlink":
            out[name] = SymlinkNode(data.replace(b"\0", b"") or b"t")
            continue
        blob = FileNode(store.blobs.put(data), len(data), draw(st.booleans()))
        if kind == "file":
            out[name] = blob
        else:
            directory = Directory({b"f": blob})
            store.directories.put(directory)
            out[name] = directory.as_node()
    return out


@st.composite
def expectations(draw: st.DrawFn, req: BuildRequest) -> Expect:
    outputs: dict[str, OutputExpect] = {}
    for path in draw(st.lists(st.sampled_from(req.outputs), unique=True)) if req.outputs else []:
        kind = draw(st.sampled_from((None, *OUTPUT_TYPES)))
        some_needles = (
            st.lists(st.sampled_from(req.refscan_needles)) if req.refscan_needles else st.just([])
        )
        needles = draw(st.none() | some_needles)
        outputs[path] = OutputExpect(
            type=kind,
            digest=draw(st.none() | st.binary(min_size=32, max_size=32).map(B3Digest)),
            nar_hash=draw(
                st.none()
                | st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + nixbase32.encode(b))
            ),
            contents=draw(st.none() | st.binary(max_size=10)) if kind in (None, "file") else None,
            needles=None
            if needles is None
            else tuple(n for n in dict.fromkeys(req.refscan_needles) if n in needles),
        )
    return Expect(draw(st.booleans()), outputs)


@st.composite
def cases(draw: st.DrawFn) -> tuple[BuildRequest, Expect | None, Store]:
    store = Store.memory()
    req = draw(requests(inputs=stored_inputs(store)))
    expect = draw(st.none() | expectations(req))
    return req, expect, store


@settings(max_examples=60, deadline=None)
@given(cases())
def test_model_toml_model(case: tuple[BuildRequest, Expect | None, Store]) -> None:
    req, expect, store = case
    text = request_to_toml(req, expect)
    loaded = load_case_text(text, CASE_PATH, store)
    assert loaded.request == req
    assert loaded.expect == expect


def test_unsorted_or_duplicate_env_is_written_as_an_array() -> None:
    req = BuildRequest(
        command_args=("x",), environment_vars=(EnvVar("A", b"1"), EnvVar("A", b"\xff"))
    )
    text = request_to_toml(req)
    assert text == (
        "[request]\n"
        'command_args = ["x"]\n'
        "environment_vars = [\n"
        '  { key = "A", value = "1" },\n'
        '  { key = "A", value = { base64 = "/w==" } },\n'
        "]\n"
    )
    assert load_case_text(text, CASE_PATH, Store.memory()).request == req


def test_writer_output_is_readable() -> None:
    req = BuildRequest(
        command_args=("/bin/sh", "-c", "echo hi > $out"),
        outputs=("nix/store/aaaa-x",),
        environment_vars=(EnvVar("out", b"/nix/store/aaaa-x"),),
        constraints=None,
    )
    assert request_to_toml(req) == (
        "[request]\n"
        'command_args = ["/bin/sh", "-c", "echo hi > $out"]\n'
        'outputs = ["nix/store/aaaa-x"]\n'
        "constraints = false\n"
        "\n"
        "[request.environment_vars]\n"
        'out = "/nix/store/aaaa-x"\n'
    )


def test_toml_string_escapes() -> None:
    assert toml_string('a"b\\c\n\x00\x7f\té') == '"a\\"b\\\\c\\n\\u0000\\u007f\\té"'
