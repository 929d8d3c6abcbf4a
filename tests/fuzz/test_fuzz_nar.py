"""Fuzzing the NAR reader (``ingest_nar``): malformed NARs are a ``NarError``, never another
exception or a hang; a NAR it accepts is canonical (writing the node back gives the same bytes)."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from snix_fuzz_helpers import FUZZ, mutated, outcome, seeds

from pytest_snixbuild.castore.nar import MAGIC, NarError, ingest_nar, iter_nar, token
from pytest_snixbuild.castore.nodes import (
    Directory,
    FileNode,
    Node,
    SymlinkNode,
)
from pytest_snixbuild.castore.store import Store

NAR_SEEDS = seeds(".nar")
NAMES = st.binary(min_size=1, max_size=6).filter(
    lambda n: n not in (b".", b"..") and b"/" not in n and b"\0" not in n
)


@st.composite
def trees(draw: st.DrawFn, depth: int = 3) -> tuple[Store, Node]:
    """A random castore tree in a fresh memory store."""
    store = Store.memory()

    def node(level: int) -> Node:
        kind = draw(st.sampled_from(["file", "symlink", "dir"] if level else ["file", "symlink"]))
        if kind == "file":
            data = draw(st.binary(max_size=40))
            return FileNode(store.blobs.put(data), len(data), draw(st.booleans()))
        if kind == "symlink":
            return SymlinkNode(
                draw(st.binary(min_size=1, max_size=20).filter(lambda t: b"\0" not in t))
            )
        names = draw(st.lists(NAMES, max_size=4, unique=True))
        directory = Directory({name: node(level - 1) for name in names})
        store.directories.put(directory)
        return directory.as_node()

    return store, node(depth)


def nar_of(store: Store, node: Node) -> bytes:
    return b"".join(iter_nar(node, store))


def check(data: bytes) -> None:
    store = Store.memory()
    node = outcome(lambda: ingest_nar(io.BytesIO(data), store), (NarError,))
    if node is not None:
        assert nar_of(store, node) == data, "a non-canonical NAR was accepted"


@FUZZ
@given(mutated(st.sampled_from(NAR_SEEDS), aligned=True))
def test_mutated_seed_nars(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.data())
def test_mutated_random_trees(data: st.DataObject) -> None:
    store, node = data.draw(trees())
    nar = nar_of(store, node)
    assert ingest_nar(io.BytesIO(nar), Store.memory()) == node  # a valid NAR round-trips
    check(data.draw(mutated(st.just(nar), aligned=True)))


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_after_the_magic(tail: bytes) -> None:
    check(token(MAGIC) + tail)


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                b"(",
                b")",
                b"type",
                b"regular",
                b"directory",
                b"symlink",
                b"entry",
                b"name",
                b"node",
                b"target",
                b"contents",
                b"executable",
                b"",
                b"a",
                b"b",
            ]
        ),
        max_size=30,
    )
)
def test_token_soup(tokens: list[bytes]) -> None:
    check(token(MAGIC) + b"".join(token(t) for t in tokens))


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    check(data)
