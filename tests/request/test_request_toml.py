"""TOML case files: every key, the input kinds, [expect], and error messages word for word."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from pytest_snixbuild.castore.digests import EMPTY_DIGEST, B3Digest
from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.nodes import Directory, DirectoryNode, FileNode, SymlinkNode
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.nix import nixbase32
from pytest_snixbuild.request.model import (
    AdditionalFile,
    BuildConstraints,
    BuildRequest,
    EnvVar,
)
from pytest_snixbuild.request.toml_case import (
    REQUEST_SECTIONS,
    Case,
    CaseError,
    Expect,
    OutputExpect,
    load_case,
    load_case_text,
    register_request_section,
)
from pytest_snixbuild.request.toml_reader import Table

CASES = Path(__file__).parent.parent / "data" / "request" / "cases"
FIXTURES = Path(__file__).parent.parent.parent / "fixtures"
HEAD = '[request]\ncommand_args = ["x"]\n'
#: a digest no store in these tests holds
ABSENT = "blake3-rxNJufX5oaagQE3qNtzJSZvLJcmtwRK3zJqTyuQfMmI="


def load(tmp_path: Path, text: str, store: Store | None = None) -> Case:
    path = tmp_path / "case.toml"
    path.write_text(text)
    return load_case(path, store or Store.memory())


def error_of(tmp_path: Path, text: str, store: Store | None = None) -> str:
    with pytest.raises(CaseError) as info:
        load(tmp_path, text, store)
    return str(info.value).replace(str(tmp_path), "DIR")


# --------------------------------------------------------------------------------------------
# valid cases


def test_minimal_case_gets_the_defaults() -> None:
    case = load_case(CASES / "minimal.toml", Store.memory())
    assert case.name == "minimal"
    assert case.path == CASES / "minimal.toml"
    assert case.expect is None
    assert case.request == BuildRequest(command_args=("/bin/sh", "-c", "true"))
    assert case.request.working_dir == "build"
    assert case.request.scratch_paths == ("build", "nix/store")
    assert case.request.inputs_dir == "nix/store"
    assert case.request.constraints == BuildConstraints(
        system="x86_64-linux", min_memory=0, available_ro_paths=(), network_access=False,
        provide_bin_sh=True,
    )  # fmt: skip


def test_full_case_every_key() -> None:
    store = Store.memory()
    case = load_case(CASES / "full.toml", store)
    req = case.request
    tree = ingest_path(CASES / "inputs" / "tree", Store.memory())
    script = b"echo hi\n"
    single = b"single file\n"
    assert req == BuildRequest(
        command_args=("/bin/sh", "-c", "echo hello > $out"),
        inputs={
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-script": FileNode(B3Digest.of(script), 8, True),
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-link": SymlinkNode(
                b"/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"
            ),
            "dddddddddddddddddddddddddddddddd-single": FileNode(B3Digest.of(single), 12, False),
            "mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar": tree,
        },
        working_dir="build/src",
        scratch_paths=("build", "build/src", "nix/store"),
        inputs_dir="nix/store",
        outputs=(
            "nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo",
            "nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo-dev",
        ),
        environment_vars=(
            EnvVar("BYTES", b"\xc3\x84\xc3\x96\xff"),
            EnvVar("out", b"/nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo"),
            EnvVar("with space", b""),
        ),
        constraints=BuildConstraints(
            "aarch64-linux", 1 << 30, ("/etc/ssl", "/usr/share"), True, False
        ),
        additional_files=(
            AdditionalFile("build/.attr-a", b"baz"),
            AdditionalFile("build/.attr-b", b"\x00\x01\x02"),
        ),
        refscan_needles=("fhaj6gmwns62s6ypkcldbaj2ybvkhx3p", "mp57d33657rf34lzvlbpfa1gjfv5gmpg"),
    )
    assert isinstance(tree, DirectoryNode)
    assert store.directories.has(tree.digest)
    assert store.blobs.has(B3Digest.of(script))
    assert case.expect == Expect(
        success=True,
        outputs={
            "nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo": OutputExpect(
                type="file",
                digest=EMPTY_DIGEST,
                nar_hash="sha256:" + nixbase32.encode(hashlib.sha256(b"").digest()),
                contents=b"hello\n",
                # in the order of request.refscan_needles
                needles=("fhaj6gmwns62s6ypkcldbaj2ybvkhx3p", "mp57d33657rf34lzvlbpfa1gjfv5gmpg"),
            ),
            "nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo-dev": OutputExpect(
                type="directory", needles=()
            ),
        },
    )


def test_project_fixtures_all_load() -> None:
    files = sorted(FIXTURES.glob("*.toml"))
    assert files
    for path in files:
        case = load_case(path, Store.memory())
        assert case.name == path.stem


def test_expect_defaults(tmp_path: Path) -> None:
    case = load(tmp_path, HEAD + "[expect]\n")
    assert case.expect == Expect(success=True, outputs={})
    case = load(tmp_path, HEAD + "[expect]\nsuccess = false\n")
    assert case.expect == Expect(success=False)


def test_constraints_false_means_no_constraints_message(tmp_path: Path) -> None:
    assert load(tmp_path, HEAD + "constraints = false\n").request.constraints is None


def test_partial_constraints_table_keeps_other_defaults(tmp_path: Path) -> None:
    case = load(tmp_path, HEAD + "[request.constraints]\nnetwork_access = true\n")
    assert case.request.constraints == BuildConstraints(network_access=True)


def test_environment_vars_as_array_keep_order_and_duplicates(tmp_path: Path) -> None:
    text = HEAD + (
        'environment_vars = [{ key = "A", value = "1" }, '
        '{ key = "A", value = { base64 = "/w==" } }]\n'
    )
    case = load(tmp_path, text)
    assert case.request.environment_vars == (EnvVar("A", b"1"), EnvVar("A", b"\xff"))


def test_table_environment_vars_are_sorted_by_bytes(tmp_path: Path) -> None:
    case = load(tmp_path, HEAD + '[request.environment_vars]\nb = "1"\nB = "2"\na = "3"\n')
    assert [e.key for e in case.request.environment_vars] == ["B", "a", "b"]


def test_directory_and_file_references_into_the_store(tmp_path: Path) -> None:
    store = Store.memory()
    blob = store.blobs.put(b"abc")
    child = Directory({b"f": FileNode(blob, 3)})
    store.directories.put(child)
    text = HEAD + (
        "[request.inputs]\n"
        f'dir = {{ directory = "{child.digest}", size = {child.size} }}\n'
        f'dir-no-size = {{ directory = "{child.digest}" }}\n'
        f'file = {{ file = "{blob}", size = 3, executable = true }}\n'
        f'file-no-size = {{ file = "{blob}" }}\n'
    )
    inputs = load(tmp_path, text, store).request.inputs
    assert inputs["dir"] == inputs["dir-no-size"] == DirectoryNode(child.digest, 2)
    assert inputs["file"] == FileNode(blob, 3, True)
    assert inputs["file-no-size"] == FileNode(blob, 3, False)


def test_references_into_an_on_disk_store(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    node = ingest_path(CASES / "inputs" / "tree", store)
    assert isinstance(node, DirectoryNode)
    text = HEAD + f'[request.inputs]\ntree = {{ directory = "{node.digest}" }}\n'
    assert load(tmp_path, text, Store.open(tmp_path / "store")).request.inputs["tree"] == node


def test_absolute_input_path(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    text = HEAD + f'[request.inputs]\nf = {{ path = "{tmp_path / "f"}" }}\n'
    assert load(tmp_path, text).request.inputs["f"] == FileNode(B3Digest.of(b"x"), 1, False)


def test_inline_contents_as_base64(tmp_path: Path) -> None:
    text = HEAD + '[request.inputs]\nf = { contents = { base64 = "/wA=" } }\n'
    assert load(tmp_path, text).request.inputs["f"] == FileNode(B3Digest.of(b"\xff\x00"), 2)


def test_nar_hash_forms_are_normalised(tmp_path: Path) -> None:
    raw = hashlib.sha256(b"x").digest()
    want = "sha256:" + nixbase32.encode(raw)
    sri = "sha256-" + base64.b64encode(raw).decode()
    for given in (want, "sha256:" + raw.hex(), sri):
        text = HEAD + f'outputs = ["o"]\n[expect.outputs.o]\nnar_hash = "{given}"\n'
        case = load(tmp_path, text)
        assert case.expect is not None
        assert case.expect.outputs["o"].nar_hash == want


# --------------------------------------------------------------------------------------------
# errors, word for word


ERRORS = [
    pytest.param(
        '[request]\ncomand_args = ["x"]\n',
        "DIR/case.toml:2: request.comand_args: unknown key, did you mean 'command_args'? "
        "(expected one of command_args, working_dir, scratch_paths, inputs_dir, outputs, "
        "refscan_needles, environment_vars, constraints, additional_files, inputs)",
        id="typo-key",
    ),
    pytest.param(
        HEAD + "[expect]\nsucess = true\n",
        "DIR/case.toml:4: expect.sucess: unknown key, did you mean 'success'? "
        "(expected one of success, outputs)",
        id="typo-expect-key",
    ),
    pytest.param(
        "[requests]\n",
        "DIR/case.toml:1: requests: unknown key, did you mean 'request'? "
        "(expected one of request, derivation, expect)",
        id="typo-section",
    ),
    pytest.param(
        HEAD + "working_dir = 3\n",
        "DIR/case.toml:3: request.working_dir: wrong type: integer 3 (expected a string)",
        id="wrong-type",
    ),
    pytest.param(
        '[request]\ncommand_args = ["x", true]\n',
        "DIR/case.toml:2: request.command_args[1]: wrong type: boolean true (expected a string)",
        id="wrong-type-element",
    ),
    pytest.param(
        HEAD + '[request.constraints]\nnetwork_access = "yes"\n',
        "DIR/case.toml:4: request.constraints.network_access: wrong type: string 'yes' "
        "(expected true or false)",
        id="wrong-type-bool",
    ),
    pytest.param(
        '[request]\ncommand_args = "echo hi"\n',
        "DIR/case.toml:2: request.command_args: wrong type: string 'echo hi' "
        "(expected an array of strings)",
        id="wrong-type-array",
    ),
    pytest.param(
        HEAD
        + '[request.inputs]\n"mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar" = { path = "inputs/bar" }\n',
        "DIR/case.toml:4: request.inputs.mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar.path: "
        "'inputs/bar' does not exist: DIR/inputs/bar "
        "(expected a file, directory or symlink, relative to the case file or absolute)",
        id="missing-input-path",
    ),
    pytest.param(
        HEAD + '[request.environment_vars]\nBYTES = { base64 = "w4T@" }\n',
        "DIR/case.toml:4: request.environment_vars.BYTES.base64: invalid base64 'w4T@' "
        "(expected standard base64 with padding, e.g. 'aGk=')",
        id="bad-base64",
    ),
    pytest.param(
        HEAD + '[[request.additional_files]]\npath = "build/a"\ncontents = { base64 = "abc" }\n',
        "DIR/case.toml:5: request.additional_files[0].contents.base64: invalid base64 'abc' "
        "(expected standard base64 with padding, e.g. 'aGk=')",
        id="bad-base64-contents",
    ),
    pytest.param(
        HEAD + '[request.inputs]\ntree = { directory = "blake3-abc", size = 3 }\n',
        "DIR/case.toml:4: request.inputs.tree.directory: invalid digest 'blake3-abc' "
        "(expected 'blake3-' followed by the padded standard base64 of 32 bytes (44 characters))",
        id="bad-digest",
    ),
    pytest.param(
        HEAD + 'outputs = ["o"]\n[expect.outputs.o]\ndigest = "sha256:abc"\n',
        "DIR/case.toml:5: expect.outputs.o.digest: invalid digest 'sha256:abc' "
        "(expected 'blake3-' followed by the padded standard base64 of 32 bytes (44 characters))",
        id="bad-digest-expect",
    ),
    pytest.param(
        '[request]\ncommand_args = ["x"\nworking_dir = "b"\n',
        "DIR/case.toml:3: invalid TOML: Unclosed array (at line 3, column 1)",
        id="syntax-error",
    ),
    pytest.param(
        HEAD + "working_dir = \n",
        "DIR/case.toml:3: invalid TOML: Invalid value (at line 3, column 15)",
        id="syntax-error-value",
    ),
    pytest.param(
        HEAD + 'outputs = ["nix/store/../foo"]\n',
        "DIR/case.toml:3: request.outputs[0]: 'nix/store/../foo' contains a '..' component "
        "(expected a clean relative path: '/'-separated names, no leading or trailing '/', "
        "no '//', '.' or '..')",
        id="invalid-path-in-outputs",
    ),
    pytest.param(
        HEAD + 'outputs = ["nix/store/foo"]\n[expect.outputs."nix/store//foo"]\ntype = "file"\n',
        "DIR/case.toml:4: expect.outputs.\"nix/store//foo\": 'nix/store//foo' contains '//' "
        "(expected a clean relative path: '/'-separated names, no leading or trailing '/', "
        "no '//', '.' or '..')",
        id="invalid-path-in-expect-outputs",
    ),
    pytest.param(
        HEAD + 'outputs = ["nix/store/foo"]\n[expect.outputs."nix/store/bar"]\ntype = "file"\n',
        "DIR/case.toml:4: expect.outputs.\"nix/store/bar\": 'nix/store/bar' is not one of "
        "request.outputs (expected an output path listed in request.outputs: 'nix/store/foo')",
        id="unknown-expect-output",
    ),
    pytest.param(
        HEAD + '[request.environment_vars]\nA = "1"\n"B=C" = "2"\n',
        "DIR/case.toml:5: request.environment_vars.\"B=C\": the key 'B=C' contains '=' "
        "(expected a non-empty key without '=' or NUL)",
        id="env-key-with-equals",
    ),
    pytest.param(
        HEAD + 'scratch_paths = ["nix/store", "build"]\n',
        "DIR/case.toml:3: request.scratch_paths[1]: 'build' sorts before 'nix/store' at "
        "scratch_paths[0] (expected scratch_paths sorted by bytes; duplicates are allowed)",
        id="scratch-paths-unsorted",
    ),
    pytest.param(
        HEAD + '[request.inputs]\n"a/b" = { contents = "x" }\n',
        "DIR/case.toml:4: request.inputs.\"a/b\": invalid input name 'a/b': it contains '/' "
        "(expected a single path component of 1 to 255 bytes, not '.' or '..', without '/' "
        "or NUL)",
        id="invalid-input-name",
    ),
    pytest.param(
        HEAD + '[request.constraints]\nsystem = ""\n',
        "DIR/case.toml:4: request.constraints.system: the system is empty "
        "(expected a system such as 'x86_64-linux')",
        id="empty-system",
    ),
    pytest.param(
        HEAD + '[[request.additional_files]]\npath = "build/a"\ncontents = ""\n'
        '[[request.additional_files]]\npath = "/build/b"\ncontents = ""\n',
        "DIR/case.toml:7: request.additional_files[1].path: '/build/b' is absolute "
        "(expected a clean relative path: '/'-separated names, no leading or trailing '/', "
        "no '//', '.' or '..')",
        id="additional-file-absolute",
    ),
    pytest.param(
        "[request]\ncommand_args = []\n",
        "DIR/case.toml:2: request.command_args: the array is empty "
        "(expected the program to run and its arguments)",
        id="empty-command-args",
    ),
    pytest.param(
        '[request]\nworking_dir = "b"\n',
        "DIR/case.toml:1: request.command_args: missing (expected an array of strings)",
        id="missing-command-args",
    ),
    pytest.param(
        "# nothing here\n",
        "DIR/case.toml:1: request: missing (expected a [request] or [derivation] table)",
        id="no-request",
    ),
    pytest.param(
        '[derivation]\ndrv = "foo.drv"\n',
        "DIR/case.toml:2: derivation.drv: unknown key (expected one of path, store)",
        id="derivation-unknown-key",
    ),
    pytest.param(
        HEAD + "[derivation]\n",
        "DIR/case.toml:3: derivation: both [request] and [derivation] given "
        "(expected exactly one of them)",
        id="two-request-sections",
    ),
    pytest.param(
        HEAD + '[request.inputs]\ntree = { path = "a", contents = "b" }\n',
        "DIR/case.toml:4: request.inputs.tree.contents: both path and contents given "
        "(expected exactly one of path, contents, symlink, directory, file)",
        id="two-input-kinds",
    ),
    pytest.param(
        HEAD + "[request.inputs]\ntree = { executable = true }\n",
        "DIR/case.toml:4: request.inputs.tree: no content given "
        "(expected exactly one of path, contents, symlink, directory, file)",
        id="no-input-kind",
    ),
    pytest.param(
        HEAD + '[request.inputs]\ntree = { contents = "x", exectuable = true }\n',
        "DIR/case.toml:4: request.inputs.tree.exectuable: unknown key, did you mean "
        "'executable'? (expected one of contents, executable)",
        id="typo-input-key",
    ),
    pytest.param(
        HEAD + '[request.inputs]\nfoo = "bar"\n',
        "DIR/case.toml:4: request.inputs.foo: wrong type: string 'bar' (expected an inline "
        'table such as { path = "inputs/foo" } or { contents = "…" })',
        id="input-not-a-table",
    ),
    pytest.param(
        HEAD + '[request.inputs]\nfoo = { symlink = "" }\n',
        "DIR/case.toml:4: request.inputs.foo.symlink: invalid symlink target b'': targets "
        "must not be empty (expected a target of 1 to 4095 bytes without NUL)",
        id="empty-symlink",
    ),
    pytest.param(
        HEAD + f'[request.inputs]\nt = {{ directory = "{ABSENT}" }}\n',
        "DIR/case.toml:4: request.inputs.t.directory: "
        "blake3-rxNJufX5oaagQE3qNtzJSZvLJcmtwRK3zJqTyuQfMmI= is not in the in-memory store "
        "(expected a directory already in the castore)",
        id="directory-not-in-store",
    ),
    pytest.param(
        HEAD + f'[request.inputs]\nt = {{ file = "{ABSENT}" }}\n',
        "DIR/case.toml:4: request.inputs.t.file: "
        "blake3-rxNJufX5oaagQE3qNtzJSZvLJcmtwRK3zJqTyuQfMmI= is not in the in-memory store "
        "(expected a blob already in the castore)",
        id="file-not-in-store",
    ),
    pytest.param(
        HEAD + "[request.constraints]\nmin_memory = -1\n",
        "DIR/case.toml:4: request.constraints.min_memory: -1 is too small "
        "(expected an integer >= 0)",
        id="negative-min-memory",
    ),
    pytest.param(
        HEAD + 'outputs = ["o"]\n[expect.outputs.o]\ntype = "dir"\n',
        "DIR/case.toml:5: expect.outputs.o.type: unknown output type 'dir' "
        "(expected file, directory or symlink)",
        id="bad-output-type",
    ),
    pytest.param(
        HEAD + 'outputs = ["o"]\n[expect.outputs.o]\ntype = "directory"\ncontents = "x"\n',
        "DIR/case.toml:6: expect.outputs.o.contents: contents given for a directory output "
        '(expected contents only with type = "file")',
        id="contents-for-directory",
    ),
    pytest.param(
        HEAD + 'outputs = ["o"]\n[expect.outputs.o]\nneedles = ["zz"]\n',
        "DIR/case.toml:5: expect.outputs.o.needles[0]: 'zz' is not one of "
        "request.refscan_needles (expected needles listed in request.refscan_needles)",
        id="unknown-needle",
    ),
    pytest.param(
        HEAD + 'outputs = ["o"]\n[expect.outputs.o]\nnar_hash = "sha256:zz"\n',
        "DIR/case.toml:5: expect.outputs.o.nar_hash: invalid NAR hash 'sha256:zz' (expected "
        "a sha256 hash: 'sha256:' and 52 nixbase32 or 64 hex characters, or SRI "
        "'sha256-<base64>')",
        id="bad-nar-hash",
    ),
    pytest.param(
        HEAD + 'environment_vars = [{ key = "b", value = "1" }, { key = "a", value = "2" }]\n',
        "DIR/case.toml:3: request.environment_vars[1].key: 'a' sorts before 'b' at "
        "environment_vars[0] (expected environment variables sorted by bytes; duplicates are "
        "allowed)",
        id="env-array-unsorted",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_error_messages(tmp_path: Path, text: str, message: str) -> None:
    assert error_of(tmp_path, text) == message


def test_error_attributes(tmp_path: Path) -> None:
    path = tmp_path / "case.toml"
    path.write_text(HEAD + "working_dir = 3\n")
    with pytest.raises(CaseError) as info:
        load_case(path, Store.memory())
    err = info.value
    assert (err.file, err.line, err.key) == (path, 3, "request.working_dir")
    assert (err.reason, err.expected) == ("wrong type: integer 3", "a string")


def test_size_mismatch_of_a_stored_directory(tmp_path: Path) -> None:
    store = Store.memory()
    d = Directory({b"f": FileNode(EMPTY_DIGEST, 0)})
    store.directories.put(d)
    text = HEAD + f'[request.inputs]\nt = {{ directory = "{d.digest}", size = 7 }}\n'
    assert error_of(tmp_path, text, store) == (
        "DIR/case.toml:4: request.inputs.t.size: size 7 does not match the stored directory "
        "(expected 2, or no size)"
    )


def test_input_path_that_cannot_be_ingested(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "fifo")
    text = HEAD + '[request.inputs]\nf = { path = "fifo" }\n'
    message = error_of(tmp_path, text)
    assert message.startswith("DIR/case.toml:4: request.inputs.f.path: cannot ingest DIR/fifo: ")
    assert "fifo" in message.split("cannot ingest", 1)[1]


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(CaseError) as info:
        load_case(tmp_path / "nope.toml", Store.memory())
    assert str(info.value) == (
        f"{tmp_path}/nope.toml: cannot read the case file: No such file or directory"
    )
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'[request]\ncommand_args = ["\xff"]\n')
    with pytest.raises(CaseError) as info:
        load_case(bad, Store.memory())
    assert str(info.value) == f"{bad}:2: invalid TOML: the file is not UTF-8"


# --------------------------------------------------------------------------------------------
# the request-section registry


def test_a_new_request_section_can_be_registered(tmp_path: Path) -> None:
    def load_echo(table: Table, store: Store) -> BuildRequest:
        table.check_keys(["say"])
        return BuildRequest(command_args=("echo", table.string("say")))

    register_request_section("echo", load_echo)
    try:
        case = load(tmp_path, '[echo]\nsay = "hi"\n')
        assert case.request.command_args == ("echo", "hi")
        assert error_of(tmp_path, "[echo]\nsya = 1\n").startswith(
            "DIR/case.toml:2: echo.sya: unknown key, did you mean 'say'?"
        )
    finally:
        del REQUEST_SECTIONS["echo"]


def test_load_case_text_resolves_paths_against_the_given_path(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes(b"data")
    text = HEAD + '[request.inputs]\nx = { path = "in.txt" }\n'
    case = load_case_text(text, tmp_path / "virtual.toml", Store.memory())
    assert case.name == "virtual"
    assert case.request.inputs["x"] == FileNode(B3Digest.of(b"data"), 4)
