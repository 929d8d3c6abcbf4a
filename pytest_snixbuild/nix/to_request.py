"""Derivation -> BuildRequest, with snix's semantics (``snix/glue/src/snix_build.rs``).

* ``command_args``: the builder, then the arguments with output placeholders replaced.
* ``environment_vars``: Nix's 12 sandbox variables, overlaid by the derivation's env (values
  with placeholders replaced), then ``passAsFile``; sorted by key bytes.
* ``passAsFile``: each listed key's value moves into ``build/.attr-<nixbase32(sha256(key))>``
  and the env gets ``<key>Path`` pointing at it; ``passAsFile`` itself stays.
* structuredAttrs (``__json`` in env; a TODO in snix, done here as Nix does): the derivation's
  env is *not* passed (not even ``out``); the builder gets ``.attrs.json`` and ``.attrs.sh``
  in ``build/`` and the variables ``NIX_ATTRS_JSON_FILE``/``NIX_ATTRS_SH_FILE``; ``passAsFile``
  is ignored.
* constraints: the system and ``/bin/sh``, plus network access for a fixed-output derivation
  whose only output is ``out``.
* outputs in output-name order; needles: output hashes (name order), then input hashes in
  store-path order; inputs keyed by store-path basename.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from pytest_snixbuild.castore.nodes import Node
from pytest_snixbuild.nix import nixbase32
from pytest_snixbuild.nix.derivation import Derivation, DerivationError
from pytest_snixbuild.nix.pathhash import hash_placeholder
from pytest_snixbuild.nix.storepath import STORE_DIR, StorePath, sorted_store_paths
from pytest_snixbuild.nix.structured_attrs import ATTRS_JSON, ATTRS_SH, structured_attrs_files
from pytest_snixbuild.request.model import AdditionalFile, BuildConstraints, BuildRequest, EnvVar

BUILD_DIR = "/build"
#: what Nix's sandbox sets before the derivation's env (snix uses 0 build cores)
SANDBOX_ENV: Mapping[str, str] = {
    "HOME": "/homeless-shelter",
    "NIX_BUILD_CORES": "0",
    "NIX_BUILD_TOP": BUILD_DIR,
    "NIX_LOG_FD": "2",
    "NIX_STORE": STORE_DIR,
    "PATH": "/path-not-set",
    "PWD": BUILD_DIR,
    "TEMP": BUILD_DIR,
    "TEMPDIR": BUILD_DIR,
    "TERM": "xterm-256color",
    "TMP": BUILD_DIR,
    "TMPDIR": BUILD_DIR,
}


def pass_as_file_name(key: str) -> str:
    """``.attr-<nixbase32(sha256(key))>``: the file (in the build dir) holding env ``key``."""
    return ".attr-" + nixbase32.encode(hashlib.sha256(key.encode()).digest())


def placeholder_map(drv: Derivation) -> dict[str, str]:
    """Placeholder -> absolute output path, for each output (name order) that has a path."""
    return {hash_placeholder(name): path.to_absolute() for name, path in drv.output_paths().items()}


def _replace_text(text: str, placeholders: Mapping[str, str]) -> str:
    for placeholder, path in placeholders.items():
        text = text.replace(placeholder, path)
    return text


def _replace_bytes(data: bytes, placeholders: Mapping[str, str]) -> bytes:
    for placeholder, path in placeholders.items():
        data = data.replace(placeholder.encode(), path.encode())
    return data


def _required_output_paths(drv: Derivation) -> dict[str, StorePath]:
    missing = [name for name, out in drv.outputs.items() if out.path is None]
    if missing:
        raise DerivationError(
            f"output {missing[0]!r} has no path: a derivation needs all its output paths "
            "to be built"
        )
    return drv.output_paths()


def _apply_pass_as_file(
    env: dict[str, bytes], placeholders: Mapping[str, str]
) -> list[AdditionalFile]:
    raw = env.get("passAsFile")
    if raw is None:
        return []
    try:
        listed = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DerivationError(
            f"env 'passAsFile' is not UTF-8 ({raw!r}): passAsFile elements must be env keys"
        ) from exc
    files: list[AdditionalFile] = []
    for key in listed.split(" "):
        value = env.pop(key, None)
        if value is None:
            raise DerivationError(
                f"env 'passAsFile' ({listed!r}) refers to the env key {key!r}, which the "
                "derivation does not have"
            )
        name = pass_as_file_name(key)
        env[f"{key}Path"] = f"{BUILD_DIR}/{name}".encode()
        files.append(AdditionalFile(f"build/{name}", _replace_bytes(value, placeholders)))
    return files


def build_environment(
    drv: Derivation, output_paths: Mapping[str, StorePath]
) -> tuple[dict[str, bytes], list[AdditionalFile]]:
    """The build's env (unsorted) and the additional files, per the rules above."""
    placeholders = placeholder_map(drv)
    env = {key: value.encode() for key, value in SANDBOX_ENV.items()}
    raw_json = drv.structured_attrs
    if raw_json is not None:
        attrs_json, attrs_sh = structured_attrs_files(
            raw_json, {n: p.to_absolute() for n, p in output_paths.items()}, placeholders
        )
        env["NIX_ATTRS_JSON_FILE"] = f"{BUILD_DIR}/{ATTRS_JSON}".encode()
        env["NIX_ATTRS_SH_FILE"] = f"{BUILD_DIR}/{ATTRS_SH}".encode()
        files = [
            AdditionalFile(f"build/{ATTRS_JSON}", attrs_json),
            AdditionalFile(f"build/{ATTRS_SH}", attrs_sh),
        ]
        return env, files
    for key, value in drv.environment.items():
        env[key] = _replace_bytes(value, placeholders)
    return env, _apply_pass_as_file(env, placeholders)


def derivation_to_build_request(drv: Derivation, inputs: Mapping[StorePath, Node]) -> BuildRequest:
    """The BuildRequest that builds ``drv``; ``inputs`` are its input store paths (usually the
    whole input closure) with their castore nodes."""
    output_paths = _required_output_paths(drv)
    placeholders = placeholder_map(drv)
    env, files = build_environment(drv, output_paths)
    fixed = drv.fixed_output is not None and list(drv.outputs) == ["out"]
    return BuildRequest(
        command_args=(drv.builder, *(_replace_text(a, placeholders) for a in drv.arguments)),
        inputs={path.basename: node for path, node in inputs.items()},
        working_dir="build",
        scratch_paths=("build", "nix/store"),
        inputs_dir="nix/store",
        outputs=tuple(path.to_absolute().lstrip("/") for path in output_paths.values()),
        environment_vars=tuple(
            EnvVar(key, value)
            for key, value in sorted(
                env.items(), key=lambda kv: kv[0].encode("utf-8", "surrogateescape")
            )
        ),
        constraints=BuildConstraints(
            system=drv.system,
            min_memory=0,
            available_ro_paths=(),
            network_access=fixed,
            provide_bin_sh=True,
        ),
        additional_files=tuple(sorted(files, key=lambda f: f.path)),
        refscan_needles=tuple(p.hash_str for p in needle_store_paths(drv, inputs)),
    )


def needle_store_paths(drv: Derivation, inputs: Mapping[StorePath, Node]) -> list[StorePath]:
    """The store path behind each refscan needle of the request, by needle index: the outputs
    (name order), then the inputs (store-path order)."""
    return [*_required_output_paths(drv).values(), *sorted_store_paths(inputs)]
