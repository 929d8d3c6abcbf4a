"""The TOML key locator behind the line numbers of case-file errors."""

from __future__ import annotations

import tomllib

from pytest_snixbuild.request.toml_locate import line_of, locate_keys
from pytest_snixbuild.request.toml_reader import key_text

DOC = '''\
# comment [not.a.table]
title = "x # not a comment"
a.b.c = 1
arr = [ 1, { k = "v\\"}", "q.r" = 'lit' }, [2,
  3] ]  # trailing

[[t]]
x = 1
[[t]]
x = 2
[t.sub]
y = """multi
line "" ""\"""
z = 1979-05-27 07:32:00Z
'w' = \'\'\'literal
text\'\'\'

[ "quoted key" . inner ]
k = [
  "a",   # first
  "b",
]
inline = { nested = { deep = true } }
'''


def test_doc_is_valid_toml() -> None:
    tomllib.loads(DOC)


def test_locates_every_kind_of_key() -> None:
    found = locate_keys(DOC)
    expected = {
        ("title",): 2,
        ("a",): 3,
        ("a", "b", "c"): 3,
        ("arr",): 4,
        ("arr", 1, "k"): 4,
        ("arr", 1, "q.r"): 4,
        ("arr", 2, 1): 5,
        ("t",): 7,
        ("t", 0): 7,
        ("t", 0, "x"): 8,
        ("t", 1): 9,
        ("t", 1, "x"): 10,
        ("t", 1, "sub"): 11,
        ("t", 1, "sub", "y"): 12,
        ("t", 1, "sub", "z"): 14,
        ("t", 1, "sub", "w"): 15,
        ("quoted key", "inner"): 18,
        ("quoted key", "inner", "k", 0): 20,
        ("quoted key", "inner", "k", 1): 21,
        ("quoted key", "inner", "inline", "nested", "deep"): 23,
    }
    for key, line in expected.items():
        assert found.get(key) == line, key
    assert ("not", "a", "table") not in found


def test_line_of_falls_back_to_the_closest_parent() -> None:
    found = locate_keys(DOC)
    assert line_of(found, ("t", 1, "sub", "missing")) == 11
    assert line_of(found, ("nowhere", "at", "all")) == 1


def test_best_effort_on_text_it_does_not_understand() -> None:
    found = locate_keys("a = 1\nb = @oops\n[c]\nd = 2\n")
    assert found[("a",)] == 1
    assert found[("b",)] == 2


def test_key_text_quotes_what_is_not_bare() -> None:
    assert key_text(("request", "inputs", "a-b_c", "path")) == "request.inputs.a-b_c.path"
    assert key_text(("expect", "outputs", "nix/store/x", "type")) == (
        'expect.outputs."nix/store/x".type'
    )
    assert key_text(("request", "additional_files", 1, "path")) == (
        "request.additional_files[1].path"
    )
    assert key_text(("e", 'q"uo\\te', "")) == 'e."q\\"uo\\\\te".""'
