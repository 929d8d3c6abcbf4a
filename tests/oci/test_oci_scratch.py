"""scratch_name: snix's names for the scratch directories of a bundle."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_snixbuild.oci import scratch_name


def test_scratch_names_match_snix(oci_data: Path) -> None:
    vectors = json.loads((oci_data / "scratch_names.json").read_text())["names"]
    assert vectors == {
        "build": "3SCCPULSYMZAQ35F76TA3A3HYQROJMTNQW7SVJDXX5BNIYJ3WHYA====",
        "nix/store": "SN566XP5HOO2D322W42EA3DZYPDYBMPRUF3TGFIMLXV54WM4CSNQ====",
    }
    for path, name in vectors.items():
        assert scratch_name(path) == name


def test_scratch_names_in_the_example_config(config_example: dict[str, object]) -> None:
    names = config_example["scratch_names"]
    assert isinstance(names, dict)
    for path, name in names.items():
        assert scratch_name(path) == name


@pytest.mark.parametrize("path", ["nix/sto", "nix/store/", "", "é/ü"])
def test_scratch_names_distinguish_paths(path: str) -> None:
    assert scratch_name(path) != scratch_name("nix/store")


@settings(max_examples=50)
@given(st.text(min_size=0, max_size=80))
def test_scratch_name_shape(path: str) -> None:
    name = scratch_name(path)
    assert re.fullmatch(r"[A-Z2-7]{52}====", name)
