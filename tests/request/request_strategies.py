"""Hypothesis strategies for BuildRequests: valid ones (what snix accepts) and their parts."""

from __future__ import annotations

from hypothesis import strategies as st

from pytest_snixbuild.castore.digests import B3Digest
from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node, SymlinkNode
from pytest_snixbuild.request.model import (
    AdditionalFile,
    BuildConstraints,
    BuildRequest,
    EnvVar,
)

U64_MAX = (1 << 64) - 1

#: any text without surrogates (TOML and protobuf strings are UTF-8)
text = st.text(st.characters(codec="utf-8"), max_size=12)
#: path components: non-empty, not '.'/'..', no '/' or NUL
component = st.text(
    st.characters(codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=8
).filter(lambda s: s not in (".", "..") and len(s.encode()) <= 255)
relative_path = st.lists(component, max_size=3).map("/".join)
absolute_path = relative_path.map(lambda p: "/" + p)
digest = st.binary(min_size=32, max_size=32).map(B3Digest)
no_nul_bytes = st.binary(max_size=16).filter(lambda b: b"\0" not in b)

node: st.SearchStrategy[Node] = st.one_of(
    st.builds(DirectoryNode, digest, st.integers(0, U64_MAX)),
    st.builds(FileNode, digest, st.integers(0, U64_MAX), st.booleans()),
    st.builds(SymlinkNode, st.binary(min_size=1, max_size=20).filter(lambda b: b"\0" not in b)),
)


def _sorted(items: list[str]) -> tuple[str, ...]:
    return tuple(sorted(items, key=lambda s: s.encode()))


env_key = st.text(st.characters(codec="utf-8", exclude_characters="=\0"), min_size=1, max_size=8)
env_vars = st.lists(st.builds(EnvVar, env_key, no_nul_bytes), max_size=4).map(
    lambda es: tuple(sorted(es, key=lambda e: e.key.encode()))
)
constraints = st.one_of(
    st.none(),
    st.builds(
        BuildConstraints,
        system=text.filter(bool),
        min_memory=st.integers(0, (1 << 63) - 1),
        available_ro_paths=st.lists(absolute_path, max_size=3).map(_sorted),
        network_access=st.booleans(),
        provide_bin_sh=st.booleans(),
    ),
)
additional_files = st.lists(
    st.builds(AdditionalFile, relative_path, st.binary(max_size=16)), max_size=3
).map(lambda fs: tuple(sorted(fs, key=lambda f: f.path.encode())))


def requests(
    inputs: st.SearchStrategy[dict[str, Node]] | None = None,
) -> st.SearchStrategy[BuildRequest]:
    """Valid requests (``validate_request`` accepts them); ``inputs`` overrides the inputs."""
    return st.builds(
        BuildRequest,
        command_args=st.lists(text, min_size=1, max_size=4).map(tuple),
        inputs=inputs if inputs is not None else st.dictionaries(component, node, max_size=3),
        working_dir=relative_path,
        scratch_paths=st.lists(relative_path, max_size=3).map(_sorted),
        inputs_dir=relative_path,
        outputs=st.lists(relative_path, max_size=3).map(_sorted),
        environment_vars=env_vars,
        constraints=constraints,
        additional_files=additional_files,
        refscan_needles=st.lists(text, max_size=3).map(tuple),
    )
