"""Drv paths, hashDerivationModulo, FOD digests and output paths of every vector."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from nix_testlib import OK_DIR, load_json

from pytest_snixbuild.nix.aterm import parse_derivation
from pytest_snixbuild.nix.derivation import DerivationError
from pytest_snixbuild.nix.hashing import (
    check_output_paths,
    compute_output_paths,
    derivation_path,
    fill_output_paths,
    fod_digest,
    hash_derivation_modulo,
    no_input_derivations,
    resolver_from_store_dir,
)
from pytest_snixbuild.nix.storepath import StorePath

VECTORS: dict[str, Any] = load_json("derivation_vectors.json")["derivations"]
resolve = resolver_from_store_dir(OK_DIR)


def _load(file_name: str) -> Any:
    return parse_derivation((OK_DIR / file_name).read_bytes(), file_name)


@pytest.mark.parametrize("file_name", sorted(VECTORS))
def test_drv_path_is_the_file_name(file_name: str) -> None:
    drv = _load(file_name)
    assert derivation_path(drv).to_absolute() == VECTORS[file_name]["drv_path"]
    assert derivation_path(drv).basename == file_name
    assert drv.name == VECTORS[file_name]["name"]


@pytest.mark.parametrize("file_name", sorted(VECTORS))
def test_hash_derivation_modulo(file_name: str) -> None:
    drv = _load(file_name)
    assert (
        hash_derivation_modulo(drv, resolve).hex()
        == VECTORS[file_name]["hash_derivation_modulo_hex"]
    )
    fixed = fod_digest(drv)
    assert (fixed.hex() if fixed else None) == VECTORS[file_name]["fod_digest_hex"]


@pytest.mark.parametrize("file_name", sorted(VECTORS))
def test_output_paths_recomputed(file_name: str) -> None:
    drv = _load(file_name)
    expected = {name: o["path"] for name, o in VECTORS[file_name]["outputs"].items()}
    computed = compute_output_paths(drv, resolve)
    assert {name: p.to_absolute() for name, p in computed.items()} == expected
    check_output_paths(drv, resolve)
    # blanking the outputs and filling them in again gives the same derivation back
    assert fill_output_paths(drv.with_blank_outputs(), resolve) == drv
    for name, out in drv.outputs.items():
        assert (out.ca.aterm_algo if out.ca else "") == VECTORS[file_name]["outputs"][name][
            "hashAlgo"
        ]
        assert (out.ca.hex if out.ca else "") == VECTORS[file_name]["outputs"][name]["hash"]


def test_fod_fixture_values_of_spec() -> None:
    assert fod_digest(_load("0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv")).hex() == (  # type: ignore[union-attr]
        "724f3e3634fce4cbbbd3483287b8798588e80280660b9a63fd13a1bc90485b33"
    )
    assert fod_digest(_load("ss2p4wmxijn652haqyd7dckxwl4c7hxx-bar.drv")).hex() == (  # type: ignore[union-attr]
        "c79aebd0ce3269393d4a1fde2cbd1d975d879b40f0bf40a48f550edc107fd5df"
    )


def test_input_derivations_are_resolved_and_cached() -> None:
    calls: list[StorePath] = []

    def counting(path: StorePath) -> Any:
        calls.append(path)
        return resolve(path)

    drv = _load("4wvvbi4jwn0prsdxb7vs673qa5h9gr7x-foo.drv")
    cache: dict[StorePath, bytes] = {}
    first = hash_derivation_modulo(drv, counting, cache)
    assert hash_derivation_modulo(drv, counting, cache) == first
    assert [p.basename for p in calls] == ["0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv"]


def test_missing_resolver_and_missing_file(tmp_path: Path) -> None:
    drv = _load("4wvvbi4jwn0prsdxb7vs673qa5h9gr7x-foo.drv")
    with pytest.raises(DerivationError) as exc:
        hash_derivation_modulo(drv, no_input_derivations)
    assert str(exc.value) == (
        "input derivation /nix/store/0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv is needed, but no "
        "way to load derivations was given"
    )
    with pytest.raises(DerivationError) as exc:
        hash_derivation_modulo(drv, resolver_from_store_dir(tmp_path))
    assert str(exc.value) == (
        f"cannot read input derivation {tmp_path}/0hm2f1psjpcwg8fijsmr4wwxrx59s092-bar.drv: "
        "No such file or directory"
    )


def test_wrong_output_path_is_reported() -> None:
    drv = _load("ch49594n9avinrf8ip0aslidkc4lxkqv-foo.drv")
    wrong = drv.with_output_paths(
        {"out": StorePath.from_absolute_path("/nix/store/5vyvcwah9l9kf07d52rcgdk70g2f4y13-foo")}
    )
    with pytest.raises(DerivationError) as exc:
        check_output_paths(wrong, resolve)
    assert str(exc.value) == (
        "output 'out' has /nix/store/5vyvcwah9l9kf07d52rcgdk70g2f4y13-foo, but its inputs give "
        "/nix/store/fhaj6gmwns62s6ypkcldbaj2ybvkhx3p-foo"
    )


def test_name_errors() -> None:
    drv = _load("ch49594n9avinrf8ip0aslidkc4lxkqv-foo.drv")
    env = {k: v for k, v in drv.environment.items() if k != "name"}
    nameless = replace(drv, environment=env)
    with pytest.raises(DerivationError) as exc:
        derivation_path(nameless)
    assert str(exc.value) == (
        "derivation has no name: expected an env entry 'name' (or a string 'name' in the "
        "structured attrs '__json')"
    )
    assert derivation_path(nameless, "foo").name == "foo.drv"
