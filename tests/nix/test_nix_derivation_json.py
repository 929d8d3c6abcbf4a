"""The JSON forms of derivations: snix's serde ``.drv.json`` and ``nix show-derivation``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from nix_testlib import OK_DIR, ok_drvs

from pytest_snixbuild.nix.aterm import parse_derivation, write_derivation
from pytest_snixbuild.nix.derivation import DerivationError
from pytest_snixbuild.nix.derivation_json import (
    dump_serde,
    dump_show_derivation,
    from_serde,
    from_show_derivation,
    loads,
    to_serde,
)
from pytest_snixbuild.nix.storepath import StorePath

LATIN1 = OK_DIR / "x6p0hg79i3wg0kkv7699935f7rrj9jf3-latin1.drv"
SERDE_DRVS = [p for p in ok_drvs() if p != LATIN1]


@pytest.mark.parametrize("path", SERDE_DRVS, ids=lambda p: p.name)
def test_serde_vectors(path: Path) -> None:
    data = path.read_bytes()
    json_bytes = Path(f"{path}.json").read_bytes()
    drv = parse_derivation(data, path.name)
    # parsing the .drv equals the JSON struct, and JSON -> ATerm equals the .drv bytes
    assert from_serde(loads(json_bytes)) == drv
    assert write_derivation(from_serde(loads(json_bytes))) == data
    # and we write the .drv.json byte for byte
    assert dump_serde(drv) == json_bytes
    assert list(to_serde(drv)) == [
        "args",
        "builder",
        "env",
        "inputDrvs",
        "inputSrcs",
        "outputs",
        "system",
    ]


def test_latin1_show_derivation_form_is_exact() -> None:
    """The latin1 JSON is `nix show-derivation` output with raw (non-UTF-8) bytes in it."""
    json_bytes = Path(f"{LATIN1}.json").read_bytes()
    assert b'"chars": "\xc5\xc4\xd6"' in json_bytes
    drv = parse_derivation(LATIN1.read_bytes())
    drv_path = StorePath.from_basename(LATIN1.name)
    assert dump_show_derivation({drv_path: drv}) == json_bytes
    parsed = from_show_derivation(loads(json_bytes))
    assert parsed == {drv_path: drv}
    assert parsed[drv_path].environment["chars"] == b"\xc5\xc4\xd6"


def test_show_derivation_fixed_output_key_order() -> None:
    path = OK_DIR / "0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv"
    drv = parse_derivation(path.read_bytes())
    text = dump_show_derivation({StorePath.from_basename(path.name): drv}).decode()
    assert text.startswith(
        '{\n  "/nix/store/0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv": {\n    "outputs": {\n'
        '      "out": {\n        "path": "/nix/store/4q0pg5zpfmznxscq3avycvf9xdvx50n3-bar",\n'
        '        "hashAlgo": "r:sha256",\n'
    )
    assert '    "inputSrcs": [],\n    "inputDrvs": {},\n    "system": ":",\n' in text


def test_control_characters_are_escaped_like_nix() -> None:
    drv = parse_derivation(SERDE_DRVS[0].read_bytes())
    env = dict(drv.environment, v=b'a\tb\nc\rd"e\\f\x01\x08\x0c\x1f\x7f')
    text = dump_serde(replace(drv, environment=env))
    assert b'"v": "a\\tb\\nc\\rd\\"e\\\\f\\u0001\\u0008\\u000c\\u001f\x7f"' in text


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "derivation JSON: expected a JSON object, got list"),
        ({"outputs": {}}, "derivation JSON: missing key 'inputDrvs'"),
        (
            {
                "outputs": {},
                "inputDrvs": {},
                "inputSrcs": [],
                "system": "s",
                "builder": "b",
                "args": [],
                "env": {},
                "extra": 1,
            },
            "derivation JSON: unknown key 'extra': expected only args, builder, env, inputDrvs, "
            "inputSrcs, outputs, system",
        ),
        (
            {
                "outputs": {},
                "inputDrvs": {},
                "inputSrcs": "x",
                "system": "s",
                "builder": "b",
                "args": [],
                "env": {},
            },
            "derivation JSON: 'inputSrcs' must be a JSON array, got str",
        ),
        (
            {
                "outputs": {"out": {"path": "/nix/store/x"}},
                "inputDrvs": {},
                "inputSrcs": [],
                "system": "s",
                "builder": "b",
                "args": [],
                "env": {},
            },
            "derivation JSON: outputs.out.path: invalid store path '/nix/store/x': expected "
            "<32-character hash>-<name>, got only 1 characters",
        ),
        (
            {
                "outputs": {},
                "inputDrvs": {},
                "inputSrcs": [],
                "system": "s",
                "builder": "b",
                "args": [],
                "env": {},
            },
            "derivation JSON: invalid derivation: it has no outputs, expected at least one",
        ),
    ],
)
def test_json_errors(obj: object, message: str) -> None:
    with pytest.raises(DerivationError) as exc:
        from_serde(obj)
    assert str(exc.value) == message


def test_invalid_json_bytes() -> None:
    with pytest.raises(DerivationError) as exc:
        loads(b"{")
    assert str(exc.value).startswith("invalid JSON: Expecting property name")
