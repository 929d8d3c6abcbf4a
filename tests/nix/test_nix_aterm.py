"""The derivation ATerm parser and writer (spec §8.3) on every vector, plus each error."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nix_testlib import DATA, GLUE_DIR, ok_drvs

from pytest_snixbuild.nix.aterm import escape, parse_derivation, write_derivation
from pytest_snixbuild.nix.cahash import CAHash
from pytest_snixbuild.nix.derivation import Derivation, DerivationError, Output
from pytest_snixbuild.nix.storepath import StorePath

ALL_DRVS = ok_drvs() + sorted(GLUE_DIR.glob("*.drv"))
OUT = "/nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo"
MINIMAL = f'Derive([("out","{OUT}","","")],[],[],"sys","/bin/sh",[],[("name","foo")])'.encode()


@pytest.mark.parametrize("path", ALL_DRVS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_round_trip_is_byte_identical(path: Path) -> None:
    data = path.read_bytes()
    drv = parse_derivation(data, path.name)
    assert write_derivation(drv) == data
    assert drv.to_aterm() == data
    assert Derivation.from_aterm(data) == drv


def test_glue_drvs_equal_the_nix_compat_ones() -> None:
    for path in GLUE_DIR.glob("*.drv"):
        assert path.read_bytes() == (DATA / "derivation_tests" / "ok" / path.name).read_bytes()


def test_parsed_fields() -> None:
    drv = parse_derivation((GLUE_DIR / "ch49594n9avinrf8ip0aslidkc4lxkqv-foo.drv").read_bytes())
    assert drv.outputs == {"out": Output(StorePath.from_absolute_path(OUT))}
    bar_drv = StorePath.from_absolute_path("/nix/store/ss2p4wmxijn652haqyd7dckxwl4c7hxx-bar.drv")
    assert dict(drv.input_derivations) == {bar_drv: ("out",)}
    assert drv.input_sources == ()
    assert (drv.system, drv.builder, drv.arguments) == (":", ":", ())
    assert drv.environment["bar"] == b"/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"
    assert drv.name == "foo"
    assert not drv.is_fixed_output


def test_fixed_output_fields() -> None:
    drv = parse_derivation((GLUE_DIR / "0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv").read_bytes())
    out = drv.fixed_output
    assert out is not None and out.ca is not None
    assert out.ca == CAHash.from_aterm(
        "r:sha256", "08813cbee9903c62be4c5027726a418a300da4500b2d369d3af9286f4815ceba"
    )
    assert (out.ca.method, out.ca.algo, out.ca.aterm_algo) == ("nar", "sha256", "r:sha256")


def test_latin1_env_value_is_raw_bytes() -> None:
    drv = parse_derivation(
        (DATA / "derivation_tests/ok/x6p0hg79i3wg0kkv7699935f7rrj9jf3-latin1.drv").read_bytes()
    )
    assert drv.environment["chars"] == b"\xc5\xc4\xd6"


def test_structured_attrs_name_comes_from_json() -> None:
    drv = parse_derivation(
        (
            DATA / "derivation_tests/ok/9lj1lkjm2ag622mh4h9rpy6j607an8g2-structured-attrs.drv"
        ).read_bytes()
    )
    assert "name" not in drv.environment
    assert drv.name == "structured-attrs"


def test_duplicate_drv_is_rejected_naming_the_key() -> None:
    data = (DATA / "derivation_tests" / "duplicate.drv").read_bytes()
    with pytest.raises(DerivationError) as exc:
        parse_derivation(data, "duplicate.drv")
    assert str(exc.value) == (
        "duplicate.drv: at byte 244: duplicate env key 'name' (each key may appear only once)"
    )


def test_escapes_round_trip() -> None:
    value = b'a\\b"c\nd\re\tf\x00\xff'
    assert escape(value) == b'"a\\\\b\\"c\\nd\\re\\tf\x00\xff"'
    drv = parse_derivation(MINIMAL).with_output_paths({})
    drv = Derivation(
        outputs=drv.outputs,
        system="s",
        builder="b",
        arguments=("x\ty", 'q"'),
        environment={"name": b"foo", "v": value, 'k"ey': b""},
    )
    assert parse_derivation(write_derivation(drv)) == drv


def _error(data: bytes) -> str:
    with pytest.raises(DerivationError) as exc:
        parse_derivation(data, "t.drv")
    return str(exc.value)


def test_truncated_input() -> None:
    assert _error(MINIMAL[:-1]) == (
        "t.drv: at byte 114: expected ')' closing the derivation, found end of input "
        "(the derivation is truncated)"
    )
    assert _error(MINIMAL[:30]) == (
        "t.drv: at byte 30: expected the closing '\"' of the path of output 'out', found end "
        "of input (the derivation is truncated)"
    )
    assert _error(b"") == (
        "t.drv: at byte 0: expected 'Derive' at the start of the derivation, found end of "
        "input (the derivation is truncated)"
    )
    assert _error(b'Derive([("out","x\\') == (
        "t.drv: at byte 18: expected an escaped character in the path of output 'out', found "
        "end of input (the derivation is truncated)"
    )


def test_bad_escape() -> None:
    data = MINIMAL.replace(b'"sys"', b'"s\\ys"')
    assert _error(data) == (
        "t.drv: at byte 81: invalid escape sequence \\y in the system: expected one of "
        '\\\\ \\" \\n \\r \\t'
    )


def test_trailing_bytes() -> None:
    assert _error(MINIMAL + b"\0") == (
        "t.drv: at byte 115: expected end of input after the closing ')', found 1 more byte "
        "starting with byte 0x00"
    )
    assert _error(MINIMAL + b"\nxy") == (
        "t.drv: at byte 115: expected end of input after the closing ')', found 3 more bytes "
        "starting with byte 0x0a"
    )


def test_wrong_byte() -> None:
    assert _error(b"Derivx") == (
        "t.drv: at byte 5: expected 'Derive' at the start of the derivation, found 'x'"
    )
    assert _error(MINIMAL.replace(b"],[],[]", b"],[],x]", 1)) == (
        "t.drv: at byte 76: expected '[' starting the input sources, found 'x'"
    )


def test_no_outputs() -> None:
    assert _error(b"Derive([],[],[],") == (
        "t.drv: at byte 8: expected at least one entry in the outputs, found ']'"
    )


def test_invalid_store_paths() -> None:
    assert _error(MINIMAL.replace(OUT.encode(), b"/nix/store/short-foo")) == (
        "t.drv: at byte 15: the path of output 'out': invalid store path '/nix/store/short-foo': "
        "expected <32-character hash>-<name>, got only 9 characters"
    )
    data = MINIMAL.replace(b"],[],[]", b'],[],["/tmp/x"]', 1)
    assert _error(data) == (
        "t.drv: at byte 77: an input source: invalid store path '/tmp/x': expected it to start "
        "with '/nix/store/'"
    )


def test_bad_hash() -> None:
    data = MINIMAL.replace(b'"",""', b'"sha256","ABCD"', 1)
    assert _error(data) == (
        "t.drv: at byte 65: output 'out': invalid output hash 'ABCD' for 'sha256': expected "
        "64 lower-case hex digits"
    )
    data = MINIMAL.replace(b'"",""', b'"r:sha3","00"', 1)
    assert _error(data) == (
        "t.drv: at byte 65: output 'out': invalid output hash algorithm 'r:sha3': expected one "
        "of md5, sha1, sha256, sha512, optionally prefixed by 'r:' (recursive) or 'text:'"
    )


def test_non_utf8_outside_env_values() -> None:
    data = MINIMAL.replace(b'"sys"', b'"s\xffs"')
    assert _error(data) == (
        "t.drv: at byte 79: the system is not valid UTF-8 (byte 0xff at offset 1 of the string "
        "b's\\xffs'); only env values may hold arbitrary bytes"
    )


def test_duplicates() -> None:
    two = f'("out","{OUT}","","")'.encode()
    data = MINIMAL.replace(two, two + b"," + two)
    assert _error(data) == (
        "t.drv: at byte 73: duplicate output name 'out' (each output may appear only once)"
    )
    src = b'"/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar"'
    data = MINIMAL.replace(b"],[],[]", b"],[],[" + src + b"," + src + b"]", 1)
    assert _error(data) == (
        "t.drv: at byte 127: duplicate input source "
        "'/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar'"
    )
    drv = b'("/nix/store/ss2p4wmxijn652haqyd7dckxwl4c7hxx-bar.drv",["out","out"])'
    data = MINIMAL.replace(b"],[],[]", b"],[" + drv + b"],[]", 1)
    assert _error(data) == (
        "t.drv: at byte 136: duplicate output name 'out' for input derivation "
        "'/nix/store/ss2p4wmxijn652haqyd7dckxwl4c7hxx-bar.drv'"
    )


def test_validation_errors() -> None:
    def invalid(data: bytes) -> str:
        return _error(data)

    assert invalid(MINIMAL.replace(b'"sys"', b'""')) == (
        "t.drv: invalid derivation: 'system' is empty"
    )
    assert invalid(MINIMAL.replace(b'("out",', b'("drv",')) == (
        "t.drv: invalid derivation: output name 'drv' is invalid: 'drv' is reserved"
    )
    assert invalid(MINIMAL.replace(OUT.encode(), b"")) == (
        "t.drv: invalid derivation: output 'out' has no path"
    )
    drv = b'("/nix/store/ss2p4wmxijn652haqyd7dckxwl4c7hxx-bar",["out"])'
    assert invalid(MINIMAL.replace(b"],[],[]", b"],[" + drv + b"],[]", 1)) == (
        "t.drv: invalid derivation: input derivation "
        "'/nix/store/ss2p4wmxijn652haqyd7dckxwl4c7hxx-bar' does not end in '.drv'"
    )
    fod = f'("lib","{OUT}","sha256","{"0" * 64}"),("out","{OUT}","","")'.encode()
    assert invalid(MINIMAL.replace(f'("out","{OUT}","","")'.encode(), fod)) == (
        "t.drv: invalid derivation: output 'lib' has a fixed hash, but a fixed output must be "
        "the only output and be named 'out' (outputs: lib, out)"
    )
    # without validation the same bytes parse
    assert parse_derivation(MINIMAL.replace(b'"sys"', b'""'), validate=False).system == ""


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_names = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


@settings(max_examples=60)
@given(
    outputs=st.dictionaries(
        _names.filter(lambda n: n != "drv"),
        st.binary(min_size=20, max_size=20),
        min_size=1,
        max_size=3,
    ),
    args=st.lists(_text, max_size=4),
    env=st.dictionaries(_text.filter(bool), st.binary(max_size=30), max_size=5),
    system=_text.filter(bool),
)
def test_write_parse_round_trip(
    outputs: dict[str, bytes], args: list[str], env: dict[str, bytes], system: str
) -> None:
    drv = Derivation(
        outputs={name: Output(StorePath(digest, f"x-{name}")) for name, digest in outputs.items()},
        system=system,
        builder="/bin/sh",
        arguments=tuple(args),
        environment=env,
    )
    data = write_derivation(drv)
    assert parse_derivation(data) == drv
    assert write_derivation(parse_derivation(data)) == data
