"""structuredAttrs: .attrs.json and .attrs.sh as Nix 2.8 writes them, and the request."""

from __future__ import annotations

from pathlib import Path

import pytest
from nix_testlib import DATA, OK_DIR, NixTools

from pytest_snixbuild.nix.aterm import parse_derivation
from pytest_snixbuild.nix.structured_attrs import (
    StructuredAttrsError,
    dump_json,
    parse_structured_attrs,
    render_attrs_sh,
    shell_escape,
    structured_attrs_files,
)
from pytest_snixbuild.nix.to_request import SANDBOX_ENV, derivation_to_build_request

VECTOR = OK_DIR / "9lj1lkjm2ag622mh4h9rpy6j607an8g2-structured-attrs.drv"
OUT = "/nix/store/6a39dl014j57bqka7qx25k0vb20vkqm6-structured-attrs"


def test_vector_request() -> None:
    drv = parse_derivation(VECTOR.read_bytes())
    req = derivation_to_build_request(drv, {})
    env = {e.key: e.value.decode() for e in req.environment_vars}
    # Nix passes none of the derivation's env (not __json, not even out) in structured mode
    assert env == {
        **SANDBOX_ENV,
        "NIX_ATTRS_JSON_FILE": "/build/.attrs.json",
        "NIX_ATTRS_SH_FILE": "/build/.attrs.sh",
    }
    files = {f.path: f.contents.decode() for f in req.additional_files}
    assert files == {
        "build/.attrs.json": (
            '{"builder":":","name":"structured-attrs","outputs":{"out":"' + OUT + '"},"system":":"}'
        ),
        "build/.attrs.sh": (
            "declare builder=':'\n"
            "declare name='structured-attrs'\n"
            f"declare -A outputs=(['out']='{OUT}' )\n"
            "declare system=':'\n"
        ),
    }
    assert [f.path for f in req.additional_files] == ["build/.attrs.json", "build/.attrs.sh"]
    assert req.outputs == (OUT[1:],)
    assert req.command_args == (":",)


@pytest.mark.parametrize(
    ("json_text", "dumped"),
    [
        ("1.5", "1.5"),
        ("2.0", "2.0"),
        ("2", "2"),
        ("-0.0", "-0.0"),
        ("0.0", "0.0"),
        ("0.1", "0.1"),
        ("0.0001", "0.0001"),
        ("0.00001", "1e-05"),
        ("1e15", "1e+15"),
        ("1e16", "1e+16"),
        ("123456789012345.0", "123456789012345.0"),
        ("1234567890123456.0", "1.234567890123456e+15"),
        ("1.5e300", "1.5e+300"),
        ("-2.5e-7", "-2.5e-07"),
        ("18446744073709551615", "18446744073709551615"),
        ("18446744073709551616", "1.8446744073709552e+19"),
        ('"a\\u0001\\b\\f\\n\\r\\t\\"\\\\/\\u007f"', '"a\\u0001\\b\\f\\n\\r\\t\\"\\\\/\x7f"'),
        ('{"b":1,"a":[true,false,null]}', '{"a":[true,false,null],"b":1}'),
    ],
)
def test_nlohmann_dump(json_text: str, dumped: str) -> None:
    attrs = parse_structured_attrs(f'{{"v":{json_text}}}'.encode())
    assert dump_json(attrs["v"]) == dumped


def test_shell_rendering() -> None:
    attrs = parse_structured_attrs(
        b'{"str":"a\'b","int":42,"big":5000000000,"neg":-3,"flt":1.5,"whole":3.0,"t":true,'
        b'"f":false,"n":null,"list":["x",1,true,null,false],"mixed":["x",1.5],"el":[],'
        b'"nested":[[1]],"attrs":{"a":"1","b c":2,"it\'s":null},"ea":{},"deep":{"a":{"b":1}},'
        b'"bad-name":"x","_ok9":"y","9bad":"z","\xc3\xbcnicode":"k","huge":1e300}'
    )
    assert render_attrs_sh(attrs) == (
        "declare _ok9='y'\n"
        "declare -A attrs=(['a']='1' ['b c']=2 ['it'\\''s']='' )\n"
        "declare big=705032704\n"
        "declare -A ea=()\n"
        "declare -a el=()\n"
        "declare f=\n"
        "declare huge=-2147483648\n"
        "declare int=42\n"
        "declare -a list=('x' 1 1 ''  )\n"
        "declare n=''\n"
        "declare neg=-3\n"
        "declare str='a'\\''b'\n"
        "declare t=1\n"
        "declare whole=3\n"
    )


def test_shell_escape() -> None:
    assert shell_escape("it's") == "'it'\\''s'"
    assert shell_escape("") == "''"


def test_placeholders_are_replaced_in_both_files() -> None:
    raw = b'{"ph":"/PLACEHOLDER/bin","name":"x"}'
    json_bytes, sh_bytes = structured_attrs_files(
        raw, {"out": "/nix/store/o"}, {"/PLACEHOLDER": "/nix/store/o"}
    )
    assert json_bytes == b'{"name":"x","outputs":{"out":"/nix/store/o"},"ph":"/nix/store/o/bin"}'
    assert b"declare ph='/nix/store/o/bin'\n" in sh_bytes


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[1]", "env '__json' must hold a JSON object, got list"),
        (b'{"a":NaN}', "__json: NaN is not valid JSON"),
        (
            b'{"exportReferencesGraph":{"g":["/nix/store/x"]}}',
            "structured attrs use 'exportReferencesGraph', which is not supported (it needs the "
            "path-info of the build's inputs)",
        ),
        (
            b"\xff",
            "env '__json' is not UTF-8: 'utf-8' codec can't decode byte 0xff in position 0: "
            "invalid start byte",
        ),
    ],
)
def test_errors(raw: bytes, message: str) -> None:
    with pytest.raises(StructuredAttrsError) as exc:
        structured_attrs_files(raw, {}, {})
    assert str(exc.value) == message


def test_invalid_json_error() -> None:
    with pytest.raises(StructuredAttrsError) as exc:
        structured_attrs_files(b"{", {}, {})
    assert str(exc.value).startswith("env '__json' is not valid JSON: Expecting property name")


def test_parity_with_nix_build(nix: NixTools) -> None:
    """Build a structuredAttrs derivation with nix-build (sandboxed) and compare what the
    builder saw with what our request gives it."""
    expr = DATA / "parity" / "structured-attrs.nix"
    busybox = str(nix.work / "busybox")
    drv_path = Path(nix.run("nix-instantiate", str(expr), "--arg", "busybox", busybox).strip())
    outputs = nix.run("nix-build", "--no-out-link", str(expr), "--arg", "busybox", busybox).split()
    drv = parse_derivation(drv_path.read_bytes(), str(drv_path))
    out = Path(drv.outputs["out"].path.to_absolute())  # type: ignore[union-attr]
    assert str(out) in outputs
    req = derivation_to_build_request(drv, {})
    files = {f.path: f.contents for f in req.additional_files}
    assert files["build/.attrs.json"] == (out / ".attrs.json").read_bytes()
    assert files["build/.attrs.sh"] == (out / ".attrs.sh").read_bytes()
    # the env the builder saw (minus what its shell and script set) has exactly our keys
    seen = dict(line.split("=", 1) for line in (out / "env").read_text().splitlines())
    ours = {e.key: e.value.decode() for e in req.environment_vars}
    assert set(seen) == set(ours) - {"PWD", "NIX_ATTRS_JSON_FILE", "NIX_ATTRS_SH_FILE"}
    for key in set(seen) - {"PATH", "NIX_BUILD_CORES"}:
        assert seen[key] == ours[key], key
