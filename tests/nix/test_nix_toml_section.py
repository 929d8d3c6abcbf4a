"""The ``[derivation]`` section of TOML cases and ``[expect]`` by output name, with references.

The cases in tests/data/nix/cases use derivations kept, with their inputs, in a directory
store (tests/data/nix/cases/store); ``test_committed_derivations_are_nix_s`` checks that
nix-instantiate still gives exactly those .drv files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from nix_testlib import DATA, NixTools

from pytest_snixbuild.castore.ingest import ingest_path
from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.cli.main import main
from pytest_snixbuild.engine.expect import check_expectations
from pytest_snixbuild.nix.build import derivation_request, read_derivation_file
from pytest_snixbuild.nix.closure import input_closure
from pytest_snixbuild.nix.toml_section import FixedOutputCheck
from pytest_snixbuild.request.model import BuildOutput, BuildResult
from pytest_snixbuild.request.toml_case import CaseError, OutputExpect, load_case, load_case_text

CASES = DATA / "cases"
STORE_DIR = CASES / "store"
HELLO_DRV = STORE_DIR / "y9v6p79df1h4m07g08xamw6p36dv33bm-hello.drv"
HELLO_OUT = "nix/store/65an4d6vg99z526gsv1bnnc10b00s1q1-hello"
HELLO_DEV = "nix/store/jza6b911i9riakm4rji1zyk1b17903xs-hello-dev"
DEP_OUT = "/nix/store/fwr53h1ziqnp023qpgjyd2sf3ix9x81p-dep"
NOTE = "/nix/store/715a8fi6jcf25958bmkm3yxfrc53gbpx-note"
HEAD = f'[derivation]\npath = "{HELLO_DRV}"\nstore = "{STORE_DIR}"\n'


def test_hello_case() -> None:
    store = Store.memory()
    case = load_case(CASES / "hello.toml", store)
    drv, _ = read_derivation_file(HELLO_DRV)
    assert case.request == derivation_request(drv, input_closure(drv, STORE_DIR, Store.memory()))
    assert case.expect is not None
    assert case.expect.needle_paths == (f"/{HELLO_DEV}", f"/{HELLO_OUT}", NOTE, DEP_OUT)
    assert case.expect.checks == ()
    # keyed by output path, as every [expect] is, though the file names them "out" and "dev"
    assert dict(case.expect.outputs) == {
        HELLO_OUT: OutputExpect(
            type="directory",
            nar_hash="sha256:0l08gbhpl1mx8ha4s1p7d8kz9lv6vgr72kvp991kfkfpl203fir8",
            references=(f"/{HELLO_OUT}", NOTE, DEP_OUT),
        ),
        HELLO_DEV: OutputExpect(contents=f"/{HELLO_OUT}\n".encode(), references=(f"/{HELLO_OUT}",)),
    }


def test_fixed_output_cases_always_check_the_hash() -> None:
    store = Store.memory()
    fod = load_case(CASES / "fod.toml", store)
    assert fod.expect is not None  # no [expect] in the file: the section's check needs one
    assert fod.expect.success and not fod.expect.outputs
    (check,) = fod.expect.checks
    assert isinstance(check, FixedOutputCheck)
    wrong = load_case(CASES / "fod-wrong.toml", store)
    assert wrong.expect is not None and not wrong.expect.success
    assert len(wrong.expect.checks) == 1


def _result(
    store: Store, tmp_path: Path, outputs: dict[str, bytes], needles: tuple[int, ...]
) -> BuildResult:
    built = []
    for path, contents in outputs.items():
        host = tmp_path / path.rsplit("/", 1)[1]
        host.write_bytes(contents)
        built.append(BuildOutput(path, ingest_path(host, store), needles))
    return BuildResult(tuple(built))


def test_expectations_of_a_derivation_case(tmp_path: Path) -> None:
    store = Store.memory()
    fod = load_case(CASES / "fod.toml", store)
    assert fod.expect is not None
    out = fod.request.outputs[0]
    good = _result(store, tmp_path, {out: b"hello"}, ())
    assert check_expectations(fod.expect, fod.request, good, store) == []
    bad = _result(store, tmp_path, {out: b"goodbye"}, ())
    (problem,) = check_expectations(fod.expect, fod.request, bad, store)
    assert problem.startswith("hash mismatch in fixed-output derivation '/nix/store/")
    # expect.success = false: a failed hash check is a failed build
    wrong = load_case(CASES / "fod-wrong.toml", store)
    assert wrong.expect is not None
    out = wrong.request.outputs[0]
    bad = _result(store, tmp_path, {out: b"goodbye"}, ())
    assert check_expectations(wrong.expect, wrong.request, bad, store) == []
    good = _result(store, tmp_path, {out: b"hello"}, ())
    (problem,) = check_expectations(wrong.expect, wrong.request, good, store)
    assert problem.startswith("expected the build to fail (expect.success = false)")


def test_references_mismatch(tmp_path: Path) -> None:
    store = Store.memory()
    case = load_case_text(
        HEAD + f'[expect.outputs.dev]\nreferences = ["/{HELLO_OUT}"]\n',
        tmp_path / "case.toml",
        store,
    )
    assert case.expect is not None
    # needle 3 is dep's output: found instead of hello's
    result = _result(store, tmp_path, {HELLO_OUT: b"x", HELLO_DEV: f"{DEP_OUT}\n".encode()}, (3,))
    assert check_expectations(case.expect, case.request, result, store) == [
        f"output {HELLO_DEV}: references differ: missing /{HELLO_OUT}; unexpected {DEP_OUT} "
        f"(found: {DEP_OUT})"
    ]


def _error(tmp_path: Path, text: str) -> str:
    (tmp_path / "inputs").mkdir()
    with pytest.raises(CaseError) as exc:
        load_case_text(text, tmp_path / "case.toml", Store.memory())
    return str(exc.value).replace(str(tmp_path), "DIR").replace(str(DATA), "DATA")


ERRORS = [
    pytest.param(
        "[derivation]\n",
        "DIR/case.toml:1: derivation.path: missing (expected a string)",
        id="no-path",
    ),
    pytest.param(
        "[derivation]\npath = 3\n",
        "DIR/case.toml:2: derivation.path: wrong type: integer 3 (expected a string)",
        id="path-type",
    ),
    pytest.param(
        '[derivation]\npath = ""\n',
        "DIR/case.toml:2: derivation.path: the path is empty (expected a path, relative to the "
        "case file)",
        id="path-empty",
    ),
    pytest.param(
        '[derivation]\npath = "x.drv"\nstor = "/nix/store"\n',
        "DIR/case.toml:3: derivation.stor: unknown key, did you mean 'store'? (expected one of "
        "path, store)",
        id="unknown-key",
    ),
    pytest.param(
        '[derivation]\npath = "missing.drv"\n',
        "DIR/case.toml:2: derivation.path: no such file 'DIR/missing.drv' (expected a derivation "
        "(.drv) file, relative to the case file)",
        id="missing-file",
    ),
    pytest.param(
        f'[derivation]\npath = "{CASES / "hello.toml"}"\n',
        "DIR/case.toml:2: derivation.path: not a valid derivation: DATA/cases/hello.toml: at "
        "byte 0: expected 'Derive' at the start of the derivation, found '#'",
        id="not-a-derivation",
    ),
    pytest.param(
        f'[derivation]\npath = "{HELLO_DRV}"\nstore = "{CASES / "hello.toml"}"\n',
        "DIR/case.toml:3: derivation.store: 'DATA/cases/hello.toml' is not a directory (expected "
        "the Nix store directory holding the derivation's inputs, e.g. '/nix/store')",
        id="store-not-a-directory",
    ),
    pytest.param(
        f'[derivation]\npath = "{HELLO_DRV}"\nstore = "inputs"\n',
        "DIR/case.toml:3: derivation.store: cannot read input derivation "
        "DIR/inputs/8d4f5lxgacnwlqqv100x46w77dnky63f-dep.drv: No such file or directory",
        id="input-missing",
    ),
    pytest.param(
        HEAD + "[expect.outputs.lib]\n",
        "DIR/case.toml:4: expect.outputs.lib: 'lib' is not one of request.outputs (expected an "
        f"output name ('dev', 'out') or an output path listed in request.outputs: '{HELLO_OUT}', "
        f"'{HELLO_DEV}')",
        id="unknown-output-name",
    ),
    pytest.param(
        HEAD + f'[expect.outputs.out]\n[expect.outputs."{HELLO_OUT}"]\n',
        f"DIR/case.toml:5: expect.outputs.\"{HELLO_OUT}\": output '{HELLO_OUT}' is given twice "
        "(expected each output once, by name or by path)",
        id="output-twice",
    ),
    pytest.param(
        HEAD + '[expect.outputs.out]\nreferences = ["/nix/store/x"]\n',
        "DIR/case.toml:5: expect.outputs.out.references[0]: '/nix/store/x' is not an output or "
        "input of the derivation (expected absolute store paths of the derivation's outputs or "
        "input closure)",
        id="reference-not-an-input",
    ),
    pytest.param(
        HEAD + "[expect.outputs.out]\nreferences = 1\n",
        "DIR/case.toml:5: expect.outputs.out.references: wrong type: integer 1 (expected an "
        "array of strings)",
        id="references-type",
    ),
    pytest.param(
        '[request]\ncommand_args = ["true"]\noutputs = ["nix/store/o"]\n'
        '[expect.outputs."nix/store/o"]\nreferences = []\n',
        'DIR/case.toml:5: expect.outputs."nix/store/o".references: references can only be '
        "checked for a [derivation] case (expected needles (hash parts) in a [request] case)",
        id="references-in-a-request-case",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_errors(tmp_path: Path, text: str, message: str) -> None:
    assert _error(tmp_path, text) == message


def test_relative_paths_are_relative_to_the_case_file(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    shutil.copytree(CASES, cases)
    case = load_case(cases / "hello.toml", Store.memory())
    assert case.request == load_case(CASES / "hello.toml", Store.memory()).request
    moved = cases / "moved.toml"
    moved.write_text((cases / "hello.toml").read_text().replace('store = "store"', 'store = "x"'))
    with pytest.raises(CaseError) as exc:
        load_case(moved, Store.memory())
    assert str(exc.value) == (
        f"{moved}:4: derivation.store: '{cases}/x' is not a directory (expected the Nix store "
        "directory holding the derivation's inputs, e.g. '/nix/store')"
    )


def test_committed_derivations_are_nix_s(nix: NixTools) -> None:
    """tests/data/nix/cases/store holds exactly what nix-instantiate makes of cases.nix."""
    for drv_file in sorted(STORE_DIR.glob("*.drv")):
        attr = {"fod-wrong": "fodWrong"}.get(drv_file.stem.split("-", 1)[1])
        attr = attr or drv_file.stem.split("-", 1)[1]
        made = Path(nix.run("nix-instantiate", str(CASES / "cases.nix"), "-A", attr).strip())
        assert made.name == drv_file.name
        assert made.read_bytes() == drv_file.read_bytes()
    note = STORE_DIR / NOTE.rsplit("/", 1)[1]
    assert note.read_bytes() == Path(NOTE).read_bytes()


# ------------------------------------------------------------------------------------------------
# real builds


@pytest.mark.snix_runc
def test_snixbuild_build_a_derivation_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", str(CASES / "hello.toml")]) == 0
    assert capsys.readouterr().out.endswith("expectations: ok\n")
    assert main(["build", str(CASES / "fod-wrong.toml")]) == 0  # it must fail, and does


@pytest.mark.snix_runc
def test_a_directory_of_derivation_cases_under_pytest(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin collects the cases, snapshots their config.json and builds them in runc."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    cases = pytester.path / "cases"
    shutil.copytree(CASES, cases)
    args = ("cases", "--snix-runc", "-p", "no:cacheprovider")

    created = pytester.runpytest(*args, "--snapshot-update")
    created.assert_outcomes(passed=4)
    for name in ("dep", "fod", "fod-wrong", "hello"):
        assert (cases / "__snapshots__" / name / f"{name}.json").is_file()
        assert (cases / "__snapshots__" / name / f"{name}[rootful].json").is_file()
    snapshot = (cases / "__snapshots__" / "hello" / "hello.json").read_text()
    assert f'"out=/{HELLO_OUT}"' in snapshot

    pytester.runpytest(*args).assert_outcomes(passed=4)

    # a wrong reference and a fixed output without success = false now fail, readably
    hello = cases / "hello.toml"
    hello.write_text(hello.read_text().replace(f'references = ["/{HELLO_OUT}"]', "references = []"))
    wrong = cases / "fod-wrong.toml"
    wrong.write_text(wrong.read_text().replace("[expect]\nsuccess = false\n", ""))
    failed = pytester.runpytest(*args)
    failed.assert_outcomes(passed=2, failed=2)
    failed.stdout.fnmatch_lines(
        [
            f"*- output {HELLO_DEV}: references differ: unexpected /{HELLO_OUT} "
            f"(found: /{HELLO_OUT})",
        ],
        consecutive=False,
    )
    failed.stdout.fnmatch_lines(
        [
            "*- hash mismatch in fixed-output derivation '/nix/store/*-fod-wrong.drv':",
            "*  specified: sha256-LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
            "*     got:    sha256-guNaY866N+lkZDTF3UEupXcUfx5KQczeFhQlMYfj2/k=",
        ]
    )
